"""Recently read jobs, kept fresh by the events every job change already publishes.

Status polls are the hottest read of every family; most of them ask about a job whose row has
not changed since the last poll. The cache serves those from memory: an event for a cached job
patches its progress in place, a final or result-changing event evicts it (its result is then
read once more), and every entry still expires on its own, so a lost event can only delay a
change by one lifetime. An open job is cached only once an event about it has reached this
process — proof that its changes are published where this cache hears them; a job changed by
a process outside the bus (a CLI against the embedded database) is always read afresh. Entries
remember their account and answer no other: the cache is as private as the table.
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from gateway.core.errors import NotFound
from gateway.core.events import RESET, EventBus
from gateway.core.jobs import JobInfo, JobService, JobStatus
from gateway.core.single_flight import SingleFlight

_CHANNEL = "job:"


class JobCache:
    def __init__(
        self,
        jobs: JobService,
        events: EventBus,
        *,
        size: int = 10_000,
        open_seconds: float = 1.0,
        final_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._jobs = jobs
        self._size = max(1, size)
        self._open_seconds = open_seconds
        self._final_seconds = final_seconds
        self._monotonic = monotonic
        self._entries: OrderedDict[str, tuple[float, JobInfo]] = OrderedDict()
        # Open jobs whose events this process hears.
        self._live: OrderedDict[str, None] = OrderedDict()
        # Reads in flight per job: [events seen meanwhile, readers], so a read that raced an
        # event is not cached.
        self._inflight: dict[str, list[int]] = {}
        self._flights: SingleFlight[JobInfo] = SingleFlight()
        events.watch(self._on_event)

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, job_id: str, account_id: str) -> JobInfo:
        """The account's job; ``NotFound`` for a missing one or another account's."""
        entry = self._entries.get(job_id)
        if entry is not None and entry[0] > self._monotonic():
            if entry[1].account_id != account_id:
                raise NotFound("job not found", job_id=job_id)
            return entry[1]
        return await self._flights.run((job_id, account_id), lambda: self._read(job_id, account_id))

    async def _read(self, job_id: str, account_id: str) -> JobInfo:
        flight = self._inflight.setdefault(job_id, [0, 0])
        seen = flight[0]
        flight[1] += 1
        try:
            job = await self._jobs.get(job_id, account_id)
        finally:
            flight[1] -= 1
            if flight[1] == 0:
                del self._inflight[job_id]
        if flight[0] == seen and (job.final or job_id in self._live):
            lifetime = self._final_seconds if job.final else self._open_seconds
            self._entries[job_id] = (self._monotonic() + lifetime, job)
            self._entries.move_to_end(job_id)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return job

    def _on_event(self, channel: str, event: dict[str, Any]) -> None:
        if channel == RESET:
            self._entries.clear()
            self._live.clear()
            for flight in self._inflight.values():
                flight[0] += 1
            return
        if not channel.startswith(_CHANNEL):
            return
        job_id = channel[len(_CHANNEL) :]
        self._live[job_id] = None
        self._live.move_to_end(job_id)
        while len(self._live) > self._size:
            self._live.popitem(last=False)
        reading = self._inflight.get(job_id)
        if reading is not None:
            reading[0] += 1
        entry = self._entries.get(job_id)
        if entry is None:
            return
        patched = _patched(entry[1], event)
        if patched is None:
            del self._entries[job_id]
        else:
            self._entries[job_id] = (entry[0], patched)


def _patched(job: JobInfo, event: dict[str, Any]) -> JobInfo | None:
    """The cached job with an open job's progress applied; ``None`` when the event needs the
    row (a final state or a changed result)."""
    try:
        status = JobStatus(str(event.get("status")))
    except ValueError:
        return None
    if event.get("final") or status not in (JobStatus.QUEUED, JobStatus.RUNNING):
        return None
    if event.get("revision", job.revision) != job.revision:
        return None
    progress = event.get("progress")
    return dataclasses.replace(
        job,
        status=status,
        pct=int(event.get("pct") or 0),
        step=str(event.get("step") or ""),
        message=str(event.get("message") or ""),
        progress=dict(progress) if isinstance(progress, dict) else job.progress,
    )
