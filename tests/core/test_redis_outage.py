"""The core's Redis users under an outage, on a private ``redis-server`` the tests pause (SIGSTOP:
connections hang, nothing fails) and kill (connections refused): the rate limiter decides within
its timeout and then without asking for a while, the event bus drops rather than waits, a stream
subscribed just after Redis returned sees every later event, and a family maps a raw connection
failure to its "service unavailable"."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import redis.exceptions as rd

from gateway.core.breaker import Breaker
from gateway.core.errors import NotFound, Unavailable
from gateway.core.events import RedisEventBus
from gateway.core.outages import unavailable
from gateway.core.ratelimit import RedisRateLimiter, Window
from tests.support.cluster import RedisServer

MINUTE = [Window("minute", 100, 60)]


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    made = aioredis.from_url(redis_server.url, socket_connect_timeout=1)
    yield made
    await made.aclose()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_skips_then_lets_one_probe_through() -> None:
    clock = Clock()
    breaker = Breaker("thing", retry_seconds=1.0, monotonic=clock)
    assert not breaker.skip() and not breaker.down
    breaker.failed(OSError())
    assert breaker.down and breaker.skip()
    clock.now += 1.0
    assert not breaker.skip()  # this caller probes ...
    assert breaker.skip()  # ... and the others still go without meanwhile
    breaker.failed(OSError())
    assert breaker.skip()
    clock.now += 1.0
    assert not breaker.skip()
    breaker.succeeded()
    assert not breaker.down and not breaker.skip() and not breaker.skip()
    breaker.failed(OSError())
    clock.now += 1.0
    assert not breaker.skip()
    breaker.abandoned()  # a cancelled probe: the next caller probes instead
    assert not breaker.skip()


async def test_limiter_answers_within_its_timeout_when_redis_hangs(
    redis_server: RedisServer, client: aioredis.Redis
) -> None:
    deny = RedisRateLimiter(client, prefix="t", on_error="deny", timeout_seconds=0.5)
    allow = RedisRateLimiter(client, prefix="t", on_error="allow", timeout_seconds=0.5)
    assert (await deny.hit("k", MINUTE)).allowed
    redis_server.pause()
    try:
        started = time.monotonic()
        with pytest.raises(Unavailable):
            await deny.hit("k", MINUTE)
        assert time.monotonic() - started < 1.5
        started = time.monotonic()
        with pytest.raises(Unavailable):  # known down: no second wait
            await deny.hit("k", MINUTE)
        assert time.monotonic() - started < 0.1
        decision = await allow.hit("k", MINUTE)
        assert decision.allowed and decision.remaining == decision.limit  # unmetered
    finally:
        redis_server.resume()
    deadline = time.monotonic() + 5
    while True:  # back within the breaker's retry (1 s) of Redis answering
        try:
            decision = await deny.hit("k", MINUTE)
            break
        except Unavailable:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    # The count survived the pause. The two hits that timed out were already written to the
    # socket, so the resumed Redis may still count them: an outage errs towards the limit.
    assert decision.allowed and 95 <= decision.remaining <= 98


async def test_limiters_sharing_a_breaker_learn_from_each_other(
    redis_server: RedisServer, client: aioredis.Redis
) -> None:
    shared = Breaker("Redis")
    one = RedisRateLimiter(client, prefix="t", on_error="deny", breaker=shared)
    two = RedisRateLimiter(client, prefix="t", on_error="allow", breaker=shared)
    redis_server.kill()
    with pytest.raises(Unavailable):
        await one.hit("k", MINUTE)
    assert shared.down
    assert (await two.hit("k", MINUTE)).allowed


async def test_publishing_never_waits_on_a_hung_redis(
    redis_server: RedisServer, client: aioredis.Redis
) -> None:
    bus = RedisEventBus(client, prefix="t", timeout_seconds=0.5)
    try:
        await bus.publish("job:a", {"n": 1})
        redis_server.pause()
        started = time.monotonic()
        with pytest.raises((rd.RedisError, OSError)):
            await bus.publish("job:a", {"n": 2})
        await bus.publish("job:a", {"n": 3})  # known down: dropped at once
        assert time.monotonic() - started < 1.5
    finally:
        redis_server.resume()
        await bus.close()


async def test_a_stream_opened_just_after_redis_returns_misses_nothing(
    redis_server: RedisServer, client: aioredis.Redis
) -> None:
    bus = RedisEventBus(client, prefix="t", retry_seconds=30.0)  # no help from its own retry
    publisher = aioredis.from_url(redis_server.url)
    try:
        await bus.start()
        assert bus.live
        redis_server.kill()
        deadline = time.monotonic() + 5
        while bus.live:
            assert time.monotonic() < deadline, "the bus never noticed Redis going"
            await asyncio.sleep(0.05)
        redis_server.start()
        async with bus.subscribe("job:a") as events:
            assert bus.live  # the subscriber woke the listener and waited for it
            await publisher.publish("t:ev:job:a", '{"n": 1}')
            assert await asyncio.wait_for(anext(aiter(events)), 5) == {"n": 1}
    finally:
        await publisher.aclose()
        await bus.close()


def test_raw_backing_service_failures_become_unavailable() -> None:
    import sqlalchemy.exc as sa

    for exc in (
        rd.ConnectionError("Error 111 connecting"),
        rd.TimeoutError("Timeout reading"),
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),
        sa.OperationalError("SELECT 1", {}, ConnectionResetError()),
        sa.InterfaceError("SELECT 1", {}, Exception("connection is closed")),
    ):
        found = unavailable(exc)
        assert isinstance(found, Unavailable), exc
    try:
        try:
            raise ConnectionResetError()
        except ConnectionResetError as cause:
            raise RuntimeError("wrapped") from cause
    except RuntimeError as wrapped:
        assert isinstance(unavailable(wrapped), Unavailable)
    others: tuple[Exception, ...] = (ValueError(), KeyError(), FileNotFoundError(), NotFound())
    for other in others:
        assert unavailable(other) is None, other
