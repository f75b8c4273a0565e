"""The distributed idempotency store: one Redis hash per key, every transition one Lua script,
so replicas agree on who holds a key without any read-then-write race."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from gateway.core.breaker import Breaker, guarded
from gateway.core.errors import Unavailable
from gateway.core.idempotency import (
    Acquired,
    BeginResult,
    InFlight,
    Mismatch,
    Replay,
    StoredResponse,
)
from gateway.core.ids import new_id

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)


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
        timeout_seconds: float = 2.0,
        breaker: Breaker | None = None,
    ) -> None:
        if redis.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("RedisIdempotencyStore needs a client with decode_responses=False")
        self.redis = redis
        self.prefix = prefix
        self._timeout = timeout_seconds
        # Shared with the process's other Redis users: a paused Redis is waited on once a
        # second, not once per request.
        self._breaker = breaker
        self.ttl_ms = max(1, int(ttl_seconds * 1000))
        self.lock_ms = max(1, int(lock_seconds * 1000))
        self._begin = redis.register_script(_BEGIN_LUA)
        self._complete = redis.register_script(_COMPLETE_LUA)
        self._abandon = redis.register_script(_ABANDON_LUA)

    def _key(self, account_id: str, family: str, key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return f"{self.prefix}:idem:{account_id}:{family}:{digest}"

    async def _call(self, script: Any, key: str, args: list[Any]) -> Any:
        return await guarded(
            self._breaker,
            lambda: script(keys=[key], args=args),
            seconds=self._timeout,
            errors=(RedisError, OSError),
            refusal=lambda: Unavailable("Idempotency store (Redis) is unreachable"),
        )

    async def begin(self, account_id: str, family: str, key: str, fingerprint: str) -> BeginResult:
        token = new_id("idl")
        reply = await self._call(
            self._begin, self._key(account_id, family, key), [fingerprint, token, self.lock_ms]
        )
        outcome = reply[0].decode()
        if outcome == "acquired":
            return Acquired(account_id, family, key, token)
        if outcome == "mismatch":
            return Mismatch()
        if outcome == "replay":
            headers = json.loads(reply[2])
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

    async def purge_expired(self) -> int:
        """Nothing to do: every record carries a Redis TTL."""
        return 0
