"""``sleeperhit.remix``: a table read voiced again after the client changed the artifact's state.

The story job's content (or a refine's, for a later revision) stays as it was made; a remix is
the read as the artifact's *current* state says it sounds: voices (``state["voices"]``), voice
effects, per-scene music beds and sound cues, all rendered by :func:`render_live`
(workers/pipelines/live_mix.py) with the read's own seed, so every line whose sound did not
change comes back exactly as it was (from the line cache). The result carries the new MP3,
every entry's new timing, the cast with its new voices, the state of every music clip, cue and
effect, and the ``stateVersion`` it was made for; the adapter shows the latest succeeded remix
of the highest version over the revision's content (adapters/sleeperhit/live.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.core.errors import NotFound
from workers.pipelines.live_mix import READ_NAME, render_live, voices_for
from workers.pipelines.revisions import read_revision
from workers.tasks import TaskContext, TaskError

__all__ = ["READ_NAME", "remix_task", "render_live", "voices_for"]


async def remix_task(ctx: TaskContext) -> dict[str, Any]:
    """``sleeperhit.remix``: params artifact_id, story_job_id, base_job_id, revision, state,
    state_version, seed."""
    p = ctx.job.params
    artifact_id = str(p["artifact_id"])
    state: Mapping[str, Any] = p.get("state") or {}
    story_id = str(p["story_job_id"])
    try:
        # The revision the remix is made over: a refine's result, or the story job's own.
        _story, content = await read_revision(ctx, p)
    except NotFound:
        raise TaskError("read_missing", "the table read this remix changes is gone") from None
    if content is None:
        raise TaskError("read_missing", "the table read this remix changes is gone")
    rendered = await render_live(
        ctx, content, state, seed=int(p.get("seed") or 0), cache_job_id=story_id
    )
    return {
        "artifactId": artifact_id,
        "stateVersion": int(p.get("state_version") or 0),
        "revision": int(p.get("revision") or 1),
        **rendered,
    }
