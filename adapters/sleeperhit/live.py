"""The LIVE artifact: what a table read is now, after the client refined it and changed it in
place.

A table read has REVISIONS: revision 1 is the story job's content, and each succeeded
``sleeperhit.refine`` job on the artifact (its subject) adds the next one, in the order they were
made, its result holding that revision's whole content (workers/pipelines/refine.py). The
current (highest) revision is the base every view and every later edit starts from
(:func:`base_of`). The artifact's state (voices, effects, music, cues:
gateway/core/story_plans.py) is what the client changed since; each state change queues one
``sleeperhit.remix`` job (workers/pipelines/remix.py) over the current revision, and a refine,
which voices its new script with the state it was admitted with, counts as the remix of that
state version for its revision. The live content is the current revision's content with

- ``cast`` (and so ``manifest.audio.voiceMap``): the state's voices at once, before any remix;
- ``audio``, the entries' ``startMs``/``endMs`` and the rendered edits (``effects``, ``music``,
  ``sfx``, ``hasMusic``): the latest succeeded remix *of the current revision* of the highest
  ``stateVersion``, once there is one;
- ``remix``: ``{status, stateVersion, liveStateVersion}`` — ``status`` ``idle`` (never changed),
  ``queued`` / ``rendering`` / ``failed`` (the remix of the current state), ``complete`` (the
  live read is the current state's);
- ``revision``: the current revision's number.

A state changed while a refine runs is remixed over the revision the refine is replacing; once
the refine succeeds that remix no longer applies, so the first read of the artifact after it
queues the remix of the current state over the new revision (:func:`live_content`), and until
that remix is done the live read is the refine's own (``remix.status`` says ``queued``).

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

__all__ = [
    "REFINE_KIND",
    "REMIX_KIND",
    "base_of",
    "live_content",
    "overlay",
    "remix_version",
    "remixes_of",
    "revision_content",
    "revisions",
]

REMIX_KIND = "sleeperhit.remix"
REFINE_KIND = "sleeperhit.refine"
# What a remix (or a refine) renders over the script, copied onto the live content.
RENDERED = ("audio", "scenes", "effects", "music", "sfx", "hasMusic")


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


def revision_of(job: JobInfo) -> int:
    """The revision a remix was made over (or a refine makes)."""
    try:
        return int((job.params or {}).get("revision") or 1)
    except (TypeError, ValueError):
        return 1


def revisions(jobs: Sequence[JobInfo]) -> list[JobInfo]:
    """The artifact's succeeded refines in the order they were made: revision k + 1 is the
    k-th. ``jobs``: the artifact's jobs (its subject's)."""
    done = [j for j in jobs if j.kind == REFINE_KIND and j.status == JobStatus.SUCCEEDED]
    return sorted((j for j in done if j.result), key=lambda j: j.created_at)


def base_in(
    jobs: Sequence[JobInfo], story: JobInfo, revision: int | None = None
) -> tuple[int, JobInfo]:
    """(revision, the job holding its content): the current one, or ``revision``."""
    made = revisions(jobs)
    current = 1 + len(made)
    wanted = current if revision is None else max(1, min(revision, current))
    return wanted, (story if wanted == 1 else made[wanted - 2])


def _made(job: JobInfo, artifact_id: str) -> Mapping[str, Any]:
    """What a remix rendered; for a refine, the revision's content (which it rendered)."""
    result = job.result or {}
    if job.kind == REFINE_KIND:
        return (result.get("artifacts") or {}).get(artifact_id) or {}
    return result


def _of_revision(jobs: Sequence[JobInfo], revision: int, base: JobInfo) -> list[JobInfo]:
    """The remixes that apply to ``revision``: those made over it, and its own refine."""
    found = [j for j in jobs if j.kind == REMIX_KIND and revision_of(j) == revision]
    if base.kind == REFINE_KIND:
        found.insert(0, base)
    return found


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
        result = _made(best, record.id)
        live_version = remix_version(best)
        for key in RENDERED:
            if result.get(key) is not None:
                live[key] = result[key]
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
    """Every remix of the artifact, of any revision."""
    jobs = await runtime.jobs.of_subject(account_id, record.id, family=FAMILY)
    return [j for j in jobs if j.kind == REMIX_KIND]


async def _catch_up(
    runtime: Any,
    account_id: str,
    record: ArtifactRecord,
    story: JobInfo,
    revision: int,
    base: JobInfo,
) -> JobInfo | None:
    """Queue the remix of the current state over ``revision`` (see the module's note); the
    job's id is derived from the artifact, the version and the revision, so concurrent reads
    queue it once."""
    remix_id = runtime.storage.sign_until(
        account_id, f"remix/{record.id}/{record.state_version}/r{revision}", 0
    )[:40]
    params = {
        "artifact_id": record.id,
        "story_job_id": story.id,
        "base_job_id": base.id,
        "revision": revision,
        "state": record.state or {},
        "state_version": record.state_version,
        "seed": int((story.params or {}).get("seed") or 0),
    }
    try:
        return await runtime.admission.admit(
            account_id, FAMILY, REMIX_KIND, params, subject_id=record.id, job_id=remix_id
        )
    except Exception:
        found = await runtime.jobs.many([remix_id], account_id, family=FAMILY)
        return found[0] if found else None


async def live_content(
    runtime: Any, account_id: str, record: ArtifactRecord, job: JobInfo
) -> dict[str, Any]:
    """The artifact's live content (``{}`` while its story job has none). ``job``: the
    artifact's story job."""
    if not content_of(job, record.id):
        return {}
    jobs = await runtime.jobs.of_subject(account_id, record.id, family=FAMILY)
    revision, base = base_in(jobs, job)
    content = content_of(base, record.id) or {}
    content["revision"] = revision
    if revision == 1 and record.state_version == 0 and not record.state:
        return content
    remixes = _of_revision(jobs, revision, base)
    behind = remix_version(base) < record.state_version if base is not job else False
    if behind and not any(remix_version(j) == record.state_version for j in remixes):
        queued = await _catch_up(runtime, account_id, record, job, revision, base)
        if queued is not None:
            remixes.append(queued)
    return overlay(content, record, remixes)


async def base_of(
    runtime: Any, account_id: str, record: ArtifactRecord, job: JobInfo
) -> tuple[int, JobInfo]:
    """(revision, job) of the artifact's current revision: the job whose result holds the
    content every later edit is made over. Revision 1 is the story job's own content."""
    jobs = await runtime.jobs.of_subject(account_id, record.id, family=FAMILY)
    return base_in(jobs, job)


async def revision_content(
    runtime: Any, account_id: str, record: ArtifactRecord, job: JobInfo, revision: int | None
) -> tuple[dict[str, Any], int]:
    """(content, current revision): the live content for the current revision (or ``None``),
    else revision ``revision`` as it was last heard: its content with the last remix made over
    it, voices and all. ``revision`` must be 1..current (the caller checks)."""
    jobs = await runtime.jobs.of_subject(account_id, record.id, family=FAMILY)
    current = 1 + len(revisions(jobs))
    if revision is None or revision >= current:
        return await live_content(runtime, account_id, record, job), current
    number, base = base_in(jobs, job, revision)
    content = content_of(base, record.id) or {}
    content["revision"] = number
    done = [j for j in _of_revision(jobs, number, base) if j.status == JobStatus.SUCCEEDED]
    best = max(done, key=lambda j: (remix_version(j), j.created_at), default=None)
    version = 0
    if best is not None:
        version = remix_version(best)
        result = _made(best, record.id)
        for key in (*RENDERED, "cast"):
            if result.get(key) is not None:
                content[key] = result[key]
    content["remix"] = {
        "status": "complete" if version else "idle",
        "stateVersion": version,
        "liveStateVersion": version,
    }
    return content, current
