"""Generated files in an S3 bucket serve from every replica: two `storygate serve` processes and a
`storygate worker`, each with its own data dir, on PostgreSQL, Redis and a real S3-compatible
server (moto). A book made through replica A loads from replica B by its signed links, with the
same bytes, and no replica keeps the files on its own disk."""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import obstore
import pytest
from obstore.store import S3Store

from tests.e2e.conftest import REPO, Server, start_server, storygate
from tests.support.s3 import S3Bucket, s3, s3_server  # noqa: F401

SECRET = "s3-replicas-shared-secret"
PREFIX = "replicas/files"


@dataclass
class Stack:
    a: Server
    b: Server
    data_dirs: list[Path]
    bucket: S3Bucket
    account: str
    headers: dict[str, str]

    def keys(self) -> set[str]:
        raw = S3Store(
            self.bucket.bucket,
            endpoint=self.bucket.endpoint_url,
            access_key_id=self.bucket.access_key_id,
            secret_access_key=self.bucket.secret_access_key,
            client_options={"allow_http": True},
        )
        return {meta["path"] for batch in obstore.list(raw) for meta in batch}


@pytest.fixture
def stack(
    pg_url: str,
    redis_url: str,
    redis_prefix: str,
    s3: S3Bucket,  # noqa: F811
    tmp_path: Path,
) -> Iterator[Stack]:
    env = {
        "STORYGATE_DATABASE_URL": pg_url,
        "STORYGATE_REDIS_URL": redis_url,
        "STORYGATE_REDIS_PREFIX": redis_prefix,
        "STORYGATE_SECRET": SECRET,
        "STORYGATE_DEMO": "false",
        "STORYGATE_BACKENDS": "instant",
        **s3.env(PREFIX),
    }
    dirs = [tmp_path / name for name in ("replica-a", "replica-b", "worker", "cli")]
    cli_env = {**env, "STORYGATE_DATA_DIR": str(dirs[3])}
    migrated = storygate(["migrate"], cli_env)
    assert migrated.returncode == 0, migrated.stderr

    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "worker"],
        cwd=REPO,
        env={**os.environ, **env, "STORYGATE_DATA_DIR": str(dirs[2])},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    servers: list[Server] = []
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            started = [
                pool.submit(start_server, d, dict(env), f"r{i}") for i, d in enumerate(dirs[:2])
            ]
            servers = [f.result() for f in started]
        made = storygate(
            ["accounts", "create", "S3 School", "--plan", "storymint=schools"], cli_env
        )
        assert made.returncode == 0, made.stderr
        account = made.stdout.strip().splitlines()[-1]
        key = storygate(["keys", "create", account, "storymint"], cli_env)
        assert key.returncode == 0, key.stderr
        raw_key = key.stdout.strip().splitlines()[-1]
        yield Stack(servers[0], servers[1], dirs, s3, account, {"X-API-Key": raw_key})
    finally:
        for server in servers:
            server.stop()
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()


def wait_done(base: str, headers: dict[str, str], job_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = httpx.get(f"{base}/api/status/{job_id}", headers=headers, timeout=10).json()
        if info["status"] != "running":
            assert info["status"] == "done", info
            return
        time.sleep(0.1)
    raise AssertionError(f"book {job_id} did not finish in {timeout} s")


def zip_members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def signed(path_url: str, account: str, storage_path: str, expires: int) -> str:
    """The link a replica would sign for ``storage_path``, with any expiry (same HMAC)."""
    message = f"{account}\n{storage_path}\n{expires}".encode()
    sig = hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    return f"{path_url}?{urlencode({'expires': expires, 'sig': sig, 'acct': account})}"


def test_signed_links_load_from_the_replica_that_did_not_write(stack: Stack) -> None:
    made = httpx.post(
        f"{stack.a.base_url}/api/generate",
        headers=stack.headers,
        json={"prompt": "A lighthouse keeper's cat learns to swim", "num_pages": 2},
        timeout=30,
    )
    assert made.status_code == 200, made.text
    job_id = made.json()["job_id"]
    wait_done(stack.a.base_url, stack.headers, job_id)

    book: dict[str, Any] = httpx.get(
        f"{stack.a.base_url}/api/book/{job_id}", headers=stack.headers, timeout=10
    ).json()
    links = [p["image_url"] for p in book["pages"]] + [book["cover_url"]]
    assert len(links) == 3 and all("sig=" in link for link in links), book

    # Every generated file is in the bucket under the prefix, none on any process's disk.
    keys = stack.keys()
    mine = f"{PREFIX}/{stack.account}/"
    assert keys and all(k.startswith(mine) for k in keys), keys
    assert {"book.pdf", "page_01.png", "page_02.png", "cover.jpg"} <= {
        k.rsplit("/", 1)[1] for k in keys
    }, keys
    for data_dir in stack.data_dirs:
        on_disk = [p for p in data_dir.rglob("*") if p.suffix in (".png", ".jpg", ".pdf", ".mp3")]
        assert on_disk == [] and not any((data_dir / "files").rglob("*")), on_disk

    # A's links, no key, from B: the same bytes A serves.
    served: dict[str, bytes] = {}
    for link in links:
        from_a = httpx.get(stack.a.base_url + link, timeout=10)
        from_b = httpx.get(stack.b.base_url + link, timeout=10)
        assert from_a.status_code == 200 and from_b.status_code == 200, (link, from_b.text)
        assert from_b.content == from_a.content and len(from_b.content) > 100
        assert from_b.headers["content-type"] == from_a.headers["content-type"]
        assert from_b.headers["content-type"] in ("image/png", "image/jpeg")
        served[link] = from_b.content

    # The download package (book.pdf inside) built by B from the bucket matches A's.
    zip_a = httpx.get(
        f"{stack.a.base_url}/api/download/{job_id}", headers=stack.headers, timeout=30
    )
    zip_b = httpx.get(
        f"{stack.b.base_url}/api/download/{job_id}", headers=stack.headers, timeout=30
    )
    assert zip_a.status_code == 200 and zip_b.status_code == 200, zip_b.text
    files_a, files_b = zip_members(zip_a.content), zip_members(zip_b.content)
    assert files_b == files_a and files_b["book.pdf"].startswith(b"%PDF")

    # B refuses a tampered signature, a moved expiry, and a genuine signature that expired.
    page_link = links[0]
    path_url, query = page_link.split("?", 1)
    params = {k: v[0] for k, v in parse_qs(query).items()}
    tampered = dict(params, sig=("0" if params["sig"][0] != "0" else "1") + params["sig"][1:])
    later = dict(params, expires=str(int(params["expires"]) + 3600))
    for bad in (tampered, later):
        refused = httpx.get(f"{stack.b.base_url}{path_url}?{urlencode(bad)}", timeout=10)
        assert refused.status_code == 403, refused.text
    storage_path = next(k for k in keys if k.endswith("/page_01.png")).removeprefix(mine)
    assert urlsplit(path_url).path.endswith("/" + storage_path.rsplit("/", 1)[1])
    fresh = httpx.get(
        stack.b.base_url + signed(path_url, stack.account, storage_path, int(time.time()) + 600)
    )
    assert fresh.status_code == 200 and fresh.content == served[page_link]
    expired = httpx.get(
        stack.b.base_url + signed(path_url, stack.account, storage_path, int(time.time()) - 5)
    )
    assert expired.status_code == 403 and "expired" in expired.json()["error"], expired.text
