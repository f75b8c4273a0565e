"""Idempotency keys: a retried request gets the first answer instead of a second execution.

A key is scoped to (account, family): two accounts may use the same key without ever seeing
each other's stored response. A record is *pending* while its first request runs and *done*
once the response is stored. A pending record carries a lock deadline so that a duplicate can
take over a key whose holder died; a done record lives ``ttl_seconds``. A request that fails
(an exception, a 5xx, a 409/429) leaves nothing behind, so the client may simply retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from gateway.core.errors import Conflict, InvalidInput
from gateway.core.ids import new_id
from gateway.core.request_ids import job_ids_for_key
from gateway.db.models import IdempotencyRecord, as_utc, utcnow

if TYPE_CHECKING:
    from gateway.db.engine import Database

log = logging.getLogger(__name__)

_PENDING = "pending"
_DONE = "done"
_KEY_COLUMN_MAX = 255


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Acquired:
    """This request holds the key; ``token`` proves it to ``complete``/``abandon``."""

    account_id: str
    family: str
    key: str
    token: str


@dataclass(frozen=True, slots=True)
class Replay:
    response: StoredResponse


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The key was used for a different request."""


@dataclass(frozen=True, slots=True)
class InFlight:
    """The same request is still running under this key."""


BeginResult = Acquired | Replay | Mismatch | InFlight


def canonical_json(value: Any) -> bytes:
    """A JSON body as a fingerprint sees it: key order and spacing do not matter. ``value`` is
    the raw body (bytes) or what it decoded to."""
    if isinstance(value, bytes | bytearray):
        value = msgspec.json.decode(value or b"null")
    return msgspec.json.encode(value, order="sorted")


def fingerprint(method: str, path: str, body: bytes) -> str:
    """NUL separators keep (method, path, body) unambiguous: neither may contain NUL."""
    digest = hashlib.sha256()
    digest.update(method.upper().encode())
    digest.update(b"\0")
    digest.update(path.encode())
    digest.update(b"\0")
    digest.update(body)
    return digest.hexdigest()


def _default_storable(status: int) -> bool:
    # 409 and 429 describe the server's state at that moment, not the request's answer.
    return 200 <= status < 300 or (400 <= status < 500 and status not in (409, 429))


class IdempotencyStore(Protocol):
    async def begin(
        self, account_id: str, family: str, key: str, fingerprint: str
    ) -> BeginResult: ...

    async def complete(self, lease: Acquired, response: StoredResponse) -> None: ...

    async def abandon(self, lease: Acquired) -> None: ...

    async def purge_expired(self) -> int: ...

    async def close(self) -> None: ...


class Idempotency:
    """The one entry point families use."""

    def __init__(
        self,
        store: IdempotencyStore,
        *,
        wait_seconds: float = 10.0,
        poll_seconds: float = 0.05,
        storable: Callable[[int], bool] = _default_storable,
        cache_seconds: float = 0.0,
        cache_size: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
        secret: str = "",
    ) -> None:
        self.store = store
        # Signs the job ids a keyed request creates (gateway.core.request_ids); "" keeps them
        # random.
        self._secret = secret
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self.storable = storable
        # Finished records are immutable, so a replay is served from memory for a little
        # while (a small fraction of the records' own lifetime): retries come in bursts.
        self._cache_seconds = cache_seconds
        self._cache_size = max(1, cache_size)
        self._monotonic = monotonic
        self._replays: OrderedDict[tuple[str, str, str], tuple[float, str, StoredResponse]] = (
            OrderedDict()
        )

    async def run(
        self,
        account_id: str,
        family: str,
        key: str,
        fingerprint: str,
        handler: Callable[[], Awaitable[StoredResponse]],
    ) -> tuple[StoredResponse, bool]:
        """Run ``handler`` at most once per key; returns (response, replayed)."""
        cached = self._replays.get((account_id, family, key))
        if cached is not None and cached[0] > self._monotonic():
            if cached[1] != fingerprint:
                raise Conflict(
                    "Idempotency key was already used with a different request",
                    reason="mismatch",
                )
            return cached[2], True
        if not key:
            raise InvalidInput("Idempotency key must not be empty")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_seconds
        while True:
            result = await self.store.begin(account_id, family, key, fingerprint)
            if isinstance(result, Replay):
                self._remember(account_id, family, key, fingerprint, result.response)
                return result.response, True
            if isinstance(result, Mismatch):
                raise Conflict(
                    "Idempotency key was already used with a different request",
                    reason="mismatch",
                )
            if isinstance(result, Acquired):
                return await self._execute(result, handler), False
            if loop.time() >= deadline:
                raise Conflict(
                    "A request with this idempotency key is still in progress",
                    reason="in_flight",
                )
            await asyncio.sleep(min(self.poll_seconds, max(0.0, deadline - loop.time())))

    async def _execute(
        self, lease: Acquired, handler: Callable[[], Awaitable[StoredResponse]]
    ) -> StoredResponse:
        ids = (
            job_ids_for_key(self._secret, lease.account_id, lease.family, lease.key)
            if self._secret
            else contextlib.nullcontext()
        )
        try:
            with ids:
                response = await handler()
        except BaseException:
            await self._abandon_quietly(lease)
            raise
        if not self.storable(response.status):
            await self._abandon_quietly(lease)
            return response
        try:
            await self.store.complete(lease, response)
        except Exception:
            # The work is done; failing the client now would invite the very retry we guard
            # against. The pending record expires with its lock and the key becomes usable.
            log.exception("could not store idempotent response (family=%s)", lease.family)
        return response

    def _remember(
        self, account_id: str, family: str, key: str, fingerprint: str, response: StoredResponse
    ) -> None:
        if self._cache_seconds <= 0:
            return
        deadline = self._monotonic() + self._cache_seconds
        self._replays[(account_id, family, key)] = (deadline, fingerprint, response)
        self._replays.move_to_end((account_id, family, key))
        while len(self._replays) > self._cache_size:
            self._replays.popitem(last=False)

    async def purge_expired(self) -> int:
        """Drop records past their TTL (the sweeper calls this; Redis expires its own)."""
        return await self.store.purge_expired()

    async def _abandon_quietly(self, lease: Acquired) -> None:
        # The caller is already propagating the real outcome; a failed release only means
        # the key stays locked until lock_seconds pass.
        try:
            await self.store.abandon(lease)
        except Exception:
            log.exception("could not release idempotency key (family=%s)", lease.family)


class SqlIdempotencyStore:
    """Embedded (SQLite) and PostgreSQL store over ``IdempotencyRecord``.

    ``begin`` is one write transaction: an insert that does nothing on conflict, then the row
    read under a row lock (PostgreSQL) or the single writer (SQLite), so two duplicates can
    never both acquire the key.
    """

    def __init__(
        self,
        db: Database,
        *,
        ttl_seconds: float = 86400,
        lock_seconds: float = 120,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.ttl = timedelta(seconds=ttl_seconds)
        self.lock = timedelta(seconds=lock_seconds)
        self.clock = clock

    @staticmethod
    def _column_key(key: str) -> str:
        # Long keys are hashed so any client-chosen key fits the column; a collision with a
        # literal "sha256:..." key could only ever involve the same account's own keys.
        if len(key) <= _KEY_COLUMN_MAX:
            return key
        return "sha256:" + hashlib.sha256(key.encode()).hexdigest()

    def _pk(self, account_id: str, family: str, key: str) -> Any:
        return (
            (col(IdempotencyRecord.account_id) == account_id)
            & (col(IdempotencyRecord.family) == family)
            & (col(IdempotencyRecord.key) == self._column_key(key))
        )

    def _fresh(self, fp: str, token: str, now: datetime) -> dict[str, Any]:
        return {
            "fingerprint": fp,
            "state": _PENDING,
            "owner": token,
            "status_code": None,
            "headers": {},
            "body": None,
            "locked_until": now + self.lock,
            "expires_at": now + self.ttl,
            "created_at": now,
        }

    async def begin(self, account_id: str, family: str, key: str, fingerprint: str) -> BeginResult:
        pk = self._pk(account_id, family, key)
        # A replay (or a mismatch) of a finished record needs no write: read it first, so that
        # retries never queue behind SQLite's single writer.
        async with self.db.read() as conn:
            done = (await conn.execute(select(IdempotencyRecord).where(pk))).one_or_none()
        if (
            done is not None and done.state == _DONE and as_utc(done.expires_at) > self.clock()  # type: ignore[operator]
        ):
            if done.fingerprint != fingerprint:
                return Mismatch()
            body = bytes(done.body) if done.body is not None else b""
            return Replay(StoredResponse(done.status_code, dict(done.headers), body))
        token = new_id("idl")
        insert = sqlite.insert if self.db.is_sqlite else postgresql.insert
        async with self.db.write() as conn:
            # A row deleted between our insert and our read (abandoned, purged) means retry.
            for _ in range(5):
                now = self.clock()
                fresh = self._fresh(fingerprint, token, now)
                inserted = await conn.execute(
                    insert(IdempotencyRecord)
                    .values(account_id=account_id, family=family, key=self._column_key(key))
                    .values(**fresh)
                    .on_conflict_do_nothing()
                    .returning(col(IdempotencyRecord.owner))
                )
                if inserted.first() is not None:
                    return Acquired(account_id, family, key, token)
                row = (
                    await conn.execute(select(IdempotencyRecord).where(pk).with_for_update())
                ).one_or_none()
                if row is None:
                    continue
                expired = as_utc(row.expires_at) <= now  # type: ignore[operator]
                lapsed = row.state == _PENDING and as_utc(row.locked_until) <= now  # type: ignore[operator]
                if expired or lapsed:
                    # Gone as far as clients can tell: reuse the row for this request.
                    await conn.execute(update(IdempotencyRecord).where(pk).values(**fresh))
                    return Acquired(account_id, family, key, token)
                if row.fingerprint != fingerprint:
                    return Mismatch()
                if row.state == _DONE:
                    body = bytes(row.body) if row.body is not None else b""
                    return Replay(StoredResponse(row.status_code, dict(row.headers), body))
                return InFlight()
        return InFlight()

    async def complete(self, lease: Acquired, response: StoredResponse) -> None:
        now = self.clock()
        async with self.db.write() as conn:
            result = await conn.execute(
                update(IdempotencyRecord)
                .where(
                    self._pk(lease.account_id, lease.family, lease.key)
                    & (col(IdempotencyRecord.owner) == lease.token)
                    & (col(IdempotencyRecord.state) == _PENDING)
                )
                .values(
                    state=_DONE,
                    status_code=response.status,
                    headers=dict(response.headers),
                    body=response.body,
                    expires_at=now + self.ttl,
                )
            )
        if result.rowcount == 0:
            log.warning("idempotency lease lost before completion (family=%s)", lease.family)

    async def abandon(self, lease: Acquired) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                delete(IdempotencyRecord).where(
                    self._pk(lease.account_id, lease.family, lease.key)
                    & (col(IdempotencyRecord.owner) == lease.token)
                    & (col(IdempotencyRecord.state) == _PENDING)
                )
            )

    async def purge_expired(self) -> int:
        """Delete records past their TTL; reads already ignore them, this reclaims space."""
        async with self.db.write() as conn:
            result = await conn.execute(
                delete(IdempotencyRecord).where(col(IdempotencyRecord.expires_at) <= self.clock())
            )
        return int(result.rowcount or 0)

    async def close(self) -> None:
        """The Database belongs to the lifespan that created it."""
