"""The live read: a revision's script voiced as the artifact's state says it sounds.

One render serves every in-place edit (``sleeperhit.remix``) and every refine: each line is
spoken in the voice the state gives its character (else the one the cast holds), the state's
voice effects are applied to the lines in their ranges (in the state's order, later ones on
top), the lines are joined with the table read's pauses (workers/pipelines/read_audio.py), the
scene beds and sound cues are laid around them (workers/pipelines/scene_beds.py) and the whole
mix is stored as the read's MP3. That MP3 is what the theater page plays and what finalize
levels, so the live read and the final mix never disagree.

Lines come from the sound cache (workers/pipelines/line_cache.py) wherever nothing that decides
their sound changed, so a recast voices only the recast character again and a refine only the
lines it rewrote; a new effect reuses the plain line and only runs the effect.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gateway.core import layout
from workers.backends.audio import mp3_duration, pcm_to_mp3
from workers.backends.base import Pcm
from workers.backends.voices import NARRATOR, VOICES, Voice, from_float, to_float, voice_by_id
from workers.pipelines.line_cache import SoundCache, cache_key, model_identity
from workers.pipelines.mix_levels import speech_level
from workers.pipelines.read_audio import join_lines, prepare_line, speak_line
from workers.pipelines.scene_beds import Layers, lay_beds, lay_cues
from workers.pipelines.voice_effects import EFFECTS, apply_effect, effect_params
from workers.tasks import TaskContext, TaskError

__all__ = ["READ_NAME", "cast_of", "entries_of", "render_live", "voices_for"]

READ_NAME = "read.mp3"
# The live mix's peaks stay under this (a cue over a line can add up past full scale).
MIX_PEAK = 0.97

Chain = tuple[tuple[str, dict[str, Any]], ...]


def entries_of(content: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The content's entries in reading order (the objects inside ``content["scenes"]``)."""
    found = [
        e
        for scene in content.get("scenes") or ()
        for e in scene.get("entries") or ()
        if isinstance(e, dict)
    ]
    return sorted(found, key=lambda e: int(e.get("entryIndex") or 0))


def voices_for(
    content: Mapping[str, Any], state: Mapping[str, Any], speakers: Sequence[str]
) -> dict[str, Voice]:
    """Each speaker's voice: the state's override, else the content cast's voice, else (a name
    the cast lacks) the narrator's own. A voice id this server cannot transform (a hosted
    voice) is read by the narrator untouched."""
    held = {
        str(c.get("name")): str((c.get("voice") or {}).get("voiceId") or "")
        for c in content.get("cast") or ()
        if isinstance(c, Mapping)
    }
    overrides = state.get("voices") or {}
    out: dict[str, Voice] = {}
    for name in speakers:
        if name in out:
            continue
        chosen = overrides.get(name) if isinstance(overrides, Mapping) else None
        if isinstance(chosen, Mapping) and chosen.get("voiceId"):
            out[name] = voice_by_id(str(chosen["voiceId"])) or VOICES[0]
        else:
            out[name] = voice_by_id(held.get(name, "")) or VOICES[0]
    return out


def cast_of(content: Mapping[str, Any], state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The content's cast with the state's voices on it."""
    overrides = state.get("voices") or {}
    cast = []
    for member in content.get("cast") or ():
        member = dict(member)
        chosen = overrides.get(member.get("name")) if isinstance(overrides, Mapping) else None
        if isinstance(chosen, Mapping) and chosen.get("voiceId"):
            voice = {"voiceId": str(chosen["voiceId"]), "voiceName": str(chosen.get("voiceName"))}
            for key in ("gender", "provider"):
                if chosen.get(key):
                    voice[key] = str(chosen[key])
            member["voice"] = voice
            local = voice_by_id(voice["voiceId"])
            if local is not None:
                member["voiceDescription"] = local.description
        cast.append(member)
    return cast


def effect_chains(
    entries: Sequence[Mapping[str, Any]], state: Mapping[str, Any]
) -> tuple[list[Chain], dict[str, Any]]:
    """Each entry's effects in the order they stack, and the ``effects`` result (an effect this
    worker does not know is ``failed``)."""
    chains: list[list[tuple[str, dict[str, Any]]]] = [[] for _ in entries]
    result: dict[str, Any] = {}
    for item in state.get("effects") or ():
        if not isinstance(item, Mapping) or not item.get("id"):
            continue
        name, version = str(item.get("effect") or ""), int(item.get("version") or 0)
        if name not in EFFECTS:
            result[str(item["id"])] = {"status": "failed", "version": version}
            continue
        settings = effect_params(name, item.get("params") or {})
        low, high = int(item.get("startEntryIndex") or 0), int(item.get("endEntryIndex") or 0)
        for chain, entry in zip(chains, entries, strict=True):
            if low <= int(entry.get("entryIndex") or 0) <= high:
                chain.append((name, settings))
        result[str(item["id"])] = {"status": "ready", "version": version}
    return [tuple(c) for c in chains], result


def _with_effects(pcm: Pcm, chain: Chain) -> Pcm:
    for name, settings in chain:
        pcm = apply_effect(pcm, name, settings)
    return prepare_line(pcm)  # levelled and trimmed again, like every other line


async def _voice_lines(
    ctx: TaskContext,
    cache: SoundCache,
    entries: Sequence[Mapping[str, Any]],
    voices: Sequence[Voice],
    chains: Sequence[Chain],
    seed: int,
) -> list[Pcm]:
    narrator = ctx.services.backends.narrator
    speaker_id = model_identity(narrator)
    lines: list[Pcm] = []
    for i, (entry, voice, chain) in enumerate(zip(entries, voices, chains, strict=True)):
        if i % 8 == 0:
            await ctx.progress(
                pct=30 + 55 * i // len(entries),
                step="voicing",
                message=f"Voicing line {i + 1} of {len(entries)}...",
            )
        text = str(entry.get("text") or "")
        plain_key = cache_key("line", text, voice.id, seed, speaker_id)

        async def plain(text: str = text, voice: Voice = voice) -> Pcm:
            return await speak_line(narrator, text, voice, seed=seed)

        if chain:

            async def effected(chain: Chain = chain, plain_key: str = plain_key) -> Pcm:
                raw = await cache.get_or_make("lines", plain_key, plain)
                return await asyncio.to_thread(_with_effects, raw, chain) if raw.frames else raw

            key = cache_key("line", text, voice.id, seed, speaker_id, chain)
            pcm = await cache.get_or_make("lines", key, effected)
        else:
            pcm = await cache.get_or_make("lines", plain_key, plain)
        if not pcm.frames:
            raise TaskError("artifact_generation_failed", f"line {i} came out silent")
        lines.append(pcm)
    return lines


async def render_live(
    ctx: TaskContext,
    content: dict[str, Any],
    state: Mapping[str, Any],
    *,
    seed: int,
    cache_job_id: str,
) -> dict[str, Any]:
    """Voice, mix and store ``content`` as ``state`` says it sounds; returns ``audio``,
    ``scenes`` (every entry with its new startMs/endMs), ``cast``, ``music``, ``sfx``,
    ``effects`` and ``hasMusic``. ``content`` itself is left as it was."""
    content = copy.deepcopy(content)
    entries = entries_of(content)
    if not entries:
        raise TaskError("read_missing", "the table read has no lines to voice")
    speakers = [str(e.get("character") or NARRATOR) for e in entries]
    voices = voices_for(content, state, speakers)
    chains, effects = effect_chains(entries, state)
    cache = SoundCache(ctx, cache_job_id)
    lines = await _voice_lines(ctx, cache, entries, [voices[s] for s in speakers], chains, seed)
    if len({p.rate for p in lines}) > 1:
        raise TaskError("artifact_generation_failed", "the read's lines came at different rates")
    await ctx.progress(pct=86, step="mixing", message="Laying the music and sound cues...")
    joined = join_lines(lines, speakers)
    for entry, (start, end) in zip(entries, joined.spans, strict=True):
        entry["startMs"], entry["endMs"] = start, end
    rate = joined.pcm.rate
    voice = to_float(joined.pcm)
    layers = Layers(ctx, cache, voice.copy(), rate, speech_level(voice, rate))
    scenes = content.get("scenes") or []
    music, has_music = await lay_beds(layers, scenes, state)
    by_index = {
        int(e.get("entryIndex") or 0): (layers.sample(e["startMs"]), layers.sample(e["endMs"]))
        for e in entries
    }
    sfx = await lay_cues(layers, by_index, state)
    mix = layers.mix
    peak = float(np.abs(mix).max()) if len(mix) else 0.0
    if peak > MIX_PEAK:
        mix = mix * (MIX_PEAK / peak)
    await ctx.progress(pct=92, step="mixing", message="Encoding the read...")
    data = await asyncio.to_thread(pcm_to_mp3, from_float(mix, rate))
    path = layout.job_file(ctx.job.id, READ_NAME)
    await ctx.progress(pct=95, step="uploading", message="Storing the read...")
    await ctx.services.storage.put(ctx.job.account_id, path, data, "audio/mpeg", job_id=ctx.job.id)
    return {
        "audio": {
            "path": path,
            "durationMs": round(mp3_duration(data) * 1000),
            "contentType": "audio/mpeg",
        },
        "scenes": scenes,
        "cast": cast_of(content, state),
        "music": music,
        "sfx": sfx,
        "effects": effects,
        "hasMusic": has_music,
    }
