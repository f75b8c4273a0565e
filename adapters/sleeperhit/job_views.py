"""Story jobs and their artifacts on the wire, derived from the core jobs that make them.

A story job is one core job; each artifact's status and content are what that job reported for
it (``progress.artifacts`` while it runs, ``result.artifacts`` once done). A table read's audio
finalize is a job of its own on the artifact, so ``manifest.audio.finalize`` is that job's
state in the reference's words; so is its MP4 render's, ``manifest.video``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.sleeperhit.share import expiry_of, token_for
from adapters.sleeperhit.views import iso
from gateway.core.jobs import JobInfo, JobStatus
from gateway.core.storage import Storage
from gateway.core.story_plans import ArtifactRecord

_JOB = {
    JobStatus.QUEUED: "RESERVED",
    JobStatus.SUCCEEDED: "READY",
    JobStatus.FAILED: "FAILED",
    JobStatus.CANCELED: "CANCELED",
}


def content_of(job: JobInfo, artifact_id: str) -> dict[str, Any] | None:
    for source in (job.result or {}, job.progress):
        found = (source.get("artifacts") or {}).get(artifact_id)
        if found:
            return dict(found)
    return None


def artifact_status(job: JobInfo, artifact_id: str) -> str:
    content = content_of(job, artifact_id)
    if content is not None and content.get("status") in ("READY", "RUNNING", "FAILED"):
        if job.status in (JobStatus.FAILED, JobStatus.CANCELED) and content["status"] != "READY":
            return "FAILED"
        return str(content["status"])
    if job.status in (JobStatus.FAILED, JobStatus.CANCELED):
        return "FAILED"
    return "PENDING"


def job_status(job: JobInfo, records: Sequence[ArtifactRecord]) -> str:
    if job.status == JobStatus.RUNNING:
        ready = any(artifact_status(job, r.id) == "READY" for r in records)
        return "PARTIAL" if ready else "RUNNING"
    return _JOB[job.status]


class Renderer:
    """Builds artifact and job views for one request: links on ``base``, shares signed with the
    storage's secret."""

    def __init__(self, storage: Storage, base: str) -> None:
        self._storage = storage
        self._base = base.rstrip("/")

    def share(self, record: ArtifactRecord) -> tuple[str, int]:
        expires = expiry_of(record.created_at)
        return token_for(self._storage, record.account_id, record.id, expires), expires

    def _finalize(self, job: JobInfo | None, token: str) -> tuple[dict[str, Any] | None, Any]:
        if job is None:
            return None, None
        state: dict[str, Any]
        if job.status == JobStatus.QUEUED:
            state = {"status": "queued"}
        elif job.status == JobStatus.RUNNING:
            state = {"status": "uploading" if job.step == "uploading" else "rendering"}
        elif job.status == JobStatus.SUCCEEDED:
            state = {"status": "complete", "completedAt": iso(job.finished_at)}
        else:
            state = {"status": "failed", "error": job.error_message or "The render failed"}
        state["requestedAt"] = iso(job.created_at)
        recording = None
        if job.status == JobStatus.SUCCEEDED and job.result:
            recording = {
                "url": f"{self._base}/share/table-read-recording/{token}",
                "durationMs": int(job.result.get("durationMs") or 0),
            }
        return state, recording

    def video(self, job: JobInfo | None, record_id: str, token: str) -> dict[str, Any]:
        """``manifest.video``: the latest render job's state (``sleeperhit.video``), its signed
        download URL once complete."""
        block: dict[str, Any] = {
            "status": "not_rendered",
            "renderUrl": f"/api/v1/artifacts/{record_id}/render-video",
            "url": None,
            "durationMs": None,
        }
        if job is None:
            return block
        if job.status == JobStatus.QUEUED:
            block["status"] = "queued"
        elif job.status == JobStatus.RUNNING:
            block["status"] = "rendering"
        elif job.status == JobStatus.SUCCEEDED:
            block["status"] = "complete"
            block["url"] = f"{self._base}/share/table-read-video/{token}"
            block["durationMs"] = int((job.result or {}).get("durationMs") or 0)
            block["completedAt"] = iso(job.finished_at)
        else:
            block["status"] = "failed"
            block["error"] = job.error_message or "The render failed"
        block["requestedAt"] = iso(job.created_at)
        return block

    def manifest(
        self,
        record: ArtifactRecord,
        content: Mapping[str, Any],
        finalize: JobInfo | None,
        video: JobInfo | None = None,
        current: int | None = None,
    ) -> dict[str, Any]:
        """``current``: the artifact's latest revision (``content``'s own when not given)."""
        token, expires = self.share(record)
        latest = current or int(content.get("revision") or 1)
        theater = f"{self._base}/share/table-read/{token}"
        state, recording = self._finalize(finalize, token)
        if state is not None and finalize is not None:
            # A finalize mixes the live read of one state version of one revision (its params
            # say which); any state change or refine since makes it stale until the next one.
            made_for = int((finalize.params or {}).get("state_version") or 0)
            revision = int((finalize.params or {}).get("revision") or 1)
            state["stale"] = finalize.status == JobStatus.SUCCEEDED and (
                made_for < record.state_version or revision < latest
            )
        cast = list(content.get("cast") or ())
        return {
            "type": record.type,
            "status": "ready",
            "title": content.get("title"),
            "mode": content.get("mode"),
            "narrationPolicy": content.get("narrationPolicy"),
            "shareToken": token,
            "theaterUrl": theater,
            "theaterFullscreenUrl": f"{theater}?view=fullscreen",
            "audio": {
                "mode": "live_on_demand",
                "liveUrl": f"{self._base}/share/table-read-audio/{token}",
                "startLiveUrl": None,
                "durationMs": (content.get("audio") or {}).get("durationMs"),
                "recordingUrl": recording["url"] if recording else None,
                "recordingDurationMs": recording["durationMs"] if recording else None,
                "voiceMap": {
                    c["name"]: {
                        "voiceId": c["voice"]["voiceId"],
                        "voiceName": c["voice"]["voiceName"],
                    }
                    for c in cast
                    if c.get("voice")
                },
                "finalize": state,
                # The live read's remix after a recast (adapters/sleeperhit/live.py).
                "remix": content.get("remix")
                or {"status": "idle", "stateVersion": 0, "liveStateVersion": 0},
            },
            "video": self.video(video, record.id, token),
            "cast": cast,
            "screenplay": {"scenes": content.get("scenes") or []},
            "expiresAt": iso(datetime.fromtimestamp(expires, UTC)),
        }

    def artifact(
        self,
        record: ArtifactRecord,
        job: JobInfo,
        finalize: JobInfo | None = None,
        video: JobInfo | None = None,
        live: Mapping[str, Any] | None = None,
        current: int | None = None,
    ) -> dict[str, Any]:
        """``live``: the artifact's live content (adapters/sleeperhit/live.py) where the caller
        has it, else the story job's own; or, for ``?revision=``, that revision's content, with
        ``current`` the latest revision (``currentVersion`` and ``refineCount`` are always the
        latest's)."""
        status = artifact_status(job, record.id)
        content = dict(live) if live is not None else (content_of(job, record.id) or {})
        latest = current or int(content.get("revision") or 1)
        failed = status == "FAILED"
        token = self.share(record)[0] if status == "READY" else None
        return {
            "id": record.id,
            "storyJobId": record.job_id,
            "type": record.type,
            "status": status,
            "manifest": self.manifest(record, content, finalize, video, latest)
            if status == "READY"
            else None,
            "currentVersion": latest,
            "refineCount": latest - 1,
            "tableReadShareLinkId": f"shl_{record.id}" if token else None,
            "failureCode": (content.get("failureCode") or job.error_code or "artifact_failed")
            if failed
            else None,
            "failureMessage": (content.get("failureMessage") or job.error_message)
            if failed
            else None,
            "createdAt": iso(record.created_at),
            "updatedAt": iso(job.updated_at),
        }

    def job(
        self,
        job: JobInfo,
        records: Sequence[ArtifactRecord],
        hold_id: str | None,
        finalizes: Mapping[str, JobInfo] | None = None,
        videos: Mapping[str, JobInfo] | None = None,
        lives: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        p = job.params
        status = job_status(job, records)
        progress = None
        if job.status != JobStatus.QUEUED:
            progress = {
                "stage": job.step or status.lower(),
                "detail": job.message or None,
                "percent": job.pct,
            }
        failed = status == "FAILED"
        return {
            "id": job.id,
            "projectId": p.get("project_id"),
            "storyPlanId": p.get("plan_id"),
            "status": status,
            "artifactRequests": p.get("artifact_requests") or [],
            "quote": p.get("quote"),
            "creditReservationId": hold_id,
            "progress": progress,
            "modelUsed": (job.result or {}).get("modelUsed"),
            "failureCode": job.error_code if failed else None,
            "failureMessage": job.error_message if failed else None,
            "currentVersion": 1,
            "startedAt": iso(job.started_at),
            "completedAt": iso(job.finished_at) if job.status == JobStatus.SUCCEEDED else None,
            "artifacts": [
                self.artifact(
                    r,
                    job,
                    (finalizes or {}).get(r.id),
                    (videos or {}).get(r.id),
                    (lives or {}).get(r.id),
                )
                for r in records
            ],
            "createdAt": iso(job.created_at),
            "updatedAt": iso(job.updated_at),
        }

    def refine_job(
        self,
        job: JobInfo,
        record: ArtifactRecord,
        story: JobInfo,
        hold_id: str | None,
        finalize: JobInfo | None = None,
        video: JobInfo | None = None,
        live: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A refine (``sleeperhit.refine``) as a story job: polled, listed and canceled like one;
        its one artifact is the refined artifact as it is now, its ``currentVersion`` the
        revision it makes."""
        p = job.params
        status = _JOB.get(job.status, "RUNNING")
        progress = None
        if job.status != JobStatus.QUEUED:
            progress = {
                "stage": job.step or status.lower(),
                "detail": job.message or None,
                "percent": job.pct,
            }
        failed = status == "FAILED"
        return {
            "id": job.id,
            "projectId": story.params.get("project_id"),
            "storyPlanId": story.params.get("plan_id"),
            "status": status,
            "artifactRequests": p.get("artifact_requests") or [],
            "quote": p.get("quote"),
            "creditReservationId": hold_id,
            "progress": progress,
            "modelUsed": (job.result or {}).get("modelUsed"),
            "failureCode": (job.error_code or "refine_failed") if failed else None,
            "failureMessage": job.error_message if failed else None,
            "currentVersion": int(p.get("revision") or 2),
            "startedAt": iso(job.started_at),
            "completedAt": iso(job.finished_at) if job.status == JobStatus.SUCCEEDED else None,
            "artifacts": [self.artifact(record, story, finalize, video, live)],
            "createdAt": iso(job.created_at),
            "updatedAt": iso(job.updated_at),
        }
