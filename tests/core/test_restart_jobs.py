"""Restarting a failed job, on both databases: ``JobService.restart`` puts only a failed job back
in the queue (params and progress kept, error cleared, attempts over), and
``Admission.readmit`` holds its charges anew, restarts and submits it, or undoes all of that."""

from __future__ import annotations

import pytest

from gateway.core.admission import Admission, Charge
from gateway.core.errors import InsufficientFunds, NotFound, Unavailable
from gateway.core.events import MemoryEventBus
from gateway.core.jobs import JobInfo, JobService, JobStatus
from gateway.core.ledger import Ledger
from gateway.db.engine import Database

CREDITS = "sleeperhit.credits"


class Parts:
    def __init__(self, db: Database) -> None:
        self.ledger = Ledger(db)
        self.jobs = JobService(db, MemoryEventBus(), settle=self._settle)
        self.submitted: list[str] = []
        self.refuse = False

    async def _settle(self, job_id: str, capture: bool) -> int:
        return await self.ledger.settle_job(job_id, capture=capture)

    async def submit(self, job_id: str) -> None:
        if self.refuse:
            raise Unavailable("queue down")
        self.submitted.append(job_id)

    def admission(self) -> Admission:
        return Admission(self.ledger, self.jobs, self.submit, runner="inprocess")


@pytest.fixture
async def parts(db: Database, account_id: str) -> Parts:
    made = Parts(db)
    await made.ledger.grant(account_id, CREDITS, 100)
    return made


async def _failed(parts: Parts, account_id: str, amount: int = 30) -> JobInfo:
    """A paid job that ran, recorded progress, and failed (its hold released)."""
    job = await parts.admission().admit(
        account_id, "sleeperhit", "story", {"n": 1}, charges=[Charge(CREDITS, amount)]
    )
    assert await parts.jobs.start(job.id) is not None
    assert await parts.jobs.progress(job.id, pct=40, data={"artifacts": {"a": {"status": "READY"}}})
    assert await parts.jobs.fail(job.id, "boom", "it broke")
    assert (await parts.ledger.balance(account_id, CREDITS)).spendable == 100
    return await parts.jobs.get(job.id)


async def _held(parts: Parts, job_id: str) -> list[tuple[int, str]]:
    return sorted((h.amount, h.state) for h in await parts.ledger.holds_of_job(job_id))


async def test_restart_requeues_only_a_failed_job_keeping_its_work(
    parts: Parts, account_id: str
) -> None:
    job = await _failed(parts, account_id)
    assert job.status is JobStatus.FAILED and job.attempts == 1
    again = await parts.jobs.restart(job.id, account_id)
    assert again is not None
    assert again.status is JobStatus.QUEUED
    assert again.error_code is None and again.error_message is None
    assert again.finished_at is None
    assert again.attempts == 0
    assert again.params == {"n": 1}
    assert again.progress == {"artifacts": {"a": {"status": "READY"}}}
    # Not failed any more: a second restart does nothing.
    assert await parts.jobs.restart(job.id, account_id) is None
    # It runs again like any queued job.
    running = await parts.jobs.start(job.id)
    assert running is not None and running.attempts == 1


async def test_restart_refuses_other_states_and_other_accounts(
    parts: Parts, account_id: str
) -> None:
    job = await parts.jobs.create(account_id, "sleeperhit", "story", {})
    assert await parts.jobs.restart(job.id) is None  # queued
    await parts.jobs.start(job.id)
    assert await parts.jobs.restart(job.id) is None  # running
    await parts.jobs.succeed(job.id, {})
    assert await parts.jobs.restart(job.id) is None  # succeeded
    other = await parts.jobs.create(account_id, "sleeperhit", "story", {})
    await parts.jobs.cancel(other.id)
    assert await parts.jobs.restart(other.id) is None  # canceled
    failed = await _failed(parts, account_id)
    with pytest.raises(NotFound):
        await parts.jobs.restart(failed.id, "acct_other")
    assert (await parts.jobs.get(failed.id)).status is JobStatus.FAILED


async def test_readmit_holds_the_charges_again_and_submits(parts: Parts, account_id: str) -> None:
    job = await _failed(parts, account_id)
    parts.submitted.clear()
    again = await parts.admission().readmit(job, [Charge(CREDITS, 30)])
    assert again is not None and again.status is JobStatus.QUEUED
    assert parts.submitted == [job.id]
    assert await _held(parts, job.id) == [(30, "held"), (30, "released")]
    assert (await parts.ledger.balance(account_id, CREDITS)).spendable == 70
    # Its outcome settles the new hold like any job's.
    await parts.jobs.start(job.id)
    await parts.jobs.succeed(job.id, {"ok": True})
    assert await _held(parts, job.id) == [(30, "captured"), (30, "released")]
    assert (await parts.ledger.balance(account_id, CREDITS)).spendable == 70
    assert await parts.ledger.audit(account_id, CREDITS)


async def test_readmit_without_enough_credits_leaves_the_job_failed_and_nothing_held(
    parts: Parts, account_id: str
) -> None:
    job = await _failed(parts, account_id)
    parts.submitted.clear()
    with pytest.raises(InsufficientFunds):
        await parts.admission().readmit(job, [Charge(CREDITS, 30), Charge(CREDITS, 80)])
    after = await parts.jobs.get(job.id)
    assert after.status is JobStatus.FAILED and after.error_code == "boom"
    assert parts.submitted == []
    assert all(state == "released" for _, state in await _held(parts, job.id))
    assert (await parts.ledger.balance(account_id, CREDITS)).spendable == 100
    assert await parts.ledger.audit(account_id, CREDITS)


async def test_readmit_that_cannot_submit_puts_the_job_back_to_failed(
    parts: Parts, account_id: str
) -> None:
    job = await _failed(parts, account_id)
    parts.refuse = True
    with pytest.raises(Unavailable):
        await parts.admission().readmit(job, [Charge(CREDITS, 30)])
    after = await parts.jobs.get(job.id)
    assert after.status is JobStatus.FAILED
    assert (after.error_code, after.error_message) == ("boom", "it broke")
    assert after.finished_at is not None
    assert all(state == "released" for _, state in await _held(parts, job.id))
    assert (await parts.ledger.balance(account_id, CREDITS)).spendable == 100
    # It can still be resumed once the queue is back.
    parts.refuse = False
    assert await parts.admission().readmit(after, [Charge(CREDITS, 30)]) is not None


async def test_readmit_of_a_job_that_is_not_failed_holds_nothing(
    parts: Parts, account_id: str
) -> None:
    job = await parts.admission().admit(
        account_id, "sleeperhit", "story", {}, charges=[Charge(CREDITS, 30)]
    )
    parts.submitted.clear()
    assert await parts.admission().readmit(job, [Charge(CREDITS, 30)]) is None
    assert parts.submitted == []
    assert await _held(parts, job.id) == [(30, "held")]
    assert (await parts.ledger.balance(account_id, CREDITS)).spendable == 70


async def test_readmit_without_charges_restarts_a_free_job(parts: Parts, account_id: str) -> None:
    job = await parts.jobs.create(account_id, "sleeperhit", "plan", {})
    await parts.jobs.start(job.id)
    await parts.jobs.fail(job.id, "x", "y")
    again = await parts.admission().readmit(await parts.jobs.get(job.id))
    assert again is not None and again.status is JobStatus.QUEUED
    assert parts.submitted == [job.id]
    assert await _held(parts, job.id) == []


async def test_two_readmits_of_one_failed_job_hold_once(parts: Parts, account_id: str) -> None:
    job = await _failed(parts, account_id)
    parts.submitted.clear()
    first = await parts.admission().readmit(job, [Charge(CREDITS, 30)])
    second = await parts.admission().readmit(job, [Charge(CREDITS, 30)])  # a stale view
    assert first is not None and second is None
    assert parts.submitted == [job.id]
    assert (await parts.ledger.balance(account_id, CREDITS)).spendable == 70
    assert [s for _, s in await _held(parts, job.id)].count("held") == 1
