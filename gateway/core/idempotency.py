"""Idempotency keys: a retried request gets the first answer instead of a second execution.

A key is scoped to (account, family): two accounts may use the same key without ever seeing
each other's stored response. A record is *pending* while its first request runs and *done*
once the response is stored. A pending record carries a lock deadline so that a duplicate can
take over a key whose holder died; a done record lives ``ttl_seconds``. A request that fails
(an exception, a 5xx, a 409/429) leaves nothing behind, so the client may simply retry.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from gateway.core.errors import Conflict, InvalidInput, Unavailable
from gateway.core.ids import new_id
from gateway.db.models import IdempotencyRecord, as_utc, utcnow

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncConnection

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
    ) -> None:
        self.store = store
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self.storable = storable

    async def run(
        self,
        account_id: str,
        family: str,
        key: str,
        fingerprint: str,
        handler: Callable[[], Awaitable[StoredResponse]],
    ) -> tuple[StoredResponse, bool]:
        """Run ``handler`` at most once per key; returns (response, replayed)."""
        if not key:
            raise InvalidInput("Idempotency key must not be empty")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_seconds
        while True:
            result = await self.store.begin(account_id, family, key, fingerprint)
            if isinstance(result, Replay):
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
        try:
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
            (IdempotencyRecord.account_id == account_id)
            & (IdempotencyRecord.family == family)
            & (IdempotencyRecord.key == self._column_key(key))
        )

    async def begin(self, account_id: str, family: str, key: str, fingerprint: str) -> BeginResult:
        token = new_id("idl")
        async with self.db.write() as conn:
            # A row deleted between our insert and our read (abandoned, purged) means retry.
            for _ in range(5):
                now = self.clock()
                if await self._try_insert(conn, account_id, family, key, fingerprint, token, now):
                    return Acquired(account_id, family, key, token)
                row = (
                    await conn.execute(
                        select(
                            IdempotencyRecord.fingerprint,
                            IdempotencyRecord.state,
                            IdempotencyRecord.status_code,
                            IdempotencyRecord.headers,
                            IdempotencyRecord.body,
                            IdempotencyRecord.locked_until,
                            IdempotencyRecord.expires_at,
                        )
                        .where(self._pk(account_id, family, key))
                        .with_for_update()
                    )
                ).one_or_none()
                if row is None:
                    continue
                expired = as_utc(row.expires_at) <= now  # type: ignore[operator]
                lock_lapsed = row.state == _PENDING and as_utc(row.locked_until) <= now  # type: ignore[operator]
                if expired or lock_lapsed:
                    await self._take_over(conn, account_id, family, key, fingerprint, token, now)
                    return Acquired(account_id, family, key, token)
                if row.fingerprint != fingerprint:
                    return Mismatch()
                if row.state == _DONE:
                    body = row.body if row.body is not None else b""
                    return Replay(StoredResponse(row.status_code, dict(row.headers), bytes(body)))
                return InFlight()
        return InFlight()

    async def _try_insert(
        self,
        conn: AsyncConnection,
        account_id: str,
        family: str,
        key: str,
        fp: str,
        token: str,
        now: datetime,
    ) -> bool:
        dialect_insert = sqlite.insert if self.db.is_sqlite else postgresql.insert
        stmt = (
            dialect_insert(IdempotencyRecord)
            .values(
                account_id=account_id,
                family=family,
                key=self._column_key(key),
                fingerprint=fp,
                state=_PENDING,
                owner=token,
                headers={},
                locked_until=now + self.lock,
                expires_at=now + self.ttl,
                created_at=now,
            )
            .on_conflict_do_nothing()
            .returning(IdempotencyRecord.owner)
        )
        return (await conn.execute(stmt)).first() is not None

    async def _take_over(
        self,
        conn: AsyncConnection,
        account_id: str,
        family: str,
        key: str,
        fp: str,
        token: str,
        now: datetime,
    ) -> None:
        await conn.execute(
            update(IdempotencyRecord)
            .where(self._pk(account_id, family, key))
            .values(
                fingerprint=fp,
                state=_PENDING,
                owner=token,
                status_code=None,
                headers={},
                body=None,
                locked_until=now + self.lock,
                expires_at=now + self.ttl,
                created_at=now,
            )
        )

    async def complete(self, lease: Acquired, response: StoredResponse) -> None:
        now = self.clock()
        async with self.db.write() as conn:
            result = await conn.execute(
                update(IdempotencyRecord)
                .where(
                    self._pk(lease.account_id, lease.family, lease.key)
                    & (IdempotencyRecord.owner == lease.token)
                    & (IdempotencyRecord.state == _PENDING)
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
                    & (IdempotencyRecord.owner == lease.token)
                    & (IdempotencyRecord.state == _PENDING)
                )
            )

    async def purge_expired(self) -> int:
        """Delete records past their TTL; reads already ignore them, this reclaims space."""
        async with self.db.write() as conn:
            result = await conn.execute(
                delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= self.clock())
            )
        return int(result.rowcount or 0)

    async def close(self) -> None:
        """The Database belongs to the lifespan that created it."""


# KEYS[1] record; ARGV: fingerprint, token, lock ms. Absent (never used, expired, or a dead
# holder's lock lapsed) acquires; otherwise the fingerprint decides before the state does.
_BEGIN_LUA = """
local cur = redis.call('HMGET', KEYS[1], 'fp', 'state', 'status', 'headers', 'body')
if not cur[1] then
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'state', 'pending', 'owner', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'acquired'}
end
if cur[1] ~= ARGV[1] then return {'mismatch'} end
if cur[2] == 'done' then return {'replay', cur[3], cur[4], cur[5]} end
return {'inflight'}
"""

# KEYS[1] record; ARGV: token, status, headers json, body, ttl ms.
_COMPLETE_LUA = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[2], 'headers', ARGV[3],
           'body', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""

# KEYS[1] record; ARGV: token.
_ABANDON_LUA = """
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1]
   and redis.call('HGET', KEYS[1], 'state') == 'pending' then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisIdempotencyStore:
    """Distributed store: one hash per key; every transition is one Lua script.

    A pending record's key TTL is the lock, so a dead holder's record simply disappears; a
    done record's key TTL is the retention. The client must not decode responses, since
    stored bodies are arbitrary bytes.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        ttl_seconds: float = 86400,
        lock_seconds: float = 120,
    ) -> None:
        if redis.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("RedisIdempotencyStore needs a client with decode_responses=False")
        self.redis = redis
        self.prefix = prefix
        self.ttl_ms = max(1, int(ttl_seconds * 1000))
        self.lock_ms = max(1, int(lock_seconds * 1000))
        self._begin = redis.register_script(_BEGIN_LUA)
        self._complete = redis.register_script(_COMPLETE_LUA)
        self._abandon = redis.register_script(_ABANDON_LUA)

    def _key(self, account_id: str, family: str, key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return f"{self.prefix}:idem:{account_id}:{family}:{digest}"

    async def _call(self, script: Any, key: str, args: list[Any]) -> Any:
        from redis.exceptions import RedisError

        try:
            return await script(keys=[key], args=args)
        except (RedisError, OSError) as exc:
            raise Unavailable("Idempotency store (Redis) is unreachable") from exc

    async def begin(self, account_id: str, family: str, key: str, fingerprint: str) -> BeginResult:
        token = new_id("idl")
        reply = await self._call(
            self._begin, self._key(account_id, family, key), [fingerprint, token, self.lock_ms]
        )
        outcome = _text(reply[0])
        if outcome == "acquired":
            return Acquired(account_id, family, key, token)
        if outcome == "mismatch":
            return Mismatch()
        if outcome == "replay":
            headers = json.loads(_text(reply[2]))
            body = reply[3] if isinstance(reply[3], bytes) else b""
            return Replay(StoredResponse(int(reply[1]), headers, body))
        return InFlight()

    async def complete(self, lease: Acquired, response: StoredResponse) -> None:
        stored = await self._call(
            self._complete,
            self._key(lease.account_id, lease.family, lease.key),
            [
                lease.token,
                response.status,
                json.dumps(dict(response.headers)),
                response.body,
                self.ttl_ms,
            ],
        )
        if not stored:
            log.warning("idempotency lease lost before completion (family=%s)", lease.family)

    async def abandon(self, lease: Acquired) -> None:
        await self._call(
            self._abandon, self._key(lease.account_id, lease.family, lease.key), [lease.token]
        )

    async def close(self) -> None:
        """The Redis client belongs to the lifespan that created it."""
