"""Script coverage of a table read: a side report, made in a job, that changes nothing else.

Each request is one ``sleeperhit.coverage`` job on the artifact (its subject), and the report's
id is that job's id, so reports need no table of their own: the latest is the artifact's newest
coverage job, a named one is found among them. The reference names no price for coverage, so it
charges nothing. Only a ``READY`` artifact can be covered; reports already made stay readable
whatever becomes of the artifact later.
"""

from __future__ import annotations

from typing import Any

from adapters.sleeperhit.auth import FAMILY, Caller
from adapters.sleeperhit.errors import ShError, invalid
from adapters.sleeperhit.job_views import artifact_status
from adapters.sleeperhit.live import base_of
from adapters.sleeperhit.production import Production
from adapters.sleeperhit.views import iso
from gateway.core.ids import new_job_id
from gateway.core.jobs import JobInfo, JobStatus
from gateway.core.story_plans import ArtifactRecord

COVERAGE_KIND = "sleeperhit.coverage"
_STATUS = {
    JobStatus.QUEUED: "generating",
    JobStatus.RUNNING: "generating",
    JobStatus.SUCCEEDED: "complete",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELED: "failed",
}


def _ready(record: ArtifactRecord, job: JobInfo) -> None:
    """The artifact's script exists: ``artifact_not_ready`` (or ``artifact_generation_failed``
    for one that failed, as finalize answers) otherwise."""
    status = artifact_status(job, record.id)
    if status == "FAILED":
        raise ShError(
            "artifact_generation_failed",
            "The artifact failed to generate and has no script to cover",
            details={"failureCode": job.error_code},
        )
    if status != "READY":
        raise ShError(
            "artifact_not_ready",
            f"The artifact is {status}; poll until READY",
            details={"status": status},
        )


def view(record: ArtifactRecord, job: JobInfo) -> dict[str, Any]:
    """A coverage job as the API's ``coverage`` object."""
    status = _STATUS[job.status]
    result = job.result or {}
    error = None
    if status == "failed":
        error = job.error_message or (
            "The coverage was canceled" if job.status == JobStatus.CANCELED else "Coverage failed"
        )
    return {
        "reportId": job.id,
        "artifactId": record.id,
        "status": status,
        "focusPrompt": job.params.get("focus") or None,
        "report": result.get("report") if status == "complete" else None,
        "error": error,
        "createdAt": iso(job.created_at),
        "completedAt": iso(job.finished_at) if status != "generating" else None,
    }


class CoverageDesk:
    """Coverage requests and reports of one caller's artifacts."""

    def __init__(self, runtime: Any, caller: Caller, base_url: str) -> None:
        self.production = Production(runtime, caller, base_url)
        self.rt = runtime
        self.account = caller.account_id

    async def _reports(self, record: ArtifactRecord) -> list[JobInfo]:
        jobs = await self.rt.jobs.of_subject(self.account, record.id, family=FAMILY)
        return [j for j in jobs if j.kind == COVERAGE_KIND]

    async def request(self, artifact_id: str, focus: str | None) -> dict[str, Any]:
        record, story = await self.production._artifact(artifact_id)
        _ready(record, story)
        job_id = new_job_id()
        # The report covers the script as it reads now: the latest revision's.
        _revision, base = await base_of(self.rt, self.account, record, story)
        params = {
            "artifact_id": record.id,
            "story_job_id": story.id,
            "base_job_id": base.id,
            "focus": " ".join((focus or "").split()),
            "seed": int(job_id[:8], 16),
        }
        job = await self.rt.admission.admit(
            self.account, FAMILY, COVERAGE_KIND, params, subject_id=record.id, job_id=job_id
        )
        return {"reportId": job.id, "status": "generating"}

    async def read(self, artifact_id: str, report_id: str | None) -> dict[str, Any]:
        record, story = await self.production._artifact(artifact_id)
        reports = await self._reports(record)
        if report_id is not None:
            named = [j for j in reports if j.id == report_id]
            if not named:
                raise invalid(
                    "reportId names no coverage report of this artifact", field="reportId"
                )
            return {"coverage": view(record, named[0])}
        if not reports:
            # Nothing to read yet: an artifact that cannot be covered says why.
            _ready(record, story)
            return {"coverage": None}
        return {"coverage": view(record, reports[-1])}
