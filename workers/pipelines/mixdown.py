"""``sleeperhit.finalize``: a table read's recording, mixed and delivered at podcast loudness.

The read MP3 is decoded; unless the artifact's state shapes the music itself (then the live
read already carries its per-scene beds, cues and effects: workers/pipelines/live_mix.py), a
music bed from the sound maker is laid under all of it :data:`~mix_levels.BED_DB` below the
voices and held under the silence gate of ``read_audio`` with room to spare, so the pauses
between lines stay pauses: a listener (and ``count_voiced_segments``) still hears every line
start. The mix is then loudness-normalised (workers/pipelines/mix_levels.py) and encoded again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.core import layout
from gateway.core.errors import NotFound
from workers.backends.audio import pcm_to_mp3
from workers.backends.base import Pcm
from workers.backends.voices import decode_mp3, from_float, resample, to_float
from workers.pipelines.mix_levels import (
    BED_DB,
    bed_gain,
    cover,
    envelope,
    loudness_normalised,
    speech_level,
)
from workers.pipelines.read_audio import MP3_DELAY_SAMPLES, count_voiced_segments
from workers.pipelines.revisions import read_revision
from workers.tasks import TaskContext, TaskError

__all__ = ["BED_DB", "FINAL", "finalize_task", "mix_bed"]

FINAL = "final.mp3"
DEFAULT_MUSIC = "soft ambient underscore, warm pads, slow"
FADE_IN_S = 1.5
FADE_OUT_S = 2.5


def mix_bed(voice: Pcm, music: Pcm) -> Pcm:
    """The voices with ``music`` under them, at the voices' rate and length (not normalised)."""
    rate = voice.rate
    v = to_float(voice)
    m = to_float(music)
    if music.rate != rate:
        m = resample(m, music.rate / rate)
    bed = cover(m, len(v), rate) * envelope(len(v), int(rate * FADE_IN_S), int(rate * FADE_OUT_S))
    level = speech_level(v, rate)
    mixed = v + bed * bed_gain(level, bed, rate) if level else v
    return from_float(mixed, rate)


def deliver(voice: Pcm) -> Pcm:
    """The finished mix at the delivered loudness (its peaks under the ceiling)."""
    return from_float(loudness_normalised(to_float(voice), voice.rate), voice.rate)


async def _entries(ctx: TaskContext, p: dict[str, Any], voice: Pcm) -> int:
    """How many lines the read holds, from the story job's result (or heard, without one)."""
    try:
        # The revision the finalize mixes: a refine's result, or the story job's own.
        _story, content = await read_revision(ctx, p)
        return sum(len(scene["entries"]) for scene in (content or {})["scenes"])
    except (NotFound, KeyError, TypeError):
        return await asyncio.to_thread(count_voiced_segments, voice)


def _decode(data: bytes) -> Pcm:
    try:
        return decode_mp3(data)
    except Exception as exc:  # PyAV raises its own error types for broken streams
        raise TaskError("read_unreadable", "the table read's audio cannot be decoded") from exc


async def finalize_task(ctx: TaskContext) -> dict[str, Any]:
    """``sleeperhit.finalize``: params artifact_id, story_job_id, read_path, seed, music, bed
    (False: the read is the live mix and already carries its beds), revision."""
    p = ctx.job.params
    job = ctx.job
    await ctx.progress(pct=10, step="rendering", message="Reading the table read...")
    try:
        _info, data = await ctx.services.storage.get(job.account_id, str(p["read_path"]))
    except NotFound:
        raise TaskError("read_missing", "the table read's audio is no longer stored") from None
    decoded = await asyncio.to_thread(_decode, data)
    # Drop the encoder delay the read carries, so encoding again keeps every line's timing.
    voice = Pcm(decoded.samples[MP3_DELAY_SAMPLES * 2 :], decoded.rate)
    entries = await _entries(ctx, p, voice)
    mixed = voice
    if p.get("bed", True):
        await ctx.progress(pct=30, step="rendering", message="Composing the music bed...")
        prompt = str(p.get("music") or "").strip() or DEFAULT_MUSIC
        music = await ctx.services.backends.sounds.music(prompt, voice.duration_s)
        await ctx.progress(pct=60, step="rendering", message="Mixing the voices over the music...")
        mixed = await asyncio.to_thread(mix_bed, voice, music)
    else:
        await ctx.progress(pct=60, step="rendering", message="Levelling the live mix...")
    final = await asyncio.to_thread(lambda: pcm_to_mp3(deliver(mixed)))
    heard = await asyncio.to_thread(_decode, final)
    await ctx.progress(pct=70, step="rendering", message="Mixed.")
    await ctx.progress(pct=85, step="uploading", message="Storing the recording...")
    path = layout.job_file(job.id, FINAL)
    await ctx.services.storage.put(job.account_id, path, final, "audio/mpeg", job_id=job.id)
    return {
        "path": path,
        "durationMs": round(heard.frames * 1000 / heard.rate),
        "contentType": "audio/mpeg",
        "entries": entries,
    }
