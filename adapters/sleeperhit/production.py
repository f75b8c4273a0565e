"""Story jobs, their artifacts, and the table read's audio finalize.

A story job reserves its quote's credits in the same admission that creates it (402 and
nothing else when they are short); its artifacts' rows are written first, under the job's id,
and removed again if the admission fails. Finalize is a job on the artifact, charged once: a
call while one is in flight or complete answers its state, and two concurrent first calls race
for one deterministic job id, so only one is ever created or charged.
"""

from __future__ import annotations

from typing import Any

from adapters.common.jobs import find_job
from adapters.common.pages import next_cursor, page_cursor, page_limit
from adapters.sleeperhit.auth import FAMILY, Caller
from adapters.sleeperhit.errors import ShError, invalid
from adapters.sleeperhit.job_views import Renderer, artifact_status, job_status
from adapters.sleeperhit.live import REFINE_KIND, base_in, live_content, revision_content
from adapters.sleeperhit.plans import Plans, artifact_dicts, check_artifacts
from adapters.sleeperhit.prices import FINALIZE_AUDIO, UNIT, quote
from adapters.sleeperhit.views import now, plan_status
from adapters.sleeperhit.workspace import PAGE_DEFAULT, PAGE_MAX
from gateway.core.admission import Charge
from gateway.core.errors import NotFound
from gateway.core.ids import new_job_id
from gateway.core.jobs import FINAL, JobInfo, JobStatus
from gateway.core.story_plans import ArtifactRecord, new_artifact_id

STORY_KIND = "sleeperhit.story"
FINALIZE_KIND = "sleeperhit.finalize"
# The table read as an MP4 (video.py): a job on the artifact, like finalize.
VIDEO_KIND = "sleeperhit.video"
CANCELABLE = ["PENDING", "RESERVED", "RUNNING", "PARTIAL"]
# A refine is a story job too (adapters/sleeperhit/refine.py): polled, listed and canceled here.
JOB_KINDS = (STORY_KIND, REFINE_KIND)


def job_missing() -> ShError:
    return ShError("story_job_not_found", "Story job not found")


def artifact_missing() -> ShError:
    return ShError("artifact_not_found", "Artifact not found")


class Production:
    def __init__(self, runtime: Any, caller: Caller, base_url: str) -> None:
        self.rt = runtime
        self.account = caller.account_id
        self.caller = caller
        self.render = Renderer(runtime.storage, base_url)

    # -- reading -----------------------------------------------------------------------------

    async def _job(self, job_id: str, *, fresh: bool = False) -> JobInfo:
        try:
            return await find_job(
                self.rt, job_id, self.account, family=FAMILY, kinds=JOB_KINDS, fresh=fresh
            )
        except NotFound:
            raise job_missing() from None

    async def _finalizes(
        self, records: list[ArtifactRecord], kind: str = FINALIZE_KIND
    ) -> dict[str, JobInfo]:
        latest: dict[str, JobInfo] = {}
        for record in records:
            jobs = await self.rt.jobs.of_subject(self.account, record.id, family=FAMILY)
            runs = [j for j in jobs if j.kind == kind]
            if runs:
                latest[record.id] = runs[-1]
        return latest

    async def _lives(self, records: list[ArtifactRecord], job: JobInfo) -> dict[str, Any]:
        return {r.id: await live_content(self.rt, self.account, r, job) for r in records}

    async def _refined(self, job: JobInfo) -> tuple[ArtifactRecord, JobInfo]:
        """A refine job's artifact and that artifact's story job."""
        try:
            record = await self.rt.story_artifacts.get(str(job.params["artifact_id"]), self.account)
        except NotFound:
            raise job_missing() from None
        return record, await self._job(record.job_id)

    async def _refine_view(self, job: JobInfo) -> dict[str, Any]:
        record, story = await self._refined(job)
        holds = await self.rt.ledger.holds_of_job(job.id)
        return self.render.refine_job(
            job,
            record,
            story,
            holds[0].id if holds else None,
            (await self._finalizes([record])).get(record.id),
            (await self._finalizes([record], VIDEO_KIND)).get(record.id),
            await live_content(self.rt, self.account, record, story),
        )

    async def _view(self, job: JobInfo) -> dict[str, Any]:
        if job.kind == REFINE_KIND:
            return await self._refine_view(job)
        records = (await self.rt.story_artifacts.of_jobs([job.id])).get(job.id, [])
        holds = await self.rt.ledger.holds_of_job(job.id)
        return self.render.job(
            job,
            records,
            holds[0].id if holds else None,
            await self._finalizes(records),
            await self._finalizes(records, VIDEO_KIND),
            await self._lives(records, job),
        )

    async def get(self, job_id: str) -> dict[str, Any]:
        return {"job": await self._view(await self._job(job_id))}

    async def list(
        self,
        project_id: str | None,
        plan_id: str | None,
        limit: str | None,
        cursor: str | None,
    ) -> dict[str, Any]:
        size = page_limit(limit, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        after = page_cursor(cursor)
        subjects: list[str] | None = None
        if plan_id is not None:
            subjects = [plan_id]
        if project_id is not None:
            in_project = await self.rt.story_plans.ids_of_project(self.account, project_id)
            subjects = [s for s in (subjects or in_project) if s in set(in_project)]
        if subjects is not None:
            # A refine's subject is its artifact: the plans' artifacts are listed too.
            stories = [
                j.id
                for s in subjects
                for j in await self.rt.jobs.of_subject(self.account, s, family=FAMILY)
                if j.kind == STORY_KIND
            ]
            made = await self.rt.story_artifacts.of_jobs(stories)
            subjects = [*subjects, *(r.id for found in made.values() for r in found)]
        jobs, more = await self.rt.jobs.page(
            self.account,
            family=FAMILY,
            kinds=list(JOB_KINDS),
            subjects=subjects,
            limit=size,
            after=after,
        )
        return {
            "jobs": [await self._view(j) for j in jobs],
            "nextCursor": next_cursor(more),
        }

    async def artifacts_of(self, job_id: str) -> dict[str, Any]:
        job = await self._job(job_id)
        if job.kind == REFINE_KIND:
            return {"artifacts": (await self._refine_view(job))["artifacts"]}
        records = (await self.rt.story_artifacts.of_jobs([job.id])).get(job.id, [])
        finalizes = await self._finalizes(records)
        videos = await self._finalizes(records, VIDEO_KIND)
        lives = await self._lives(records, job)
        return {
            "artifacts": [
                self.render.artifact(r, job, finalizes.get(r.id), videos.get(r.id), lives[r.id])
                for r in records
            ]
        }

    async def _artifact(self, artifact_id: str) -> tuple[ArtifactRecord, JobInfo]:
        try:
            record = await self.rt.story_artifacts.get(artifact_id, self.account)
        except NotFound:
            raise artifact_missing() from None
        return record, await self._job(record.job_id)

    async def artifact(self, artifact_id: str, revision: int | None = None) -> dict[str, Any]:
        """The artifact; with ``revision``, that revision's manifest (1 is the first
        generation), ``currentVersion`` and ``refineCount`` still the latest's."""
        record, job = await self._artifact(artifact_id)
        content, current = await revision_content(self.rt, self.account, record, job, revision)
        if revision is not None and not 1 <= revision <= current:
            raise invalid(
                f"revision {revision} does not exist; currentVersion is {current}",
                field="revision",
                currentVersion=current,
            )
        finalize = (await self._finalizes([record])).get(record.id)
        video = (await self._finalizes([record], VIDEO_KIND)).get(record.id)
        view = self.render.artifact(record, job, finalize, video, content, current)
        return {"artifact": view}

    # -- writing -----------------------------------------------------------------------------

    async def create(self, body: Any) -> dict[str, Any]:
        plans = Plans(self.rt, self.caller)
        try:
            record, plan_job = await plans.record(body.storyPlanId)
        except ShError as exc:
            if exc.code == "project_not_found":
                raise ShError("story_job_not_found", "The referenced plan does not exist") from None
            raise
        if body.projectId is not None and body.projectId != record.project_id:
            raise invalid("projectId does not match the plan's project", field="projectId")
        status = plan_status(record, plan_job)
        if status != "APPROVED":
            raise ShError(
                "story_job_state_invalid",
                f"The plan is {status}; a job needs an APPROVED plan",
                details={"status": status, "allowed": ["APPROVED"]},
            )
        requests = (
            artifact_dicts(body.artifactRequests)
            if body.artifactRequests
            else list(plan_job.params.get("artifact_requests") or ())
        )
        check_artifacts(requests)
        priced = quote(requests, 0, now(), planning=False)
        job_id = new_job_id()
        artifacts = [
            {
                "id": new_artifact_id(),
                "type": r["type"],
                "mode": r.get("mode") or "documentary",
                "narrationPolicy": r.get("narrationPolicy") or "auto",
                "durationSeconds": r.get("durationSeconds") or 60,
                "notes": r.get("notes") or "",
            }
            for r in requests
        ]
        params = {
            "project_id": record.project_id,
            "plan_id": record.id,
            "plan": (plan_job.result or {}).get("plan"),
            "artifact_requests": requests,
            "artifacts": artifacts,
            "quote": priced,
            "seed": int(job_id[:8], 16),
        }
        charges = [Charge(UNIT, priced["total"])] if priced["total"] > 0 else []
        await self.rt.story_artifacts.create_many(
            self.account, job_id, record.project_id, [(a["id"], a["type"]) for a in artifacts]
        )
        try:
            job = await self.rt.admission.admit(
                self.account,
                FAMILY,
                STORY_KIND,
                params,
                charges=charges,
                subject_id=record.id,
                job_id=job_id,
            )
        except BaseException:
            await self.rt.story_artifacts.forget_job(job_id)
            raise
        return {"job": await self._view(job)}

    async def cancel(self, job_id: str) -> dict[str, Any]:
        job = await self._job(job_id, fresh=True)
        if job.status not in FINAL:
            await self.rt.jobs.cancel(job.id, self.account)
            job = await self._job(job_id, fresh=True)
        if job.status != JobStatus.CANCELED:
            records = (await self.rt.story_artifacts.of_jobs([job.id])).get(job.id, [])
            status = job_status(job, records)
            raise ShError(
                "story_job_state_invalid",
                f"The job is {status} and can no longer be canceled",
                details={"status": status, "allowed": CANCELABLE},
            )
        return {"job": await self._view(job)}

    async def finalize(self, artifact_id: str, mode: str) -> dict[str, Any]:
        record, job = await self._artifact(artifact_id)
        status = artifact_status(job, record.id)
        if status == "FAILED":
            raise ShError(
                "artifact_generation_failed",
                "The artifact failed to generate and cannot be finalized",
                details={"failureCode": job.error_code},
            )
        if status != "READY":
            raise ShError(
                "artifact_not_ready",
                f"The artifact is {status}; poll until READY",
                details={"status": status},
            )
        if mode == "video":
            # video.py builds on this module, so it is imported where it is used.
            from adapters.sleeperhit.video import finalize_video

            return await finalize_video(self, record, job)
        jobs = await self.rt.jobs.of_subject(self.account, record.id, family=FAMILY)
        runs = [j for j in jobs if j.kind == FINALIZE_KIND]
        current = runs[-1] if runs else None
        live = await live_content(self.rt, self.account, record, job)
        remix = live.get("remix") or {}
        made_for = int((current.params or {}).get("state_version") or 0) if current else 0
        made_over = int((current.params or {}).get("revision") or 1) if current else 1
        done = current is not None and current.status == JobStatus.SUCCEEDED
        if (current is None or (done and made_for < record.state_version)) and remix.get(
            "status"
        ) in ("queued", "rendering"):
            # The read is being voiced again after a recast: a mix now would be stale at once.
            raise ShError(
                "artifact_not_ready",
                "The artifact's read is being voiced again; finalize once manifest.audio.remix "
                "is complete",
                details={"status": "REMIXING"},
            )
        # A complete finalize of an older live read (or revision) is stale: calling again mixes
        # the new one.
        stale = done and (
            made_for < int(remix.get("liveStateVersion") or 0)
            or made_over < int(live.get("revision") or 1)
        )
        if current is None or stale or current.status in (JobStatus.FAILED, JobStatus.CANCELED):
            _revision, base = base_in(jobs, job)
            current = await self._start_finalize(record, job, base, live, attempt=len(runs))
        state, _ = self.render._finalize(current, self.render.share(record)[0])
        return {"artifactId": record.id, "mode": "audio", "finalize": state}

    async def _start_finalize(
        self,
        record: ArtifactRecord,
        job: JobInfo,
        base: JobInfo,
        content: dict[str, Any],
        *,
        attempt: int,
    ) -> JobInfo:
        """``content``: the artifact's live content, whose read is mixed; ``base``: the job
        holding its revision (workers/pipelines/revisions.py)."""
        # One id per (artifact, attempt), unguessable: concurrent first calls collide on it.
        finalize_id = self.rt.storage.sign_until(
            self.account, f"finalize/{record.id}/{attempt}", 0
        )[:40]
        params = {
            "artifact_id": record.id,
            "story_job_id": job.id,
            "base_job_id": base.id,
            "read_path": (content.get("audio") or {}).get("path"),
            # The state version the live read is voiced for: the mix is stale once it is behind.
            "state_version": int((content.get("remix") or {}).get("liveStateVersion") or 0),
            # The revision it mixes: a refine since makes it stale too.
            "revision": int(content.get("revision") or 1),
            # With music of its own (POST /music) the live read carries its scene beds and the
            # mix lays no default bed under it.
            "bed": not (record.state or {}).get("music"),
            "seed": int(finalize_id[:8], 16),
            "music": f"quiet ambient bed under a {content.get('mode') or 'documentary'} read",
        }
        try:
            return await self.rt.admission.admit(
                self.account,
                FAMILY,
                FINALIZE_KIND,
                params,
                charges=[Charge(UNIT, FINALIZE_AUDIO)],
                subject_id=record.id,
                job_id=finalize_id,
            )
        except Exception:
            existing = await self.rt.jobs.many([finalize_id], self.account, family=FAMILY)
            if existing:
                return existing[0]
            raise
