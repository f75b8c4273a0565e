"""The table read as an MP4: ``POST /artifacts/{id}/render-video`` and ``finalize`` with
``{"mode": "video"}``, one render either way.

A render is a ``sleeperhit.video`` job on the artifact, charged TABLE_READ_FINALIZE_VIDEO once,
replay-safe exactly like the audio finalize: while the latest render is queued, running or
complete every call answers its state and charges nothing; after a failed (or canceled) one
the next call starts a new attempt. Each attempt has one deterministic, unguessable id, so two
concurrent first calls race for the same job and only one is created or charged. The video is
cut over the finalized MP3 when one is complete (the mix keeps every line's timing), else over
the read itself.
"""

from __future__ import annotations

from typing import Any

from adapters.sleeperhit.auth import FAMILY
from adapters.sleeperhit.errors import ShError
from adapters.sleeperhit.job_views import artifact_status
from adapters.sleeperhit.live import live_content
from adapters.sleeperhit.prices import FINALIZE_VIDEO, UNIT
from adapters.sleeperhit.production import FINALIZE_KIND, VIDEO_KIND, Production
from gateway.core.admission import Charge
from gateway.core.jobs import JobInfo, JobStatus
from gateway.core.story_plans import ArtifactRecord

__all__ = ["VIDEO_KIND", "finalize_video", "ready_artifact", "render_video"]

_RETRY = (JobStatus.FAILED, JobStatus.CANCELED)


async def ready_artifact(production: Production, artifact_id: str) -> tuple[ArtifactRecord, Any]:
    """The artifact and its story job, when the artifact is READY (as finalize checks it)."""
    record, job = await production._artifact(artifact_id)
    status = artifact_status(job, record.id)
    if status == "FAILED":
        raise ShError(
            "artifact_generation_failed",
            "The artifact failed to generate and cannot be rendered",
            details={"failureCode": job.error_code},
        )
    if status != "READY":
        raise ShError(
            "artifact_not_ready",
            f"The artifact is {status}; poll until READY",
            details={"status": status},
        )
    return record, job


def _behind(render: JobInfo, live: dict[str, Any]) -> bool:
    """A complete render of an older live read (edited or refined since)."""
    if render.status != JobStatus.SUCCEEDED:
        return False
    made = render.params or {}
    return int(made.get("state_version") or 0) < int(
        (live.get("remix") or {}).get("liveStateVersion") or 0
    ) or int(made.get("revision") or 1) < int(live.get("revision") or 1)


async def _render(production: Production, record: ArtifactRecord, job: JobInfo) -> JobInfo:
    """The artifact's current render: the latest one unless it failed, else a new attempt."""
    rt = production.rt
    jobs = await rt.jobs.of_subject(production.account, record.id, family=FAMILY)
    runs = [j for j in jobs if j.kind == VIDEO_KIND]
    current = runs[-1] if runs else None
    live = await live_content(rt, production.account, record, job)
    live_version = int((live.get("remix") or {}).get("liveStateVersion") or 0)
    revision = int(live.get("revision") or 1)
    if current is not None and current.status not in _RETRY and not _behind(current, live):
        return current

    def of_live(j: JobInfo) -> bool:
        # Only a mix of the live read keeps the live timings.
        made = j.params or {}
        return (
            int(made.get("state_version") or 0) == live_version
            and int(made.get("revision") or 1) == revision
        )

    finals = [
        j
        for j in jobs
        if j.kind == FINALIZE_KIND and j.status == JobStatus.SUCCEEDED and of_live(j)
    ]
    audio = (finals[-1].result or {}).get("path") if finals else None
    if not audio:
        audio = (live.get("audio") or {}).get("path")
    # One id per (artifact, attempt), unguessable: concurrent first calls collide on it.
    video_id = rt.storage.sign_until(production.account, f"video/{record.id}/{len(runs)}", 0)[:40]
    params = {
        "artifact_id": record.id,
        "story_job_id": job.id,
        "audio_path": audio,
        # The live read's timings (they move when a recast voices the read again).
        "scenes": live.get("scenes") or [],
        # The live read it shows: a later edit or refine makes it stale (a new render then).
        "state_version": live_version,
        "revision": revision,
        "seed": int(video_id[:8], 16),
    }
    try:
        return await rt.admission.admit(
            production.account,
            FAMILY,
            VIDEO_KIND,
            params,
            charges=[Charge(UNIT, FINALIZE_VIDEO)],
            subject_id=record.id,
            job_id=video_id,
        )
    except Exception:
        existing = await rt.jobs.many([video_id], production.account, family=FAMILY)
        if existing:
            return existing[0]
        raise


async def render_video(production: Production, artifact_id: str) -> dict[str, Any]:
    """``POST /artifacts/{id}/render-video``: ``{"artifactId", "render": {"status", "url"?}}``."""
    record, job = await ready_artifact(production, artifact_id)
    current = await _render(production, record, job)
    block = production.render.video(current, record.id, production.render.share(record)[0])
    render = {"status": block["status"]}
    if block["url"]:
        render["url"] = block["url"]
    return {"artifactId": record.id, "render": render}


async def finalize_video(
    production: Production, record: ArtifactRecord, job: JobInfo
) -> dict[str, Any]:
    """``finalize`` with ``{"mode": "video"}`` (the artifact already checked READY)."""
    current = await _render(production, record, job)
    block = production.render.video(current, record.id, production.render.share(record)[0])
    state = {"status": block["status"]}
    if block.get("error"):
        state["error"] = block["error"]
    return {"artifactId": record.id, "mode": "video", "finalize": state}
