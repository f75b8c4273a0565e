"""Core records as SleeperHit sees them: statuses derived from jobs, and the wire shapes.

Nothing here is stored: a source's status is its job's, a plan's is its job's unless the client
decided, a story job's is its core job's in the reference's vocabulary, and an artifact's is
what its job reported for it. Deriving instead of copying means a worker never writes a second
record that could disagree with the job.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.core.jobs import JobInfo, JobStatus
from gateway.core.projects import ProjectInfo
from gateway.core.story_plans import APPROVED, REJECTED, SUPERSEDED, PlanRecord
from gateway.core.story_sources import SourceInfo, wire_time

INLINE_TYPES = frozenset({"TEXT", "MARKDOWN"})


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """The reference's timestamps: UTC, milliseconds, ``Z``."""
    return None if moment is None else wire_time(moment)


# -- projects ------------------------------------------------------------------------------------


def project_view(project: ProjectInfo, source_count: int) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "description": project.description,
        "metadata": project.meta,
        "archivedAt": iso(project.archived_at),
        "sourceCount": source_count,
        "createdAt": iso(project.created_at),
        "updatedAt": iso(project.updated_at or project.created_at),
    }


# -- sources -------------------------------------------------------------------------------------


def _extraction(source: SourceInfo, job: JobInfo | None) -> dict[str, Any] | None:
    if source.extraction is not None:
        return source.extraction
    if job is None:
        return None
    if job.result and job.result.get("extraction"):
        return dict(job.result["extraction"])
    found = job.progress.get("extraction")
    return dict(found) if found else None


def source_status(source: SourceInfo, job: JobInfo | None) -> str:
    if source.type in INLINE_TYPES:
        return "READY"
    if job is None or job.status == JobStatus.QUEUED:
        return "PENDING"
    if job.status == JobStatus.SUCCEEDED:
        return "READY"
    if job.status in (JobStatus.FAILED, JobStatus.CANCELED):
        return "READY" if _extraction(source, job) else "FAILED"
    return "READY" if _extraction(source, job) else "EXTRACTING"


def _digest_state(source: SourceInfo, job: JobInfo | None, status: str) -> dict[str, Any]:
    state: dict[str, Any] = {
        "digestStatus": "NOT_STARTED",
        "digest": None,
        "digestFailureCode": None,
        "digestFailureMessage": None,
        "digestedAt": None,
    }
    if status == "FAILED":
        state["digestStatus"] = "SKIPPED"
        return state
    if job is None:
        return state
    if job.status == JobStatus.SUCCEEDED and job.result is not None:
        failure = job.result.get("digestFailure")
        if failure:
            state.update(
                digestStatus="FAILED",
                digestFailureCode=failure.get("code"),
                digestFailureMessage=failure.get("message"),
            )
        elif job.result.get("digest"):
            state.update(
                digestStatus="READY",
                digest=job.result["digest"],
                digestedAt=job.result.get("digestedAt"),
            )
        else:
            state["digestStatus"] = "SKIPPED"
    elif job.status in (JobStatus.FAILED, JobStatus.CANCELED):
        state.update(
            digestStatus="FAILED",
            digestFailureCode=job.error_code,
            digestFailureMessage=job.error_message,
        )
    elif job.status == JobStatus.RUNNING:
        stage = job.progress.get("stage")
        state["digestStatus"] = "RUNNING" if stage == "digesting" else "PENDING"
    else:
        state["digestStatus"] = "PENDING" if source.type not in INLINE_TYPES else "NOT_STARTED"
    return state


def source_view(source: SourceInfo, job: JobInfo | None) -> dict[str, Any]:
    status = source_status(source, job)
    extraction = _extraction(source, job) or {}
    meta = dict(source.meta or {})
    meta.update(extraction.get("metadata") or {})
    failed = status == "FAILED" and job is not None
    view: dict[str, Any] = {
        "id": source.id,
        "projectId": source.project_id,
        "type": source.type,
        "label": source.label,
        "uri": source.uri,
        "status": status,
        "retentionPolicy": source.retention,
        "byteSize": extraction.get("byteSize"),
        "tokenEstimate": extraction.get("tokenEstimate"),
        "contentHash": extraction.get("contentHash"),
        "extractedTextPreview": extraction.get("preview"),
        "extractedAt": extraction.get("extractedAt"),
        "failureCode": job.error_code if failed and job is not None else None,
        "failureMessage": job.error_message if failed and job is not None else None,
        "metadata": meta or None,
    }
    view.update(_digest_state(source, job, status))
    view["createdAt"] = iso(source.created_at)
    view["updatedAt"] = iso(max(source.updated_at, job.updated_at) if job else source.updated_at)
    return view


# -- plans ---------------------------------------------------------------------------------------


def plan_status(record: PlanRecord, job: JobInfo) -> str:
    if record.decision == REJECTED:
        return REJECTED
    if job.status in (JobStatus.FAILED, JobStatus.CANCELED):
        return "FAILED"
    if record.decision in (SUPERSEDED, APPROVED):
        return record.decision
    if job.status == JobStatus.QUEUED:
        return "PENDING"
    if job.status == JobStatus.RUNNING:
        return "RUNNING"
    return APPROVED if job.params.get("auto_approve") else "REQUIRES_APPROVAL"


def plan_view(record: PlanRecord, job: JobInfo) -> dict[str, Any]:
    p = job.params
    status = plan_status(record, job)
    result = job.result or {}
    envelope = result.get("plan") if status in (APPROVED, "REQUIRES_APPROVAL") else None
    if envelope is None and record.decision in (REJECTED, SUPERSEDED):
        envelope = result.get("plan")
    approved_at = record.approved_at
    if approved_at is None and status == APPROVED and p.get("auto_approve"):
        approved_at = job.finished_at
    failed = status == "FAILED"
    return {
        "id": record.id,
        "projectId": record.project_id,
        "status": status,
        "title": p.get("title"),
        "target": p.get("target"),
        "artifactRequests": p.get("artifact_requests") or [],
        "styleConstraints": p.get("style"),
        "sourceIds": [s["id"] for s in p.get("sources") or ()],
        "autoApprove": bool(p.get("auto_approve")),
        "plan": envelope,
        "quote": p.get("quote"),
        "modelUsed": result.get("modelUsed"),
        "providerUsed": result.get("providerUsed"),
        "failureCode": (job.error_code or "planning_failed") if failed else None,
        "failureMessage": (job.error_message or "Planning failed") if failed else None,
        "approvedAt": iso(approved_at),
        "rejectedAt": iso(record.rejected_at),
        "rejectionReason": record.reason,
        "generatedAt": iso(job.finished_at) if job.status == JobStatus.SUCCEEDED else None,
        "currentVersion": 1,
        "createdAt": iso(record.created_at),
        "updatedAt": iso(max(record.updated_at, job.updated_at)),
    }
