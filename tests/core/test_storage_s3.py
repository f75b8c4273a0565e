"""The blob-store contract, run over the local directory and an S3 bucket (a real moto server),
and the whole `Storage` service over S3 on both databases."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import obstore
import pytest
from obstore.store import S3Store
from sqlalchemy import insert

from gateway.core.blobs_s3 import S3BlobStore
from gateway.core.errors import InvalidInput, NotFound, Unavailable
from gateway.core.storage import BlobStore, LocalBlobStore, Storage
from gateway.db.engine import Database
from gateway.db.models import Account, utcnow
from tests.support.s3 import S3Bucket, s3, s3_server  # noqa: F401

PREFIX = "tenants/eu"


def bucket_keys(bucket: S3Bucket) -> set[str]:
    """Every key in the bucket, read past any store's prefix."""
    raw = S3Store(
        bucket.bucket,
        endpoint=bucket.endpoint_url,
        region=bucket.region,
        access_key_id=bucket.access_key_id,
        secret_access_key=bucket.secret_access_key,
        client_options={"allow_http": True},
    )
    return {meta["path"] for batch in obstore.list(raw) for meta in batch}


def s3_store(bucket: S3Bucket, prefix: str = PREFIX) -> S3BlobStore:
    return S3BlobStore(
        f"s3://{bucket.bucket}/{prefix}".rstrip("/"),
        endpoint_url=bucket.endpoint_url,
        region=bucket.region,
        access_key_id=bucket.access_key_id,
        secret_access_key=bucket.secret_access_key,
    )


@dataclass
class Case:
    store: BlobStore
    stored: Callable[[], set[str]]  # names of the blobs actually kept, whatever the backend


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Case:
    if request.param == "local":
        root = tmp_path / "files"

        def files() -> set[str]:
            return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}

        return Case(LocalBlobStore(root), files)
    bucket: S3Bucket = request.getfixturevalue("s3")

    def keys() -> set[str]:
        return {k.removeprefix(PREFIX + "/") for k in bucket_keys(bucket)}

    return Case(s3_store(bucket), keys)


async def test_round_trip_overwrite_delete(blobs: Case) -> None:
    store = blobs.store
    data = secrets.token_bytes(1 << 20) + b"\x00\xff"  # binary, a little over 1 MB
    await store.write("acc_1/jobs/j1/book.pdf", data)
    assert await store.read("acc_1/jobs/j1/book.pdf") == data
    assert await store.exists("acc_1/jobs/j1/book.pdf")

    await store.write("acc_1/jobs/j1/book.pdf", b"%PDF-1.4 second")
    assert await store.read("acc_1/jobs/j1/book.pdf") == b"%PDF-1.4 second"
    await store.write("acc_1/jobs/j1/empty.txt", b"")
    assert await store.read("acc_1/jobs/j1/empty.txt") == b""
    assert blobs.stored() == {"acc_1/jobs/j1/book.pdf", "acc_1/jobs/j1/empty.txt"}

    await store.delete("acc_1/jobs/j1/book.pdf")
    await store.delete("acc_1/jobs/j1/book.pdf")  # deleting twice is fine
    await store.delete("acc_1/never/written.bin")
    assert not await store.exists("acc_1/jobs/j1/book.pdf")
    assert blobs.stored() == {"acc_1/jobs/j1/empty.txt"}


async def test_missing_blob_is_not_found(blobs: Case) -> None:
    store = blobs.store
    await store.write("acc_1/a/b/c.bin", b"deep")
    for absent in ("acc_1/a/b/missing.bin", "acc_2/a/b/c.bin", "acc_1/a/b", "acc_1/a"):
        with pytest.raises(NotFound):
            await store.read(absent)
        # A "directory" (a key prefix on S3) is no blob either.
        assert not await store.exists(absent)
    assert await store.read("acc_1/a/b/c.bin") == b"deep"


async def test_unusual_but_valid_names_survive(blobs: Case) -> None:
    names = [
        "acc_1/pages/page 01.png",
        "acc_1/pages/é-ü-日本.png",
        "acc_1/q/a?b#c&d=e+f%25g.bin",
        "acc_1/" + "/".join(["d"] * 40) + "/leaf.bin",
    ]
    await asyncio.gather(*(blobs.store.write(n, n.encode()) for n in names))
    assert [await blobs.store.read(n) for n in names] == [n.encode() for n in names]
    assert blobs.stored() == set(names)


BAD_NAMES = (
    "",
    "/abs/x.bin",
    "../outside.bin",
    "a/../../outside.bin",
    "a//b.bin",
    "a/./b.bin",
    "a/",
    "a\\b.bin",
    "a/b\x00.bin",
    "a/" + "x" * 600,
)


async def test_invalid_names_are_refused_before_any_io(blobs: Case) -> None:
    for bad in BAD_NAMES:
        for call in (
            blobs.store.write(bad, b"x"),
            blobs.store.read(bad),
            blobs.store.exists(bad),
            blobs.store.delete(bad),
        ):
            with pytest.raises(InvalidInput):
                await call
    assert blobs.stored() == set()


async def test_prefix_url_keeps_blobs_under_the_prefix(s3: S3Bucket) -> None:  # noqa: F811
    store = s3_store(s3, "tenants/eu")
    await store.write("acc_1/jobs/j/book.pdf", b"eu")
    await s3_store(s3, "tenants/us").write("acc_1/jobs/j/book.pdf", b"us")
    assert bucket_keys(s3) == {
        "tenants/eu/acc_1/jobs/j/book.pdf",
        "tenants/us/acc_1/jobs/j/book.pdf",
    }
    # Each prefix is its own namespace; without a prefix the full key reads the same bytes.
    assert await store.read("acc_1/jobs/j/book.pdf") == b"eu"
    assert await s3_store(s3, "").read("tenants/eu/acc_1/jobs/j/book.pdf") == b"eu"
    await store.delete("acc_1/jobs/j/book.pdf")
    assert bucket_keys(s3) == {"tenants/us/acc_1/jobs/j/book.pdf"}


def test_configuration_is_checked_and_the_secret_stays_out_of_repr(s3: S3Bucket) -> None:  # noqa: F811
    store = S3BlobStore(
        f"s3://{s3.bucket}/p/",
        endpoint_url=s3.endpoint_url,
        access_key_id="AKIDEXAMPLE",
        secret_access_key="wJalrXUtnFEMI-very-secret",
    )
    assert (store.bucket, store.prefix) == (s3.bucket, "p")
    assert "very-secret" not in repr(store) and "very-secret" not in str(vars(store))
    for url in (
        "",
        "bucket",
        "https://bucket/x",
        "s3://",
        "s3://b/../x",
        "s3://b/a//c",
        "s3://u:p@b",
    ):
        with pytest.raises(ValueError):
            S3BlobStore(url)
    with pytest.raises(ValueError):
        S3BlobStore("s3://b", access_key_id="only-the-id")


async def test_empty_keys_use_the_default_credential_chain(
    s3: S3Bucket,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With no keys given and none in the environment, obstore would go on to the instance
    # metadata service, which does not answer here: the write would fail.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_access_key)
    store = S3BlobStore(f"s3://{s3.bucket}", endpoint_url=s3.endpoint_url)
    await store.write("acc_1/x.bin", b"env")
    assert await store.read("acc_1/x.bin") == b"env"


async def test_unreachable_store_is_unavailable_within_seconds(s3: S3Bucket) -> None:  # noqa: F811
    import socket

    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    store = S3BlobStore("s3://b", endpoint_url=dead, access_key_id="a", secret_access_key="b")
    started = time.monotonic()
    for call in (store.write("a/x", b"x"), store.read("a/x"), store.exists("a/x")):
        with pytest.raises(Unavailable):
            await call
    assert time.monotonic() - started < 30
    missing_bucket = S3BlobStore(
        f"s3://{s3.bucket}-absent",
        endpoint_url=s3.endpoint_url,
        access_key_id="a",
        secret_access_key="b",
    )
    with pytest.raises(Unavailable):
        await missing_bucket.write("a/x", b"x")


# The whole Storage service over the S3 store, on SQLite and PostgreSQL.

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


async def new_account(db: Database, name: str) -> str:
    acc = "acc_" + secrets.token_hex(6)
    async with db.write() as conn:
        await conn.execute(
            insert(Account).values(id=acc, name=name, profile={}, created_at=utcnow())
        )
    return acc


async def test_storage_service_over_s3(db: Database, s3: S3Bucket) -> None:  # noqa: F811
    now = [T0]
    storage = Storage(db, s3_store(s3), secret="s3cret", clock=lambda: now[0])
    alice, bob = await new_account(db, "Alice"), await new_account(db, "Bob")
    pages = [
        (f"jobs/j1/pages/page_{i:02}.png", secrets.token_bytes(5000), "image/png") for i in (1, 2)
    ]
    infos = await storage.put_many(
        alice, [*pages, ("jobs/j1/book.pdf", b"%PDF-1.4", "application/pdf")], job_id="j1"
    )
    await storage.put(bob, "jobs/j1/book.pdf", b"%PDF bob", "application/pdf")
    assert [i.size for i in infos] == [5000, 5000, 8]
    assert bucket_keys(s3) == {
        f"{PREFIX}/{alice}/jobs/j1/pages/page_01.png",
        f"{PREFIX}/{alice}/jobs/j1/pages/page_02.png",
        f"{PREFIX}/{alice}/jobs/j1/book.pdf",
        f"{PREFIX}/{bob}/jobs/j1/book.pdf",
    }

    info, data = await storage.get(alice, "jobs/j1/pages/page_02.png")
    assert data == pages[1][1] and info.content_type == "image/png" and info.job_id == "j1"
    assert (await storage.get(bob, "jobs/j1/book.pdf"))[1] == b"%PDF bob"
    with pytest.raises(NotFound):
        await storage.get(bob, "jobs/j1/pages/page_01.png")
    assert [f.path for f in await storage.list(alice, "jobs/j1/pages/")] == [
        p for p, _d, _t in pages
    ]

    # Overwrite in place: same row, new bytes in the bucket.
    again = await storage.put(alice, "jobs/j1/book.pdf", b"%PDF-1.7 v2", "application/pdf")
    assert (
        again.id == infos[2].id
        and (await storage.get(alice, "jobs/j1/book.pdf"))[1] == b"%PDF-1.7 v2"
    )

    # A put for an account that does not exist leaves no object behind.
    with pytest.raises(NotFound):
        await storage.put("acc_nobody", "jobs/x.png", b"x", "image/png")
    assert not any("acc_nobody" in k for k in bucket_keys(s3))

    expires, sig = storage.sign(alice, "jobs/j1/book.pdf", expires_in=60)
    assert storage.verify(alice, "jobs/j1/book.pdf", expires, sig)
    assert not storage.verify(bob, "jobs/j1/book.pdf", expires, sig)
    now[0] = T0 + timedelta(seconds=61)
    assert not storage.verify(alice, "jobs/j1/book.pdf", expires, sig)

    assert await storage.delete_prefix(alice, "jobs/j1/") == 3
    assert bucket_keys(s3) == {f"{PREFIX}/{bob}/jobs/j1/book.pdf"}
    assert await storage.list(alice) == []
    with pytest.raises(NotFound):
        await storage.get(alice, "jobs/j1/book.pdf")
