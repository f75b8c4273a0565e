"""``sleeperhit.remix``: a table read voiced again after the client changed the artifact's state.

The story job's content stays as it was made; a remix is the read as the artifact's *current*
state says it sounds. Every line of the content's script is spoken again by the narrator with
the read's own seed and joined with the table read's pauses (workers/pipelines/read_audio.py),
each character in the voice the state gives it (``state["voices"]``) or, when the state names
none, the voice the content's cast already holds, so those lines sound exactly as before. The
result carries the new MP3, every entry's new timing, the cast with its new voices and the
``stateVersion`` it was made for; the adapter shows the latest succeeded remix of the highest
version over the content (adapters/sleeperhit/live.py).

Later state keys (effects, music, sound cues) are applied here too, so the live read is always
one job's output.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.core import layout
from gateway.core.errors import NotFound
from workers.backends.base import Pcm
from workers.backends.voices import NARRATOR, VOICES, Voice, voice_by_id
from workers.pipelines.read_audio import encode_read, speak_line
from workers.tasks import TaskContext, TaskError

__all__ = ["READ_NAME", "remix_task", "voices_for"]

READ_NAME = "read.mp3"


def _entries(content: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The content's entries in reading order (the objects inside ``content["scenes"]``)."""
    found = [
        e
        for scene in content.get("scenes") or ()
        for e in scene.get("entries") or ()
        if isinstance(e, dict)
    ]
    return sorted(found, key=lambda e: int(e.get("entryIndex") or 0))


def _voice(voice_id: str, fallback: Voice) -> Voice:
    return voice_by_id(voice_id) or fallback


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
        base = VOICES[0]
        chosen = overrides.get(name) if isinstance(overrides, Mapping) else None
        if isinstance(chosen, Mapping) and chosen.get("voiceId"):
            out[name] = _voice(str(chosen["voiceId"]), base)
        else:
            out[name] = _voice(held.get(name, ""), base)
    return out


def _cast(content: Mapping[str, Any], state: Mapping[str, Any]) -> list[dict[str, Any]]:
    overrides = state.get("voices") or {}
    cast = []
    for member in content.get("cast") or ():
        member = dict(member)
        chosen = overrides.get(member.get("name"))
        if isinstance(chosen, Mapping) and chosen.get("voiceId"):
            voice = {"voiceId": str(chosen["voiceId"]), "voiceName": str(chosen["voiceName"])}
            for key in ("gender", "provider"):
                if chosen.get(key):
                    voice[key] = str(chosen[key])
            member["voice"] = voice
            local = voice_by_id(voice["voiceId"])
            if local is not None:
                member["voiceDescription"] = local.description
        cast.append(member)
    return cast


async def remix_task(ctx: TaskContext) -> dict[str, Any]:
    """``sleeperhit.remix``: params artifact_id, story_job_id, state, state_version, seed."""
    p = ctx.job.params
    job = ctx.job
    artifact_id = str(p["artifact_id"])
    state: Mapping[str, Any] = p.get("state") or {}
    version = int(p.get("state_version") or 0)
    try:
        story = await ctx.services.jobs.get(str(p["story_job_id"]), account_id=job.account_id)
        content = copy.deepcopy((story.result or {})["artifacts"][artifact_id])
    except (NotFound, KeyError, TypeError):
        raise TaskError("read_missing", "the table read this remix changes is gone") from None
    entries = _entries(content)
    if not entries:
        raise TaskError("read_missing", "the table read has no lines to voice again")
    speakers = [str(e.get("character") or NARRATOR) for e in entries]
    voices = voices_for(content, state, speakers)
    narrator = ctx.services.backends.narrator
    seed = int(p.get("seed") or 0)
    lines: list[Pcm] = []
    for i, (entry, name) in enumerate(zip(entries, speakers, strict=True)):
        if i % 8 == 0:
            await ctx.progress(
                pct=5 + 80 * i // len(entries),
                step="voicing",
                message=f"Voicing line {i + 1} of {len(entries)}...",
            )
        pcm = await speak_line(narrator, str(entry.get("text") or ""), voices[name], seed=seed)
        if not pcm.frames:
            raise TaskError("artifact_generation_failed", f"line {i} came out silent")
        lines.append(pcm)
    await ctx.progress(pct=88, step="mixing", message="Joining the lines...")
    read = await encode_read(lines, speakers)
    for entry, (start, end) in zip(entries, read.spans, strict=True):
        entry["startMs"], entry["endMs"] = start, end
    path = layout.job_file(job.id, READ_NAME)
    await ctx.progress(pct=95, step="uploading", message="Storing the read...")
    await ctx.services.storage.put(job.account_id, path, read.data, "audio/mpeg", job_id=job.id)
    return {
        "artifactId": artifact_id,
        "stateVersion": version,
        "audio": {"path": path, "durationMs": read.duration_ms, "contentType": "audio/mpeg"},
        "scenes": content.get("scenes") or [],
        "cast": _cast(content, state),
    }
