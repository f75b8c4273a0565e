"""Jobs: one table, one state machine, shared by every family and both runners.

    queued -> running -> succeeded | failed | canceled
    queued -> failed | canceled
    running -> queued            (only ``requeue``: resuming after a restart)

Every transition is a compare-and-swap (``UPDATE ... WHERE status IN (...) RETURNING``), so when
a worker finishing, a client canceling and a recovery sweep race, exactly one of them wins, and
only the winner settles the job's reservation. That is what makes "captured or released exactly
once" hold without any lock outside the database.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.engine import Row

from gateway.core import ids
from gateway.core.errors import NotFound
from gateway.core.events import EventBus
from gateway.db.engine import Database
from gateway.db.models import Job, as_utc, utcnow

log = logging.getLogger(__name__)

JOBS = cast(Table, Job.__table__)  # type: ignore[attr-defined]
_C = JOBS.c

# Column widths of the jobs table; PostgreSQL rejects longer strings, so they are cut here.
_STEP_MAX = 200
_MESSAGE_MAX = 1000
_CODE_MAX = 60
_ERROR_MAX = 2000


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


FINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})
_OPEN = (JobStatus.QUEUED, JobStatus.RUNNING)

Settle = Callable[[str, bool], Awaitable[int]]


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

    @property
    def final(self) -> bool:
        return self.status in FINAL


def _info(row: Row[Any]) -> JobInfo:
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
    )


def _cut(value: str | None, limit: int) -> str | None:
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
    }


def channel_of(job_id: str) -> str:
    return f"job:{job_id}"


class JobService:
    def __init__(
        self,
        db: Database,
        events: EventBus,
        *,
        settle: Settle | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._events = events
        self._settle = settle
        self._clock = clock

    # -- reading -------------------------------------------------------------------------------

    async def get(self, job_id: str, account_id: str | None = None) -> JobInfo:
        stmt = select(JOBS).where(_C.id == job_id)
        if account_id is not None:
            stmt = stmt.where(_C.account_id == account_id)
        async with self._db.read() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            raise NotFound("job not found", job_id=job_id)
        return _info(row)

    async def list(
        self,
        account_id: str,
        *,
        family: str | None = None,
        kind: str | None = None,
        limit: int = 50,
        before: datetime | None = None,
    ) -> builtins.list[JobInfo]:
        stmt = select(JOBS).where(_C.account_id == account_id)
        if family is not None:
            stmt = stmt.where(_C.family == family)
        if kind is not None:
            stmt = stmt.where(_C.kind == kind)
        if before is not None:
            stmt = stmt.where(_C.created_at < before)
        stmt = stmt.order_by(_C.created_at.desc(), _C.id.desc()).limit(max(1, min(limit, 1000)))
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_info(r) for r in rows]

    async def unfinished(self, runner: str) -> builtins.list[JobInfo]:
        stmt = (
            select(JOBS)
            .where(_C.runner == runner, _C.status.in_([s.value for s in _OPEN]))
            .order_by(_C.created_at, _C.id)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_info(r) for r in rows]

    # -- writing -------------------------------------------------------------------------------

    async def create(
        self,
        account_id: str,
        family: str,
        kind: str,
        params: dict[str, Any],
        *,
        runner: str = "inprocess",
        job_id: str | None = None,
    ) -> JobInfo:
        now = self._clock()
        stmt = (
            insert(JOBS)
            .values(
                id=job_id or ids.new_job_id(),
                account_id=account_id,
                family=family,
                kind=kind,
                status=JobStatus.QUEUED.value,
                runner=runner,
                pct=0,
                step="",
                message="",
                params=params,
                progress={},
                result=None,
                attempts=0,
                created_at=now,
                updated_at=now,
            )
            .returning(JOBS)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(stmt)).one()
        job = _info(row)
        await self._publish(job)
        return job

    async def start(self, job_id: str) -> JobInfo | None:
        """Claim a queued job for this runner; ``None`` means someone else owns it or it is over."""
        now = self._clock()
        job = await self._transition(
            job_id,
            (JobStatus.QUEUED,),
            status=JobStatus.RUNNING.value,
            attempts=_C.attempts + 1,
            started_at=now,
        )
        if job is not None:
            await self._publish(job)
        return job

    async def progress(
        self,
        job_id: str,
        *,
        pct: int | None = None,
        step: str | None = None,
        message: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> bool:
        """Record progress of a running job; ``False`` when it is no longer running.

        The runner turns ``False`` into ``JobCanceled`` inside the task, which is how a cancel
        reaches a pipeline that is busy generating.
        """
        values: dict[str, Any] = {"updated_at": self._clock()}
        if pct is not None:
            values["pct"] = max(0, min(100, int(pct)))
        if step is not None:
            values["step"] = _cut(step, _STEP_MAX)
        if message is not None:
            values["message"] = _cut(message, _MESSAGE_MAX)
        running = _C.status == JobStatus.RUNNING.value
        async with self._db.write() as conn:
            if data:
                # Merge under a row lock (PostgreSQL; SQLite has one writer anyway) so two
                # progress reports never lose each other's keys.
                current = (
                    await conn.execute(
                        select(_C.progress).where(_C.id == job_id, running).with_for_update()
                    )
                ).first()
                if current is None:
                    return False
                values["progress"] = {**(current[0] or {}), **data}
            row = (
                await conn.execute(
                    update(JOBS).where(_C.id == job_id, running).values(**values).returning(JOBS)
                )
            ).first()
        if row is None:
            return False
        await self._publish(_info(row))
        return True

    async def succeed(self, job_id: str, result: dict[str, Any]) -> bool:
        now = self._clock()
        job = await self._transition(
            job_id,
            (JobStatus.RUNNING,),
            status=JobStatus.SUCCEEDED.value,
            pct=100,
            result=result,
            finished_at=now,
        )
        return await self._finished(job, capture=True)

    async def fail(self, job_id: str, code: str, message: str) -> bool:
        now = self._clock()
        job = await self._transition(
            job_id,
            _OPEN,
            status=JobStatus.FAILED.value,
            error_code=_cut(code, _CODE_MAX),
            error_message=_cut(message, _ERROR_MAX),
            finished_at=now,
        )
        return await self._finished(job, capture=False)

    async def cancel(self, job_id: str, account_id: str | None = None) -> bool:
        """``False`` when the job had already finished; ``NotFound`` for another account's job."""
        if account_id is not None:
            await self.get(job_id, account_id)
        now = self._clock()
        job = await self._transition(
            job_id,
            _OPEN,
            status=JobStatus.CANCELED.value,
            error_code="canceled",
            error_message="the job was canceled",
            finished_at=now,
        )
        return await self._finished(job, capture=False)

    async def requeue(self, job_id: str) -> bool:
        job = await self._transition(job_id, (JobStatus.RUNNING,), status=JobStatus.QUEUED.value)
        if job is None:
            return False
        await self._publish(job)
        return True

    async def update_result(self, job_id: str, result: dict[str, Any]) -> None:
        """Rewrite a job's result after the fact (a chat edit of a finished book)."""
        stmt = (
            update(JOBS)
            .where(_C.id == job_id)
            .values(result=result, updated_at=self._clock())
            .returning(_C.id)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            raise NotFound("job not found", job_id=job_id)

    # -- internals -----------------------------------------------------------------------------

    async def _transition(
        self, job_id: str, allowed: Iterable[JobStatus], **values: Any
    ) -> JobInfo | None:
        values.setdefault("updated_at", self._clock())
        stmt = (
            update(JOBS)
            .where(_C.id == job_id, _C.status.in_([s.value for s in allowed]))
            .values(**values)
            .returning(JOBS)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else _info(row)

    async def _finished(self, job: JobInfo | None, *, capture: bool) -> bool:
        """Settle the reservation of a job this caller just moved to a final state.

        Settling comes before the final event, so a client that sees "done" and then reads its
        balance sees the capture or release already applied.
        """
        if job is None:
            return False
        if self._settle is not None:
            try:
                await self._settle(job.id, capture)
            except Exception:
                # The job's outcome stands; an unsettled hold expires on its own, so a failure
                # here costs the account a delay, never credits.
                log.exception("settling job %s (capture=%s) failed", job.id, capture)
        await self._publish(job)
        return True

    async def _publish(self, job: JobInfo) -> None:
        try:
            await self._events.publish(channel_of(job.id), event_of(job))
        except Exception:
            # Events are hints for live clients; the table is the truth and stays correct.
            log.warning("publishing an event for job %s failed", job.id, exc_info=True)
