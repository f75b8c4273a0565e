"""``sleeperhit.finalize``: a table read's recording, the voices over a quiet music bed.

The read MP3 is decoded, a music bed from the sound maker is laid under all of it about
:data:`BED_DB` below the voices, the mix is peak-normalised and encoded again. The bed is also
held under the silence gate of ``read_audio`` with room to spare, so the pauses between lines
stay pauses: a listener (and ``count_voiced_segments``) still hears every line start.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from gateway.core import layout
from gateway.core.errors import NotFound
from workers.backends.audio import pcm_to_mp3
from workers.backends.base import Pcm
from workers.backends.voices import Floats, decode_mp3, from_float, resample, to_float
from workers.pipelines.read_audio import (
    GATE_DB,
    MP3_DELAY_SAMPLES,
    count_voiced_segments,
    frame_rms,
)
from workers.tasks import TaskContext, TaskError

__all__ = ["BED_DB", "FINAL", "finalize_task", "mix_bed"]

FINAL = "final.mp3"
DEFAULT_MUSIC = "soft ambient underscore, warm pads, slow"
# How far under the voices' speaking level (RMS of their sounding frames) the bed sits.
BED_DB = 22.0
# The bed's loudest frames stay this far under the silence gate.
GATE_MARGIN_DB = 6.0
PEAK_DBFS = -1.0
FADE_IN_S = 1.5
FADE_OUT_S = 2.5
LOOP_FADE_S = 1.0


def _cover(music: Floats, length: int, rate: int) -> Floats:
    """``music`` looped (with a crossfade at each seam) or cut to exactly ``length`` samples."""
    if len(music) == 0:
        return np.zeros(length)
    fade = min(int(rate * LOOP_FADE_S), len(music) // 3)
    out = music.copy()
    while len(out) < length:
        if fade:
            ramp = np.linspace(0.0, 1.0, fade)
            seam = out[-fade:] * (1 - ramp) + music[:fade] * ramp
            out = np.concatenate([out[:-fade], seam, music[fade:]])
        else:
            out = np.concatenate([out, music])
    return out[:length]


def mix_bed(voice: Pcm, music: Pcm) -> Pcm:
    """The voices with ``music`` under them, at the voices' rate and length, peak-normalised."""
    rate = voice.rate
    v = to_float(voice)
    m = to_float(music)
    if music.rate != rate:
        m = resample(m, music.rate / rate)
    bed = _cover(m, len(v), rate)
    envelope = np.ones(len(v))
    fin, fout = min(len(v), int(rate * FADE_IN_S)), min(len(v), int(rate * FADE_OUT_S))
    envelope[:fin] = np.linspace(0.0, 1.0, fin)
    if fout:
        envelope[-fout:] = np.minimum(envelope[-fout:], np.linspace(1.0, 0.0, fout))
    bed = bed * envelope
    voice_rms = frame_rms(v, rate)
    active = voice_rms[voice_rms > 1e-5]
    bed_rms = frame_rms(bed, rate)
    sounding = bed_rms[bed_rms > 1e-6]
    if len(active) and len(sounding):
        loud = float(np.percentile(active, 95))
        speaking = float(np.sqrt((active[active > loud * 10 ** (-GATE_DB / 20)] ** 2).mean()))
        bed_level = float(np.sqrt((sounding**2).mean()))
        gain = speaking * 10 ** (-BED_DB / 20) / bed_level
        # However the bed swells, its loudest frames stay well under the gate.
        ceiling = loud * 10 ** (-(GATE_DB + GATE_MARGIN_DB) / 20)
        gain = min(gain, ceiling / float(np.percentile(sounding, 99.5)))
        mixed = v + bed * gain
    else:
        mixed = v
    peak = float(np.abs(mixed).max()) if len(mixed) else 0.0
    if peak > 0:
        mixed = mixed * (10 ** (PEAK_DBFS / 20) / peak)
    return from_float(mixed, rate)


async def _entries(ctx: TaskContext, p: dict[str, Any], voice: Pcm) -> int:
    """How many lines the read holds, from the story job's result (or heard, without one)."""
    try:
        story = await ctx.services.jobs.get(
            str(p.get("story_job_id") or ""), account_id=ctx.job.account_id
        )
        content = (story.result or {})["artifacts"][str(p["artifact_id"])]
        return sum(len(scene["entries"]) for scene in content["scenes"])
    except (NotFound, KeyError, TypeError):
        return await asyncio.to_thread(count_voiced_segments, voice)


def _decode(data: bytes) -> Pcm:
    try:
        return decode_mp3(data)
    except Exception as exc:  # PyAV raises its own error types for broken streams
        raise TaskError("read_unreadable", "the table read's audio cannot be decoded") from exc


async def finalize_task(ctx: TaskContext) -> dict[str, Any]:
    """``sleeperhit.finalize``: params artifact_id, story_job_id, read_path, seed, music."""
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
    await ctx.progress(pct=30, step="rendering", message="Composing the music bed...")
    prompt = str(p.get("music") or "").strip() or DEFAULT_MUSIC
    music = await ctx.services.backends.sounds.music(prompt, voice.duration_s)
    await ctx.progress(pct=60, step="rendering", message="Mixing the voices over the music...")
    mixed = await asyncio.to_thread(mix_bed, voice, music)
    final = await asyncio.to_thread(pcm_to_mp3, mixed)
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
