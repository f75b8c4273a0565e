"""Jobs: one table, one state machine, shared by every family and both runners.

    queued -> running -> succeeded | failed | canceled
    queued -> failed | canceled
    running -> queued            (only ``requeue``: resuming after a restart)
    failed -> queued             (only ``restart``: a client resuming a failed job)
    queued -> (gone)             (only ``discard``: an admission undone before the job ran)

Every transition is a compare-and-swap (``UPDATE ... WHERE status IN (...) RETURNING``), so when
a worker finishing, a client canceling and a recovery sweep race, exactly one of them wins, and
only the winner settles the job's reservation. That is what makes "captured or released exactly
once" hold without any lock outside the database. A finished job's result changes only under an
edit claim (a lease) and a compare-and-swap on its revision, so two edits never lose each other.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from gateway.core import ids
from gateway.core.errors import NotFound
from gateway.core.events import EventBus
from gateway.core.job_daily_cap import DailyCap, check_daily, created_since, day_start
from gateway.core.job_edits import ResultEdits
from gateway.core.job_liveness import WorkerLiveness, stale_since
from gateway.core.job_records import (
    CODE_MAX,
    ERROR_MAX,
    FINAL,
    JOBS,
    MESSAGE_MAX,
    OPEN,
    STEP_MAX,
    JobInfo,
    JobStatus,
    account_channel_of,
    channel_of,
    cut,
    event_of,
    job_info,
)
from gateway.core.pages import Cursor, beyond
from gateway.db.engine import Database
from gateway.db.models import utcnow

__all__ = [
    "FINAL",
    "DailyCap",
    "JobInfo",
    "JobService",
    "JobStatus",
    "account_channel_of",
    "channel_of",
    "event_of",
]

log = logging.getLogger(__name__)

_C = JOBS.c


Settle = Callable[[str, bool], Awaitable[int]]


class JobService(ResultEdits, WorkerLiveness):
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
        return job_info(row)

    async def page(
        self,
        account_id: str,
        *,
        family: str | None = None,
        kinds: Iterable[str] | None = None,
        subjects: Iterable[str] | None = None,
        limit: int = 50,
        after: Cursor | None = None,
    ) -> tuple[builtins.list[JobInfo], Cursor | None]:
        """One page of the account's jobs, newest first, and the cursor of the next page.

        The order is (created_at, id), so jobs created in the same instant are neither skipped
        nor repeated at a page boundary."""
        size = max(1, min(limit, 1000))
        stmt = select(JOBS).where(_C.account_id == account_id)
        if family is not None:
            stmt = stmt.where(_C.family == family)
        if kinds is not None:
            stmt = stmt.where(_C.kind.in_(builtins.list(kinds)))
        if subjects is not None:
            stmt = stmt.where(_C.subject_id.in_(builtins.list(subjects)))
        stmt = stmt.where(beyond(_C.created_at, _C.id, after))
        stmt = stmt.order_by(_C.created_at.desc(), _C.id.desc()).limit(size + 1)
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        jobs = [job_info(r) for r in rows[:size]]
        more = len(rows) > size
        return jobs, (Cursor(jobs[-1].created_at, jobs[-1].id) if more else None)

    async def list(
        self, account_id: str, *, family: str | None = None, limit: int = 50
    ) -> builtins.list[JobInfo]:
        """The first page only (operators' and tests' convenience)."""
        jobs, _ = await self.page(account_id, family=family, limit=limit)
        return jobs

    async def of_subject(
        self, account_id: str, subject_id: str, *, family: str, limit: int = 1000
    ) -> builtins.list[JobInfo]:
        """The account's jobs that work on ``subject_id`` (a project's generations), oldest
        first."""
        stmt = (
            select(JOBS)
            .where(_C.account_id == account_id, _C.subject_id == subject_id, _C.family == family)
            .order_by(_C.created_at, _C.id)
            .limit(max(1, limit))
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [job_info(r) for r in rows]

    async def many(
        self, job_ids: Iterable[str], account_id: str, *, family: str
    ) -> builtins.list[JobInfo]:
        """Those of ``job_ids`` that are the account's jobs in ``family``, in one query;
        the rest are simply absent."""
        wanted = builtins.list(dict.fromkeys(job_ids))
        if not wanted:
            return []
        stmt = select(JOBS).where(
            _C.id.in_(wanted), _C.account_id == account_id, _C.family == family
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [job_info(r) for r in rows]

    async def find(self, job_ids: Sequence[str], account_id: str) -> builtins.list[JobInfo]:
        """Those of ``job_ids`` that exist and belong to ``account_id``."""
        if not job_ids:
            return []
        stmt = select(JOBS).where(_C.id.in_(list(job_ids)), _C.account_id == account_id)
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [job_info(r) for r in rows]

    async def unfinished(self, runner: str) -> builtins.list[JobInfo]:
        stmt = (
            select(JOBS)
            .where(_C.runner == runner, _C.status.in_([s.value for s in OPEN]))
            .order_by(_C.created_at, _C.id)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [job_info(r) for r in rows]

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
        subject_id: str | None = None,
        daily_cap: DailyCap | None = None,
    ) -> JobInfo:
        now = self._clock()
        stmt = (
            insert(JOBS)
            .values(
                id=job_id or ids.new_job_id(),
                account_id=account_id,
                family=family,
                kind=kind,
                subject_id=subject_id,
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
            if daily_cap is not None:
                await check_daily(conn, account_id, family, kind, daily_cap, now)
            row = (await conn.execute(stmt)).one()
        job = job_info(row)
        await self._publish(job)
        return job

    async def count_today(self, account_id: str, family: str, kind: str) -> int:
        """Jobs of one family and kind the account created since 00:00 UTC."""
        stmt = created_since(account_id, family, kind, day_start(self._clock()))
        async with self._db.read() as conn:
            return int((await conn.scalar(stmt)) or 0)

    async def discard(self, job_id: str) -> bool:
        """Delete a job no runner has started (an admission being undone); ``False`` when it
        already started, in which case its own outcome settles it."""
        stmt = (
            delete(JOBS)
            .where(_C.id == job_id, _C.status == JobStatus.QUEUED.value, _C.attempts == 0)
            .returning(_C.id)
        )
        async with self._db.write() as conn:
            gone = (await conn.execute(stmt)).first() is not None
        return gone

    async def start(self, job_id: str) -> JobInfo | None:
        """Claim a queued job for this runner; ``None`` means someone else owns it or it is over."""
        now = self._clock()
        job = await self._transition(
            job_id,
            (JobStatus.QUEUED,),
            status=JobStatus.RUNNING.value,
            attempts=_C.attempts + 1,
            started_at=now,
            heartbeat_at=now,
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
            values["step"] = cut(step, STEP_MAX)
        if message is not None:
            values["message"] = cut(message, MESSAGE_MAX)
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
        await self._publish(job_info(row))
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

    async def fail(
        self, job_id: str, code: str, message: str, *, stalled_before: datetime | None = None
    ) -> bool:
        now = self._clock()
        extra = () if stalled_before is None else (stale_since(stalled_before),)
        job = await self._transition(
            job_id,
            OPEN,
            *extra,
            status=JobStatus.FAILED.value,
            error_code=cut(code, CODE_MAX),
            error_message=cut(message, ERROR_MAX),
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
            OPEN,
            status=JobStatus.CANCELED.value,
            error_code="canceled",
            error_message="the job was canceled",
            finished_at=now,
        )
        return await self._finished(job, capture=False)

    async def restart(self, job_id: str, account_id: str | None = None) -> JobInfo | None:
        """Put a failed job back in the queue to run again from where it stopped: its params and
        progress stay, its error and finish are cleared, and its attempts start over (a resumed
        job is not refused for the tries of its earlier run). ``None`` when the job is not
        failed (any more); ``NotFound`` for another account's job."""
        if account_id is not None:
            await self.get(job_id, account_id)
        job = await self._transition(
            job_id,
            (JobStatus.FAILED,),
            status=JobStatus.QUEUED.value,
            error_code=None,
            error_message=None,
            finished_at=None,
            attempts=0,
        )
        if job is not None:
            await self._publish(job)
        return job

    async def unrestart(self, job_id: str, code: str, message: str) -> bool:
        """Undo a ``restart`` whose job no runner has taken: queued again -> failed, without
        settling anything (the restart's holds are released by whoever undoes it)."""
        job = await self._transition(
            job_id,
            (JobStatus.QUEUED,),
            status=JobStatus.FAILED.value,
            error_code=cut(code, CODE_MAX),
            error_message=cut(message, ERROR_MAX),
            finished_at=self._clock(),
        )
        if job is None:
            return False
        await self._publish(job)
        return True

    async def _transition(
        self, job_id: str, allowed: Iterable[JobStatus], *where: Any, **values: Any
    ) -> JobInfo | None:
        values.setdefault("updated_at", self._clock())
        stmt = (
            update(JOBS)
            .where(_C.id == job_id, _C.status.in_([s.value for s in allowed]), *where)
            .values(**values)
            .returning(JOBS)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else job_info(row)

    async def _finished(self, job: JobInfo | None, *, capture: bool) -> bool:
        """Settle the reservation of a job this caller just moved to a final state.

        Settling comes before the final event, so a client that sees "done" and then reads its
        balance sees the capture or release already applied. A caller cancelled meanwhile (a
        worker stopping) waits for both: the final state is already committed, and a settlement
        left to the lease sweeper would only come when the hold's lease runs out.
        """
        if job is None:
            return False
        ending = asyncio.ensure_future(self._settle_and_publish(job, capture))
        try:
            await asyncio.shield(ending)
        except asyncio.CancelledError:
            await ending
            raise
        return True

    async def _settle_and_publish(self, job: JobInfo, capture: bool) -> None:
        if self._settle is not None:
            try:
                await self._settle(job.id, capture)
            except Exception:
                # The job's outcome stands; an unsettled hold expires on its own, so a failure
                # here costs the account a delay, never credits.
                log.exception("settling job %s (capture=%s) failed", job.id, capture)
        await self._publish(job)

    async def _publish(self, job: JobInfo) -> None:
        try:
            event = event_of(job)
            await self._events.publish(channel_of(job.id), event)
            # Streams of all of an account's jobs in one family (StoryNote's events stream).
            await self._events.publish(account_channel_of(job.account_id, job.family), event)
        except Exception:
            # Events are hints for live clients; the table is the truth and stays correct.
            log.warning("publishing an event for job %s failed", job.id, exc_info=True)
