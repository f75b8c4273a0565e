"""A job interrupted by stopping the app is resumed, or failed with its hold released, after a
restart of the embedded gateway; none stays running."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.core.jobs import JobStatus
from gateway.runtime import open_runtime
from gateway.settings import Settings


def embedded(tmp: Path, **changes) -> Settings:
    return Settings(
        data_dir=tmp,
        backends="instant",
        task_modules=("tests.support.tasks",),
        log_json=False,
        **changes,
    )


async def _wait_status(rt, job_id: str, statuses: set[str], timeout: float = 10.0):
    async def poll():
        while (job := await rt.jobs.get(job_id)).status not in statuses:
            await asyncio.sleep(0.02)
        return job

    return await asyncio.wait_for(poll(), timeout)


async def _wait_hold(rt, job_id: str, timeout: float = 5.0):
    """The hold is settled just after the job's final state is committed."""

    async def poll():
        while True:
            [hold] = await rt.ledger.holds_of_job(job_id)
            if hold.state != "held":
                return hold
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(poll(), timeout)


async def _wait_job(rt, job_id: str, ready, timeout: float = 10.0):
    """Poll the job until ``ready(job)`` holds."""

    async def poll():
        while not ready(job := await rt.jobs.get(job_id)):
            await asyncio.sleep(0.02)
        return job

    return await asyncio.wait_for(poll(), timeout)


async def test_interrupted_job_is_resumed_after_restart(tmp_path: Path) -> None:
    settings = embedded(tmp_path, job_max_attempts=3)
    # The task runs until this file exists, so the test, not a pause, decides when it may end.
    finish = tmp_path / "finish"
    async with open_runtime(settings) as rt:
        account = await rt.accounts.create("t", {"sleeperhit": "starter"})
        job = await rt.jobs.create(
            account.id, "sleeperhit", "test.wait_file", {"path": str(finish)}
        )
        hold = await rt.ledger.reserve(account.id, "sleeperhit.credits", 10, job_id=job.id)
        await rt.submit(job.id)
        # Its task has reported progress: it is inside the task, which cannot end on its own.
        running = await _wait_job(rt, job.id, lambda j: j.step == "waiting")
        assert running.status == JobStatus.RUNNING and running.attempts == 1
    # The process stopped mid-job: the row still says running.
    async with open_runtime(settings) as rt:
        await _wait_job(rt, job.id, lambda j: j.status == JobStatus.RUNNING and j.attempts == 2)
        finish.touch()
        done = await _wait_status(rt, job.id, {"succeeded", "failed"})
        assert done.status == JobStatus.SUCCEEDED
        assert done.attempts == 2
        settled = await _wait_hold(rt, job.id)
        assert settled.id == hold.id and settled.state == "captured"
        assert (await rt.ledger.balance(account.id, "sleeperhit.credits")).spendable == 290


async def test_interrupted_job_out_of_attempts_fails_and_releases(tmp_path: Path) -> None:
    settings = embedded(tmp_path, job_max_attempts=1)
    async with open_runtime(settings) as rt:
        account = await rt.accounts.create("t", {"sleeperhit": "starter"})
        job = await rt.jobs.create(account.id, "sleeperhit", "test.hang", {})
        await rt.ledger.reserve(account.id, "sleeperhit.credits", 25, job_id=job.id)
        assert (await rt.ledger.balance(account.id, "sleeperhit.credits")).spendable == 275
        await rt.submit(job.id)
        await _wait_status(rt, job.id, {"running"})
    async with open_runtime(settings) as rt:
        failed = await _wait_status(rt, job.id, {"failed", "succeeded", "canceled"})
        assert failed.status == JobStatus.FAILED
        hold = await _wait_hold(rt, job.id)
        assert hold.state == "released"
        assert (await rt.ledger.balance(account.id, "sleeperhit.credits")).spendable == 300
        assert await rt.jobs.unfinished("inprocess") == []
