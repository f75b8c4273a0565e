"""A `storygate worker` killed with SIGKILL in the middle of its jobs.

Two real worker processes share PostgreSQL and Redis with a gateway runtime (the recovery sweep
runs there). One worker is killed while it runs jobs; every job must still end within 60 s of
the death — run again by the other worker, or failed with its credits released — and the
ledger must balance: one capture per succeeded job, nothing left held, nothing charged twice.

A kill can fall between a job's final state and its settlement; the lease sweeper makes that
settlement when the hold's lease runs out, so the holds get one short lease here and the check
for "nothing left held" allows for it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.core.admission import Charge
from gateway.db.models import Reservation
from gateway.runtime import Runtime, open_runtime
from tests.core.test_distributed import REPO, distributed_settings, worker_env

UNIT = "test.credits"
JOBS = 16
BEAT = 1.0  # seconds; the default is 5 (a death is noticed after four missed beats)
HOLD = 8  # seconds; a hold's lease, renewed every quarter of it while its job runs


async def _wait_running(rt: Runtime, ids: list[str], at_least: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        running = [j for j in [await rt.jobs.get(i) for i in ids] if j.status.value == "running"]
        if len(running) >= at_least:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the workers never started the jobs")


@pytest.fixture
async def gateway(
    pg_url: str, redis_url: str, redis_prefix: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Runtime]:
    settings = replace(
        distributed_settings(pg_url, redis_url, redis_prefix, tmp_path),
        job_heartbeat_seconds=BEAT,
        hold_seconds=HOLD,
        job_max_attempts=request.param,
    )
    async with open_runtime(settings, role="gateway") as rt:
        yield rt


def _start_worker(rt: Runtime) -> subprocess.Popen[bytes]:
    env = worker_env(
        rt.settings,
        STORYGATE_JOB_HEARTBEAT_SECONDS=str(BEAT),
        STORYGATE_HOLD_SECONDS=str(HOLD),
        STORYGATE_JOB_MAX_ATTEMPTS=str(rt.settings.job_max_attempts),
        STORYGATE_JOB_CONCURRENCY="4",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "worker"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.parametrize("gateway", [2, 1], indirect=True, ids=["retried", "failed"])
async def test_a_killed_workers_jobs_end_within_60s_and_the_ledger_balances(
    gateway: Runtime,
) -> None:
    rt = gateway
    account = await rt.accounts.create("tenant", {"storymint": "schools"})
    await rt.ledger.grant(account.id, UNIT, 1_000, note="test")
    victim, survivor = _start_worker(rt), _start_worker(rt)
    try:
        ids = []
        for i in range(JOBS):
            job = await rt.admission.admit(
                account.id,
                "storymint",
                "test.walk",
                {"steps": 20, "pause": 0.15, "echo": i},
                charges=[Charge(UNIT, 10)],
            )
            ids.append(job.id)
        await _wait_running(rt, ids, at_least=6)
        os.kill(victim.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        victim.wait(timeout=10)

        while time.monotonic() - killed_at < 60:
            jobs = [await rt.jobs.get(i) for i in ids]
            if all(j.final for j in jobs):
                break
            await asyncio.sleep(0.2)
        ended_after = time.monotonic() - killed_at
        assert survivor.poll() is None, "the surviving worker stopped"
    finally:
        for proc in (victim, survivor):
            if proc.poll() is None:
                proc.terminate()
        output = survivor.communicate(timeout=15)[0].decode(errors="replace")
        victim.communicate(timeout=5)

    assert all(j.final for j in jobs), (
        f"unfinished 60 s after the kill: {[(j.id, j.status) for j in jobs if not j.final]}"
        f"\n{output[-3000:]}"
    )
    succeeded = [j for j in jobs if j.status.value == "succeeded"]
    failed = [j for j in jobs if j.status.value == "failed"]
    if rt.settings.job_max_attempts == 2:
        # Every job of the dead worker ran again on the survivor, exactly once more.
        assert len(succeeded) == JOBS, [(j.id, j.status, j.error_code) for j in failed]
        assert any(j.attempts == 2 for j in jobs), "no job was taken from the dead worker"
        assert all(j.attempts <= 2 for j in jobs)
    else:
        # No attempt left: the dead worker's jobs fail as interrupted, released.
        assert failed, "the dead worker had no running job"
        assert {j.error_code for j in failed} == {"interrupted"}
        assert len(succeeded) + len(failed) == JOBS
    assert ended_after < 60

    # One capture per succeeded job, every other hold released, nothing left held (a settlement
    # the kill interrupted is made by the sweeper within a lease and a sweep).
    deadline = time.monotonic() + HOLD * 1.5 + 5
    while True:
        async with rt.db.read() as conn:
            held = await conn.scalar(
                select(func.count()).select_from(Reservation).where(Reservation.state == "held")
            )
        if held == 0 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert held == 0
    balance = await rt.ledger.balance(account.id, UNIT)
    assert balance.spendable == 1_000 - 10 * len(succeeded)
    assert await rt.ledger.audit(account.id, UNIT)
