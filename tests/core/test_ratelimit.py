"""Rate limits: one suite over the in-process limiter and the Redis limiter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from gateway.core.errors import Unavailable
from gateway.core.ratelimit import (
    Decision,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    Window,
)

# 2030-05-17 00:00:00 UTC, a multiple of 86400 (and so of 60).
MIDNIGHT = 1_905_465_600
MINUTE = Window("minute", 5, 60)


@dataclass
class FakeTime:
    now: float = MIDNIGHT + 15.5

    def __call__(self) -> float:
        return self.now


Make = Callable[..., RateLimiter]


def test_midnight_constant_is_a_utc_midnight() -> None:
    when = datetime.fromtimestamp(MIDNIGHT, UTC)
    assert (when.hour, when.minute, when.second) == (0, 0, 0)


def test_window_validation() -> None:
    with pytest.raises(ValueError):
        Window("minute", 10, 0)
    with pytest.raises(ValueError):
        Window("minute", -1, 60)


class _Suite:
    """Behaviour every limiter shares; subclasses supply ``make(clock, replica=False)``."""

    async def test_remaining_counts_down_then_denies(self, make: Make) -> None:
        clock = FakeTime()
        limiter = make(clock)
        seen = [await limiter.hit("sm:key1:create", [MINUTE]) for _ in range(6)]
        assert [d.allowed for d in seen] == [True] * 5 + [False]
        assert [d.remaining for d in seen] == [4, 3, 2, 1, 0, 0]
        assert {d.limit for d in seen} == {5}
        assert {d.window for d in seen} == {"minute"}
        assert [d.retry_after for d in seen] == [0] * 5 + [45]

    async def test_reset_and_retry_after_follow_the_clock(self, make: Make) -> None:
        clock = FakeTime(MIDNIGHT + 60 * 7 + 15.5)
        limiter = make(clock)
        one = Window("minute", 1, 60)
        allowed = await limiter.hit("b", [one])
        assert allowed == Decision(True, 1, 0, 45, MIDNIGHT + 60 * 8, 0, "minute")
        clock.now = MIDNIGHT + 60 * 7 + 59.9
        denied = await limiter.hit("b", [one])
        assert denied == Decision(False, 1, 0, 1, MIDNIGHT + 60 * 8, 1, "minute")
        clock.now = MIDNIGHT + 60 * 8  # exactly on the boundary: a fresh, whole window
        fresh = await limiter.hit("b", [one])
        assert fresh == Decision(True, 1, 0, 60, MIDNIGHT + 60 * 9, 0, "minute")

    async def test_denied_hit_counts_nothing(self, make: Make) -> None:
        limiter = make(FakeTime())
        three = Window("minute", 3, 60)
        assert (await limiter.hit("b", [three], cost=2)).remaining == 1
        denied = await limiter.hit("b", [three], cost=2)
        assert (denied.allowed, denied.remaining) == (False, 1)
        last = await limiter.hit("b", [three], cost=1)
        assert (last.allowed, last.remaining) == (True, 0)
        assert not (await limiter.hit("b", [three])).allowed

    async def test_day_window_denies_and_minute_is_untouched(self, make: Make) -> None:
        clock = FakeTime(MIDNIGHT + 23 * 3600 + 30)
        limiter = make(clock)
        windows = [Window("minute", 10, 60), Window("day", 3, 86400)]
        for left in (2, 1, 0):
            decision = await limiter.hit("cb:key:create", windows)
            assert (decision.allowed, decision.window, decision.remaining) == (True, "day", left)
        denied = await limiter.hit("cb:key:create", windows)
        next_midnight = int((datetime.fromtimestamp(MIDNIGHT, UTC) + timedelta(days=1)).timestamp())
        assert denied.allowed is False
        assert (denied.window, denied.limit, denied.remaining) == ("day", 3, 0)
        assert denied.reset_at == next_midnight
        assert denied.retry_after == denied.reset_seconds == 3600 - 30
        # The denied hit left the minute counter at three.
        peek = await limiter.hit("cb:key:create", windows[:1], cost=0)
        assert (peek.allowed, peek.remaining) == (True, 7)

    async def test_report_names_the_tightest_window(self, make: Make) -> None:
        limiter = make(FakeTime())
        windows = [Window("minute", 60, 60), Window("day", 50, 86400)]
        first = await limiter.hit("b", windows)
        assert (first.window, first.remaining, first.limit) == ("day", 49, 50)
        windows = [Window("minute", 5, 60), Window("day", 50, 86400)]
        assert (await limiter.hit("c", windows)).window == "minute"

    async def test_both_windows_denying_reports_the_later_reset(self, make: Make) -> None:
        limiter = make(FakeTime())
        windows = [Window("minute", 1, 60), Window("day", 1, 86400)]
        await limiter.hit("b", windows)
        denied = await limiter.hit("b", windows)
        assert (denied.allowed, denied.window) == (False, "day")
        assert denied.retry_after == 86400 - 15

    async def test_window_rolls_over(self, make: Make) -> None:
        clock = FakeTime()
        limiter = make(clock)
        windows = [MINUTE, Window("day", 8, 86400)]
        for _ in range(5):
            assert (await limiter.hit("b", windows)).allowed
        assert not (await limiter.hit("b", windows)).allowed
        clock.now += 60
        rolled = await limiter.hit("b", windows)
        assert (rolled.allowed, rolled.window, rolled.remaining) == (True, "day", 2)
        clock.now += 86400
        assert (await limiter.hit("b", windows)).remaining == 4

    async def test_peek_counts_nothing(self, make: Make) -> None:
        limiter = make(FakeTime())
        one = Window("minute", 1, 60)
        for _ in range(3):
            peek = await limiter.hit("b", [one], cost=0)
            assert (peek.allowed, peek.remaining, peek.retry_after) == (True, 1, 0)
        await limiter.hit("b", [one])
        peek = await limiter.hit("b", [one], cost=0)
        assert (peek.allowed, peek.remaining, peek.retry_after) == (False, 0, 45)

    async def test_buckets_are_independent(self, make: Make) -> None:
        limiter = make(FakeTime())
        one = Window("minute", 1, 60)
        assert (await limiter.hit("sm:k1:create", [one])).allowed
        assert (await limiter.hit("sm:k2:create", [one])).allowed
        assert (await limiter.hit("sm:k1:read", [one])).allowed
        assert not (await limiter.hit("sm:k1:create", [one])).allowed

    async def test_bad_arguments(self, make: Make) -> None:
        limiter = make(FakeTime())
        with pytest.raises(ValueError):
            await limiter.hit("b", [MINUTE], cost=-1)
        with pytest.raises(ValueError):
            await limiter.hit("b", [])
        with pytest.raises(ValueError):
            await limiter.hit("b", [MINUTE, Window("minute", 9, 3600)])

    async def test_concurrent_hits_are_exact(self, make: Make) -> None:
        clock = FakeTime()
        limiters = [make(clock), make(clock, replica=True)]
        window = Window("minute", 120, 60)
        hits = [limiters[n % 2].hit("shared", [window]) for n in range(300)]
        decisions = await asyncio.gather(*hits)
        assert sum(d.allowed for d in decisions) == 120
        assert sorted(d.remaining for d in decisions if d.allowed) == list(range(120))


class TestMemoryLimiter(_Suite):
    @pytest.fixture
    def make(self) -> Make:
        shared: list[MemoryRateLimiter] = []

        def build(clock: FakeTime, replica: bool = False) -> MemoryRateLimiter:
            # In-process state is per process: a "replica" here is the same limiter.
            if replica and shared:
                return shared[0]
            shared.append(MemoryRateLimiter(clock=clock))
            return shared[-1]

        return build

    async def test_bounded_by_max_buckets(self) -> None:
        limiter = MemoryRateLimiter(clock=FakeTime(), max_buckets=3)
        one = Window("minute", 1, 60)
        for name in "abcde":
            await limiter.hit(name, [one])
        assert len(limiter) == 3
        # "a" was least recently used, so it was forgotten; "e" was not.
        assert (await limiter.hit("a", [one])).allowed
        assert not (await limiter.hit("e", [one])).allowed

    async def test_stale_windows_are_evicted(self) -> None:
        clock = FakeTime()
        limiter = MemoryRateLimiter(clock=clock)
        for name in "abc":
            await limiter.hit(name, [MINUTE])
        assert len(limiter) == 3
        clock.now += 60
        await limiter.hit("d", [MINUTE])
        assert len(limiter) == 1
        await limiter.close()
        assert len(limiter) == 0


class TestRedisLimiter(_Suite):
    @pytest.fixture
    async def make(self, redis_url: str, redis_prefix: str) -> AsyncIterator[Make]:
        clients: list[aioredis.Redis] = []

        def build(clock: FakeTime, replica: bool = False) -> RedisRateLimiter:
            # Every limiter gets its own client, as separate replicas would.
            client = aioredis.from_url(redis_url)
            clients.append(client)
            return RedisRateLimiter(client, prefix=redis_prefix, on_error="deny", clock=clock)

        yield build
        for client in clients:
            await client.aclose()

    async def test_keys_and_their_ttl(self, redis_url: str, redis_prefix: str) -> None:
        client = aioredis.from_url(redis_url)
        try:
            limiter = RedisRateLimiter(
                client, prefix=redis_prefix, on_error="deny", clock=FakeTime()
            )
            await limiter.hit("sn:key:jobs", [MINUTE, Window("day", 9, 86400)], cost=2)
            minute_key = f"{redis_prefix}:rl:sn:key:jobs:minute:{MIDNIGHT // 60}"
            day_key = f"{redis_prefix}:rl:sn:key:jobs:day:{MIDNIGHT // 86400}"
            assert await client.get(minute_key) == b"2"
            assert await client.get(day_key) == b"2"
            assert 0 < await client.ttl(minute_key) <= 60
            assert 60 < await client.ttl(day_key) <= 86400
        finally:
            await client.aclose()

    async def test_unreachable_redis_follows_on_error(self, redis_prefix: str) -> None:
        client = aioredis.from_url("redis://127.0.0.1:1")
        windows = [Window("minute", 60, 60), Window("day", 50, 86400)]
        try:
            allow = RedisRateLimiter(
                client, prefix=redis_prefix, on_error="allow", clock=FakeTime()
            )
            decision = await allow.hit("b", windows)
            assert (decision.allowed, decision.remaining, decision.limit) == (True, 50, 50)
            assert decision.window == "day"
            deny = RedisRateLimiter(client, prefix=redis_prefix, on_error="deny")
            with pytest.raises(Unavailable):
                await deny.hit("b", windows)
        finally:
            await client.aclose()

    async def test_on_error_must_be_chosen(self, redis_url: str, redis_prefix: str) -> None:
        client = aioredis.from_url(redis_url)
        try:
            with pytest.raises(TypeError):
                RedisRateLimiter(client, prefix=redis_prefix)  # type: ignore[call-arg]
            with pytest.raises(ValueError):
                RedisRateLimiter(client, prefix=redis_prefix, on_error="maybe")  # type: ignore[arg-type]
        finally:
            await client.aclose()
