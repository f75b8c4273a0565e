"""Refining a table read: ``POST /artifacts/{id}/refine`` makes the artifact's next revision.

A refine is a ``sleeperhit.refine`` job on the artifact (its subject) that reserves
TABLE_READ_REFINE when it is created, in the same admission (``insufficient_credits`` and
nothing else when short), is charged once when it succeeds and released when it fails or is
canceled. It is shown, polled and canceled as a story job (adapters/sleeperhit/production.py);
its result is the new revision's content, which becomes the artifact's live base
(adapters/sleeperhit/live.py), so the artifact id, its share token and its player URLs stay.

One refine runs at a time: while one is queued or running another answers
``artifact_not_ready``, since it would revise a script about to be replaced. Each attempt has
one id derived from the artifact and the number of refines made before it, so two concurrent
first calls race for the same job and only one is created and charged; the loser is told a
refine is in flight. A replay of the same request under its Idempotency-Key answers the first
body (adapters/sleeperhit/posting.py).
"""

from __future__ import annotations

from typing import Any

from adapters.sleeperhit.auth import FAMILY
from adapters.sleeperhit.errors import ShError
from adapters.sleeperhit.job_views import artifact_status
from adapters.sleeperhit.live import REFINE_KIND, base_in
from adapters.sleeperhit.prices import TABLE_READ_REFINE, UNIT, refine_quote
from adapters.sleeperhit.production import Production
from adapters.sleeperhit.views import now
from gateway.core.admission import Charge
from gateway.core.jobs import FINAL, JobInfo
from gateway.core.story_plans import ArtifactRecord

__all__ = ["REFINE_KIND", "Refiner"]


def _request_of(job: JobInfo, artifact_id: str) -> list[dict[str, Any]]:
    """The artifact request the artifact was made for (its place in the story job's list)."""
    made = [str(a.get("id")) for a in job.params.get("artifacts") or ()]
    asked = list(job.params.get("artifact_requests") or ())
    at = made.index(artifact_id) if artifact_id in made else -1
    return [dict(asked[at])] if 0 <= at < len(asked) else []


class Refiner:
    def __init__(self, production: Production) -> None:
        self.production = production
        self.rt = production.rt
        self.account = production.account

    async def _refinable(self, artifact_id: str) -> tuple[ArtifactRecord, JobInfo, list[JobInfo]]:
        """The READY artifact with no refine in flight, its story job and its jobs."""
        record, job = await self.production._artifact(artifact_id)
        status = artifact_status(job, record.id)
        if status != "READY":
            raise ShError(
                "artifact_not_ready",
                f"The artifact is {status}; only a READY table read can be refined",
                details={"status": status},
            )
        jobs = await self.rt.jobs.of_subject(self.account, record.id, family=FAMILY)
        running = [j for j in jobs if j.kind == REFINE_KIND and j.status not in FINAL]
        if running:
            raise ShError(
                "artifact_not_ready",
                "A refine of this artifact is in progress; poll it until it is done",
                details={"status": "REFINING", "storyJobId": running[-1].id},
            )
        return record, job, jobs

    async def refine(self, artifact_id: str, instruction: str, scope: str) -> dict[str, Any]:
        record, story, jobs = await self._refinable(artifact_id)
        revision, base = base_in(jobs, story)
        attempt = sum(1 for j in jobs if j.kind == REFINE_KIND)
        refine_id = self.rt.storage.sign_until(self.account, f"refine/{record.id}/{attempt}", 0)[
            :40
        ]
        seed = int(story.params.get("seed") or 0)
        params = {
            "artifact_id": record.id,
            "story_job_id": story.id,
            # The job whose result holds the revision this one replaces.
            "base_job_id": base.id,
            "revision": revision + 1,
            "instruction": " ".join(instruction.split()),
            "scope": scope,
            # The read's own seed (unchanged lines sound as before); the writer's own.
            "seed": seed,
            "writer_seed": int(refine_id[:8], 16),
            # The state the new revision is voiced with; a later change is remixed over it.
            "state": record.state or {},
            "state_version": record.state_version,
            "artifact_requests": _request_of(story, record.id),
            "quote": refine_quote(now()),
        }
        try:
            job = await self.rt.admission.admit(
                self.account,
                FAMILY,
                REFINE_KIND,
                params,
                charges=[Charge(UNIT, TABLE_READ_REFINE)],
                subject_id=record.id,
                job_id=refine_id,
            )
        except Exception:
            if await self.rt.jobs.many([refine_id], self.account, family=FAMILY):
                raise ShError(
                    "artifact_not_ready",
                    "A refine of this artifact is in progress; poll it until it is done",
                    details={"status": "REFINING", "storyJobId": refine_id},
                ) from None
            raise
        return {"storyJob": await self.production._view(job)}
