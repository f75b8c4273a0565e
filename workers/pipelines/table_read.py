"""``sleeperhit.story``: a plan's table reads, written, voiced and timed.

For each requested table read the script writer writes a screenplay for the plan's cast, every
line is spoken by the one narrator and turned into its character's voice (workers/backends/
voices.py), and the lines are joined with pauses into one MP3 whose length meets the request
(within 25%): the writer is asked for more lines when the read runs short, trailing lines are
dropped when it runs long, so the stored script always says exactly what is heard. Each entry
carries its start and end in that MP3, which the theater page follows.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gateway.core import layout
from gateway.core.errors import NotFound
from workers.backends.audio import mp3_duration, pcm_to_mp3
from workers.backends.base import Pcm
from workers.backends.scripts import (
    CastMember,
    Digest,
    SceneOutline,
    ScreenplayRequest,
    ScriptEntry,
)
from workers.backends.voices import NARRATOR, Voice, assign_voices, voice_by_id, voiced
from workers.pipelines.read_audio import join_lines, prepare_line, read_length_s
from workers.tasks import TaskContext, TaskError

__all__ = ["DEFAULT_SECONDS", "MIN_SECONDS", "WORDS_PER_SECOND", "read_path", "story_task"]

DEFAULT_SECONDS = 60
MIN_SECONDS = 5
MAX_SECONDS = 1800
# Spoken words per second of finished read, pauses included: the instant narrator hums about
# 2.4 words a second and piper's voice reads about 2.6; the pauses between lines take ~12%.
WORDS_PER_SECOND = 2.2
# The contract allows 25% either way; aim well inside it.
TOLERANCE = 0.25
SHORT = 0.9
LONG = 1.1
# More-lines requests after the first screenplay, and re-takes of a line cut to fit.
MORE_ROUNDS = 3
CUT_TRIES = 3


@dataclass(frozen=True, slots=True)
class Line:
    """One written entry as it will be heard."""

    scene: str
    entry: ScriptEntry
    pcm: Pcm


def read_path(job_id: str, artifact_id: str) -> str:
    return layout.job_file(job_id, f"{artifact_id}/read.mp3")


def _narrated(policy: str, mode: str) -> bool:
    if policy == "include":
        return True
    if policy == "suppress":
        return False
    return mode == "documentary"


def _seconds(artifact: Mapping[str, Any]) -> int:
    try:
        seconds = round(float(artifact.get("durationSeconds") or DEFAULT_SECONDS))
    except (TypeError, ValueError):
        seconds = DEFAULT_SECONDS
    return max(MIN_SECONDS, min(MAX_SECONDS, seconds))


def _is_narrator(member: CastMember) -> bool:
    return member.name.strip().upper() == NARRATOR or member.role.strip().lower() == "narrator"


def _cast(plan: Mapping[str, Any], narrated: bool) -> list[CastMember]:
    cast = [
        CastMember(
            name=str(c["name"]),
            role=str(c.get("role") or ""),
            voice=str(c.get("voiceDescription") or ""),
        )
        for c in plan.get("cast") or ()
        if c.get("name")
    ]
    if not narrated:
        return [c for c in cast if not _is_narrator(c)]
    if not any(_is_narrator(c) for c in cast):
        cast.insert(0, CastMember(NARRATOR, "narrator", "even, neutral storyteller"))
    return cast


def _fixed_voices(plan: Mapping[str, Any]) -> dict[str, Voice]:
    """The voices the plan's cast already holds, where they are voices this gateway has."""
    fixed: dict[str, Voice] = {}
    for member in plan.get("cast") or ():
        voice = voice_by_id(str((member.get("voice") or {}).get("voiceId") or ""))
        if member.get("name") and voice is not None:
            fixed[str(member["name"])] = voice
    return fixed


def _scenes(plan: Mapping[str, Any], artifact: Mapping[str, Any]) -> list[SceneOutline]:
    wanted = artifact.get("sceneIndexes")
    scenes = [
        s
        for s in plan.get("scenes") or ()
        if not wanted or s.get("index") in wanted  # a blueprint may pick scenes
    ]
    return [
        SceneOutline(
            title=str(s.get("title") or ""),
            summary=str(s.get("summary") or ""),
            characters=tuple(str(c) for c in s.get("characters") or ()),
        )
        for s in scenes
    ]


def _digests(plan: Mapping[str, Any]) -> tuple[Digest, ...]:
    return tuple(Digest.from_wire(d) for d in plan.get("sourceDigests") or ())


def _words(text: str) -> int:
    return len(text.split())


class Reader:
    """Writes, voices and fits one table read; keeps the voiced lines in reading order."""

    def __init__(self, ctx: TaskContext, request: ScreenplayRequest, fixed: dict[str, Voice]):
        self.ctx = ctx
        self.request = request
        self.fixed = fixed
        self.lines: list[Line] = []
        self.names = [c.name for c in request.cast]
        # Names a writer may spell in another case or pad with spaces, mapped back.
        self.spelled = {c.name.strip().upper(): c.name for c in request.cast}

    def voices(self) -> dict[str, Voice]:
        return assign_voices(self.names, self.fixed)

    def length_s(self) -> float:
        return read_length_s(
            [ln.pcm for ln in self.lines], [ln.entry.character for ln in self.lines]
        )

    async def speak(self, entry: ScriptEntry) -> Pcm:
        if entry.character not in self.names:
            self.names.append(entry.character)
        voice = self.voices()[entry.character]
        narrator = self.ctx.services.backends.narrator
        raw = await narrator.speak(entry.text, seed=self.request.seed)
        return await asyncio.to_thread(lambda: prepare_line(voiced(raw, voice)))

    async def write(self, words: int) -> int:
        """Ask for lines (more of them once some exist); voice the new ones. How many came."""
        so_far = tuple(ln.entry for ln in self.lines)
        request = replace(self.request, words=max(8, words), so_far=so_far)
        screenplay = await self.ctx.services.backends.scripter.screenplay(request)
        flat = [(scene.title, e) for scene in screenplay.scenes for e in scene.entries]
        await self.ctx.progress(step="voicing", message=f"Voicing {len(flat)} lines...")
        # A writer may hand back the lines it was given followed by the new ones.
        if so_far and [e for _t, e in flat[: len(so_far)]] == list(so_far):
            flat = flat[len(so_far) :]
        added = 0
        for title, entry in flat:
            text = " ".join(entry.text.split())
            if not text or not any(ch.isalnum() for ch in text):
                continue
            name = entry.character.strip() or NARRATOR
            name = self.spelled.get(name.upper(), name)
            if name.upper() == NARRATOR and not self.request.narrated:
                continue
            clean = ScriptEntry(character=name, text=text)
            pcm = await self.speak(clean)
            if pcm.frames:
                self.lines.append(Line(title, clean, pcm))
                added += 1
        return added

    async def fit(self, target: float) -> None:
        """Meet ``target`` seconds: more lines while short, fewer (or a shorter last line)
        while long."""
        if not await self.write(round(target * WORDS_PER_SECOND)):
            raise TaskError("artifact_generation_failed", "the script writer wrote no lines")
        for _ in range(MORE_ROUNDS):
            length = self.length_s()
            if length >= target * SHORT:
                break
            total = sum(_words(ln.entry.text) for ln in self.lines)
            per_word = length / max(1, total)
            if not await self.write(round(target / per_word)):
                break
        # Drop trailing lines while the read stays long enough without them...
        while len(self.lines) > 1 and self.length_s() > target * LONG:
            rest = self.lines[:-1]
            without = read_length_s([ln.pcm for ln in rest], [ln.entry.character for ln in rest])
            if without < target * SHORT:
                break
            self.lines.pop()
        # ...then cut the last line short when one line alone is too long.
        for _ in range(CUT_TRIES):
            if self.length_s() <= target * LONG:
                break
            await self._shorten_last(target)

    async def _shorten_last(self, target: float) -> None:
        """Cut the last line's text to what fits and voice it again."""
        last = self.lines[-1]
        spare = target * LONG - (self.length_s() - last.pcm.duration_s)
        keep = max(1, int(_words(last.entry.text) * max(0.05, spare) / last.pcm.duration_s))
        words = last.entry.text.split()[:keep]
        text = re.sub(r"[,;:\-\u2014]+$", "", " ".join(words)).rstrip()
        if not text.endswith((".", "!", "?")):
            text += "."
        entry = ScriptEntry(last.entry.character, text)
        self.lines[-1] = Line(last.scene, entry, await self.speak(entry))


def _content_scenes(
    lines: Sequence[Line], spans: Sequence[tuple[int, int]], plan_scenes: Sequence[Any]
) -> list[dict[str, Any]]:
    """The read's scenes in order, each numbered like the plan scene of its title; a scene the
    writer added (a continuation) takes the next number nobody uses."""
    by_title = {str(s.get("title") or "").strip().lower(): s.get("index") for s in plan_scenes}
    used = {int(s["index"]) for s in plan_scenes if isinstance(s.get("index"), int)}
    scenes: list[dict[str, Any]] = []
    for i, (line, (start, end)) in enumerate(zip(lines, spans, strict=True)):
        if not scenes or scenes[-1]["title"] != line.scene:
            index = by_title.get(line.scene.strip().lower())
            if not isinstance(index, int):
                index = max(used, default=-1) + 1
                used.add(index)
            scenes.append({"index": index, "title": line.scene, "entries": []})
        scenes[-1]["entries"].append(
            {
                "entryIndex": i,
                "character": line.entry.character,
                "text": line.entry.text,
                "startMs": start,
                "endMs": end,
            }
        )
    return scenes


def _content_cast(cast: Sequence[CastMember], voices: Mapping[str, Voice]) -> list[dict[str, Any]]:
    roles = {c.name: c for c in cast}
    out = []
    for name, voice in voices.items():
        member = roles.get(name)
        out.append(
            {
                "name": name,
                "role": member.role if member else ("narrator" if name == NARRATOR else ""),
                "voiceDescription": (
                    member.voice if member and member.voice else voice.description
                ),
                "voice": voice.wire(),
            }
        )
    return out


async def _table_read(
    ctx: TaskContext, plan: Mapping[str, Any], artifact: Mapping[str, Any], seed: int
) -> dict[str, Any]:
    artifact_id = str(artifact["id"])
    if str(artifact.get("type") or "table_read") != "table_read":
        raise TaskError("artifact_generation_failed", f"cannot make a {artifact.get('type')}")
    mode = str(artifact.get("mode") or "documentary")
    policy = str(artifact.get("narrationPolicy") or "auto")
    narrated = _narrated(policy, mode)
    seconds = _seconds(artifact)
    cast = _cast(plan, narrated)
    if not cast:
        raise TaskError("artifact_generation_failed", "the plan has no cast to read the script")
    request = ScreenplayRequest(
        title=str(plan.get("title") or ""),
        logline=str(plan.get("logline") or ""),
        cast=tuple(cast),
        scenes=tuple(_scenes(plan, artifact)),
        mode=mode,
        narrated=narrated,
        words=round(seconds * WORDS_PER_SECOND),
        notes=str(artifact.get("notes") or ""),
        digests=_digests(plan),
        seed=seed,
    )
    reader = Reader(ctx, request, _fixed_voices(plan))
    await reader.fit(float(seconds))
    lines = reader.lines
    joined = join_lines([ln.pcm for ln in lines], [ln.entry.character for ln in lines])
    data = await asyncio.to_thread(pcm_to_mp3, joined.pcm)
    duration_ms = round(mp3_duration(data) * 1000)
    if abs(duration_ms / 1000 - seconds) > seconds * TOLERANCE:
        raise TaskError(
            "artifact_generation_failed",
            f"the read came out {duration_ms / 1000:.0f} s long for {seconds} s asked",
        )
    job = ctx.job
    path = read_path(job.id, artifact_id)
    await ctx.services.storage.put(job.account_id, path, data, "audio/mpeg", job_id=job.id)
    speakers = {ln.entry.character for ln in lines}
    voices = {
        n: v for n, v in reader.voices().items() if n in speakers or n in {c.name for c in cast}
    }
    return {
        "status": "READY",
        "type": "table_read",
        "title": request.title,
        "mode": mode,
        "narrationPolicy": policy,
        "durationSeconds": seconds,
        "cast": _content_cast(cast, voices),
        "scenes": _content_scenes(lines, joined.spans, plan.get("scenes") or ()),
        "audio": {"path": path, "durationMs": duration_ms, "contentType": "audio/mpeg"},
    }


async def _finished_before(ctx: TaskContext, wanted: set[str]) -> dict[str, Any]:
    """The artifacts this job's earlier run recorded ``READY`` whose read is still stored."""
    job = ctx.job
    kept: dict[str, Any] = {}
    progress = getattr(job, "progress", None) or {}
    for artifact_id, entry in (progress.get("artifacts") or {}).items():
        if artifact_id not in wanted or not isinstance(entry, Mapping):
            continue
        path = (entry.get("audio") or {}).get("path")
        if entry.get("status") != "READY" or not path:
            continue
        try:
            await ctx.services.storage.info(job.account_id, path)
        except NotFound:
            continue
        kept[artifact_id] = dict(entry)
    return kept


async def story_task(ctx: TaskContext) -> dict[str, Any]:
    """``sleeperhit.story``: params project_id, plan_id, plan (the envelope), artifacts, seed."""
    p = ctx.job.params
    plan: Mapping[str, Any] = p.get("plan") or {}
    artifacts: Sequence[Mapping[str, Any]] = p.get("artifacts") or ()
    seed = int(p.get("seed") or 0)
    # A resumed job keeps the reads an earlier run finished and makes only the rest.
    done = await _finished_before(ctx, {str(a["id"]) for a in artifacts})
    for i, artifact in enumerate(artifacts):
        artifact_id = str(artifact["id"])
        share = 90 // max(1, len(artifacts))
        if artifact_id in done:
            continue
        await ctx.progress(
            pct=5 + i * share,
            step="writing",
            message=f"Writing and voicing table read {i + 1} of {len(artifacts)}...",
            data={"artifacts": {**done, artifact_id: {"status": "RUNNING"}}},
        )
        done[artifact_id] = await _table_read(ctx, plan, artifact, seed)
        await ctx.progress(
            pct=5 + (i + 1) * share,
            step="voiced",
            message=f"Table read {i + 1} of {len(artifacts)} is ready.",
            data={"artifacts": dict(done)},
        )
    return {"artifacts": done}
