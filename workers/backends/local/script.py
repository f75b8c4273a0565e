"""SleeperHit's script writer on a chat model: the same model object that writes the books.

The model is asked for JSON whose shape a grammar holds it to (a screenplay's speakers are an
``enum`` of the cast), but a 135M model still writes poor content inside that shape, so every
answer is checked against the source and the instant writer's material fills what fails: a
digest names only people the source names, a plan's cast is the sources' people, and a
screenplay reaches its word count with lines that are neither empty nor repeated.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from workers.backends.base import Capability, stable_seed
from workers.backends.instant.script import (
    InstantScriptWriter,
    clip,
    fill_scene,
    instant_plan,
    narrator_of,
    plan_mode,
    said,
    scene_quotas,
    trim_words,
)
from workers.backends.local.chat import ChatWriter
from workers.backends.local.prompts import Messages, schema_text
from workers.backends.local.script_repair import (
    alternated,
    invents,
    lexicon,
    lines_of,
    repair_digest,
    repair_plan,
    similar,
)
from workers.backends.people import digest_of, word_count
from workers.backends.scripts import (
    CoverageReport,
    CoverageRequest,
    Digest,
    PlanBrief,
    PlanDraft,
    Refined,
    RefineRequest,
    SceneOutline,
    Screenplay,
    ScreenplayRequest,
    ScriptEntry,
    ScriptScene,
)

__all__ = ["ChatScriptWriter"]

log = logging.getLogger(__name__)

# A source excerpt that leaves room in a 2048-token context for the prompt and the answer
# (about four characters a token).
SOURCE_CHARS = 2400
WORDS_PER_LINE = 14  # words in a line a small model writes, for how many lines to ask for
MAX_LINES = 8  # lines asked for in one answer
MIN_ASK = 12  # words left in a scene below which the model is not asked again


def _text(max_length: int, min_length: int = 1) -> dict[str, Any]:
    return {"type": "string", "minLength": min_length, "maxLength": max_length}


def _list(item: dict[str, Any], low: int, high: int) -> dict[str, Any]:
    return {"type": "array", "items": item, "minItems": low, "maxItems": high}


def _object(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


def _messages(
    role: str, ask: str, schema: Mapping[str, Any] | None, problems: Sequence[str]
) -> Messages:
    text = ask
    if schema is not None:
        text += f"\nThe JSON must match this JSON schema: {schema_text(schema)}"
    if problems:
        text += "\nYour previous answer was not usable: " + "; ".join(problems) + "."
    system = f"You are {role}. You answer with one JSON object."
    return [{"role": "system", "content": system}, {"role": "user", "content": text}]


def _excerpt(text: str, limit: int = SOURCE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


class ChatScriptWriter:
    """Digests, plans and screenplays from ``chat``'s model, repaired from the source."""

    def __init__(self, chat: ChatWriter) -> None:
        self.chat = chat
        self.name = chat.name
        self._instant = InstantScriptWriter()

    def capability(self) -> Capability:
        return self.chat.capability()

    def _known(self, request: ScreenplayRequest) -> set[str]:
        """Every word the request holds: a line naming anything else invented it."""
        digests = [
            " ".join((d.summary, *d.key_points, *d.quotes, *d.people, *d.places))
            for d in request.digests
        ]
        scenes = [f"{s.title} {s.summary}" for s in request.scenes]
        cast = [c.name for c in request.cast]
        return lexicon(request.title, request.logline, request.notes, *digests, *scenes, *cast)

    def _seed(self, *parts: object) -> int:
        return stable_seed("script", *parts) & 0x7FFFFFFF

    # -- digest ----------------------------------------------------------------------------

    async def digest(self, text: str, *, seed: int = 0) -> Digest:
        base = digest_of(text)
        if not text.strip():
            return base
        schema = _object(
            summary=_text(240, 20),
            keyPoints=_list(_text(120, 10), 1, 3),
            people=_list(_text(32), 0, 5),
            places=_list(_text(32), 0, 4),
        )
        ask = (
            f"Source:\n{_excerpt(text)}\n\nSummarise this source in one or two sentences, give "
            "its key points as short sentences, and list the people and the places it names. "
            "Answer in JSON."
        )
        data = await self.chat.ask_json(
            partial(_messages, "a research assistant", ask),
            schema,
            lambda d: [] if d and isinstance(d.get("summary"), str) else ["give a summary"],
            max_tokens=360,
            seed=self._seed("digest", seed, text[:200]),
        )
        return repair_digest(data or {}, text, base)

    # -- plan ------------------------------------------------------------------------------

    async def plan(self, brief: PlanBrief) -> PlanDraft:
        base = instant_plan(brief)
        names_ = [c.name for c in base.cast]
        scene = _object(
            title=_text(40), summary=_text(140, 10), characters=_list({"enum": names_}, 1, 3)
        )
        schema = _object(
            title=_text(60),
            logline=_text(140, 10),
            audiencePromise=_text(120, 10),
            beats=_list(_text(100, 10), 3, 4),
            scenes=_list(scene, 2, 3),
        )
        target = "; ".join(f"{k}: {clip(str(v), 120)}" for k, v in brief.target.items() if v)
        facts = " ".join(p for d in brief.digests for p in (d.summary, *d.key_points[:2]))
        cast = ", ".join(f"{c.name} ({c.role})" for c in base.cast)
        ask = (
            f"Plan a {plan_mode(brief.artifacts)[0]} table read"
            + (f' titled "{brief.title}"' if brief.title else "")
            + f".\nTarget: {target}\n"
            + (f"Brief: {clip(brief.creative_brief, 300)}\n" if brief.creative_brief else "")
            + f"Sources: {clip(facts, 900)}\nCast: {cast}\nGive a title, a one-sentence "
            "logline, what the audience will take away, the story beats, and the scenes with "
            "their characters. Answer in JSON."
        )
        data = await self.chat.ask_json(
            partial(_messages, "a story editor", ask),
            schema,
            lambda d: [] if d and d.get("beats") else ["give the beats"],
            # Most of what a small model adds past this is repaired away (docs: the plan call).
            max_tokens=300,
            seed=self._seed("plan", brief.seed, brief.title),
        )
        cast_names = " ".join(c.name for c in base.cast)
        known = lexicon(facts, target, brief.creative_brief, brief.title, cast_names)
        return repair_plan(data or {}, brief, base, known)

    # -- coverage --------------------------------------------------------------------------

    async def coverage(self, request: CoverageRequest) -> CoverageReport:
        # Imported here: coverage is its own module (its grammar and its repairs).
        from workers.backends.local.coverage import chat_coverage

        return await chat_coverage(self.chat, request, self._seed("coverage", request.seed))

    # -- refine ----------------------------------------------------------------------------

    async def refine(self, request: RefineRequest) -> Refined:
        # Imported here: the refine is its own module (the rules it keeps, the model's words).
        from workers.backends.local.refining import chat_refine

        return await chat_refine(self.chat, request, self._seed("refine", request.seed))

    # -- screenplay ------------------------------------------------------------------------

    async def screenplay(self, request: ScreenplayRequest) -> Screenplay:
        narrator = narrator_of(request.cast, request.narrated)
        allowed = [
            c.name
            for c in request.cast
            if request.narrated or (c.role != "narrator" and c.name != "NARRATOR")
        ]
        if not allowed:
            return await self._instant.screenplay(request)
        used = {said(e.text) for e in request.so_far}
        history = list(request.so_far)
        if request.so_far:
            last = request.scenes[-1] if request.scenes else SceneOutline(request.title, "")
            plan = [(SceneOutline(f"{last.title} (continued)", "", last.characters), False)]
            done = sum(word_count(e.text) for e in request.so_far)
            quotas = [max(request.words - done, 12)]
        else:
            outlines = request.scenes or (SceneOutline(request.title, request.logline),)
            quotas = scene_quotas(request.words, len(outlines))
            plan = [(o, True) for o in outlines[: len(quotas)]]
        scenes, owed = [], 0
        for index, ((outline, opening), quota) in enumerate(zip(plan, quotas, strict=False)):
            words = quota + owed
            entries: list[ScriptEntry] = []
            if narrator and opening and word_count(outline.summary) >= 3:
                entries.append(ScriptEntry(narrator, trim_words(outline.summary, words)))
                used.add(said(outline.summary))
            before, spoken = [*history, *entries], sum(word_count(e.text) for e in entries)
            entries += await self._scene(
                request, outline, index, words - spoken, allowed, used, before
            )
            got = sum(word_count(e.text) for e in entries)
            if words - got >= 5:
                log.debug(
                    "%s: %d words short in a scene; instant lines fill it", self.name, words - got
                )
                entries += fill_scene(request, outline, words - got, used, len(history), False)
            owed = words - sum(word_count(e.text) for e in entries)
            history += entries
            if entries:
                scenes.append(ScriptScene(outline.title, tuple(alternated(entries, allowed))))
        return Screenplay(tuple(scenes))

    async def _scene(
        self,
        request: ScreenplayRequest,
        scene: SceneOutline,
        index: int,
        words: int,
        allowed: Sequence[str],
        used: set[str],
        history: Sequence[ScriptEntry],
    ) -> list[ScriptEntry]:
        """The model's lines for one scene, at most two answers, only the usable ones kept."""
        kept: list[ScriptEntry] = []
        total, slack = 0, max(2, words // 10)
        known = self._known(request)
        for attempt in range(2):
            left = words - total
            count = min(MAX_LINES, max(2, math.ceil(left / WORDS_PER_LINE)))
            if left < MIN_ASK:
                break
            line = _object(character={"enum": list(allowed)}, text=_text(200, 8))
            schema = _object(lines=_list(line, count, count))
            ask = _scene_ask(request, scene, count, [*history, *kept][-2:])
            data = await self.chat.ask_json(
                partial(_messages, "a script writer", ask),
                schema,
                lambda d: [] if d and d.get("lines") else ["give the lines"],
                max_tokens=count * 60 + 24,
                seed=self._seed("scene", request.seed, request.title, index, attempt, total),
            )
            fresh = 0
            earlier = [e.text for e in (*history, *kept)]
            for entry in lines_of(data, allowed):
                if total >= words - 4:
                    break
                if said(entry.text) in used or invents(entry.text, known):
                    continue
                if any(similar(entry.text, t) for t in earlier):
                    continue
                text = entry.text
                if total + word_count(text) > words + slack:
                    if words - total < 12:
                        break
                    text = trim_words(text, words - total)
                used.add(said(text))
                kept.append(ScriptEntry(entry.character, text))
                total += word_count(text)
                fresh += 1
            if fresh < count / 2:  # a poor answer is not worth asking for again
                break
        return kept


def _scene_ask(
    request: ScreenplayRequest, scene: SceneOutline, count: int, before: Sequence[ScriptEntry]
) -> str:
    roles = ", ".join(f"{c.name} ({c.role})" for c in request.cast)
    facts = " ".join(p for d in request.digests for p in d.key_points[:3])
    so_far = " ".join(f"{e.character}: {clip(e.text, 120)}" for e in before)
    return (
        f'"{request.title}", a {request.mode} table read. {clip(request.logline, 200)}\n'
        f"Cast: {roles}\n"
        + (f"Facts: {clip(facts, 700)}\n" if facts else "")
        + f"Scene: {scene.title}. {clip(scene.summary, 240)}\n"
        + (f"So far: {so_far}\n" if so_far else "")
        + f"Write the next {count} lines: who speaks, and the one or two sentences they say "
        "out loud. Answer in JSON."
    )
