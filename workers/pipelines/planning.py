"""``sleeperhit.plan``: turn a client's brief and its sources' digests into a plan envelope.

The writer drafts the story (title, logline, beats, cast, scenes); this task adds what is not
the writer's to decide: a voice for each cast member, one blueprint per requested artifact with
the API's defaults filled in, and the digests the plan was grounded on, so a later story job
needs nothing but the envelope.

Every artifact's blueprint names every scene: each requested artifact is a whole telling of the
story in its own form (a documentary table read and a drama one, say), not a slice of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.core.errors import NotFound
from workers.backends.scripts import Digest, PlanBrief, PlanDraft
from workers.pipelines.extract import decode_text, strip_controls
from workers.tasks import TaskContext, TaskError

__all__ = ["DEFAULT_DURATION", "MIN_DURATION", "blueprints", "envelope", "plan_task"]

# A blueprint's length when the request names none, and the least the API allows, in seconds.
DEFAULT_DURATION = 60
MIN_DURATION = 5
# The mode a table read gets when the request names none.
DEFAULT_MODE = "documentary"


async def _source_digest(ctx: TaskContext, source: Mapping[str, Any], seed: int) -> Digest | None:
    """The digest the source job made, or one made now from the stored text; ``None`` when
    neither exists (its digest failed and it keeps no text): the plan goes on without it."""
    account = ctx.job.account_id
    job_id = source.get("job_id")
    if job_id:
        try:
            job = await ctx.services.jobs.get(str(job_id), account)
        except NotFound:
            job = None
        wire = (job.result or {}).get("digest") if job is not None else None
        if isinstance(wire, Mapping):
            return Digest.from_wire(wire)
    path = source.get("text_path")
    if not path:
        return None
    try:
        _info, data = await ctx.services.storage.get(account, str(path))
    except NotFound:
        return None
    text = await asyncio.to_thread(lambda: strip_controls(decode_text(data)))
    if not text.strip():
        return None
    try:
        digest: Digest = await ctx.services.backends.scripter.digest(text, seed=seed)
    except Exception:
        return None
    return digest


def _duration(value: Any) -> int:
    """The requested length, no shorter than the API allows; the default when none is given."""
    if isinstance(value, bool):
        return DEFAULT_DURATION
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return DEFAULT_DURATION
    return max(MIN_DURATION, seconds)


def blueprints(requests: Sequence[Mapping[str, Any]], scene_count: int) -> list[dict[str, Any]]:
    """One blueprint per requested artifact, in request order, with the API's defaults."""
    scenes = list(range(scene_count))
    out = []
    for request in requests:
        kind = str(request.get("type") or "table_read")
        mode = request.get("mode") or (DEFAULT_MODE if kind == "table_read" else None)
        out.append(
            {
                "type": kind,
                "mode": mode,
                "narrationPolicy": request.get("narrationPolicy") or "auto",
                "durationSeconds": _duration(request.get("durationSeconds")),
                "notes": str(request.get("notes") or ""),
                "sceneIndexes": list(scenes),
            }
        )
    return out


def _cast(draft: PlanDraft) -> list[dict[str, Any]]:
    # Imported here: the voice catalogue is its own module, loaded when a plan is cast.
    from workers.backends.voices import assign_voices

    voices = assign_voices([member.name for member in draft.cast])
    cast = []
    for member in draft.cast:
        voice = voices.get(member.name)
        cast.append(
            {
                "name": member.name,
                "role": member.role,
                "voiceDescription": member.voice,
                "voice": (
                    {"voiceId": voice.id, "voiceName": voice.name} if voice is not None else None
                ),
            }
        )
    return cast


def envelope(
    p: Mapping[str, Any],
    draft: PlanDraft,
    cast: list[dict[str, Any]],
    digests: Sequence[tuple[str, Digest]],
) -> dict[str, Any]:
    """The ``plan.plan`` wire object (version 1)."""
    return {
        "version": 1,
        "title": p.get("title") or draft.title,
        "logline": draft.logline,
        "audiencePromise": draft.audience_promise,
        "target": dict(p.get("target") or {}),
        "creativeBrief": p.get("creative_brief") or None,
        "beats": [{"index": i, "text": text} for i, text in enumerate(draft.beats)],
        "cast": cast,
        "scenes": [
            {
                "index": i,
                "title": scene.title,
                "summary": scene.summary,
                "characters": list(scene.characters),
            }
            for i, scene in enumerate(draft.scenes)
        ],
        "artifactBlueprints": blueprints(p.get("artifact_requests") or (), len(draft.scenes)),
        "sourceIds": [str(s["id"]) for s in p.get("sources") or ()],
        "sourceDigests": [{"sourceId": sid, **digest.wire()} for sid, digest in digests],
    }


async def plan_task(ctx: TaskContext) -> dict[str, Any]:
    """``sleeperhit.plan``: params project_id, title, target, creative_brief, style,
    artifact_requests, sources [{id, job_id, text_path}], auto_approve, seed."""
    p = ctx.job.params
    seed = int(p.get("seed") or 0)
    scripter = ctx.services.backends.scripter
    sources = list(p.get("sources") or ())
    if sources:
        await ctx.progress(pct=10, step="digesting", message="Reading the sources...")
    digests: list[tuple[str, Digest]] = []
    for source in sources:
        digest = await _source_digest(ctx, source, seed)
        if digest is not None:
            digests.append((str(source["id"]), digest))
    brief = PlanBrief(
        title=str(p.get("title") or ""),
        target={str(k): str(v) for k, v in (p.get("target") or {}).items() if v is not None},
        creative_brief=str(p.get("creative_brief") or ""),
        style=dict(p.get("style") or {}),
        artifacts=tuple(dict(a) for a in p.get("artifact_requests") or ()),
        digests=tuple(d for _sid, d in digests),
        seed=seed,
    )
    await ctx.progress(pct=40, step="planning", message="Planning the story...")
    try:
        draft: PlanDraft = await scripter.plan(brief)
    except Exception as exc:
        message = getattr(exc, "message", None) or "the story plan could not be written"
        raise TaskError("plan_generation_failed", str(message)) from exc
    await ctx.progress(pct=85, step="casting", message="Casting voices...")
    cast = _cast(draft)
    capability = scripter.capability()
    return {
        "plan": envelope(p, draft, cast, digests),
        "modelUsed": capability.model,
        "providerUsed": capability.backend,
    }
