"""Reading a job to its end, and changing a finished job's result: the parts of the jobs service
used by requests that wait for work (a chat edit, an audiobook) rather than by runners.

A finished job's result changes only under an edit claim (a lease, so a crashed editor frees
it) and a compare-and-swap on its revision, so two edits never lose each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import or_, update

from gateway.core.errors import Conflict
from gateway.core.job_records import FINAL, JOBS, JobInfo, JobStatus, channel_of, job_info

if TYPE_CHECKING:
    from gateway.core.events import EventBus
    from gateway.db.engine import Database

_C = JOBS.c


class _Jobs(Protocol):
    """What these methods use of the ``JobService`` they are mixed into."""

    _db: Database
    _events: EventBus
    _clock: Callable[[], datetime]

    async def get(self, job_id: str, account_id: str | None = None) -> JobInfo: ...

    async def _publish(self, job: JobInfo) -> None: ...


class ResultEdits:
    """Mixed into ``JobService``."""

    async def claim_edit(self: _Jobs, job_id: str, *, lease_seconds: float) -> JobInfo:
        """The right to change a finished job's result, for ``lease_seconds``; ``Conflict`` while
        another editor holds it. Returns the job as the claim found it (its revision is what
        ``update_result`` must still see)."""
        now = self._clock()
        stmt = (
            update(JOBS)
            .where(
                _C.id == job_id,
                _C.status == JobStatus.SUCCEEDED.value,
                or_(_C.edit_until.is_(None), _C.edit_until < now),
            )
            .values(edit_until=now + timedelta(seconds=lease_seconds))
            .returning(JOBS)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            await self.get(job_id)  # NotFound when it is not there at all
            raise Conflict("another edit of this job is in progress", job_id=job_id)
        return job_info(row)

    async def update_result(
        self: _Jobs, job_id: str, result: dict[str, Any], *, revision: int
    ) -> JobInfo:
        """Replace a finished job's result if it is still at ``revision`` (the claim's), and end
        the claim; ``Conflict`` when another change got there first."""
        stmt = (
            update(JOBS)
            .where(_C.id == job_id, _C.revision == revision)
            .values(result=result, revision=revision + 1, edit_until=None, updated_at=self._clock())
            .returning(JOBS)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            await self.get(job_id)
            raise Conflict("the job changed while it was being edited", job_id=job_id)
        job = job_info(row)
        await self._publish(job)
        return job

    async def end_edit(self: _Jobs, job_id: str, *, revision: int) -> None:
        """Give up a claim without changing the result (the edit failed or changed nothing)."""
        stmt = update(JOBS).where(_C.id == job_id, _C.revision == revision).values(edit_until=None)
        async with self._db.write() as conn:
            await conn.execute(stmt)

    async def wait(self: _Jobs, job_id: str, *, timeout: float, recheck: float = 2.0) -> JobInfo:  # noqa: ASYNC109
        """The job once it is final, or as it stands when ``timeout`` runs out. Events wake the
        wait; the row is re-read whenever they are quiet, since a bus may drop them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._events.subscribe(channel_of(job_id)) as events:
            job = await self.get(job_id)
            incoming = aiter(events)
            while not job.final:
                left = deadline - loop.time()
                if left <= 0:
                    return job
                try:
                    event = await asyncio.wait_for(anext(incoming), min(left, recheck))
                except TimeoutError:
                    event = {"final": True}  # quiet: read the row again
                except StopAsyncIteration:  # the bus closed (shutdown): poll the row
                    await asyncio.sleep(min(left, recheck))
                    event = {"final": True}
                if event.get("final") or event.get("status") in FINAL:
                    job = await self.get(job_id)
        return job

    # -- internals -----------------------------------------------------------------------------
