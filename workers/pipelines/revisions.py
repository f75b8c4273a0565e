"""A table read's revision as the SleeperHit jobs name it, and its script as a writer reads it.

Every job that works on a table read after it was made (remix, refine, coverage, finalize)
carries ``story_job_id`` (the job that made the read: its plan, its line cache) and may carry
``base_job_id``, the job whose result holds the revision it works on (a refine's; without it,
revision 1, the story job's own). One reader here, so they all agree on which revision that is.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from gateway.core.jobs import JobInfo
from workers.backends.scripts import CastMember, ScriptEntry, ScriptScene
from workers.tasks import TaskContext

__all__ = ["read_revision", "script_of"]


async def read_revision(
    ctx: TaskContext, params: Mapping[str, Any]
) -> tuple[JobInfo, dict[str, Any] | None]:
    """(the story job, a copy of the artifact's content in the revision the params name, or
    ``None`` when that job holds none). :class:`NotFound` when either job is gone."""
    story_id = str(params.get("story_job_id") or "")
    story = await ctx.services.jobs.get(story_id, account_id=ctx.job.account_id)
    base_id = str(params.get("base_job_id") or story_id)
    base = (
        story
        if base_id == story_id
        else await ctx.services.jobs.get(base_id, account_id=ctx.job.account_id)
    )
    found = ((base.result or {}).get("artifacts") or {}).get(str(params.get("artifact_id") or ""))
    return story, copy.deepcopy(found) if isinstance(found, dict) else None


def script_of(
    content: Mapping[str, Any],
) -> tuple[tuple[CastMember, ...], tuple[ScriptScene, ...]]:
    """The content's cast and scenes (each scene's spoken lines in reading order) as the
    script writer's contract spells them."""
    cast = tuple(
        CastMember(
            str(c.get("name") or ""), str(c.get("role") or ""), str(c.get("voiceDescription") or "")
        )
        for c in content.get("cast") or ()
        if isinstance(c, Mapping) and c.get("name")
    )
    scenes = tuple(
        ScriptScene(
            str(s.get("title") or ""),
            tuple(
                ScriptEntry(str(e.get("character") or ""), str(e.get("text") or ""))
                for e in sorted(
                    (e for e in s.get("entries") or () if isinstance(e, Mapping)),
                    key=lambda e: int(e.get("entryIndex") or 0),
                )
                if str(e.get("text") or "").strip()
            ),
        )
        for s in content.get("scenes") or ()
        if isinstance(s, Mapping)
    )
    return cast, scenes
