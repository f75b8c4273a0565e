"""What a job is, as every service and family reads it: its status vocabulary, its record and
the event published on each change. The state machine that moves it is ``gateway.core.jobs``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.engine import Row

from gateway.db.models import Job, as_utc

JOBS = cast(Table, Job.__table__)  # type: ignore[attr-defined]

# Column widths of the jobs table; PostgreSQL rejects longer strings, so they are cut here.
STEP_MAX = 200
MESSAGE_MAX = 1000
CODE_MAX = 60
ERROR_MAX = 2000


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


FINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})
OPEN = (JobStatus.QUEUED, JobStatus.RUNNING)


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: str
    account_id: str
    family: str
    kind: str
    status: JobStatus
    runner: str
    pct: int
    step: str
    message: str
    params: dict[str, Any]
    progress: dict[str, Any]
    result: dict[str, Any] | None
    error_code: str | None
    error_message: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    subject_id: str | None = None
    revision: int = 0
    heartbeat_at: datetime | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL


def job_info(row: Row[Any]) -> JobInfo:
    m = row._mapping
    return JobInfo(
        id=m["id"],
        account_id=m["account_id"],
        family=m["family"],
        kind=m["kind"],
        status=JobStatus(m["status"]),
        runner=m["runner"],
        pct=m["pct"],
        step=m["step"],
        message=m["message"],
        params=dict(m["params"] or {}),
        progress=dict(m["progress"] or {}),
        result=dict(m["result"]) if m["result"] is not None else None,
        error_code=m["error_code"],
        error_message=m["error_message"],
        attempts=m["attempts"],
        created_at=cast(datetime, as_utc(m["created_at"])),
        updated_at=cast(datetime, as_utc(m["updated_at"])),
        started_at=as_utc(m["started_at"]),
        finished_at=as_utc(m["finished_at"]),
        subject_id=m["subject_id"],
        revision=m["revision"],
        heartbeat_at=as_utc(m["heartbeat_at"]),
    )


def cut(value: str | None, limit: int) -> str | None:
    return None if value is None else value[:limit]


def event_of(job: JobInfo) -> dict[str, Any]:
    """The payload published on ``job:{id}`` for every state change."""
    return {
        "job_id": job.id,
        "status": job.status.value,
        "pct": job.pct,
        "step": job.step,
        "message": job.message,
        "progress": job.progress,
        "final": job.final,
        "error_code": job.error_code,
        "error_message": job.error_message,
        "revision": job.revision,
    }


def channel_of(job_id: str) -> str:
    return f"job:{job_id}"


def account_channel_of(account_id: str, family: str) -> str:
    """Every change of every job of one account in one family is also published here."""
    return f"account:{family}:{account_id}"
