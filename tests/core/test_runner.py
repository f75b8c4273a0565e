"""Both runners over the same task functions: outcomes, settle calls, bounds and restarts."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from arq.connections import RedisSettings
from arq.worker import Worker
from sqlalchemy import update

from gateway.core.events import MemoryEventBus, RedisEventBus
from gateway.core.jobs import JobInfo, JobService, JobStatus
from gateway.db.engine import Database
from gateway.db.models import Job
from tests.core.sample_tasks import Services
from workers.runner import ArqRunner, InProcessRunner, worker_settings
from workers.tasks import TaskRegistry


class Settled:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    async def __call__(self, job_id: str, capture: bool) -> int:
        self.calls.append((job_id, capture))
        return 1

    def of(self, job_id: str) -> list[bool]:
        return [capture for jid, capture in self.calls if jid == job_id]


@pytest.fixture
def settled() -> Settled:
    return Settled()


@pytest.fixture
def registry() -> TaskRegistry:
    reg = TaskRegistry()
    reg.load_modules(["tests.core.sample_tasks"])
    return reg


@pytest.fixture
async def services(db: Database, settled: Settled) -> AsyncIterator[Services]:
    bus = MemoryEventBus()
    yield Services(jobs=JobService(db, bus, settle=settled))
    await bus.close()


async def until(check: Callable[[], Any], timeout: float = 15.0) -> None:
    async def poll() -> None:
        while not await _value(check()):
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def _value(v: Any) -> Any:
    return await v if asyncio.iscoroutine(v) else v


async def finished(jobs: JobService, job_id: str, timeout: float = 5.0) -> JobInfo:
    async def is_final() -> bool:
        return (await jobs.get(job_id)).final

    await until(is_final, timeout)
    return await jobs.get(job_id)


def test_registry(registry: TaskRegistry) -> None:
    assert registry.kinds() == ["block", "crash", "refuse", "steps"]
    assert "steps" in registry
    with pytest.raises(KeyError, match="no task registered for kind 'nope'"):
        registry.get("nope")
    with pytest.raises(ValueError, match="already registered"):
        registry.register("steps", registry.get("block"))
    with pytest.raises(TypeError):
        registry.load_modules(["tests.core"])  # a module without register()


async def test_outcomes_and_settlement(
    services: Services, registry: TaskRegistry, settled: Settled, account_id: str
) -> None:
    jobs = services.jobs
    runner = InProcessRunner(services, registry, concurrency=4)
    await runner.start()
    try:
        ok = await jobs.create(account_id, "storymint", "steps", {"steps": 4, "title": "Fox"})
        refused = await jobs.create(account_id, "storymint", "refuse", {})
        crashed = await jobs.create(account_id, "storymint", "crash", {})
        unknown = await jobs.create(account_id, "storymint", "no-such-kind", {})
        bus: Any = jobs._events
        async with bus.subscribe(f"job:{ok.id}") as events:
            for job in (ok, refused, crashed, unknown):
                await runner.submit(job.id)
            done = await finished(jobs, ok.id)
            seen = [await asyncio.wait_for(anext(events), 2) for _ in range(6)]
        assert [e["step"] for e in seen] == ["", "page 1", "page 2", "page 3", "page 4", "page 4"]
        assert seen[-1]["final"] and seen[-1]["status"] == "succeeded"
        assert done.status is JobStatus.SUCCEEDED and done.pct == 100
        assert done.result == {"pages": 4, "title": "Fox"}
        assert done.progress == {"pages_written": 4} and done.attempts == 1

        r = await finished(jobs, refused.id)
        assert (r.status, r.error_code, r.error_message) == (
            JobStatus.FAILED,
            "content_rejected",
            "the prompt was rejected",
        )
        c = await finished(jobs, crashed.id)
        assert c.status is JobStatus.FAILED and c.error_code == "internal_error"
        assert "secret" not in (c.error_message or "") and "Traceback" not in (
            c.error_message or ""
        )
        u = await finished(jobs, unknown.id)
        assert u.error_code == "unknown_kind"

        assert settled.of(ok.id) == [True]
        for job in (refused, crashed, unknown):
            assert settled.of(job.id) == [False]
        await until(lambda: runner.pending == 0)
    finally:
        await runner.stop()


async def test_concurrency_bound_and_duplicate_submits(
    services: Services, registry: TaskRegistry, settled: Settled, account_id: str
) -> None:
    jobs, gate = services.jobs, services.gate
    runner = InProcessRunner(services, registry, concurrency=2)
    await runner.start()
    try:
        made = [await jobs.create(account_id, "sleeperhit", "block", {}) for _ in range(5)]
        for job in made:
            await runner.submit(job.id)
            await runner.submit(job.id)  # a duplicate submit runs nothing twice
        # No pause to "wait and see": submit() awaits nothing, so all five tasks exist before
        # any runs, and each one's first step (take a slot or queue for one) comes before the
        # database round trips that bring a job with a slot into the gate. Once two are in,
        # the other three are already queued, and the gate keeps all of this still until
        # released; the final peak check proves the bound over the whole run.
        await until(lambda: gate.active == 2)
        assert runner.pending == 5
        assert gate.active == 2 and gate.peak == 2
        states = [(await jobs.get(j.id)).status for j in made]
        assert states.count(JobStatus.RUNNING) == 2 and states.count(JobStatus.QUEUED) == 3
        gate.release.set()
        for job in made:
            got = await finished(jobs, job.id)
            assert got.status is JobStatus.SUCCEEDED and got.attempts == 1
        assert gate.peak == 2 and sorted(gate.entered) == sorted(j.id for j in made)
        assert sorted(settled.calls) == sorted((j.id, True) for j in made)
    finally:
        await runner.stop()


async def test_cancel_and_timeout_while_running(
    services: Services, registry: TaskRegistry, settled: Settled, account_id: str
) -> None:
    jobs, gate = services.jobs, services.gate
    runner = InProcessRunner(services, registry, job_timeout=0.3)
    await runner.start()
    try:
        job = await jobs.create(account_id, "storynote", "block", {})
        await runner.submit(job.id)
        await until(lambda: gate.active == 1)
        assert await jobs.cancel(job.id, account_id)
        gate.release.set()  # the task's next progress report stops it
        await until(lambda: runner.pending == 0)
        got = await jobs.get(job.id)
        assert got.status is JobStatus.CANCELED and got.result is None
        assert settled.of(job.id) == [False]

        gate.release.clear()
        slow = await jobs.create(account_id, "storynote", "block", {})
        await runner.submit(slow.id)
        timed_out = await finished(jobs, slow.id)
        assert (timed_out.status, timed_out.error_code) == (JobStatus.FAILED, "timeout")
        assert settled.of(slow.id) == [False]
    finally:
        await runner.stop()


async def test_restart_resumes_interrupted_jobs(
    services: Services, registry: TaskRegistry, settled: Settled, account_id: str
) -> None:
    jobs, gate = services.jobs, services.gate
    first = InProcessRunner(services, registry, max_attempts=2)
    await first.start()
    job = await jobs.create(account_id, "childrenbooks", "block", {})
    await first.submit(job.id)
    await until(lambda: gate.active == 1)
    waiting = await jobs.create(account_id, "childrenbooks", "steps", {"steps": 2})  # never sent
    await first.stop()
    stranded = await jobs.get(job.id)
    assert stranded.status is JobStatus.RUNNING and stranded.attempts == 1
    assert settled.calls == []

    gate.release.set()
    second = InProcessRunner(services, registry, max_attempts=2)
    await second.start()
    try:
        resumed = await finished(jobs, job.id)
        assert resumed.status is JobStatus.SUCCEEDED and resumed.attempts == 2
        assert resumed.result == {"released": True, "attempt": 2}
        assert (await finished(jobs, waiting.id)).status is JobStatus.SUCCEEDED
        assert settled.of(job.id) == [True] and settled.of(waiting.id) == [True]
    finally:
        await second.stop()
    assert await jobs.unfinished("inprocess") == []


async def test_restart_fails_jobs_out_of_attempts(
    services: Services, registry: TaskRegistry, settled: Settled, account_id: str
) -> None:
    jobs, gate = services.jobs, services.gate
    job = await jobs.create(account_id, "storymint", "block", {})
    for round_ in range(2):  # interrupted on both allowed attempts
        runner = InProcessRunner(services, registry, max_attempts=2)
        await runner.start()
        if round_ == 0:
            await runner.submit(job.id)
        await until(lambda n=round_ + 1: len(gate.entered) == n)
        await runner.stop()
        assert (await jobs.get(job.id)).status is JobStatus.RUNNING
    last = InProcessRunner(services, registry, max_attempts=2)
    await last.start()
    await last.stop()
    failed = await jobs.get(job.id)
    assert (failed.status, failed.error_code, failed.attempts) == (
        JobStatus.FAILED,
        "interrupted",
        2,
    )
    assert settled.of(job.id) == [False]
    assert await jobs.unfinished("inprocess") == []


# -- distributed: ArqRunner + an arq Worker against real Redis --------------------------------


@pytest.fixture
async def arq_env(
    db: Database, settled: Settled, registry: TaskRegistry, redis_url: str, redis_prefix: str
) -> AsyncIterator[dict[str, Any]]:
    client = aioredis.from_url(redis_url)
    bus = RedisEventBus(client, prefix=redis_prefix)
    services = Services(jobs=JobService(db, bus, settle=settled))
    redis_settings = RedisSettings.from_dsn(redis_url)
    queue = f"{redis_prefix}:queue"
    runner = ArqRunner(redis_settings, queue_name=queue)
    await runner.start()
    job_ids: list[str] = []

    async def on_startup(ctx: dict[str, Any]) -> None:
        ctx["services"] = services
        ctx["registry"] = registry

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        ctx.pop("services", None)

    def make_worker(burst: bool = True) -> Worker:
        settings = worker_settings(
            redis_settings=redis_settings,
            queue_name=queue,
            on_startup=on_startup,
            on_shutdown=on_shutdown,
            max_jobs=4,
            max_tries=2,
            job_timeout=30,
        )
        return Worker(**settings, burst=burst, handle_signals=False, poll_delay=0.02)

    async def create(kind: str, params: dict[str, Any], account_id: str) -> JobInfo:
        # Job ids carry the test's prefix so arq's keys for them can be found and removed.
        job_id = f"{redis_prefix}-{secrets.token_hex(8)}"
        job_ids.append(job_id)
        return await services.jobs.create(
            account_id, "storymint", kind, params, runner="arq", job_id=job_id
        )

    yield {
        "services": services,
        "bus": bus,
        "runner": runner,
        "make_worker": make_worker,
        "create": create,
    }
    await runner.stop()
    await bus.close()
    for job_id in job_ids:
        for key in ("job", "result", "retry", "in-progress"):
            await client.delete(f"arq:{key}:{job_id}")
    await client.aclose()


async def test_arq_runs_an_enqueued_job_once_and_streams_progress(
    arq_env: dict[str, Any], settled: Settled, account_id: str
) -> None:
    jobs: JobService = arq_env["services"].jobs
    runner: ArqRunner = arq_env["runner"]
    job = await arq_env["create"]("steps", {"steps": 3, "title": "Owl"}, account_id)
    async with arq_env["bus"].subscribe(f"job:{job.id}") as events:
        await runner.submit(job.id)
        await runner.submit(job.id)  # the same job twice: queued once
        worker = arq_env["make_worker"]()
        try:
            await asyncio.wait_for(worker.async_run(), 10)
        finally:
            await worker.close()
        assert (worker.jobs_complete, worker.jobs_failed, worker.jobs_retried) == (1, 0, 0)

        seen: list[dict[str, Any]] = []

        async def collect() -> None:
            async for ev in events:
                seen.append(ev)
                if ev["final"]:
                    return

        await asyncio.wait_for(collect(), 5)
    assert [e["step"] for e in seen] == ["", "page 1", "page 2", "page 3", "page 3"]
    assert seen[-1]["status"] == "succeeded" and seen[-1]["pct"] == 100
    done = await jobs.get(job.id)
    assert done.status is JobStatus.SUCCEEDED and done.attempts == 1
    assert done.result == {"pages": 3, "title": "Owl"}
    assert settled.of(job.id) == [True]

    # Enqueued again after it finished (a retried request): still nothing runs.
    await runner.submit(job.id)
    again = arq_env["make_worker"]()
    try:
        await asyncio.wait_for(again.async_run(), 10)
    finally:
        await again.close()
    assert again.jobs_complete == 0 and settled.of(job.id) == [True]


async def test_arq_worker_stop_resumes_the_job_elsewhere(
    arq_env: dict[str, Any], settled: Settled, account_id: str
) -> None:
    services: Services = arq_env["services"]
    gate = services.gate
    job = await arq_env["create"]("block", {}, account_id)
    await arq_env["runner"].submit(job.id)

    stopping = arq_env["make_worker"](burst=False)
    run = asyncio.create_task(stopping.async_run())
    await until(lambda: gate.active == 1)
    await stopping.close()  # cancels the job; arq puts it back on the queue
    await asyncio.gather(run, return_exceptions=True)
    assert (await services.jobs.get(job.id)).status is JobStatus.RUNNING
    assert settled.calls == []

    gate.release.set()
    worker = arq_env["make_worker"]()
    try:
        await asyncio.wait_for(worker.async_run(), 10)
    finally:
        await worker.close()
    done = await services.jobs.get(job.id)
    assert done.status is JobStatus.SUCCEEDED and done.attempts == 2
    assert done.result == {"released": True, "attempt": 2}
    assert settled.of(job.id) == [True]


async def test_arq_job_interrupted_too_often_fails_and_releases(
    arq_env: dict[str, Any], settled: Settled, account_id: str
) -> None:
    services: Services = arq_env["services"]
    gate = services.gate
    job = await arq_env["create"]("block", {}, account_id)
    await arq_env["runner"].submit(job.id)
    for n in (1, 2):  # both allowed attempts end with the worker stopping
        stopping = arq_env["make_worker"](burst=False)
        run = asyncio.create_task(stopping.async_run())
        await until(lambda n=n: len(gate.entered) == n)
        await stopping.close()
        await asyncio.gather(run, return_exceptions=True)
    assert (await services.jobs.get(job.id)).status is JobStatus.RUNNING

    worker = arq_env["make_worker"]()
    try:
        await asyncio.wait_for(worker.async_run(), 10)
    finally:
        await worker.close()
    failed = await services.jobs.get(job.id)
    assert (failed.status, failed.error_code, failed.attempts) == (
        JobStatus.FAILED,
        "interrupted",
        2,
    )
    assert settled.of(job.id) == [False] and len(gate.entered) == 2
    assert await services.jobs.unfinished("arq") == []


async def test_arq_runs_a_restarted_job_again(
    arq_env: dict[str, Any], db: Database, account_id: str, redis_url: str
) -> None:
    """arq keeps a finished run's result under the job's id and would refuse the id for a day;
    a job the database restarted (a resumed SleeperHit job) must run once more."""
    jobs: JobService = arq_env["services"].jobs
    runner = ArqRunner(
        RedisSettings.from_dsn(redis_url), queue_name=arq_env["runner"]._queue_name, jobs=jobs
    )
    await runner.start()
    try:
        job = await arq_env["create"]("steps", {"steps": 1, "title": "Owl"}, account_id)
        await runner.submit(job.id)
        worker = arq_env["make_worker"]()
        try:
            await asyncio.wait_for(worker.async_run(), 10)
        finally:
            await worker.close()
        assert (await jobs.get(job.id)).status is JobStatus.SUCCEEDED
        # Finished and not restarted: a second submit runs nothing.
        await runner.submit(job.id)
        idle = arq_env["make_worker"]()
        try:
            await asyncio.wait_for(idle.async_run(), 10)
        finally:
            await idle.close()
        assert idle.jobs_complete == 0
        # As if its run had failed: the database says FAILED, arq still holds the result.
        async with db.write() as conn:
            await conn.execute(update(Job).where(Job.id == job.id).values(status="failed"))
        assert await jobs.restart(job.id) is not None
        await runner.submit(job.id)
        again = arq_env["make_worker"]()
        try:
            await asyncio.wait_for(again.async_run(), 10)
        finally:
            await again.close()
        assert again.jobs_complete == 1
        assert (await jobs.get(job.id)).status is JobStatus.SUCCEEDED
    finally:
        await runner.stop()
