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

from gateway.core.ids import new_job_id
from gateway.core.jobs import DailyCap, JobInfo, JobService
from gateway.core.ledger import Ledger
from gateway.core.wallets import Hold

log = logging.getLogger(__name__)

Submit = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Charge:
    """``amount`` of ``unit`` held while the job runs; captured if it succeeds."""

    unit: str
    amount: int


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
        job_id = job_id or new_job_id()
        holds: list[Hold] = []
        job: JobInfo | None = None
        try:
            for charge in charges:
                hold = await self._ledger.reserve(
                    account_id, charge.unit, charge.amount, job_id=job_id
                )
                holds.append(hold)
            job = await self._jobs.create(
                account_id,
                family,
                kind,
                params,
                runner=self._runner,
                job_id=job_id,
                subject_id=subject_id,
                daily_cap=daily_cap,
            )
            await self._submit(job_id)
        except BaseException:
            await self._undo(job_id, holds, created=job is not None)
            raise
        return job

    async def _undo(self, job_id: str, holds: list[Hold], *, created: bool) -> None:
        try:
            if created and not await self._jobs.discard(job_id):
                # A runner took the job after all (the enqueue reached it before failing): it
                # runs, and its outcome settles the holds.
                log.warning("admission of job %s failed after the job started", job_id)
                return
            for hold in holds:
                await self._ledger.release(hold.id)
        except Exception:
            # The holds are leases of a job that does not exist: the sweeper releases them.
            log.exception("could not undo the admission of job %s", job_id)
