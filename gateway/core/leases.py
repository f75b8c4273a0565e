"""Holds live as long as their jobs: a hold's ``expires_at`` is a lease, not a deadline.

While a job runs, its worker beats (``beat``): the job's ``heartbeat_at`` moves and its holds'
leases are pushed forward. The sweeper (``sweep``) looks only at holds whose lease ran out and
settles each by its job's state, so expiry reclaims credits from dead jobs only:

* the job succeeded -> capture; failed or canceled -> release (the settle that should have
  happened at the end, if it was lost);
* the job is queued -> renew: a slow queue must not make the work free;
* the job is running and its worker beat within one lease -> renew;
* the job is running and its worker stopped beating -> the job is failed (``interrupted``),
  which releases its holds through the job's own settlement, exactly once;
* no job at all (an admission that died half-way) -> release.

A worker that dies must not keep its jobs for a whole lease, though: the job's own heartbeat is
short (``beat_seconds``, a few seconds), and ``recover_stalled`` takes a running job whose worker
missed ``BEATS_TO_DEATH`` beats from it — queued again for another worker while it has attempts
left, failed (its holds released) otherwise. The holds' leases are renewed on every fourth
lease-quarter only, so the short beat costs one small update of the job row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from gateway.core.errors import NotFound
from gateway.core.jobs import JobService, JobStatus
from gateway.core.ledger import HELD, Ledger
from gateway.db.engine import Database
from gateway.db.models import ALL_TABLES, Reservation, as_utc, utcnow

log = logging.getLogger(__name__)

_R = ALL_TABLES.tables["reservations"].c
# A worker beats this many times per lease, so one late beat never looks like a death.
BEATS_PER_LEASE = 4
# A job whose worker missed this many heartbeats in a row is taken from it.
BEATS_TO_DEATH = 4
# Expired holds settled per sweep pass; the rest wait for the next pass.
_SWEEP_BATCH = 500
INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class SweepReport:
    renewed: int = 0
    captured: int = 0
    released: int = 0
    jobs_failed: int = 0


class Leases:
    def __init__(
        self,
        db: Database,
        ledger: Ledger,
        jobs: JobService,
        *,
        seconds: float,
        beat_seconds: float | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if seconds <= 0:
            raise ValueError("a lease must be positive")
        self._db = db
        self._ledger = ledger
        self._jobs = jobs
        self.seconds = seconds
        # How often a running job's worker beats; by default as often as its holds are renewed.
        self.beat_seconds = min(beat_seconds or self.renew_seconds, self.renew_seconds)
        if self.beat_seconds <= 0:
            raise ValueError("a heartbeat must be positive")
        self._clock = clock

    @property
    def renew_seconds(self) -> float:
        """How often a live job's holds are renewed (and expired holds swept)."""
        return self.seconds / BEATS_PER_LEASE

    @property
    def dead_after_seconds(self) -> float:
        """Silence after which a running job's worker counts as dead."""
        return self.beat_seconds * BEATS_TO_DEATH

    def _until(self) -> datetime:
        return self._clock() + timedelta(seconds=self.seconds)

    async def renew(self, job_id: str) -> int:
        """Push the leases of a job's open holds one lease past now; returns how many."""
        stmt = (
            update(Reservation)
            .where(_R.job_id == job_id, _R.state == HELD)
            .values(expires_at=self._until())
        )
        async with self._db.write() as conn:
            return (await conn.execute(stmt)).rowcount or 0

    async def beat(self, job_id: str, attempt: int | None = None, *, renew: bool = True) -> bool:
        """One heartbeat of a running job; ``False`` once the job is no longer running (or no
        longer running ``attempt``: another worker took it over)."""
        alive = await self._jobs.heartbeat(job_id, attempt)
        if alive and renew:
            await self.renew(job_id)
        return alive

    @asynccontextmanager
    async def kept_alive(
        self, job_id: str, attempt: int | None = None
    ) -> AsyncIterator[asyncio.Event]:
        """Beat in the background for as long as the block runs (the job's task). The event it
        yields is set when the job stops being this worker's (finished elsewhere, canceled,
        taken over), so the runner can stop work nobody will keep."""
        lost = asyncio.Event()

        async def beating() -> None:
            renewed = self._clock()
            while True:
                await asyncio.sleep(self.beat_seconds)
                due = (self._clock() - renewed).total_seconds() >= self.renew_seconds - 1e-3
                try:
                    if not await self.beat(job_id, attempt, renew=due):
                        lost.set()
                        return
                    if due:
                        renewed = self._clock()
                except Exception:
                    log.warning("heartbeat of job %s failed", job_id, exc_info=True)

        task = asyncio.create_task(beating(), name=f"storygate-beat-{job_id}")
        try:
            yield lost
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def recover_stalled(
        self, runner: str, max_attempts: int, redeliver: Callable[[str], Awaitable[object]]
    ) -> tuple[int, int]:
        """Take running jobs from workers that stopped beating: (requeued, failed).

        Each step is a compare-and-swap that still requires the silence, so a worker that
        beats again in between keeps its job, and two sweepers never both act on one job.
        """
        before = self._clock() - timedelta(seconds=self.dead_after_seconds)
        requeued = failed = 0
        for job in await self._jobs.stalled(runner, before):
            if job.attempts < max_attempts:
                if await self._jobs.requeue(job.id, stalled_before=before):
                    log.warning(
                        "job %s: its worker stopped beating; queued again (attempt %d next)",
                        job.id,
                        job.attempts + 1,
                    )
                    requeued += 1
                    await redeliver(job.id)
                continue
            if await self._jobs.fail(
                job.id,
                INTERRUPTED,
                "the worker running this job stopped; its credits were released",
                stalled_before=before,
            ):
                log.warning("job %s: its worker stopped beating; failed", job.id)
                failed += 1
        return requeued, failed

    async def sweep(self) -> SweepReport:
        now = self._clock()
        stmt = (
            select(_R.id, _R.job_id)
            .where(_R.state == HELD, _R.expires_at < now)
            .order_by(_R.expires_at)
            .limit(_SWEEP_BATCH)
        )
        async with self._db.read() as conn:
            expired = (await conn.execute(stmt)).all()
        counts = {"renewed": 0, "captured": 0, "released": 0, "jobs_failed": 0}
        seen: set[str] = set()
        for hold_id, job_id in expired:
            outcome = await self._settle_expired(hold_id, job_id, now, seen)
            if outcome:
                counts[outcome] += 1
        return SweepReport(**counts)

    async def _settle_expired(
        self, hold_id: str, job_id: str | None, now: datetime, seen: set[str]
    ) -> str | None:
        if job_id is None:
            return "released" if await self._ledger.release(hold_id) else None
        try:
            job = await self._jobs.get(job_id)
        except NotFound:
            return "released" if await self._ledger.release(hold_id) else None
        if job.status is JobStatus.SUCCEEDED:
            return "captured" if await self._ledger.capture(hold_id) else None
        if job.final:
            return "released" if await self._ledger.release(hold_id) else None
        beat = as_utc(job.heartbeat_at or job.started_at)
        alive = job.status is JobStatus.QUEUED or (
            beat is not None and beat >= now - timedelta(seconds=self.seconds)
        )
        if alive:
            if job_id not in seen:
                seen.add(job_id)
                await self.renew(job_id)
            return "renewed"
        if job_id in seen:
            return None
        seen.add(job_id)
        log.warning("job %s stopped beating; failing it and releasing its holds", job_id)
        failed = await self._jobs.fail(
            job_id, INTERRUPTED, "the worker running this job stopped; its credits were released"
        )
        return "jobs_failed" if failed else None
