"""Admission: the one way any family starts paid work.

Reserve every charge against a job id chosen up front, create the job (checking a daily cap in
the same transaction), hand it to the runner; if any step fails, undo the ones before it — the
job is discarded, every hold released — so a refused or broken request costs nothing and leaves
nothing behind. Families say what to charge; none of them writes its own compensation.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.core.jobs import DailyCap, JobInfo, JobService, JobStatus
from gateway.core.ledger import Ledger
from gateway.core.request_ids import next_job_id
from gateway.core.wallets import Hold

log = logging.getLogger(__name__)

Submit = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Charge:
    """``amount`` of ``unit`` held while the job runs; captured if it succeeds."""

    unit: str
    amount: int


@dataclass(frozen=True, slots=True)
class Order:
    """One job of a batch: its parameters and what it holds while it runs."""

    params: dict[str, Any]
    charges: Sequence[Charge] = ()


class Admission:
    def __init__(self, ledger: Ledger, jobs: JobService, submit: Submit, *, runner: str) -> None:
        self._ledger = ledger
        self._jobs = jobs
        self._submit = submit
        self._runner = runner

    async def admit(
        self,
        account_id: str,
        family: str,
        kind: str,
        params: dict[str, Any],
        *,
        charges: Sequence[Charge] = (),
        daily_cap: DailyCap | None = None,
        subject_id: str | None = None,
        job_id: str | None = None,
    ) -> JobInfo:
        """The queued job; the charge's ``InsufficientFunds``, the cap's ``QuotaExceeded`` or
        the runner's error otherwise, with nothing left behind."""
        (job,) = await self.admit_all(
            account_id,
            family,
            kind,
            [Order(params, charges)],
            daily_cap=daily_cap,
            subject_id=subject_id,
            job_ids=[job_id or next_job_id()],
        )
        return job

    async def admit_all(
        self,
        account_id: str,
        family: str,
        kind: str,
        orders: Sequence[Order],
        *,
        daily_cap: DailyCap | None = None,
        subject_id: str | None = None,
        job_ids: Sequence[str] | None = None,
    ) -> list[JobInfo]:
        """All of the jobs or none (a request for eight pictures that can pay for seven gets
        nothing): every hold is taken, then every job created, and only then is any job handed
        to the runner, so an undo never races a job that already started."""
        ids = list(job_ids) if job_ids is not None else [next_job_id() for _ in orders]
        if len(ids) != len(orders):
            raise ValueError("one job id per order")
        # A keyed request run again after its replica died finds the jobs it made
        # (gateway.core.request_ids): those are neither charged nor created a second time.
        made = {job.id: job for job in await self._jobs.find(ids, account_id)}
        holds: list[Hold] = []
        created: list[str] = []
        jobs: list[JobInfo] = []
        try:
            for job_id, order in zip(ids, orders, strict=True):
                if job_id in made:
                    continue
                for charge in order.charges:
                    hold = await self._ledger.reserve(
                        account_id, charge.unit, charge.amount, job_id=job_id
                    )
                    holds.append(hold)
            for job_id, order in zip(ids, orders, strict=True):
                if job_id in made:
                    jobs.append(made[job_id])
                    continue
                job = await self._jobs.create(
                    account_id,
                    family,
                    kind,
                    order.params,
                    runner=self._runner,
                    job_id=job_id,
                    subject_id=subject_id,
                    daily_cap=daily_cap,
                )
                created.append(job_id)
                jobs.append(job)
            for job_id in ids:
                await self._submit(job_id)
        except BaseException:
            await self._undo(created, holds)
            raise
        return jobs

    async def readmit(self, job: JobInfo, charges: Sequence[Charge] = ()) -> JobInfo | None:
        """Run a failed job again from where it stopped, holding ``charges`` anew against its
        id: the queued job, or ``None`` when it was no longer failed (nothing held then). The
        charge's ``InsufficientFunds`` or the runner's error otherwise, with the job failed as
        it was and every new hold released."""
        if job.status is not JobStatus.FAILED:
            return None
        holds: list[Hold] = []
        restarted: JobInfo | None = None
        try:
            for charge in charges:
                holds.append(
                    await self._ledger.reserve(
                        job.account_id, charge.unit, charge.amount, job_id=job.id
                    )
                )
            restarted = await self._jobs.restart(job.id, job.account_id)
            if restarted is None:
                await self._release(holds)
                return None
            await self._submit(job.id)
        except BaseException:
            await self._unreadmit(job, restarted, holds)
            raise
        return restarted

    async def _release(self, holds: Sequence[Hold]) -> None:
        for hold in holds:
            await self._ledger.release(hold.id)

    async def _unreadmit(
        self, job: JobInfo, restarted: JobInfo | None, holds: Sequence[Hold]
    ) -> None:
        try:
            if restarted is not None and not await self._jobs.unrestart(
                job.id, job.error_code or "failed", job.error_message or "the job failed"
            ):
                # A runner took the job after all: it runs, and its outcome settles its holds.
                log.warning("readmission of job %s failed after the job started", job.id)
                return
            await self._release(holds)
        except Exception:
            # Holds of a failed job are released by the sweeper when their lease runs out.
            log.exception("could not undo the readmission of job %s", job.id)

    async def _undo(self, created: Sequence[str], holds: list[Hold]) -> None:
        try:
            started: set[str] = set()
            for job_id in created:
                if not await self._jobs.discard(job_id):
                    # A runner took the job after all (the enqueue reached it before failing):
                    # it runs, and its outcome settles its holds.
                    log.warning("admission of job %s failed after the job started", job_id)
                    started.add(job_id)
            for hold in holds:
                if hold.job_id not in started:
                    await self._ledger.release(hold.id)
        except Exception:
            # The holds are leases of jobs that do not exist: the sweeper releases them.
            log.exception("could not undo the admission of jobs %s", ", ".join(created))
