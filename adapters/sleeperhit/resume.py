"""Resuming a ``FAILED`` plan or story job from where it stopped.

A story job reserves its quote's credits again, against its own id, in a readmission that
leaves the job ``FAILED`` and nothing held when it cannot (402 insufficient_credits); a resumed
job keeps its params and the artifacts an earlier run finished. A plan's planning job costs
nothing and is simply run again. Anything but a failed plan or job is refused.
"""

from __future__ import annotations

from typing import Any

from adapters.sleeperhit.auth import Caller
from adapters.sleeperhit.errors import ShError, invalid
from adapters.sleeperhit.job_views import job_status
from adapters.sleeperhit.plans import Plans
from adapters.sleeperhit.prices import UNIT
from adapters.sleeperhit.production import Production
from adapters.sleeperhit.views import plan_status, plan_view
from gateway.core.admission import Charge
from gateway.core.jobs import JobInfo, JobStatus
from gateway.core.story_plans import REJECTED, SUPERSEDED

RESUMABLE = ["FAILED"]


class Resume:
    def __init__(self, runtime: Any, caller: Caller, base_url: str) -> None:
        self.rt = runtime
        self.account = caller.account_id
        self.production = Production(runtime, caller, base_url)
        self.plans = Plans(runtime, caller)

    async def job(self, job_id: str) -> dict[str, Any]:
        job = await self.production._job(job_id, fresh=True)
        again: JobInfo | None = None
        if job.status == JobStatus.FAILED:
            total = int((job.params.get("quote") or {}).get("total") or 0)
            charges = [Charge(UNIT, total)] if total > 0 else []
            again = await self.rt.admission.readmit(job, charges)
        if again is None:
            current = await self.production._job(job_id, fresh=True)
            records = (await self.rt.story_artifacts.of_jobs([current.id])).get(current.id, [])
            status = job_status(current, records)
            raise ShError(
                "story_job_state_invalid",
                f"The job is {status}; only a FAILED job can be resumed",
                details={"status": status, "allowed": RESUMABLE},
            )
        return {"job": await self.production._view(again)}

    async def plan(self, plan_id: str) -> dict[str, Any]:
        record, job = await self.plans.record(plan_id)
        status = plan_status(record, job)
        again: JobInfo | None = None
        if (
            status == "FAILED"
            and job.status == JobStatus.FAILED
            and record.decision not in (REJECTED, SUPERSEDED)
        ):
            again = await self.rt.admission.readmit(job)
        if again is None:
            record, job = await self.plans.record(plan_id)
            status = plan_status(record, job)
            if record.decision == SUPERSEDED:
                # A newer plan of the project replaced it; that one is the one to run.
                status = SUPERSEDED
            raise invalid(
                f"The plan is {status}; only a FAILED plan can be resumed",
                status=status,
                allowed=RESUMABLE,
            )
        return {"plan": plan_view(record, again)}
