"""Single generations: one picture, one clip or one sound per job (StoryNote's kinds).

Each task reads its parameters, asks one backend, stores one file in the job's folder
(``gateway.core.layout``) and returns where it is. Frames a clip starts or ends on are stored
files by the time the job runs (the adapter fetched or found them), so a task never reaches the
network on a client's behalf.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

from gateway.core import layout
from gateway.core.errors import NotFound
from workers.backends.audio import pcm_to_mp3
from workers.backends.base import ImagePrompt, Pcm, VideoRequest, exact_size
from workers.png import png_bytes
from workers.tasks import TaskContext, TaskError

__all__ = ["MP3", "MP4", "PNG", "audio_task", "image_task", "video_task"]

PNG = "image.png"
MP4 = "video.mp4"
MP3 = "audio.mp3"


async def _paint(
    ctx: TaskContext, text: str, seed: int, width: int, height: int, model: str = ""
) -> Any:
    prompt = ImagePrompt(
        text=text,
        characters=(),
        setting="",
        style="",
        seed=seed,
        width=width,
        height=height,
        kind="image",
        model=model,
    )
    (picture,) = await ctx.services.backends.illustrator.draw([prompt])
    return exact_size(picture, width, height)


async def _store(ctx: TaskContext, name: str, data: bytes, content_type: str) -> dict[str, Any]:
    job = ctx.job
    path = layout.job_file(job.id, name)
    await ctx.services.storage.put(job.account_id, path, data, content_type, job_id=job.id)
    return {"path": path, "content_type": content_type, "size": len(data)}


async def image_task(ctx: TaskContext) -> dict[str, Any]:
    """``image``: params prompt, seed, width, height, and the hosted provider's model."""
    p = ctx.job.params
    width, height = int(p["width"]), int(p["height"])
    await ctx.progress(pct=10, step="Drawing", message="Drawing the picture...")
    model = str(p.get("provider_model") or "")
    picture = await _paint(ctx, str(p["prompt"]), int(p["seed"]), width, height, model)
    data = await asyncio.to_thread(png_bytes, picture)
    stored = await _store(ctx, PNG, data, "image/png")
    return {**stored, "width": width, "height": height}


def _cover(data: bytes, width: int, height: int) -> Any:
    """A stored frame cropped to the clip's aspect ratio around its centre, then sized."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        picture = opened.convert("RGB")
    return ImageOps.fit(picture, (width, height), Image.Resampling.LANCZOS)


async def _frame(ctx: TaskContext, source: dict[str, Any] | None, width: int, height: int) -> Any:
    if not source:
        return None
    try:
        _info, data = await ctx.services.storage.get(str(source["account"]), str(source["path"]))
    except NotFound:
        raise TaskError("frame_missing", "the frame image is no longer stored") from None
    try:
        return await asyncio.to_thread(_cover, data, width, height)
    except OSError:
        raise TaskError("frame_unreadable", "the frame is not an image we can read") from None


async def video_task(ctx: TaskContext) -> dict[str, Any]:
    """``video``: params prompt, seed, seconds, width, height, and the ``first``/``last``
    frames as stored files (``{"account", "path"}``); without a first frame one is painted."""
    p = ctx.job.params
    width, height, seed = int(p["width"]), int(p["height"]), int(p["seed"])
    prompt = str(p.get("prompt") or "")
    first = await _frame(ctx, p.get("first"), width, height)
    last = await _frame(ctx, p.get("last"), width, height)
    if first is None:
        await ctx.progress(pct=10, step="Painting", message="Painting the opening frame...")
        first = await _paint(ctx, prompt, seed, width, height)
    await ctx.progress(pct=30, step="Animating", message="Animating the frames...")
    request = VideoRequest(
        prompt=prompt,
        first=first,
        seconds=float(p["seconds"]),
        width=width,
        height=height,
        seed=seed,
        last=last,
        model=str(p.get("provider_model") or ""),
    )
    clip = await ctx.services.backends.animator.animate(request)
    stored = await _store(ctx, MP4, clip, "video/mp4")
    return {**stored, "width": width, "height": height, "seconds": request.seconds}


async def _sound(ctx: TaskContext, p: dict[str, Any]) -> Pcm:
    backends = ctx.services.backends
    kind = str(p["sound_type"])
    if kind == "speech":
        return await backends.narrator.speak(str(p["text"]), seed=int(p.get("seed") or 0))
    seconds = float(p["seconds"])
    if kind == "sfx":
        return await backends.sounds.sound_effect(str(p["prompt"]), seconds)
    return await backends.sounds.music(str(p["prompt"]), seconds)


async def audio_task(ctx: TaskContext) -> dict[str, Any]:
    """``audio``: params sound_type (speech|sfx|music), text or prompt, seconds; an MP3."""
    p = ctx.job.params
    step = {"speech": "Speaking", "sfx": "Making the sound", "music": "Composing"}
    await ctx.progress(pct=10, step=step.get(str(p["sound_type"]), "Working"))
    pcm = await _sound(ctx, p)
    data = await asyncio.to_thread(pcm_to_mp3, pcm)
    stored = await _store(ctx, MP3, data, "audio/mpeg")
    return {**stored, "seconds": round(pcm.duration_s, 3)}
