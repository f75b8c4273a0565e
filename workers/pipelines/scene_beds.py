"""The layers of the live read around its voices: a music bed per scene and the sound cues.

Scene ``i``'s bed runs from its first line's start to the next scene's first line's start (the
last one to the end of the read), faded in and out, at the finalize bed's level (BED_DB under
the voices, under the silence gate: workers/pipelines/mix_levels.py) times the clip's weight.
A scene with no clip, or a muted one, has nothing under its voices at all. A cue is placed at
its line ("before": ending :data:`BEFORE_GAP_MS` before the line starts; "with": at its start;
"after": at its end) and set from the voices' speaking level times its volume, so a cue at
volume 0.5 or more is heard plainly over a pause or a line.

Beds and cue sounds come from the sound maker through the sound cache, keyed by prompt, length
and the clip's or cue's version, so a recast does not compose the music again while a client's
"regenerate" (which stamps a new version) does.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gateway.core import layout
from workers.backends.audio import pcm_to_mp3
from workers.backends.base import Pcm
from workers.backends.voices import Floats, from_float, resample, to_float
from workers.pipelines.line_cache import SoundCache, cache_key, model_identity
from workers.pipelines.mix_levels import SpeechLevel, bed_gain, cover, envelope
from workers.pipelines.read_audio import MP3_DELAY_SAMPLES

__all__ = ["CUE_SECONDS", "Layers", "cue_start", "lay_beds", "lay_cues", "scene_spans"]

log = logging.getLogger(__name__)

BED_FADE_IN_S = 0.6
BED_FADE_OUT_S = 0.8
CUE_SECONDS = 1.2
BEFORE_GAP_MS = 100
# A cue's own peaks stay under this, so a cue over a line does not swamp the words.
CUE_PEAK = 0.6
TRIGGERS = ("before", "with", "after")


@dataclass(slots=True)
class Layers:
    """What the render lays around the voices; ``mix`` is the voices' floats, grown in place."""

    ctx: Any
    cache: SoundCache
    mix: Floats
    rate: int
    level: SpeechLevel | None

    def ms(self, sample: int) -> int:
        """A sample of the mix as a time in its MP3 (encoder delay included, as entries are)."""
        return round((sample + MP3_DELAY_SAMPLES) * 1000 / self.rate)

    def sample(self, ms: int) -> int:
        return max(0, round(ms * self.rate / 1000) - MP3_DELAY_SAMPLES)

    def add(self, sound: Floats, at: int) -> None:
        """Mix ``sound`` in from sample ``at``, lengthening the mix if it rings on past it."""
        end = at + len(sound)
        if end > len(self.mix):
            self.mix = np.concatenate([self.mix, np.zeros(end - len(self.mix))])
        self.mix[at:end] += sound

    async def store(self, name: str, pcm: Pcm) -> str:
        job = self.ctx.job
        path = layout.job_file(job.id, name)
        data = await asyncio.to_thread(pcm_to_mp3, pcm)
        await self.ctx.services.storage.put(job.account_id, path, data, "audio/mpeg", job_id=job.id)
        return path

    async def sound(self, kind: str, prompt: str, seconds: float, version: int) -> Floats:
        """A bed or cue sound from the sound maker (through the cache), at the mix's rate."""
        sounds = self.ctx.services.backends.sounds
        key = cache_key(kind, model_identity(sounds), prompt, seconds, version)

        async def make() -> Pcm:
            if kind == "music":
                return await sounds.music(prompt, seconds)
            return await sounds.sound_effect(prompt, seconds)

        pcm = await self.cache.get_or_make(kind, key, make)
        x = to_float(pcm)
        return resample(x, pcm.rate / self.rate) if pcm.rate != self.rate else x


def scene_spans(first_starts: Sequence[int | None], length: int) -> list[tuple[int, int]]:
    """(start, end) samples of each scene's bed: from its first line to the next scene's first
    line, the last to ``length``; a scene without lines gets an empty span."""
    spans: list[tuple[int, int]] = []
    for i, start in enumerate(first_starts):
        following = [s for s in first_starts[i + 1 :] if s is not None]
        end = following[0] if following else length
        spans.append((end, end) if start is None else (min(start, end), end))
    return spans


async def lay_beds(
    layers: Layers, scenes: Sequence[Mapping[str, Any]], state: Mapping[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Each defined clip's bed under its scene; the ``music`` result and whether any is heard."""
    music = state.get("music") if isinstance(state.get("music"), Mapping) else None
    clips = (music or {}).get("clips") or {}
    if not isinstance(clips, Mapping) or not clips:
        return {"clips": {}}, False
    rate = layers.rate
    firsts = [
        min((int(e.get("startMs") or 0) for e in scene.get("entries") or ()), default=None)
        for scene in scenes
    ]
    spans = scene_spans([None if f is None else layers.sample(f) for f in firsts], len(layers.mix))
    result: dict[str, Any] = {}
    heard = False
    for index_text, clip in sorted(clips.items(), key=lambda kv: _int(kv[0])):
        if not isinstance(clip, Mapping):
            continue
        index, version = _int(index_text), int(clip.get("version") or 0)
        if not 0 <= index < len(spans):
            result[str(index_text)] = _clip("failed", None, 0, 0, version)
            continue
        start, end = spans[index]
        entry = _clip("ready", None, layers.ms(start), layers.ms(end), version)
        result[str(index)] = entry
        weight = min(1.0, max(0.0, _float(clip.get("weight"), 1.0)))
        if clip.get("disabled") or end <= start or layers.level is None:
            continue
        prompt = str(clip.get("prompt") or "").strip() or "soft ambient underscore"
        try:
            music = await layers.sound(
                "music", prompt, float(math.ceil((end - start) / rate)), version
            )
        except Exception as exc:  # a backend's failure mutes this scene, not the read
            log.warning("scene %s bed failed: %s", index, exc)
            entry["status"] = "failed"
            continue
        bed = cover(music, end - start, rate) * envelope(
            end - start, int(rate * BED_FADE_IN_S), int(rate * BED_FADE_OUT_S)
        )
        entry["path"] = await layers.store(f"music/scene-{index}.mp3", from_float(bed, rate))
        gain = bed_gain(layers.level, bed, rate) * weight
        if gain > 0:
            layers.add(bed * gain, start)
            heard = True
    return {"clips": result}, heard


def cue_start(trigger: str, line: tuple[int, int], length: int, rate: int) -> int:
    """Where a cue of ``length`` samples starts for a line spanning ``line`` (samples)."""
    if trigger == "before":
        return max(0, line[0] - rate * BEFORE_GAP_MS // 1000 - length)
    if trigger == "after":
        return line[1]
    return line[0]


def _cue_level(sound: Floats, level: SpeechLevel, volume: float) -> Floats:
    """``sound`` with an RMS of the voices' speaking level times ``volume``, its peaks
    rounded off under :data:`CUE_PEAK` (a gentle tanh knee, adjusted until the RMS holds)."""
    rms = float(np.sqrt(np.mean(sound**2))) if len(sound) else 0.0
    if rms <= 0 or volume <= 0:
        return np.zeros(len(sound))
    target = level.speaking * volume
    gain = target / rms
    shaped = sound
    for _ in range(4):
        shaped = CUE_PEAK * np.tanh(sound * gain / CUE_PEAK)
        got = float(np.sqrt(np.mean(shaped**2)))
        if got >= target * 0.98 or got <= 0:
            break
        gain *= min(4.0, target / got)
    return np.asarray(shaped, dtype=np.float64)


async def lay_cues(
    layers: Layers, lines: Mapping[int, tuple[int, int]], state: Mapping[str, Any]
) -> dict[str, Any]:
    """Each sound cue at its line (``lines``: entryIndex -> (start, end) samples); the ``sfx``
    result. A cue whose line is gone or whose sound cannot be made is left out."""
    result: dict[str, Any] = {}
    for cue in state.get("sfx") or ():
        if not isinstance(cue, Mapping):
            continue
        cue_id = re.sub(r"[^A-Za-z0-9_-]", "", str(cue.get("id") or ""))[:64]
        line = lines.get(_int(cue.get("entryIndex")))
        if not cue_id or line is None or layers.level is None:
            continue
        version = int(cue.get("version") or 0)
        prompt = str(cue.get("prompt") or cue.get("label") or "").strip() or "soft chime"
        try:
            sound = await layers.sound("sfx", prompt, CUE_SECONDS, version)
        except Exception as exc:
            log.warning("cue %s failed: %s", cue_id, exc)
            continue
        trigger = str(cue.get("triggerOffset") or "with")
        at = cue_start(trigger if trigger in TRIGGERS else "with", line, len(sound), layers.rate)
        volume = min(1.0, max(0.0, _float(cue.get("volume"), 0.8)))
        layers.add(_cue_level(sound, layers.level, volume), at)
        path = await layers.store(f"sfx/{cue_id}.mp3", from_float(sound, layers.rate))
        result[cue_id] = {
            "path": path,
            "atMs": layers.ms(at),
            "durationMs": round(len(sound) * 1000 / layers.rate),
            "version": version,
        }
    return result


def _clip(status: str, path: str | None, start: int, end: int, version: int) -> dict[str, Any]:
    return {"status": status, "path": path, "startMs": start, "endMs": end, "version": version}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _float(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default
