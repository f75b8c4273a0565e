"""Whether a running job's worker is still there: its heartbeat, and taking a job from a worker
that stopped beating. Mixed into ``JobService``; ``gateway.core.leases`` decides when.

A worker beats for the attempt it started (``attempts`` when it claimed the job), so a worker that
was only slow, and finds its job taken over and started again elsewhere, learns it at its next
beat and stops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import func, select, update

from gateway.core.job_records import JOBS, JobInfo, JobStatus, job_info

if TYPE_CHECKING:
    from gateway.db.engine import Database

_C = JOBS.c


def stale_since(before: datetime) -> Any:
    """The job's worker last beat (or started it) before ``before``."""
    return func.coalesce(_C.heartbeat_at, _C.started_at) < before


class _Jobs(Protocol):
    """What these methods use of the ``JobService`` they are mixed into."""

    _db: Database
    _clock: Callable[[], datetime]

    async def _transition(
        self, job_id: str, allowed: Iterable[JobStatus], *where: Any, **values: Any
    ) -> JobInfo | None: ...

    async def _publish(self, job: JobInfo) -> None: ...


class WorkerLiveness:
    """Mixed into ``JobService``."""

    async def heartbeat(self: _Jobs, job_id: str, attempt: int | None = None) -> bool:
        """The running job's worker is alive; ``False`` once the job is no longer running, or
        (with ``attempt``) no longer running the attempt this worker started: another worker
        took the job over after this one missed its beats."""
        stmt = (
            update(JOBS)
            .where(_C.id == job_id, _C.status == JobStatus.RUNNING.value)
            .values(heartbeat_at=self._clock())
            .returning(_C.id)
        )
        if attempt is not None:
            stmt = stmt.where(_C.attempts == attempt)
        async with self._db.write() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def stalled(
        self: _Jobs, runner: str, before: datetime, limit: int = 200
    ) -> list[JobInfo]:
        """Running jobs of ``runner`` whose worker has not beaten since ``before``."""
        stmt = (
            select(JOBS)
            .where(
                _C.runner == runner,
                _C.status == JobStatus.RUNNING.value,
                stale_since(before),
            )
            .order_by(_C.heartbeat_at)
            .limit(limit)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [job_info(r) for r in rows]

    async def requeue(self: _Jobs, job_id: str, *, stalled_before: datetime | None = None) -> bool:
        """Running -> queued; with ``stalled_before``, only while its worker is still silent
        (a worker that beat in the meantime keeps its job)."""
        extra = () if stalled_before is None else (stale_since(stalled_before),)
        job = await self._transition(
            job_id, (JobStatus.RUNNING,), *extra, status=JobStatus.QUEUED.value
        )
        if job is None:
            return False
        await self._publish(job)
        return True
