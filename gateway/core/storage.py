"""Generated files: bytes in a blob store, metadata in the database, links signed with HMAC.

The blob store is a four-method Protocol so that an S3-compatible bucket can replace the local
directory without the rest of the core noticing. Every blob lives under its account's id, and
every lookup is filtered by account, so one tenant's file is simply absent to another. Public
links carry an expiry and an HMAC over (account, path, expiry); without one, a fetch needs
the owner's key.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from gateway.core.errors import InvalidInput, NotFound
from gateway.core.ids import new_id
from gateway.db.engine import Database
from gateway.db.models import StoredFile, as_utc, utcnow

log = logging.getLogger(__name__)

_ACCOUNT_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
_MAX_PATH = 500
# What storing a file again at the same path changes; its id, account and path stay.
_REPLACED = ("job_id", "content_type", "size", "sha256", "created_at")


class BlobStore(Protocol):
    async def write(self, name: str, data: bytes) -> None: ...

    async def read(self, name: str) -> bytes: ...

    async def delete(self, name: str) -> None: ...

    async def exists(self, name: str) -> bool: ...


def _clean_path(path: str, *, what: str = "path", allow_empty: bool = False) -> str:
    """A relative POSIX path with no way out of its parent: no '..', no absolute, no oddities."""
    if not isinstance(path, str):
        raise InvalidInput(f"{what} must be a string")
    if not path and allow_empty:
        return ""
    parts = path.split("/")
    if allow_empty and parts[-1] == "":
        parts = parts[:-1]  # a prefix may end with '/'
    if (
        not path
        or len(path) > _MAX_PATH
        or path.startswith("/")
        or "\\" in path
        or any(ord(c) < 32 or c == "\x7f" for c in path)
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise InvalidInput(f"invalid {what} {path!r}")
    return path


class LocalBlobStore:
    """A directory on disk; each write lands whole or not at all (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def _resolve(self, name: str) -> Path:
        target = (self.root / _clean_path(name, what="blob name")).resolve()
        if not target.is_relative_to(self.root) or target == self.root:
            raise InvalidInput(f"invalid blob name {name!r}")
        return target

    def _write(self, name: str, data: bytes) -> None:
        target = self._resolve(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    # Resolving a name touches the disk once per path segment (symlinks are followed, then
    # checked), so it happens in the worker thread with the rest of the file work.

    async def write(self, name: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, name, bytes(data))

    async def read(self, name: str) -> bytes:
        try:
            return await asyncio.to_thread(lambda: self._resolve(name).read_bytes())
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFound("file not found") from exc

    async def delete(self, name: str) -> None:
        await asyncio.to_thread(lambda: self._resolve(name).unlink(missing_ok=True))

    async def exists(self, name: str) -> bool:
        return await asyncio.to_thread(lambda: self._resolve(name).is_file())


@dataclass(frozen=True, slots=True)
class FileInfo:
    id: str
    account_id: str
    job_id: str | None
    path: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime


def _info(row: Any) -> FileInfo:
    return FileInfo(
        id=row.id,
        account_id=row.account_id,
        job_id=row.job_id,
        path=row.path,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        created_at=as_utc(row.created_at) or row.created_at,
    )


def _check_account(account_id: str) -> str:
    # The account id becomes the first segment of the blob name, so it must be one segment.
    if not isinstance(account_id, str) or not _ACCOUNT_ID.fullmatch(account_id):
        raise NotFound("file not found")
    return account_id


class Storage:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        *,
        secret: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if not secret:
            raise ValueError("Storage needs a non-empty secret for signing file URLs")
        self._db = db
        self._blobs = blobs
        self._secret = secret.encode("utf-8")
        self._clock = clock

    async def put(
        self,
        account_id: str,
        path: str,
        data: bytes,
        content_type: str,
        *,
        job_id: str | None = None,
    ) -> FileInfo:
        (info,) = await self.put_many(account_id, [(path, data, content_type)], job_id=job_id)
        return info

    async def put_many(
        self,
        account_id: str,
        files: Sequence[tuple[str, bytes, str]],
        *,
        job_id: str | None = None,
    ) -> list[FileInfo]:
        """Store several (path, data, content type) files: their blobs, then one transaction.

        A book's pages arrive faster than a transaction per page can record them; one upsert for
        a batch costs about what one file does. Nothing is written unless every entry is valid.
        """
        _check_account(account_id)
        for path, _data, content_type in files:
            _clean_path(path)
            if not content_type or len(content_type) > 100:
                raise InvalidInput("content_type must be 1 to 100 characters")
        if len({path for path, _data, _type in files}) != len(files):
            raise InvalidInput("a batch cannot hold the same path twice")
        if not files:
            return []
        names = [f"{account_id}/{path}" for path, _data, _type in files]
        # Blobs first, rows second: a row never points at bytes that are not there yet. The
        # digests are taken in a thread as well: a book's pages come to megabytes.
        digests, _written = await asyncio.gather(
            asyncio.to_thread(lambda: [hashlib.sha256(d).hexdigest() for _p, d, _t in files]),
            asyncio.gather(
                *(
                    self._blobs.write(name, data)
                    for name, (_p, data, _t) in zip(names, files, strict=True)
                )
            ),
        )
        now = self._clock()
        rows = [
            {
                "id": new_id("file"),
                "account_id": account_id,
                "job_id": job_id,
                "path": path,
                "content_type": content_type,
                "size": len(data),
                "sha256": digest,
                "created_at": now,
            }
            for (path, data, content_type), digest in zip(files, digests, strict=True)
        ]
        insert = (sqlite_insert if self._db.is_sqlite else pg_insert)(StoredFile).values(rows)
        upsert = insert.on_conflict_do_update(
            index_elements=["account_id", "path"],
            set_={name: insert.excluded[name] for name in _REPLACED},
        ).returning(*StoredFile.__table__.columns)  # type: ignore[attr-defined]
        try:
            async with self._db.write() as conn:
                stored = {row.path: _info(row) for row in (await conn.execute(upsert)).all()}
        except IntegrityError as exc:
            # Only the account foreign key can fail here: the account does not exist.
            for name in names:
                await self._blobs.delete(name)
            raise NotFound("account not found") from exc
        return [stored[path] for path, _data, _type in files]

    async def info(self, account_id: str, path: str) -> FileInfo:
        _check_account(account_id)
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(StoredFile).where(
                        col(StoredFile.account_id) == account_id, col(StoredFile.path) == path
                    )
                )
            ).first()
        if row is None:
            raise NotFound("file not found")
        return _info(row)

    async def get(self, account_id: str, path: str) -> tuple[FileInfo, bytes]:
        info = await self.info(account_id, path)
        return info, await self._blobs.read(f"{account_id}/{info.path}")

    async def list(self, account_id: str, prefix: str = "") -> list[FileInfo]:
        _check_account(account_id)
        _clean_path(prefix, what="prefix", allow_empty=True)
        query = select(StoredFile).where(col(StoredFile.account_id) == account_id)
        if prefix:
            query = query.where(col(StoredFile.path).startswith(prefix, autoescape=True))
        async with self._db.read() as conn:
            rows = (await conn.execute(query.order_by(col(StoredFile.path)))).all()
        return [_info(r) for r in rows]

    async def delete_prefix(self, account_id: str, prefix: str) -> int:
        """Remove the rows first, then the blobs: a crash in between leaves only orphan bytes."""
        _check_account(account_id)
        _clean_path(prefix, what="prefix", allow_empty=True)
        query = delete(StoredFile).where(col(StoredFile.account_id) == account_id)
        if prefix:
            query = query.where(col(StoredFile.path).startswith(prefix, autoescape=True))
        async with self._db.write() as conn:
            paths = [
                r[0] for r in (await conn.execute(query.returning(col(StoredFile.path)))).all()
            ]
        for path in paths:
            try:
                await self._blobs.delete(f"{account_id}/{path}")
            except Exception as exc:
                log.warning("could not delete blob of %s/%s: %s", account_id, path, exc)
        return len(paths)

    def _signature(self, account_id: str, path: str, expires: int) -> str:
        if "\n" in account_id or "\n" in path:
            # The newline separates the fields; letting one into a field would let two
            # different (account, path) pairs share a signature.
            raise InvalidInput("account id and path cannot contain a newline")
        message = f"{account_id}\n{path}\n{expires}".encode()
        return hmac.digest(self._secret, message, "sha256").hex()  # the C fast path

    def sign(self, account_id: str, path: str, *, expires_in: int) -> tuple[int, str]:
        if expires_in <= 0:
            raise InvalidInput("expires_in must be positive")
        expires = int(self._clock().timestamp()) + int(expires_in)
        return expires, self._signature(account_id, path, expires)

    def sign_until(self, account_id: str, path: str, expires: int) -> str:
        """A signature valid until a fixed moment (a share link that must stay the same
        string every time it is shown)."""
        return self._signature(account_id, path, int(expires))

    def verify(self, account_id: str, path: str, expires: int, signature: str) -> bool:
        try:
            expires = int(expires)
        except (TypeError, ValueError):
            return False
        if not isinstance(signature, str) or not signature.isascii():
            return False
        if self._clock().timestamp() >= expires or "\n" in account_id + path:
            return False
        return hmac.compare_digest(self._signature(account_id, path, expires), signature)

    def signed_query(self, account_id: str, path: str, *, expires_in: int) -> str:
        expires, signature = self.sign(account_id, path, expires_in=expires_in)
        return urlencode({"expires": expires, "sig": signature, "acct": account_id})
