"""Fixed-window rate limits, one decision object from which every family renders its headers.

Windows are aligned to epoch multiples of their length (so a day resets at 00:00 UTC) and
checked together: a hit that would overflow any window counts in none of them, so a client
hammering a denied route does not push its day budget down. ``cost=0`` is a peek: nothing is
counted and the decision says whether a request of cost 1 would pass now.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from redis.exceptions import RedisError

from gateway.core.breaker import Breaker
from gateway.core.errors import Unavailable

if TYPE_CHECKING:
    from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    limit: int
    seconds: int

    def __post_init__(self) -> None:
        if self.seconds <= 0 or self.limit < 0:
            raise ValueError(f"bad rate-limit window {self!r}")


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    reset_at: int
    retry_after: int
    window: str


class RateLimiter(Protocol):
    async def hit(self, bucket: str, windows: Sequence[Window], cost: int = 1) -> Decision: ...

    async def close(self) -> None: ...


def _check(windows: Sequence[Window], cost: int) -> None:
    if not windows:
        raise ValueError("at least one window is required")
    if cost < 0:
        raise ValueError("cost must not be negative")
    if len({w.name for w in windows}) != len(windows):
        raise ValueError("window names must be distinct within one hit")


def _index(window: Window, now: float) -> int:
    return int(now // window.seconds)


def _reset(window: Window, now: float) -> tuple[int, int]:
    """(reset_at, reset_seconds) of the window containing ``now``."""
    reset_at = (_index(window, now) + 1) * window.seconds
    return reset_at, max(1, math.ceil(reset_at - now))


def _decide(
    windows: Sequence[Window], before: Sequence[int], cost: int, now: float, counted: bool
) -> Decision:
    """The decision for counts as they stood before this hit; ``counted`` is the store's word."""
    need = max(cost, 1)
    denying = [i for i, w in enumerate(windows) if before[i] + need > w.limit]
    if cost > 0 and not counted:
        denying = denying or list(range(len(windows)))
    elif cost > 0:
        denying = []
    if denying:
        # The client must wait for every denying window, so report the one resetting last.
        i = max(denying, key=lambda j: _reset(windows[j], now)[0])
        w = windows[i]
        reset_at, reset_seconds = _reset(w, now)
        return Decision(
            allowed=False,
            limit=w.limit,
            remaining=max(0, w.limit - before[i]),
            reset_seconds=reset_seconds,
            reset_at=reset_at,
            retry_after=reset_seconds,
            window=w.name,
        )
    remaining = [w.limit - before[i] - cost for i, w in enumerate(windows)]
    i = min(range(len(windows)), key=lambda j: remaining[j])
    w = windows[i]
    reset_at, reset_seconds = _reset(w, now)
    return Decision(
        allowed=True,
        limit=w.limit,
        remaining=max(0, remaining[i]),
        reset_seconds=reset_seconds,
        reset_at=reset_at,
        retry_after=0,
        window=w.name,
    )


def _unmetered(windows: Sequence[Window], now: float) -> Decision:
    """What an unreachable Redis with on_error="allow" reports: the tightest window, untouched."""
    w = min(windows, key=lambda x: x.limit)
    reset_at, reset_seconds = _reset(w, now)
    return Decision(True, w.limit, w.limit, reset_seconds, reset_at, 0, w.name)


def _would_count(windows: Sequence[Window], before: Sequence[int], cost: int) -> bool:
    return cost > 0 and all(before[i] + cost <= w.limit for i, w in enumerate(windows))


class MemoryRateLimiter:
    """Embedded limiter: exact within one process, bounded in memory.

    Entries are (bucket, window name) -> (window index, count, window seconds) in LRU order.
    ``hit`` never awaits, so on one event loop it is atomic without a lock.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.time, max_buckets: int = 100_000
    ) -> None:
        if max_buckets < 1:
            raise ValueError("max_buckets must be at least 1")
        self.clock = clock
        self.max_buckets = max_buckets
        self._entries: OrderedDict[tuple[str, str], tuple[int, int, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def hit(self, bucket: str, windows: Sequence[Window], cost: int = 1) -> Decision:
        _check(windows, cost)
        now = self.clock()
        before: list[int] = []
        for w in windows:
            entry = self._entries.get((bucket, w.name))
            current = entry is not None and entry[0] == _index(w, now)
            before.append(entry[1] if entry is not None and current else 0)
        counted = _would_count(windows, before, cost)
        if counted:
            for i, w in enumerate(windows):
                self._entries[(bucket, w.name)] = (_index(w, now), before[i] + cost, w.seconds)
                self._entries.move_to_end((bucket, w.name))
        self._evict(now)
        return _decide(windows, before, cost, now, counted)

    def _evict(self, now: float) -> None:
        # Least recently used entries sit at the front; drop those whose window has ended,
        # then whatever still exceeds the bound.
        while self._entries:
            key, (index, _count, seconds) = next(iter(self._entries.items()))
            if index >= int(now // seconds) and len(self._entries) <= self.max_buckets:
                break
            del self._entries[key]

    async def close(self) -> None:
        self._entries.clear()


# KEYS: one counter per window. ARGV[1] = cost, then (limit, ttl seconds) per window.
# Reads every counter, then increments all or none: one script, so atomic across replicas.
# Returns {1 if counted else 0, count before this hit per window}.
_HIT_LUA = """
local cost = tonumber(ARGV[1])
local before = {}
local fits = cost > 0
for i = 1, #KEYS do
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  before[i] = count
  if count + cost > tonumber(ARGV[2 * i]) then fits = false end
end
if fits then
  for i = 1, #KEYS do
    redis.call('INCRBY', KEYS[i], cost)
    if redis.call('TTL', KEYS[i]) < 0 then
      redis.call('EXPIRE', KEYS[i], ARGV[2 * i + 1])
    end
  end
end
return {fits and 1 or 0, unpack(before)}
"""


class RedisRateLimiter:
    """Distributed limiter: exact across replicas whose clocks agree.

    The window index comes from the caller's clock rather than Redis's, so tests can steer
    time and every replica names the same counter. ``on_error`` decides what an unreachable
    Redis means: "allow" lets traffic through unmetered, "deny" raises ``Unavailable``.

    A decision never waits more than ``timeout_seconds`` on Redis (a paused or partitioned
    Redis accepts connections and never answers), and once Redis failed, decisions go without
    it for ``retry_seconds`` at a time (``gateway.core.breaker``, possibly shared with the
    process's other users of that Redis), so an outage costs one timeout per ``retry_seconds``
    rather than one per request.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        on_error: Literal["allow", "deny"],
        clock: Callable[[], float] = time.time,
        timeout_seconds: float = 2.0,
        retry_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        breaker: Breaker | None = None,
    ) -> None:
        if on_error not in ("allow", "deny"):
            raise ValueError("on_error must be 'allow' or 'deny'")
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self.redis = redis
        self.prefix = prefix
        self.on_error = on_error
        self.clock = clock
        self.timeout_seconds = timeout_seconds
        # Shared with the process's other users of the same Redis when given, so one
        # timeout tells them all.
        self.breaker = breaker or Breaker(
            "Redis (rate limiter)", retry_seconds=retry_seconds, monotonic=monotonic
        )
        self._script = redis.register_script(_HIT_LUA)

    def key(self, bucket: str, window: Window, now: float) -> str:
        return f"{self.prefix}:rl:{bucket}:{window.name}:{_index(window, now)}"

    async def hit(self, bucket: str, windows: Sequence[Window], cost: int = 1) -> Decision:
        _check(windows, cost)
        now = self.clock()
        if self.breaker.skip():
            return self._without_redis(windows, now)
        keys = [self.key(bucket, w, now) for w in windows]
        args: list[int] = [cost]
        for w in windows:
            args += [w.limit, w.seconds]
        try:
            async with asyncio.timeout(self.timeout_seconds):
                reply = await self._script(keys=keys, args=args)
        except (RedisError, OSError) as exc:  # TimeoutError is an OSError
            self.breaker.failed(exc)
            return self._without_redis(windows, now)
        except BaseException:
            self.breaker.abandoned()
            raise
        self.breaker.succeeded()
        before = [int(c) for c in reply[1:]]
        return _decide(windows, before, cost, now, counted=bool(int(reply[0])))

    def _without_redis(self, windows: Sequence[Window], now: float) -> Decision:
        if self.on_error == "deny":
            raise Unavailable("Rate limiter (Redis) is unreachable")
        return _unmetered(windows, now)

    async def close(self) -> None:
        """The Redis client belongs to the lifespan that created it."""
