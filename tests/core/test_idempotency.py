"""Idempotency: one suite over the SQL store (SQLite, PostgreSQL) and the Redis store."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select

from gateway.core.errors import Conflict, Unavailable
from gateway.core.idempotency import (
    Acquired,
    BeginResult,
    Idempotency,
    IdempotencyStore,
    InFlight,
    Mismatch,
    Replay,
    SqlIdempotencyStore,
    StoredResponse,
    fingerprint,
)
from gateway.core.idempotency_redis import RedisIdempotencyStore
from gateway.db.engine import Database
from gateway.db.models import IdempotencyRecord, utcnow

FP = fingerprint("POST", "/v1/stories", b'{"title": "x"}')
OTHER_FP = fingerprint("POST", "/v1/stories", b'{"title": "y"}')
RESPONSE = StoredResponse(201, {"content-type": "application/json", "x-id": "s1"}, b"\x00\xff{}")
T = TypeVar("T")


@dataclass
class Harness:
    """Builds stores of one implementation and moves its notion of time forward (without
    waiting: an injected clock for SQL, shortened key TTLs for Redis)."""

    make: Callable[..., IdempotencyStore]
    advance: Callable[[float], Awaitable[None]]


@dataclass
class Counter:
    calls: int = 0
    response: StoredResponse = RESPONSE
    delay: float = 0.0  # simulated work: the handler takes this long
    fail: bool = False
    # With a gate, the handler holds its key until the test opens the gate.
    gate: asyncio.Event | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self) -> StoredResponse:
        self.calls += 1
        self.started.set()  # the handler runs only while its request holds the key
        if self.gate is not None:
            await self.gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("handler failed")
        return self.response


class Watched:
    """A store that says when it has answered ``InFlight``: a duplicate is then waiting."""

    def __init__(self, inner: IdempotencyStore) -> None:
        self.inner = inner
        self.in_flight = asyncio.Event()

    async def begin(self, account_id: str, family: str, key: str, fp: str) -> BeginResult:
        result = await self.inner.begin(account_id, family, key, fp)
        if isinstance(result, InFlight):
            self.in_flight.set()
        return result

    async def complete(self, lease: Acquired, response: StoredResponse) -> None:
        await self.inner.complete(lease, response)

    async def abandon(self, lease: Acquired) -> None:
        await self.inner.abandon(lease)

    async def purge_expired(self) -> int:
        return await self.inner.purge_expired()

    async def close(self) -> None:
        await self.inner.close()


async def soon(awaitable: Awaitable[T], timeout: float = 10.0) -> T:
    """Await something the test has made happen; the timeout only turns a hang into a failure."""
    return await asyncio.wait_for(awaitable, timeout)


def test_fingerprint_separates_parts() -> None:
    assert fingerprint("post", "/a", b"b") == fingerprint("POST", "/a", b"b")
    assert fingerprint("POST", "/a", b"b") != fingerprint("POST", "/ab", b"")
    assert fingerprint("POST", "/a", b"b") != fingerprint("PUT", "/a", b"b")
    assert len(FP) == 64


class _Suite:
    """Behaviour every store shares; subclasses supply the ``harness`` fixture."""

    async def test_replay_is_identical_and_skips_handler(self, harness: Harness) -> None:
        idem = Idempotency(harness.make())
        handler = Counter()
        first, replayed = await idem.run("acc_a", "storymint", "k1", FP, handler)
        assert (first, replayed) == (RESPONSE, False)
        again, replayed = await idem.run("acc_a", "storymint", "k1", FP, handler)
        assert replayed is True
        assert again.status == 201
        assert again.headers == RESPONSE.headers
        assert again.body == RESPONSE.body
        assert handler.calls == 1

    async def test_other_body_is_a_mismatch(self, harness: Harness) -> None:
        store = harness.make()
        idem = Idempotency(store)
        handler = Counter()
        await idem.run("acc_a", "storymint", "k1", FP, handler)
        with pytest.raises(Conflict) as exc:
            await idem.run("acc_a", "storymint", "k1", OTHER_FP, handler)
        assert exc.value.details["reason"] == "mismatch"
        assert handler.calls == 1
        # Also while the first request is still running.
        lease = await store.begin("acc_a", "storymint", "k2", FP)
        assert isinstance(lease, Acquired)
        assert isinstance(await store.begin("acc_a", "storymint", "k2", OTHER_FP), Mismatch)
        assert isinstance(await store.begin("acc_a", "storymint", "k2", FP), InFlight)

    async def test_handler_exception_stores_nothing(self, harness: Harness) -> None:
        idem = Idempotency(harness.make())
        failing = Counter(fail=True)
        with pytest.raises(RuntimeError):
            await idem.run("acc_a", "storymint", "k1", FP, failing)
        # The retry may even carry a corrected body: nothing was remembered.
        handler = Counter()
        response, replayed = await idem.run("acc_a", "storymint", "k1", OTHER_FP, handler)
        assert (response, replayed, handler.calls) == (RESPONSE, False, 1)

    async def test_which_statuses_are_stored(self, harness: Harness) -> None:
        idem = Idempotency(harness.make())
        cases = {500: False, 503: False, 409: False, 429: False, 404: True, 422: True, 200: True}
        for status, stored in cases.items():
            key = f"k{status}"
            handler = Counter(response=StoredResponse(status, {}, b"r"))
            await idem.run("acc_a", "storymint", key, FP, handler)
            response, replayed = await idem.run("acc_a", "storymint", key, FP, handler)
            assert response.status == status
            assert replayed is stored, status
            assert handler.calls == (1 if stored else 2), status

    async def test_keys_are_scoped_by_account_and_family(self, harness: Harness) -> None:
        idem = Idempotency(harness.make())
        scopes = [("acc_a", "storymint"), ("acc_b", "storymint"), ("acc_a", "sleeperhit")]
        for n, (account, family) in enumerate(scopes):
            own = StoredResponse(200, {"n": str(n)}, f"body {n}".encode())
            response, replayed = await idem.run(account, family, "same", FP, Counter(response=own))
            assert (response, replayed) == (own, False)
        for n, (account, family) in enumerate(scopes):
            response, replayed = await idem.run(account, family, "same", FP, Counter())
            assert replayed and response.body == f"body {n}".encode()

    async def test_records_expire_after_ttl(self, harness: Harness) -> None:
        idem = Idempotency(harness.make(ttl_seconds=60))
        handler = Counter()
        await idem.run("acc_a", "storymint", "k1", FP, handler)
        await harness.advance(20)
        assert (await idem.run("acc_a", "storymint", "k1", FP, handler))[1] is True
        await harness.advance(45)
        # Expired: the key is free again, whatever the body.
        response, replayed = await idem.run("acc_a", "storymint", "k1", OTHER_FP, handler)
        assert (response, replayed, handler.calls) == (RESPONSE, False, 2)

    async def test_dead_holder_lock_lapses(self, harness: Harness) -> None:
        store = harness.make(lock_seconds=30)
        idem = Idempotency(store, wait_seconds=0)
        dead = await store.begin("acc_a", "storymint", "k1", FP)
        assert isinstance(dead, Acquired)
        handler = Counter()
        with pytest.raises(Conflict) as exc:
            await idem.run("acc_a", "storymint", "k1", FP, handler)
        assert exc.value.details["reason"] == "in_flight"
        assert handler.calls == 0
        await harness.advance(40)
        fresh = StoredResponse(200, {}, b"fresh")
        assert await idem.run("acc_a", "storymint", "k1", FP, Counter(response=fresh)) == (
            fresh,
            False,
        )
        # The presumed-dead holder wakes up: it can neither overwrite nor delete the record.
        await store.complete(dead, StoredResponse(200, {}, b"stale"))
        await store.abandon(dead)
        assert await store.begin("acc_a", "storymint", "k1", FP) == Replay(fresh)

    async def test_waiter_takes_over_after_holder_fails(self, harness: Harness) -> None:
        store = Watched(harness.make())
        idem = Idempotency(store, poll_seconds=0.02)
        failing = Counter(fail=True, gate=asyncio.Event())
        handler = Counter()
        first = asyncio.create_task(idem.run("acc_a", "storymint", "k1", FP, failing))
        await soon(failing.started.wait())  # the first request holds the key...
        second = asyncio.create_task(idem.run("acc_a", "storymint", "k1", FP, handler))
        await soon(store.in_flight.wait())  # ...and the second is waiting for it
        assert failing.gate is not None
        failing.gate.set()
        with pytest.raises(RuntimeError):
            await soon(first)
        assert await soon(second) == (RESPONSE, False)
        assert (failing.calls, handler.calls) == (1, 1)

    async def test_waiter_gives_up_with_in_flight(self, harness: Harness) -> None:
        slow = Counter(gate=asyncio.Event())
        store = harness.make()
        holder = asyncio.create_task(Idempotency(store).run("acc_a", "sh", "k1", FP, slow))
        await soon(slow.started.wait())  # held until the gate opens, however long that is
        impatient = Idempotency(store, wait_seconds=0.1, poll_seconds=0.02)
        with pytest.raises(Conflict) as exc:
            await impatient.run("acc_a", "sh", "k1", FP, Counter())
        assert exc.value.details["reason"] == "in_flight"
        assert slow.gate is not None
        slow.gate.set()
        assert await soon(holder) == (RESPONSE, False)

    @pytest.mark.parametrize("replicas", [1, 2])
    async def test_fifty_concurrent_duplicates_execute_once(
        self, harness: Harness, replicas: int
    ) -> None:
        stores = [harness.make(replica=n > 0) for n in range(replicas)]
        idems = [Idempotency(s, wait_seconds=8, poll_seconds=0.02) for s in stores]
        handler = Counter(delay=0.2)
        calls = [
            idems[n % replicas].run("acc_a", "storymint", "race", FP, handler) for n in range(50)
        ]
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert handler.calls == 1
        fresh = [r for r in results if isinstance(r, tuple) and r[1] is False]
        assert len(fresh) == 1
        for result in results:
            if isinstance(result, Conflict):
                assert result.details["reason"] == "in_flight"
            else:
                assert isinstance(result, tuple) and result[0] == RESPONSE


@dataclass
class FakeClock:
    now: datetime = field(default_factory=utcnow)

    def __call__(self) -> datetime:
        return self.now


class TestSqlStore(_Suite):
    @pytest.fixture
    async def harness(self, db: Database) -> AsyncIterator[Harness]:
        clock = FakeClock()
        extra: list[Database] = []

        def make(ttl_seconds: float = 86400, lock_seconds: float = 120, replica: bool = False):
            target = db
            if replica:
                # Another process's connection to the same database.
                target = Database(db.url)
                extra.append(target)
            return SqlIdempotencyStore(
                target, ttl_seconds=ttl_seconds, lock_seconds=lock_seconds, clock=clock
            )

        async def advance(seconds: float) -> None:
            clock.now += timedelta(seconds=seconds)

        yield Harness(make, advance)
        for database in extra:
            await database.close()

    async def test_purge_expired(self, db: Database) -> None:
        clock = FakeClock()
        store = SqlIdempotencyStore(db, ttl_seconds=60, clock=clock)
        idem = Idempotency(store)
        await idem.run("acc_a", "storymint", "old", FP, Counter())
        clock.now += timedelta(seconds=45)
        await idem.run("acc_a", "storymint", "new", FP, Counter())
        clock.now += timedelta(seconds=30)
        assert await store.purge_expired() == 1
        async with db.read() as conn:
            keys = (await conn.execute(select(IdempotencyRecord.key))).scalars().all()
        assert keys == ["new"]

    async def test_long_keys_fit(self, db: Database) -> None:
        idem = Idempotency(SqlIdempotencyStore(db))
        long_a, long_b = "a" * 300, "a" * 299 + "b"
        await idem.run("acc_a", "storymint", long_a, FP, Counter())
        assert (await idem.run("acc_a", "storymint", long_b, FP, Counter()))[1] is False
        assert (await idem.run("acc_a", "storymint", long_a, FP, Counter()))[1] is True
        async with db.read() as conn:
            count = (await conn.execute(select(func.count()).select_from(IdempotencyRecord))).one()
        assert count[0] == 2


# Moves one key's clock forward: its remaining TTL shrinks by ARGV[1] ms, and a key whose TTL
# runs out is deleted, as Redis would have expired it by then. Keys without a TTL stay.
_ADVANCE_LUA = """
local left = redis.call('PTTL', KEYS[1])
if left < 0 then return left end
left = left - tonumber(ARGV[1])
if left <= 0 then return redis.call('DEL', KEYS[1]) - 1 end
redis.call('PEXPIRE', KEYS[1], left)
return left
"""


class TestRedisStore(_Suite):
    @pytest.fixture
    async def harness(self, redis_url: str, redis_prefix: str) -> AsyncIterator[Harness]:
        clients: list[aioredis.Redis] = []
        admin = aioredis.from_url(redis_url)
        clients.append(admin)
        shorten = admin.register_script(_ADVANCE_LUA)

        def make(ttl_seconds: float = 86400, lock_seconds: float = 120, replica: bool = False):
            # Every store gets its own client, as separate replicas would.
            client = aioredis.from_url(redis_url)
            clients.append(client)
            return RedisIdempotencyStore(
                client, prefix=redis_prefix, ttl_seconds=ttl_seconds, lock_seconds=lock_seconds
            )

        async def advance(seconds: float) -> None:
            # Redis keeps time itself; rather than wait for it, age this test's keys.
            async for key in admin.scan_iter(match=f"{redis_prefix}:*", count=500):
                await shorten(keys=[key], args=[int(seconds * 1000)])

        yield Harness(make, advance)
        for client in clients:
            await client.aclose()

    async def test_key_layout_and_ttl(self, redis_url: str, redis_prefix: str) -> None:
        client = aioredis.from_url(redis_url)
        try:
            store = RedisIdempotencyStore(
                client, prefix=redis_prefix, ttl_seconds=3600, lock_seconds=60
            )
            lease = await store.begin("acc_a", "storynote", "my-key", FP)
            assert isinstance(lease, Acquired)
            digest = hashlib.sha256(b"my-key").hexdigest()
            key = f"{redis_prefix}:idem:acc_a:storynote:{digest}"
            assert 0 < await client.pttl(key) <= 60_000
            await store.complete(lease, RESPONSE)
            assert 60_000 < await client.pttl(key) <= 3_600_000
        finally:
            await client.aclose()

    async def test_unreachable_redis_is_unavailable(self, redis_prefix: str) -> None:
        client = aioredis.from_url("redis://127.0.0.1:1")
        try:
            store = RedisIdempotencyStore(client, prefix=redis_prefix)
            with pytest.raises(Unavailable):
                await store.begin("acc_a", "childrenbooks", "k", FP)
            with pytest.raises(Unavailable):
                await Idempotency(store).run("acc_a", "childrenbooks", "k", FP, Counter())
        finally:
            await client.aclose()

    async def test_decoding_client_is_refused(self, redis_url: str, redis_prefix: str) -> None:
        client = aioredis.from_url(redis_url, decode_responses=True)
        try:
            with pytest.raises(ValueError):
                RedisIdempotencyStore(client, prefix=redis_prefix)
        finally:
            await client.aclose()


async def test_replays_are_served_from_memory_briefly_and_stay_scoped() -> None:
    from gateway.core.idempotency import Replay, StoredResponse

    class CountingStore:
        def __init__(self) -> None:
            self.begins = 0
            self.stored = StoredResponse(200, {}, b'{"job_id":"j1"}')

        async def begin(self, account_id, family, key, fingerprint):  # type: ignore[no-untyped-def]
            self.begins += 1
            return Replay(self.stored) if account_id == "acc_a" else Mismatch()

    now = [0.0]
    store = CountingStore()
    idem = Idempotency(store, cache_seconds=30, monotonic=lambda: now[0])  # type: ignore[arg-type]

    async def never() -> StoredResponse:
        raise AssertionError("a replay must not run the handler")

    for _ in range(3):
        response, replayed = await idem.run("acc_a", "storymint", "k", "fp", never)
        assert replayed and response.body == b'{"job_id":"j1"}'
    assert store.begins == 1  # the first replay came from the store, the others from memory
    with pytest.raises(Conflict):  # another body under the same key, even from memory
        await idem.run("acc_a", "storymint", "k", "other", never)
    with pytest.raises(Conflict):  # another account's key of the same name is its own
        await idem.run("acc_b", "storymint", "k", "fp", never)
    now[0] += 31
    await idem.run("acc_a", "storymint", "k", "fp", never)
    assert store.begins == 3  # expired from memory: asked the store again
