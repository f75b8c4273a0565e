"""A real S3-compatible server for tests: moto's standalone server in a subprocess on loopback.

`s3_server` starts one per test session; `s3` gives each test a fresh, empty bucket on it. Use
them from a test module with `from tests.support.s3 import s3, s3_server  # noqa: F401`.
Without moto installed the tests skip, unless STORYGATE_REQUIRE_SERVICES=1 (CI), where they fail.
"""

from __future__ import annotations

import importlib.util
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from gateway.settings import require_services_env

# moto accepts any credentials; these stand in for an operator's keys.
ACCESS_KEY_ID = "test"
SECRET_ACCESS_KEY = "test-secret"
REGION = "us-east-1"
START_SECONDS = 30.0  # moto's first start imports most of botocore: a few seconds on 2 cores


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    log_path: str


@dataclass(frozen=True)
class S3Bucket:
    """An empty bucket on the test server, and what a client needs to reach it."""

    endpoint_url: str
    bucket: str
    region: str = REGION
    access_key_id: str = ACCESS_KEY_ID
    secret_access_key: str = field(default=SECRET_ACCESS_KEY, repr=False)

    def env(self, prefix: str = "") -> dict[str, str]:
        """The STORYGATE_* variables that put a gateway's files in this bucket."""
        url = f"s3://{self.bucket}/{prefix}".rstrip("/")
        return {
            "STORYGATE_FILES_URL": url,
            "STORYGATE_S3_ENDPOINT_URL": self.endpoint_url,
            "STORYGATE_S3_REGION": self.region,
            "STORYGATE_S3_ACCESS_KEY_ID": self.access_key_id,
            "STORYGATE_S3_SECRET_ACCESS_KEY": self.secret_access_key,
        }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    if importlib.util.find_spec("moto") is None:
        reason = "moto is not installed (pip install 'moto[server]') for the S3 store tests"
        if require_services_env():
            pytest.fail(f"STORYGATE_REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)
    port = _free_port()
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = S3Server(f"http://127.0.0.1:{port}", str(log_path))
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"moto exited {proc.returncode}: {log_path.read_text()[-2000:]}")
            try:
                httpx.get(server.endpoint_url + "/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto did not answer on {server.endpoint_url}") from None
                time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def s3(s3_server: S3Server) -> S3Bucket:
    """A new bucket per test, so tests share the server but never each other's objects."""
    bucket = "sg-test-" + secrets.token_hex(6)
    # moto takes an unsigned CreateBucket; in us-east-1 it needs no location body.
    response = httpx.put(f"{s3_server.endpoint_url}/{bucket}", timeout=10)
    response.raise_for_status()
    return S3Bucket(s3_server.endpoint_url, bucket)
