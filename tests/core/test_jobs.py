"""The job state machine on both databases: transitions, ownership, CAS, settle, events."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import insert

from gateway.core.errors import Conflict, NotFound, QuotaExceeded
from gateway.core.events import EventBus, MemoryEventBus, RedisEventBus
from gateway.core.jobs import FINAL, JobService, JobStatus
from gateway.core.pages import Cursor
from gateway.db.engine import Database
from gateway.db.models import Account, utcnow


class Settled:
    """Records settle calls, as the ledger would receive them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    async def __call__(self, job_id: str, capture: bool) -> int:
        await asyncio.sleep(0)
        self.calls.append((job_id, capture))
        return 1


@pytest.fixture
def settled() -> Settled:
    return Settled()


@pytest.fixture
async def jobs(db: Database, settled: Settled) -> AsyncIterator[JobService]:
    bus = MemoryEventBus()
    yield JobService(db, bus, settle=settled)
    await bus.close()


async def other_account(db: Database) -> str:
    acc = "acc_" + secrets.token_hex(6)
    async with db.write() as conn:
        await conn.execute(
            insert(Account).values(id=acc, name="other", profile={}, created_at=utcnow())
        )
    return acc


async def test_create_get_list_and_ownership(
    db: Database, jobs: JobService, account_id: str, settled: Settled
) -> None:
    job = await jobs.create(account_id, "storymint", "book", {"prompt": "a fox", "pages": 4})
    assert job.status is JobStatus.QUEUED and not job.final
    assert (job.pct, job.step, job.message, job.attempts) == (0, "", "", 0)
    assert job.runner == "inprocess" and job.result is None and job.progress == {}
    assert len(job.id) == 40
    assert job.created_at.tzinfo is not None and job.started_at is None
    again = await jobs.get(job.id, account_id)
    assert again == job
    assert again.params == {"prompt": "a fox", "pages": 4}
    chosen = await jobs.create(account_id, "sleeperhit", "plan", {}, runner="arq", job_id="j-1")
    assert chosen.id == "j-1" and chosen.runner == "arq"
    with pytest.raises(NotFound):
        await jobs.get("missing")

    other = await other_account(db)
    job = await jobs.create(account_id, "storynote", "novel", {})
    with pytest.raises(NotFound):
        await jobs.get(job.id, other)
    with pytest.raises(NotFound):
        await jobs.cancel(job.id, other)
    assert await jobs.list(other) == []
    assert (await jobs.get(job.id)).status is JobStatus.QUEUED
    assert settled.calls == []
    assert await jobs.cancel(job.id, account_id)

    base = datetime(2030, 1, 1, tzinfo=UTC)
    ticks = iter(base + timedelta(seconds=i) for i in range(100))
    clocked = JobService(db, MemoryEventBus(), clock=lambda: next(ticks))
    listing_account = await other_account(db)
    [
        await clocked.create(listing_account, fam, kind, {"i": i})
        for i, (fam, kind) in enumerate(
            [("storymint", "book"), ("storymint", "image"), ("sleeperhit", "book")] * 2
        )
    ]

    async def listed(**kw: Any) -> list[int]:
        jobs, _ = await clocked.page(listing_account, **kw)
        return [j.params["i"] for j in jobs]

    assert await listed() == [5, 4, 3, 2, 1, 0]
    assert await listed(family="storymint") == [4, 3, 1, 0]
    assert await listed(kinds=["book"]) == [5, 3, 2, 0]
    assert await listed(family="storymint", kinds=["book"]) == [3, 0]
    first, cursor = await clocked.page(listing_account, limit=2)
    assert [j.params["i"] for j in first] == [5, 4] and cursor is not None
    assert await listed(after=Cursor.decode(cursor.encode()), limit=10) == [3, 2, 1, 0]
    _, last = await clocked.page(listing_account, limit=6)
    assert last is None  # nothing after the last page


async def test_pages_neither_skip_nor_repeat_jobs_created_in_the_same_instant(
    db: Database, account_id: str
) -> None:
    instant = datetime(2030, 6, 1, tzinfo=UTC)
    same = JobService(db, MemoryEventBus(), clock=lambda: instant)
    made = {(await same.create(account_id, "storymint", "book", {})).id for _ in range(7)}
    seen: list[str] = []
    cursor = None
    while True:
        jobs, cursor = await same.page(account_id, limit=3, after=cursor)
        seen += [j.id for j in jobs]
        if cursor is None:
            break
    assert len(seen) == 7 and set(seen) == made


async def test_happy_path_transitions(jobs: JobService, account_id: str, settled: Settled) -> None:
    job = await jobs.create(account_id, "childrenbooks", "book", {})
    started = await jobs.start(job.id)
    assert started is not None and started.status is JobStatus.RUNNING
    assert started.attempts == 1 and started.started_at is not None
    assert await jobs.start(job.id) is None  # a second runner does not get it

    assert await jobs.progress(job.id, pct=30, step="outline", data={"pages": 1})
    assert await jobs.progress(job.id, pct=250, message="writing", data={"words": 10})
    mid = await jobs.get(job.id)
    assert (mid.pct, mid.step, mid.message) == (100, "outline", "writing")
    assert mid.progress == {"pages": 1, "words": 10}
    assert await jobs.progress(job.id, pct=-5)
    assert (await jobs.get(job.id)).pct == 0

    assert await jobs.succeed(job.id, {"pages": 12})
    done = await jobs.get(job.id)
    assert done.status is JobStatus.SUCCEEDED and done.final and done.status in FINAL
    assert done.pct == 100 and done.result == {"pages": 12}
    assert done.finished_at is not None and done.finished_at >= done.created_at
    assert done.error_code is None
    assert settled.calls == [(job.id, True)]

    # Nothing moves a final job any more, and nothing settles twice.
    assert not await jobs.progress(job.id, pct=5)
    assert not await jobs.succeed(job.id, {"again": True})
    assert not await jobs.fail(job.id, "x", "y")
    assert not await jobs.cancel(job.id)
    assert not await jobs.requeue(job.id)
    assert await jobs.start(job.id) is None
    assert (await jobs.get(job.id)).result == {"pages": 12}
    assert settled.calls == [(job.id, True)]


async def test_queued_jobs_can_fail_or_cancel_but_not_succeed(
    jobs: JobService, account_id: str, settled: Settled
) -> None:
    a = await jobs.create(account_id, "storymint", "book", {})
    b = await jobs.create(account_id, "storymint", "book", {})
    assert not await jobs.succeed(a.id, {})
    assert not await jobs.progress(a.id, pct=10)
    assert not await jobs.requeue(a.id)
    assert await jobs.fail(a.id, "bad_input", "no prompt")
    assert await jobs.cancel(b.id, account_id)
    fa, fb = await jobs.get(a.id), await jobs.get(b.id)
    assert (fa.status, fa.error_code, fa.error_message) == (
        JobStatus.FAILED,
        "bad_input",
        "no prompt",
    )
    assert fb.status is JobStatus.CANCELED and fb.final
    assert settled.calls == [(a.id, False), (b.id, False)]

    job = await jobs.create(account_id, "storynote", "novel", {})
    await jobs.start(job.id)
    await jobs.progress(job.id, pct=40, data={"chapters": 2})
    assert await jobs.requeue(job.id)
    requeued = await jobs.get(job.id)
    assert requeued.status is JobStatus.QUEUED and requeued.attempts == 1
    assert requeued.progress == {"chapters": 2}  # kept, so a pipeline can resume from it
    again = await jobs.start(job.id)
    assert again is not None and again.attempts == 2

    queued = await jobs.create(account_id, "storymint", "book", {})
    running = await jobs.create(account_id, "storymint", "book", {})
    done = await jobs.create(account_id, "storymint", "book", {})
    elsewhere = await jobs.create(account_id, "storymint", "book", {}, runner="arq")
    await jobs.start(running.id)
    await jobs.start(done.id)
    await jobs.succeed(done.id, {})
    found = await jobs.unfinished("inprocess")
    assert {j.id for j in found} == {job.id, queued.id, running.id}
    assert [j.id for j in await jobs.unfinished("arq")] == [elsewhere.id]


async def test_concurrent_finishers_exactly_one_wins(
    jobs: JobService, account_id: str, settled: Settled
) -> None:
    rounds = 8
    for i in range(rounds):
        job = await jobs.create(account_id, "sleeperhit", "plan", {})
        claims = await asyncio.gather(*(jobs.start(job.id) for _ in range(4)))
        assert sum(c is not None for c in claims) == 1
        ops = [
            jobs.succeed(job.id, {"round": i}),
            jobs.fail(job.id, "boom", "failed"),
            jobs.cancel(job.id),
            jobs.succeed(job.id, {"round": -1}),
            jobs.cancel(job.id, account_id),
        ]
        if i % 2:
            ops.reverse()
        wins = await asyncio.gather(*ops)
        assert sum(wins) == 1
        final = await jobs.get(job.id)
        mine = [c for c in settled.calls if c[0] == job.id]
        assert len(mine) == 1
        assert mine[0][1] is (final.status is JobStatus.SUCCEEDED)
        winner = wins.index(True)
        expected = [
            JobStatus.SUCCEEDED,
            JobStatus.FAILED,
            JobStatus.CANCELED,
            JobStatus.SUCCEEDED,
            JobStatus.CANCELED,
        ]
        if i % 2:
            expected.reverse()
        assert final.status is expected[winner]
    assert len(settled.calls) == rounds


async def test_concurrent_finishers_across_connections(
    db: Database, account_id: str, settled: Settled
) -> None:
    # Two services on two engines of the same database, like a gateway and a worker.
    second = Database(db.url)
    try:
        a = JobService(db, MemoryEventBus(), settle=settled)
        b = JobService(second, MemoryEventBus(), settle=settled)
        for _ in range(5):
            job = await a.create(account_id, "storymint", "book", {})
            await a.start(job.id)
            wins = await asyncio.gather(
                a.succeed(job.id, {}), b.cancel(job.id), b.fail(job.id, "x", "y"), a.cancel(job.id)
            )
            assert sum(wins) == 1
        assert len(settled.calls) == 5
        assert len({c[0] for c in settled.calls}) == 5
    finally:
        await second.close()


@pytest.fixture(params=["memory", "redis"])
def bus_config(request: pytest.FixtureRequest) -> tuple[str, str, str]:
    if request.param == "memory":
        return ("memory", "", "")
    return ("redis", request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix"))


@pytest.fixture
async def bus(bus_config: tuple[str, str, str]) -> AsyncIterator[EventBus]:
    kind, url, prefix = bus_config
    if kind == "memory":
        memory = MemoryEventBus()
        yield memory
        await memory.close()
        return
    client = aioredis.from_url(url)
    redis_bus = RedisEventBus(client, prefix=prefix)
    yield redis_bus
    await redis_bus.close()
    await client.aclose()


async def test_events_follow_the_job_and_end_final(
    db: Database, bus: EventBus, account_id: str
) -> None:
    jobs = JobService(db, bus)
    job_id = "evt-" + secrets.token_hex(8)
    seen: list[dict[str, Any]] = []
    async with bus.subscribe(f"job:{job_id}") as events:
        await jobs.create(account_id, "storymint", "book", {}, job_id=job_id)
        await jobs.start(job_id)
        for page in (1, 2, 3):
            await jobs.progress(job_id, pct=page * 25, step=f"page {page}", data={"page": page})
        await jobs.succeed(job_id, {"pages": 3})
        await jobs.progress(job_id, pct=1)  # after the end: no event

        async def collect() -> None:
            async for ev in events:
                seen.append(ev)
                if ev["final"]:
                    return

        await asyncio.wait_for(collect(), 5)
    assert [e["status"] for e in seen] == ["queued", "running"] + ["running"] * 3 + ["succeeded"]
    assert [e["pct"] for e in seen] == [0, 0, 25, 50, 75, 100]
    assert seen[4]["progress"] == {"page": 3} and seen[4]["step"] == "page 3"
    assert [e["final"] for e in seen] == [False] * 5 + [True]
    assert set(seen[-1]) == {
        "job_id", "status", "pct", "step", "message", "progress", "final",
        "error_code", "error_message", "revision",
    }  # fmt: skip
    assert all(e["job_id"] == job_id for e in seen)


async def test_results_texts_timestamps_and_errors(
    db: Database, jobs: JobService, account_id: str
) -> None:
    job = await jobs.create(account_id, "storymint", "book", {})
    await jobs.start(job.id)
    await jobs.succeed(job.id, {"text": "v1"})
    claim = await jobs.claim_edit(job.id, lease_seconds=60)
    await jobs.update_result(job.id, {"text": "v2"}, revision=claim.revision)
    edited = await jobs.get(job.id)
    assert edited.result == {"text": "v2"} and edited.status is JobStatus.SUCCEEDED
    assert edited.revision == claim.revision + 1
    with pytest.raises(NotFound):
        await jobs.update_result("missing", {}, revision=0)
    with pytest.raises(NotFound):
        await jobs.claim_edit("missing", lease_seconds=60)

    job = await jobs.create(account_id, "storymint", "book", {})
    await jobs.start(job.id)
    assert await jobs.progress(job.id, step="s" * 500, message="m" * 5000)
    assert await jobs.fail(job.id, "c" * 100, "e" * 9000)
    failed = await jobs.get(job.id)
    assert (len(failed.step), len(failed.message)) == (200, 1000)
    assert (len(failed.error_code or ""), len(failed.error_message or "")) == (60, 2000)

    before = utcnow()
    job = await jobs.create(account_id, "storymint", "book", {})
    await jobs.start(job.id)
    await jobs.cancel(job.id)
    got = await jobs.get(job.id)
    for ts in (got.created_at, got.updated_at, got.started_at, got.finished_at):
        assert ts is not None and ts.utcoffset() == timedelta(0)
        assert ts >= before - timedelta(seconds=1)

    bus = MemoryEventBus()
    jobs = JobService(db, bus)
    a = await jobs.create(account_id, "storymint", "book", {})
    b = await jobs.create(account_id, "storymint", "book", {})
    async with bus.subscribe(f"job:{a.id}") as ea, bus.subscribe(f"job:{b.id}") as eb:
        await jobs.start(a.id)
        await jobs.fail(a.id, "content_rejected", "no")
        await jobs.cancel(b.id)
        last_a = [await anext(ea), await anext(ea)][-1]
        last_b = await anext(eb)
    assert last_a["final"] and last_a["status"] == "failed"
    assert (last_a["error_code"], last_a["error_message"]) == ("content_rejected", "no")
    assert last_b["final"] and last_b["status"] == "canceled"
    await bus.close()

    async def broken(job_id: str, capture: bool) -> int:
        raise RuntimeError("ledger down")

    jobs = JobService(db, MemoryEventBus(), settle=broken)
    job = await jobs.create(account_id, "storymint", "book", {})
    await jobs.start(job.id)
    assert await jobs.succeed(job.id, {"ok": True})
    assert (await jobs.get(job.id)).status is JobStatus.SUCCEEDED


async def test_edits_claim_the_result_and_compare_and_swap_on_its_revision(
    jobs: JobService, account_id: str
) -> None:
    job = await jobs.create(account_id, "storymint", "book", {})
    with pytest.raises(Conflict):
        await jobs.claim_edit(job.id, lease_seconds=60)  # not finished: nothing to edit
    await jobs.start(job.id)
    await jobs.succeed(job.id, {"v": 0})
    first = await jobs.claim_edit(job.id, lease_seconds=60)
    with pytest.raises(Conflict):
        await jobs.claim_edit(job.id, lease_seconds=60)  # one editor at a time
    await jobs.update_result(job.id, {"v": 1}, revision=first.revision)
    with pytest.raises(Conflict):  # a stale revision loses, never overwrites
        await jobs.update_result(job.id, {"v": 99}, revision=first.revision)
    second = await jobs.claim_edit(job.id, lease_seconds=60)
    await jobs.end_edit(job.id, revision=second.revision)  # gave up: the claim is free again
    third = await jobs.claim_edit(job.id, lease_seconds=60)
    assert third.revision == second.revision == first.revision + 1
    assert (await jobs.get(job.id)).result == {"v": 1}


async def test_a_lapsed_edit_claim_can_be_taken_over(db: Database, account_id: str) -> None:
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    jobs = JobService(db, MemoryEventBus(), clock=lambda: now[0])
    job = await jobs.create(account_id, "storymint", "book", {})
    await jobs.start(job.id)
    await jobs.succeed(job.id, {})
    await jobs.claim_edit(job.id, lease_seconds=30)
    now[0] += timedelta(seconds=31)
    assert (await jobs.claim_edit(job.id, lease_seconds=30)).id == job.id


async def test_daily_cap_counts_created_jobs_exactly_under_concurrency(
    jobs: JobService, account_id: str
) -> None:
    from gateway.core.jobs import DailyCap

    async def create() -> bool:
        try:
            await jobs.create(account_id, "childrenbooks", "book", {}, daily_cap=DailyCap(5))
            return True
        except QuotaExceeded:
            return False

    made = await asyncio.gather(*(create() for _ in range(12)))
    assert sum(made) == 5
    assert await jobs.count_today(account_id, "childrenbooks", "book") == 5
    # Another kind or family has its own count.
    await jobs.create(account_id, "childrenbooks", "other", {}, daily_cap=DailyCap(5))
    # A discarded (undone) job gives its place back.
    gone, _ = await jobs.page(account_id, kinds=["book"], limit=1)
    assert await jobs.discard(gone[0].id)
    await jobs.create(account_id, "childrenbooks", "book", {}, daily_cap=DailyCap(5))
    with pytest.raises(QuotaExceeded):
        await jobs.create(account_id, "childrenbooks", "book", {}, daily_cap=DailyCap(5))


async def test_discard_only_removes_a_job_no_runner_started(
    jobs: JobService, account_id: str
) -> None:
    job = await jobs.create(account_id, "storymint", "book", {})
    await jobs.start(job.id)
    assert not await jobs.discard(job.id)
    assert (await jobs.get(job.id)).status is JobStatus.RUNNING
    queued = await jobs.create(account_id, "storymint", "book", {})
    assert await jobs.discard(queued.id)
    with pytest.raises(NotFound):
        await jobs.get(queued.id)
