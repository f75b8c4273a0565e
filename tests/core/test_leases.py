"""Holds live as long as their jobs: the sweeper settles an expired hold by its job's state,
renews the holds of queued and beating jobs, and reclaims only those of dead jobs."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.core.events import MemoryEventBus
from gateway.core.jobs import JobService, JobStatus
from gateway.core.leases import Leases, SweepReport
from gateway.core.ledger import Ledger
from gateway.db.engine import Database
from gateway.runtime import Runtime, open_runtime
from gateway.settings import Settings
from tests.core.test_distributed import REPO, distributed_settings, worker_env

UNIT = "sleeperhit.credits"
LEASE = 60


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 3, 14, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Parts:
    def __init__(self, db: Database) -> None:
        self.clock = Clock()
        self.ledger = Ledger(db, hold_seconds=LEASE, clock=self.clock)
        self.jobs = JobService(
            db,
            MemoryEventBus(),
            settle=lambda job_id, capture: self.ledger.settle_job(job_id, capture=capture),
            clock=self.clock,
        )
        self.leases = Leases(db, self.ledger, self.jobs, seconds=LEASE, clock=self.clock)


@pytest.fixture
async def parts(db: Database, account_id: str) -> Parts:
    made = Parts(db)
    await made.ledger.grant(account_id, UNIT, 1000)
    return made


async def _state(parts: Parts, job_id: str) -> list[str]:
    return [h.state for h in await parts.ledger.holds_of_job(job_id)]


async def test_only_expired_holds_are_looked_at(parts: Parts, account_id: str) -> None:
    jobless = await parts.ledger.reserve(account_id, UNIT, 5)
    settled = await parts.ledger.reserve(account_id, UNIT, 7)
    await parts.ledger.capture(settled.id)
    assert await parts.leases.sweep() == SweepReport()
    parts.clock.advance(LEASE + 1)
    # A hold with no job (an admission that died half-way) comes back; a settled one stays.
    assert await parts.leases.sweep() == SweepReport(released=1)
    assert not await parts.ledger.release(jobless.id)
    assert (await parts.ledger.balance(account_id, UNIT)).perpetual == 1000 - 7
    assert await parts.ledger.audit(account_id, UNIT)


async def test_a_queued_jobs_hold_outlives_many_leases(parts: Parts, account_id: str) -> None:
    job = await parts.jobs.create(account_id, "sleeperhit", "book", {})
    await parts.ledger.reserve(account_id, UNIT, 10, job_id=job.id)
    for _ in range(5):  # five leases in the queue
        parts.clock.advance(LEASE + 1)
        assert (await parts.leases.sweep()).renewed == 1
    assert await _state(parts, job.id) == ["held"]
    await parts.jobs.start(job.id)
    for _ in range(5):  # five more while its worker beats
        parts.clock.advance(LEASE / 2)
        assert await parts.leases.beat(job.id)
        parts.clock.advance(LEASE / 2 + 1)
        await parts.leases.sweep()
        assert await _state(parts, job.id) == ["held"]
    assert await parts.jobs.succeed(job.id, {})
    assert await _state(parts, job.id) == ["captured"]
    assert (await parts.ledger.balance(account_id, UNIT)).perpetual == 990


async def test_a_job_whose_worker_stopped_beating_is_failed_and_released_once(
    parts: Parts, account_id: str
) -> None:
    job = await parts.jobs.create(account_id, "sleeperhit", "book", {})
    await parts.ledger.reserve(account_id, UNIT, 10, job_id=job.id)
    await parts.ledger.reserve(account_id, UNIT, 3, job_id=job.id)
    await parts.jobs.start(job.id)
    parts.clock.advance(LEASE + 1)  # no beat for a whole lease: the worker is gone
    report = await parts.leases.sweep()
    assert report.jobs_failed == 1
    failed = await parts.jobs.get(job.id)
    assert failed.status is JobStatus.FAILED and failed.error_code == "interrupted"
    assert await _state(parts, job.id) == ["released", "released"]
    assert await parts.leases.sweep() == SweepReport()
    assert (await parts.ledger.balance(account_id, UNIT)).perpetual == 1000
    assert await parts.ledger.audit(account_id, UNIT)


async def test_a_silent_workers_job_is_queued_again_then_failed_when_out_of_attempts(
    parts: Parts, account_id: str
) -> None:
    """The short heartbeat: four missed beats take the job from its worker, long before its
    holds' lease runs out; a worker that still beats keeps its job."""
    leases = Leases(
        parts.jobs._db, parts.ledger, parts.jobs, seconds=LEASE, beat_seconds=2, clock=parts.clock
    )
    silent = await parts.jobs.create(account_id, "sleeperhit", "book", {}, runner="arq")
    beating = await parts.jobs.create(account_id, "sleeperhit", "book", {}, runner="arq")
    other_runner = await parts.jobs.create(account_id, "sleeperhit", "book", {})
    await parts.ledger.reserve(account_id, UNIT, 10, job_id=silent.id)
    for job in (silent, beating, other_runner):
        await parts.jobs.start(job.id)
    redelivered: list[str] = []

    async def redeliver(job_id: str) -> None:
        redelivered.append(job_id)

    parts.clock.advance(7)  # under four beats of silence: nobody is dead yet
    assert await leases.recover_stalled("arq", 2, redeliver) == (0, 0)
    assert await leases.beat(beating.id, 1)
    parts.clock.advance(2)
    assert await leases.recover_stalled("arq", 2, redeliver) == (1, 0)
    assert redelivered == [silent.id]
    assert (await parts.jobs.get(silent.id)).status is JobStatus.QUEUED
    assert (await parts.jobs.get(beating.id)).status is JobStatus.RUNNING
    assert (await parts.jobs.get(other_runner.id)).status is JobStatus.RUNNING
    assert await _state(parts, silent.id) == ["held"]

    # The second run is the last one allowed; its worker dies too.
    restarted = await parts.jobs.start(silent.id)
    assert restarted is not None and restarted.attempts == 2
    # The first worker, if it was only slow, has lost the job: its beats are refused.
    assert not await leases.beat(silent.id, 1)
    parts.clock.advance(5)
    assert await leases.beat(beating.id, 1)
    parts.clock.advance(4)
    assert await leases.recover_stalled("arq", 2, redeliver) == (0, 1)
    failed = await parts.jobs.get(silent.id)
    assert failed.status is JobStatus.FAILED and failed.error_code == "interrupted"
    assert await _state(parts, silent.id) == ["released"]
    assert (await parts.ledger.balance(account_id, UNIT)).perpetual == 1000
    assert await parts.ledger.audit(account_id, UNIT)


async def test_a_lost_settlement_is_made_by_the_sweep(parts: Parts, account_id: str) -> None:
    jobs_without_settle = JobService(parts.jobs._db, MemoryEventBus(), clock=parts.clock)
    won = await jobs_without_settle.create(account_id, "sleeperhit", "book", {})
    lost = await jobs_without_settle.create(account_id, "sleeperhit", "book", {})
    await parts.ledger.reserve(account_id, UNIT, 10, job_id=won.id)
    await parts.ledger.reserve(account_id, UNIT, 20, job_id=lost.id)
    for job_id in (won.id, lost.id):
        await jobs_without_settle.start(job_id)
    await jobs_without_settle.succeed(won.id, {})
    await jobs_without_settle.fail(lost.id, "x", "y")
    parts.clock.advance(LEASE + 1)
    assert await parts.leases.sweep() == SweepReport(captured=1, released=1)
    assert (await parts.ledger.balance(account_id, UNIT)).perpetual == 990


def _embedded(tmp: Path, **changes: object) -> Settings:
    return Settings(
        data_dir=tmp,
        backends="instant",
        task_modules=("tests.support.tasks",),
        log_json=False,
        **changes,  # type: ignore[arg-type]
    )


async def _until(check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    async def poll():  # type: ignore[no-untyped-def]
        while not (value := await check()):
            await asyncio.sleep(0.02)
        return value

    return await asyncio.wait_for(poll(), timeout)


async def test_a_hold_survives_three_leases_queued_then_running_and_is_captured_once(
    tmp_path: Path,
) -> None:
    """The real runner and sweeper, with a one-second lease and one job at a time."""
    async with open_runtime(_embedded(tmp_path, hold_seconds=1, job_concurrency=1)) as rt:
        account = await rt.accounts.create("t", {"sleeperhit": "starter"})
        first_file, second_file = tmp_path / "first.done", tmp_path / "second.done"
        first = await rt.admission.admit(
            account.id, "sleeperhit", "test.wait_file", {"path": str(first_file)}
        )
        second = await rt.admission.admit(
            account.id,
            "sleeperhit",
            "test.wait_file",
            {"path": str(second_file)},
            charges=[_charge(25)],
        )

        async def status(job_id: str) -> JobStatus:
            return (await rt.jobs.get(job_id)).status

        await _until(lambda: _is(status(first.id), JobStatus.RUNNING))
        await asyncio.sleep(3.2)  # three leases queued behind the first job
        assert await status(second.id) is JobStatus.QUEUED
        assert [h.state for h in await rt.ledger.holds_of_job(second.id)] == ["held"]
        first_file.touch()
        await _until(lambda: _is(status(second.id), JobStatus.RUNNING))
        await asyncio.sleep(3.2)  # three leases running
        assert [h.state for h in await rt.ledger.holds_of_job(second.id)] == ["held"]
        second_file.touch()
        await _until(lambda: _is(status(second.id), JobStatus.SUCCEEDED))
        await _until(lambda: _captured(rt, second.id))
        assert (await rt.ledger.balance(account.id, UNIT)).spendable == 300 - 25
        assert await _entries(rt, second.id) == ["reserve", "capture"]


def _charge(amount: int):  # type: ignore[no-untyped-def]
    from gateway.core.admission import Charge

    return Charge(UNIT, amount)


async def _is(value, expected) -> bool:  # type: ignore[no-untyped-def]
    return (await value) is expected


async def _released(rt: Runtime, job_id: str) -> bool:
    return [h.state for h in await rt.ledger.holds_of_job(job_id)] == ["released"]


async def _captured(rt: Runtime, job_id: str) -> bool:
    return [h.state for h in await rt.ledger.holds_of_job(job_id)] == ["captured"]


async def _entries(rt: Runtime, job_id: str) -> list[str]:
    from sqlalchemy import select

    from gateway.db.models import LedgerEntry

    async with rt.db.read() as conn:
        rows = await conn.execute(
            select(LedgerEntry.kind)  # type: ignore[call-overload]
            .where(LedgerEntry.job_id == job_id)
            .order_by(LedgerEntry.id)
        )
        return [r[0] for r in rows]


@pytest.mark.services
async def test_a_killed_workers_job_has_its_hold_released_within_the_lease(
    pg_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    settings = distributed_settings(pg_url, redis_url, redis_prefix, tmp_path)
    lease = 2
    # One attempt: the dead worker's job is failed rather than queued for another worker.
    settings = settings.with_overrides(hold_seconds=lease, job_max_attempts=1)
    env = worker_env(
        settings,
        STORYGATE_HOLD_SECONDS=str(lease),
        STORYGATE_BACKENDS="instant",
        STORYGATE_JOB_MAX_ATTEMPTS="1",
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "worker"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with open_runtime(settings, role="gateway") as rt:
            account = await rt.accounts.create("t", {"sleeperhit": "starter"})
            job = await rt.admission.admit(
                account.id, "sleeperhit", "test.hang", {}, charges=[_charge(40)]
            )
            await _until(lambda: _is(_status(rt, job.id), JobStatus.RUNNING))
            assert (await rt.ledger.balance(account.id, UNIT)).spendable == 260
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
            killed_at = asyncio.get_running_loop().time()
            await _until(lambda: _is(_status(rt, job.id), JobStatus.FAILED), timeout=30)
            took = asyncio.get_running_loop().time() - killed_at
            failed = await rt.jobs.get(job.id)
            assert failed.error_code == "interrupted"
            # The release follows the failure's commit, in the same sweep.
            await _until(lambda: _released(rt, job.id), timeout=5)
            assert (await rt.ledger.balance(account.id, UNIT)).spendable == 300
            # One lease without a beat, plus at most one sweep interval.
            assert took <= lease + lease / 4 + 1.5, took
    finally:
        if worker.poll() is None:
            worker.kill()


async def _status(rt: Runtime, job_id: str) -> JobStatus:
    return (await rt.jobs.get(job_id)).status
