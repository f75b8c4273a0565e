"""Generated-file storage on both databases, the local blob store, and signed links."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from gateway.core.accounts import AccountService
from gateway.core.errors import InvalidInput, NotFound
from gateway.core.key_invalidation import LocalInvalidation
from gateway.core.keys import KeyService
from gateway.core.ledger import Ledger
from gateway.core.storage import LocalBlobStore, Storage
from gateway.db.engine import Database

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Env:
    storage: Storage
    root: Path
    alice: str
    bob: str


@pytest.fixture
async def env(db: Database, tmp_path: Path) -> AsyncIterator[Env]:
    keys = KeyService(db, LocalInvalidation(), usage_flush_seconds=0)
    accounts = AccountService(db, Ledger(db), keys)
    alice = (await accounts.create("Alice")).id
    bob = (await accounts.create("Bob")).id
    root = tmp_path / "files"
    yield Env(Storage(db, LocalBlobStore(root), secret="s3cret"), root, alice, bob)
    await keys.close()


async def test_put_get_roundtrip_and_overwrite(env: Env) -> None:
    path = "jobs/j1/pages/page_01.png"
    info = await env.storage.put(env.alice, path, PNG, "image/png", job_id="j1")
    assert (info.account_id, info.path, info.job_id) == (env.alice, path, "j1")
    assert (info.size, info.sha256) == (len(PNG), hashlib.sha256(PNG).hexdigest())
    assert info.content_type == "image/png" and info.created_at.tzinfo is not None
    assert (env.root / env.alice / path).read_bytes() == PNG

    got_info, data = await env.storage.get(env.alice, path)
    assert data == PNG and got_info == info
    assert await env.storage.info(env.alice, path) == info

    # The same path overwrites, in place: one row, new bytes.
    pdf = b"%PDF-1.4\n%%EOF\n"
    again = await env.storage.put(env.alice, path, pdf, "application/pdf")
    assert again.id == info.id and again.size == len(pdf) and again.job_id is None
    assert (await env.storage.get(env.alice, path))[1] == pdf
    assert len(await env.storage.list(env.alice)) == 1
    assert not [p for p in (env.root / env.alice).rglob("*") if p.name.startswith(".tmp")]


async def test_list_and_delete_prefix(env: Env) -> None:
    for path in ("jobs/a_1/x.png", "jobs/a_1/y.mp3", "jobs/ab1/x.png", "jobs/b/z.zip"):
        await env.storage.put(env.alice, path, path.encode(), "application/octet-stream")
    await env.storage.put(env.bob, "jobs/a_1/x.png", b"bob", "image/png")

    listed = [f.path for f in await env.storage.list(env.alice, "jobs/a_1/")]
    assert listed == ["jobs/a_1/x.png", "jobs/a_1/y.mp3"]
    # '_' in a prefix is a character, not a LIKE wildcard.
    assert [f.path for f in await env.storage.list(env.alice, "jobs/a_")] == listed
    assert len(await env.storage.list(env.alice)) == 4

    assert await env.storage.delete_prefix(env.alice, "jobs/a_") == 2
    assert not (env.root / env.alice / "jobs/a_1/x.png").exists()
    assert [f.path for f in await env.storage.list(env.alice)] == ["jobs/ab1/x.png", "jobs/b/z.zip"]
    with pytest.raises(NotFound):
        await env.storage.get(env.alice, "jobs/a_1/x.png")
    # Bob's file of the same path is untouched.
    assert (await env.storage.get(env.bob, "jobs/a_1/x.png"))[1] == b"bob"
    assert await env.storage.delete_prefix(env.bob, "jobs/nothing/") == 0


async def test_another_accounts_file_is_not_found(env: Env) -> None:
    path = "jobs/secret/book.pdf"
    await env.storage.put(env.alice, path, b"%PDF-1.4 alice", "application/pdf")
    with pytest.raises(NotFound):
        await env.storage.get(env.bob, path)
    with pytest.raises(NotFound):
        await env.storage.info(env.bob, path)
    assert await env.storage.list(env.bob) == []
    assert await env.storage.delete_prefix(env.bob, "jobs/") == 0
    with pytest.raises(NotFound):
        await env.storage.get(env.alice, "jobs/secret/missing.pdf")
    with pytest.raises(NotFound):
        await env.storage.put("acc_nobody", "jobs/x.png", PNG, "image/png")
    assert not (env.root / "acc_nobody" / "jobs/x.png").exists()
    assert (await env.storage.get(env.alice, path))[1] == b"%PDF-1.4 alice"


BAD_PATHS = (
    "../escape.png",
    "jobs/../../escape.png",
    "/etc/passwd",
    "jobs//x.png",
    "jobs/./x.png",
    "jobs\\..\\x.png",
    "jobs/x\x00.png",
    "",
    "jobs/",
)


async def test_path_traversal_is_rejected(env: Env, tmp_path: Path) -> None:
    for bad in BAD_PATHS:
        with pytest.raises(InvalidInput):
            await env.storage.put(env.alice, bad, b"x", "image/png")
    with pytest.raises(InvalidInput):
        await env.storage.list(env.alice, "../")
    with pytest.raises(InvalidInput):
        await env.storage.delete_prefix(env.alice, "jobs/../..")
    with pytest.raises(NotFound):
        await env.storage.get(env.alice, "../" + env.bob + "/x.png")
    assert await env.storage.list(env.alice) == []
    assert not list(tmp_path.glob("escape*")) and not (tmp_path / "x.png").exists()


async def test_local_blob_store_stays_inside_its_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    blobs = LocalBlobStore(root)
    await blobs.write("a/b/c.bin", b"data")
    assert await blobs.exists("a/b/c.bin") and await blobs.read("a/b/c.bin") == b"data"
    await blobs.delete("a/b/c.bin")
    await blobs.delete("a/b/c.bin")  # deleting twice is fine
    assert not await blobs.exists("a/b/c.bin")
    with pytest.raises(NotFound):
        await blobs.read("a/b/c.bin")
    for bad in ("../outside.bin", "/tmp/outside.bin", "a/../../outside.bin", ".."):
        with pytest.raises(InvalidInput):
            await blobs.write(bad, b"x")
        with pytest.raises(InvalidInput):
            await blobs.read(bad)
    # A link inside the root that points outside it is refused too.
    (tmp_path / "elsewhere").mkdir()
    (root / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InvalidInput):
        await blobs.write("link/x.bin", b"x")
    assert not (tmp_path / "outside.bin").exists()
    assert not list((tmp_path / "elsewhere").iterdir())


def test_signed_links() -> None:
    clock = Clock()
    storage = Storage(None, LocalBlobStore(Path("/nonexistent")), secret="k1", clock=clock)  # type: ignore[arg-type]
    acct, path = "acc_1", "jobs/j/book.pdf"
    expires, sig = storage.sign(acct, path, expires_in=600)
    assert expires == int(T0.timestamp()) + 600 and len(sig) == 64
    assert storage.verify(acct, path, expires, sig)

    tampered = ("0" if sig[0] != "0" else "1") + sig[1:]
    assert not storage.verify(acct, path, expires, tampered)
    assert not storage.verify(acct, path, expires + 1, sig)
    assert not storage.verify(acct, "jobs/j/other.pdf", expires, sig)
    assert not storage.verify("acc_2", path, expires, sig)
    assert not storage.verify(acct, path, expires, "")
    assert not storage.verify(acct, path, expires, "é" * 64)
    # Fields cannot bleed into each other through the separator.
    assert not storage.verify("acc_1\njobs", "j/book.pdf", expires, sig)
    with pytest.raises(InvalidInput):
        storage.sign(acct, "jobs/x\ny.pdf", expires_in=60)
    other_secret = Storage(None, LocalBlobStore(Path("/x")), secret="k2", clock=clock)  # type: ignore[arg-type]
    assert not other_secret.verify(acct, path, expires, sig)

    clock.now = T0 + timedelta(seconds=599)
    assert storage.verify(acct, path, expires, sig)
    clock.now = T0 + timedelta(seconds=601)
    assert not storage.verify(acct, path, expires, sig)

    clock.now = T0
    query = parse_qs(storage.signed_query(acct, path, expires_in=60))
    assert query["acct"] == [acct]
    assert storage.verify(acct, path, int(query["expires"][0]), query["sig"][0])
    with pytest.raises(ValueError):
        Storage(None, LocalBlobStore(Path("/x")), secret="")  # type: ignore[arg-type]
