"""``sleeperhit.refine``: a table read revised by a producer's instruction, as a new revision.

The refine reads the revision it changes (``base_job_id``: the story job for revision 1, else
the refine that made the current one), asks the script writer for the next cast and screenplay
(with the plan's source digests, for a refine that goes back to the sources), and voices the
result through the same live render as every in-place edit (``render_live`` in
workers/pipelines/remix.py) with the read's own seed and line cache: a line whose words and
voice did not change comes back with the audio it had, a changed one is voiced again.

A renamed character keeps its voice (the one the artifact's state gave it, else the one it
had), so the rename is heard as the same person under a new name. Entries are numbered again
from 0 in reading order; the artifact's state applies to the new script as it is (entry- and
scene-indexed items stay at their indexes). The result is the new revision's whole content,
which the adapter serves in place of the old (adapters/sleeperhit/live.py).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.core.errors import NotFound
from gateway.core.jobs import JobStatus
from workers.backends.scripts import (
    REFINE_SCOPES,
    Digest,
    Refined,
    RefineRequest,
    ScriptScene,
)
from workers.pipelines.remix import render_live
from workers.pipelines.revisions import read_revision, script_of
from workers.tasks import TaskContext, TaskError

__all__ = ["refine_request", "refine_task", "revised_content"]


def refine_request(
    content: Mapping[str, Any],
    plan: Mapping[str, Any],
    instruction: str,
    scope: str,
    seed: int,
) -> RefineRequest:
    """The writer's request from a revision's CONTENT and the plan envelope it was made from."""
    cast, scenes = script_of(content)
    return RefineRequest(
        title=str(content.get("title") or plan.get("title") or ""),
        logline=str(plan.get("logline") or ""),
        mode=str(content.get("mode") or "documentary"),
        cast=cast,
        scenes=tuple(s for s in scenes if s.entries),
        instruction=" ".join(instruction.split()),
        scope=scope if scope in REFINE_SCOPES else "auto",
        digests=tuple(Digest.from_wire(d) for d in plan.get("sourceDigests") or ()),
        seed=seed,
    )


def _cast(
    content: Mapping[str, Any], refined: Refined, state: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The new cast, each member carrying the voice it had under its old name."""
    held = {
        str(c.get("name")): dict(c) for c in content.get("cast") or () if isinstance(c, Mapping)
    }
    old_of = {new: old for old, new in refined.renamed.items()}
    chosen = state.get("voices") if isinstance(state.get("voices"), Mapping) else {}
    out = []
    for member in refined.cast:
        old = old_of.get(member.name, member.name)
        entry = dict(held.get(old) or {})
        entry.update(name=member.name, role=member.role or str(entry.get("role") or ""))
        entry["voiceDescription"] = member.voice or entry.get("voiceDescription") or ""
        override = (chosen or {}).get(old)
        if old != member.name and isinstance(override, Mapping) and override.get("voiceId"):
            # The state names the voice under the old name, which no longer matches anyone.
            keys = ("voiceId", "voiceName", "gender", "provider")
            entry["voice"] = {k: override[k] for k in keys if override.get(k)}
        out.append(entry)
    return out


def _scenes(content: Mapping[str, Any], scenes: Sequence[ScriptScene]) -> list[dict[str, Any]]:
    """The new scenes, each keeping the index of the old scene of its title; entries numbered
    from 0 in reading order."""
    unused = [s for s in content.get("scenes") or () if isinstance(s, Mapping)]
    taken = {int(s["index"]) for s in unused if isinstance(s.get("index"), int)}
    out: list[dict[str, Any]] = []
    at = 0
    for scene in scenes:
        old = next((s for s in unused if str(s.get("title") or "") == scene.title), None)
        if old is not None:
            unused.remove(old)
            index = old.get("index")
        else:
            index = max(taken, default=-1) + 1
            taken.add(index)
        entries = []
        for entry in scene.entries:
            entries.append({"entryIndex": at, "character": entry.character, "text": entry.text})
            at += 1
        out.append({"index": index, "title": scene.title, "entries": entries})
    return out


def revised_content(
    content: Mapping[str, Any], refined: Refined, state: Mapping[str, Any], revision: int
) -> dict[str, Any]:
    """The new revision's content before it is voiced: the old one's with the new cast and
    script (no timings yet)."""
    fresh = copy.deepcopy(dict(content))
    fresh["cast"] = _cast(content, refined, state)
    fresh["scenes"] = _scenes(content, refined.scenes)
    fresh["revision"] = revision
    return fresh


async def _check_current(ctx: TaskContext, artifact_id: str, base_id: str) -> None:
    """A refine revises the artifact's current revision: one resumed after another refine
    succeeded would silently undo that one, so it fails instead (nothing is charged)."""
    jobs = await ctx.services.jobs.of_subject(
        ctx.job.account_id, artifact_id, family=ctx.job.family
    )
    done = [
        j
        for j in jobs
        if j.kind == ctx.job.kind and j.status == JobStatus.SUCCEEDED and j.id != ctx.job.id
    ]
    latest = max(done, key=lambda j: j.created_at).id if done else None
    if latest is not None and latest != base_id:
        raise TaskError(
            "refine_stale",
            "The artifact was refined again since this refine was asked for; refine it again",
        )


async def refine_task(ctx: TaskContext) -> dict[str, Any]:
    """``sleeperhit.refine``: params artifact_id, story_job_id, base_job_id, revision (the one
    it makes), instruction, scope, seed (the read's), writer_seed, state, state_version."""
    p = ctx.job.params
    artifact_id = str(p["artifact_id"])
    story_id = str(p["story_job_id"])
    revision = int(p.get("revision") or 2)
    state: Mapping[str, Any] = p.get("state") or {}
    seed = int(p.get("seed") or 0)
    base_id = str(p.get("base_job_id") or story_id)
    await _check_current(ctx, artifact_id, base_id)
    try:
        story, content = await read_revision(ctx, p)
    except NotFound:
        raise TaskError("read_missing", "the table read this refine changes is gone") from None
    if content is None or not content.get("scenes"):
        raise TaskError("read_missing", "the revision this refine changes has no script")
    plan = (getattr(story, "params", None) or {}).get("plan") or {}
    request = refine_request(
        content,
        plan if isinstance(plan, Mapping) else {},
        str(p.get("instruction") or ""),
        str(p.get("scope") or "auto"),
        int(p.get("writer_seed") or seed + revision),
    )
    if not request.entries:
        raise TaskError("read_missing", "the revision this refine changes has no lines")
    await ctx.progress(pct=5, step="writing", message="Revising the cast and screenplay...")
    scripter = ctx.services.backends.scripter
    try:
        refined: Refined = await scripter.refine(request)
    except Exception as exc:
        message = getattr(exc, "message", None) or "the script writer could not revise the read"
        raise TaskError("refine_failed", str(message)) from exc
    if not refined.entries:
        raise TaskError("refine_failed", "the revision has no lines left to read")
    fresh = revised_content(content, refined, state, revision)
    await ctx.progress(
        pct=30,
        step="voicing",
        message=f"{' '.join(refined.notes)[:300]} Voicing the changed lines...".strip(),
    )
    rendered = await render_live(ctx, fresh, state, seed=seed, cache_job_id=story_id)
    fresh.update(rendered)
    fresh["revision"] = revision
    return {
        "artifacts": {artifact_id: fresh},
        "artifactId": artifact_id,
        "revision": revision,
        "stateVersion": int(p.get("state_version") or 0),
        "scope": refined.scope,
        "notes": list(refined.notes),
        "changedLines": len(refined.changed),
        "modelUsed": scripter.capability().model,
    }
