"""The LIVE artifact: what a table read is now, after the client changed it in place.

The story job's content is the read as it was made; the artifact's state (``voices`` now, later
effects, music and cues: gateway/core/story_plans.py) is what the client changed since. Each
state change queues one ``sleeperhit.remix`` job (workers/pipelines/remix.py) that voices the
read again; the live content is the content with

- ``cast`` (and so ``manifest.audio.voiceMap``): the state's voices at once, before any remix;
- ``audio`` and the entries' ``startMs``/``endMs``: the latest succeeded remix of the highest
  ``stateVersion``, once there is one;
- ``remix``: ``{status, stateVersion, liveStateVersion}`` — ``status`` ``idle`` (never changed),
  ``queued`` / ``rendering`` / ``failed`` (the remix of the current state), ``complete`` (the
  live read is the current state's).

Every view of the artifact's read (manifest, theater page, ``liveUrl``, cast, script, coverage,
finalize, video) takes its content from :func:`live_content`, so there is one overlay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters.sleeperhit.auth import FAMILY
from adapters.sleeperhit.job_views import content_of
from gateway.core.jobs import JobInfo, JobStatus
from gateway.core.story_plans import ArtifactRecord

__all__ = ["REMIX_KIND", "live_content", "overlay", "remix_version"]

REMIX_KIND = "sleeperhit.remix"


def remix_version(job: JobInfo) -> int:
    """The state version a remix job was made for."""
    try:
        return int((job.params or {}).get("state_version") or 0)
    except (TypeError, ValueError):
        return 0


def _state_cast(cast: Sequence[Any], state: Mapping[str, Any]) -> list[Any]:
    overrides = state.get("voices") or {}
    out = []
    for member in cast:
        chosen = overrides.get(member.get("name")) if isinstance(member, Mapping) else None
        if isinstance(chosen, Mapping) and chosen.get("voiceId"):
            voice = {k: chosen.get(k) for k in ("voiceId", "voiceName", "gender", "provider")}
            member = {**member, "voice": {k: v for k, v in voice.items() if v}}
        out.append(member)
    return out


def _status(job: JobInfo | None) -> str:
    if job is None:
        return "queued"
    return {
        JobStatus.QUEUED: "queued",
        JobStatus.RUNNING: "rendering",
        JobStatus.SUCCEEDED: "complete",
    }.get(job.status, "failed")


def overlay(
    content: Mapping[str, Any], record: ArtifactRecord, remixes: Sequence[JobInfo]
) -> dict[str, Any]:
    """``content`` as the artifact's state and its remixes make it now (pure)."""
    live = dict(content)
    if not content:
        return live
    state = record.state or {}
    done = [j for j in remixes if j.status == JobStatus.SUCCEEDED and j.result]
    best = max(done, key=lambda j: (remix_version(j), j.created_at), default=None)
    live_version = 0
    if best is not None:
        result = best.result or {}
        live_version = remix_version(best)
        if result.get("audio"):
            live["audio"] = dict(result["audio"])
        if result.get("scenes"):
            live["scenes"] = result["scenes"]
    live["cast"] = _state_cast(list(content.get("cast") or ()), state)
    current = [j for j in remixes if remix_version(j) == record.state_version]
    if record.state_version == 0:
        status = "idle"
    elif live_version >= record.state_version:
        status = "complete"
    else:
        status = _status(current[-1] if current else None)
    live["remix"] = {
        "status": status,
        "stateVersion": record.state_version,
        "liveStateVersion": live_version,
    }
    return live


async def remixes_of(runtime: Any, account_id: str, record: ArtifactRecord) -> list[JobInfo]:
    jobs = await runtime.jobs.of_subject(account_id, record.id, family=FAMILY)
    return [j for j in jobs if j.kind == REMIX_KIND]


async def live_content(
    runtime: Any, account_id: str, record: ArtifactRecord, job: JobInfo
) -> dict[str, Any]:
    """The artifact's live content (``{}`` while its story job has none)."""
    content = content_of(job, record.id) or {}
    if not content or (record.state_version == 0 and not record.state):
        return content
    return overlay(content, record, await remixes_of(runtime, account_id, record))
