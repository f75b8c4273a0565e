"""``sleeperhit.video``: a table read as an MP4 — a title card, then every line's speaker and
words over a backdrop of its scene, cut to the voices, over the read's best audio.

The script and its timings come from the story job's content for the artifact; the audio is
the finalized MP3 when the adapter found one (its timings are the read's: the mix keeps every
line where it was), else the read itself. One backdrop per scene is drawn by the image backend
from the scene's title and summary in the plan's visual style.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.core import layout
from gateway.core.errors import NotFound
from workers.backends.base import ImagePrompt, stable_seed
from workers.backends.local.read_video import (
    HEIGHT,
    WIDTH,
    Caption,
    Cut,
    Rendered,
    Scene,
    render_read,
)
from workers.tasks import TaskContext, TaskError

__all__ = ["VIDEO", "read_video_task"]

VIDEO = "video.mp4"


async def _story(ctx: TaskContext, p: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    try:
        story = await ctx.services.jobs.get(
            str(p.get("story_job_id") or ""), account_id=ctx.job.account_id
        )
        content = (story.result or {})["artifacts"][str(p["artifact_id"])]
    except (NotFound, KeyError, TypeError):
        raise TaskError("artifact_missing", "the table read's script is no longer stored") from None
    content = dict(content)
    if p.get("scenes"):
        # The live read's timings (a recast voiced it again): the captions follow them.
        content["scenes"] = p["scenes"]
    return story, content


async def _style(ctx: TaskContext, story: Any) -> str:
    """The plan's preferred visual style (free text), or "" when it set none."""
    plan_id = str((getattr(story, "params", None) or {}).get("plan_id") or "")
    if not plan_id:
        return ""
    try:
        plan = await ctx.services.jobs.get(plan_id, account_id=ctx.job.account_id)
    except NotFound:
        return ""
    style = (getattr(plan, "params", None) or {}).get("style") or {}
    return str(style.get("preferredVisualStyle") or "").strip()


def _prompts(
    scenes: Sequence[Mapping[str, Any]],
    plan_scenes: Sequence[Mapping[str, Any]],
    style: str,
    seed: int,
    size: tuple[int, int],
) -> list[ImagePrompt]:
    summaries = {s.get("index"): str(s.get("summary") or "") for s in plan_scenes}
    prompts = []
    for scene in scenes:
        title = str(scene.get("title") or "")
        summary = summaries.get(scene.get("index"), "")
        parts = [f"{style} illustration" if style else "cinematic illustration"]
        parts.append(f"scene: {title}")
        if summary:
            parts.append(summary)
        parts.append("wide establishing shot, no text, no lettering")
        prompts.append(
            ImagePrompt(
                text=". ".join(parts),
                characters=(),
                setting=title,
                style=style,
                seed=stable_seed("read-video", seed, scene.get("index"), title),
                width=size[0],
                height=size[1],
                kind="image",
            )
        )
    return prompts


def _cut(content: Mapping[str, Any], backdrops: Sequence[Any], width: int, height: int) -> Cut:
    scenes = list(content.get("scenes") or ())
    captions = [
        Caption(
            int(entry.get("startMs") or 0),
            str(entry.get("character") or ""),
            str(entry.get("text") or ""),
            i,
        )
        for i, scene in enumerate(scenes)
        for entry in scene.get("entries") or ()
    ]
    mode = str(content.get("mode") or "").strip()
    subtitle = f"A table read \u00b7 {mode}" if mode else "A table read"
    return Cut(
        title=str(content.get("title") or "Table read"),
        subtitle=subtitle,
        scenes=tuple(
            Scene(str(s.get("title") or ""), picture)
            for s, picture in zip(scenes, backdrops, strict=True)
        ),
        captions=tuple(sorted(captions, key=lambda c: c.start_ms)),
        width=width,
        height=height,
    )


async def read_video_task(ctx: TaskContext) -> dict[str, Any]:
    """``sleeperhit.video``: params artifact_id, story_job_id, audio_path, seed (and width,
    height, for tests and benches; 1280x720 otherwise)."""
    p = ctx.job.params
    job = ctx.job
    width, height = int(p.get("width") or WIDTH), int(p.get("height") or HEIGHT)
    await ctx.progress(pct=5, step="rendering", message="Reading the table read...")
    story, content = await _story(ctx, p)
    try:
        _info, audio = await ctx.services.storage.get(job.account_id, str(p["audio_path"]))
    except (NotFound, KeyError):
        raise TaskError("read_missing", "the table read's audio is no longer stored") from None
    await ctx.progress(pct=15, step="rendering", message="Drawing the scene backdrops...")
    plan = (getattr(story, "params", None) or {}).get("plan") or {}
    prompts = _prompts(
        list(content.get("scenes") or ()),
        list(plan.get("scenes") or ()),
        await _style(ctx, story),
        int(p.get("seed") or 0),
        (width, height),
    )
    backdrops = await ctx.services.backends.illustrator.draw(prompts) if prompts else []
    cut = _cut(content, backdrops, width, height)
    await ctx.progress(pct=40, step="rendering", message="Cutting the video to the voices...")
    try:
        rendered: Rendered = await asyncio.to_thread(render_read, cut, audio)
    except (ValueError, OSError) as exc:  # PyAV's errors for a broken stream are both
        raise TaskError("read_unreadable", f"the table read cannot be rendered: {exc}") from exc
    await ctx.progress(pct=90, step="uploading", message="Storing the video...")
    path = layout.job_file(job.id, VIDEO)
    await ctx.services.storage.put(job.account_id, path, rendered.data, "video/mp4", job_id=job.id)
    return {
        "path": path,
        "durationMs": rendered.duration_ms,
        "width": width,
        "height": height,
        "contentType": "video/mp4",
        "shots": rendered.shots,
    }
