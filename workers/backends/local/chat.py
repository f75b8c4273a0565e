"""A StoryWriter over any chat-completion model: the shared half of the local text backends.

Subclasses only say how one chat completion is obtained (llama.cpp in process, or an
OpenAI-compatible server); planning, prose, dialogue and edits are decided here once, so every
model is asked the same things and its answers are repaired the same way.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from workers.backends.base import Capability, StoryPlan, StoryRequest, stable_seed
from workers.backends.local.answers import (
    dialogue_problems,
    load_json,
    outline_problems,
    plan_problems,
    targets_of,
)
from workers.backends.local.editing import (
    clear_keyword_page,
    keyword_pages,
    page_list,
    rename_of,
    renamed,
    rule_targets,
)
from workers.backends.local.prompts import (
    OUTLINE_BATCH,
    Messages,
    dialogue_messages,
    dialogue_schema,
    outline_messages,
    outline_schema,
    page_messages,
    plan_messages,
    plan_schema,
    prose_tokens,
    rewrite_messages,
    structured_tokens,
    targets_messages,
    targets_schema,
    unit_noun,
)
from workers.backends.local.prose import Prose, clean_prose, full_sentences
from workers.backends.local.repair import repair_dialogue, repair_header, repair_outline

__all__ = ["ChatWriter", "Completion"]

log = logging.getLogger(__name__)

STRUCTURED_TEMPERATURE = 0.3
RETRY_TEMPERATURE = 0.1
PROSE_ATTEMPTS = 3
REWRITE_ATTEMPTS = 2
# Above this many pages the page listing no longer fits a small context; the rules and word
# overlap choose the pages instead of the model.
MODEL_TARGETING_PAGES = 16
_MIN_SENTENCES = {"comic": 1, "picture": 2, "storybook": 2, "chapter_comic": 3, "novel": 6}


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    tokens: int  # completion tokens the model generated
    truncated: bool = False  # stopped by max_tokens
    # Time spent generating, where the backend can tell it apart from waiting for its turn.
    seconds: float | None = None


class ChatWriter(ABC):
    """Plans, writes, voices and edits books through ``_complete``; counts what it generates.

    ``prose_tokens`` and ``plan_tokens`` cap the completion budgets (the defaults suit each
    format and age band); ``seed_base`` shifts every seed, so one request can be written anew.
    """

    name = "chat"
    # Whether structured prompts spell out their JSON schema: needed where the server cannot
    # be held to it, wasted context where a grammar already enforces it.
    schema_in_prompt = True

    def __init__(
        self,
        *,
        prose_tokens: int | None = None,
        plan_tokens: int | None = None,
        temperature: float = 0.8,
        seed_base: int = 0,
    ) -> None:
        self._prose_cap = prose_tokens
        self._plan_cap = plan_tokens
        self._temperature = temperature
        self._seed_base = seed_base
        # What the model produced so far in this process, for benchmarks (tokens/s).
        self.tokens_generated = 0
        self.generation_seconds = 0.0
        self.completions = 0

    @property
    def tokens_per_second(self) -> float:
        if self.generation_seconds <= 0:
            return 0.0
        return self.tokens_generated / self.generation_seconds

    @abstractmethod
    def capability(self) -> Capability: ...

    @abstractmethod
    async def _complete(
        self,
        messages: Messages,
        *,
        max_tokens: int,
        temperature: float,
        seed: int,
        schema: Mapping[str, Any] | None,
    ) -> Completion: ...

    # -- plumbing ------------------------------------------------------------------------------

    async def _call(
        self,
        messages: Messages,
        *,
        max_tokens: int,
        temperature: float,
        seed: int,
        schema: Mapping[str, Any] | None = None,
    ) -> Completion:
        started = time.perf_counter()
        reply = await self._complete(
            messages, max_tokens=max_tokens, temperature=temperature, seed=seed, schema=schema
        )
        spent = reply.seconds if reply.seconds is not None else time.perf_counter() - started
        self.generation_seconds += spent
        self.tokens_generated += reply.tokens
        self.completions += 1
        log.debug(
            "%s completion: %d tokens in %.2f s%s%s",
            self.name,
            reply.tokens,
            spent,
            " (json)" if schema is not None else "",
            " (cut at max_tokens)" if reply.truncated else "",
        )
        return reply

    def _seed(self, request: StoryRequest, *parts: object) -> int:
        # 31 bits: llama.cpp and most servers take a 32-bit seed.
        return stable_seed("local-text", self._seed_base, request.seed, *parts) & 0x7FFFFFFF

    def _shown(self, schema: Mapping[str, Any]) -> Mapping[str, Any] | None:
        return schema if self.schema_in_prompt else None

    def _budget(self, wanted: int, cap: int | None) -> int:
        return max(16, min(wanted, cap) if cap else wanted)

    async def _structured(
        self,
        build: Callable[[Sequence[str]], Messages],
        schema: Mapping[str, Any],
        check: Callable[[dict[str, Any] | None], list[str]],
        *,
        max_tokens: int,
        seed: int,
    ) -> dict[str, Any] | None:
        """Ask for JSON; once more, stricter and cooler, if it fails ``check``; best answer wins.

        An answer cut short by the token budget is not asked again. What comes back may still
        be imperfect: callers repair it rather than fail the book.
        """
        problems: list[str] = []
        best: tuple[int, dict[str, Any]] | None = None
        for attempt in range(2):
            reply = await self._call(
                build(problems),
                max_tokens=max_tokens,
                temperature=STRUCTURED_TEMPERATURE if attempt == 0 else RETRY_TEMPERATURE,
                seed=seed + attempt,
                schema=schema,
            )
            data = load_json(reply.text)
            problems = check(data)
            if not problems:
                return data
            if data is not None and (best is None or len(problems) < best[0]):
                best = (len(problems), data)
            if reply.truncated:
                break  # the budget ran out, not the model's manners: asking again costs as much
        return best[1] if best else None

    async def ask_json(
        self,
        build: Callable[[Mapping[str, Any] | None, Sequence[str]], Messages],
        schema: Mapping[str, Any],
        check: Callable[[dict[str, Any] | None], list[str]],
        *,
        max_tokens: int,
        seed: int,
    ) -> dict[str, Any] | None:
        """``_structured`` for the other contracts this model serves (SleeperHit's scripts).

        ``build`` gets the schema to spell out (None where a grammar enforces it) and the
        problems of the previous answer; ``seed`` is shifted by this writer's ``seed_base``.
        """
        shown = self._shown(schema)
        return await self._structured(
            lambda problems: build(shown, problems),
            schema,
            check,
            max_tokens=max(16, max_tokens),
            seed=stable_seed("local-script", self._seed_base, seed) & 0x7FFFFFFF,
        )

    # -- StoryWriter ---------------------------------------------------------------------------

    async def plan(self, request: StoryRequest) -> StoryPlan:
        units = request.units
        first = min(units, OUTLINE_BATCH)
        schema = plan_schema(first)
        data = await self._structured(
            partial(plan_messages, request, first, self._shown(schema)),
            schema,
            partial(plan_problems, items=first),
            max_tokens=self._budget(structured_tokens(first, 75, 220), self._plan_cap),
            seed=self._seed(request, "plan"),
        )
        header = repair_header(data, request)
        entries = _outline_of(data, first)
        while len(entries) < units:
            start, count = len(entries), min(OUTLINE_BATCH, units - len(entries))
            so_far = repair_outline(header, entries, request)
            schema = outline_schema(count)
            more = await self._structured(
                partial(outline_messages, request, so_far, start, count, self._shown(schema)),
                schema,
                partial(outline_problems, items=count),
                max_tokens=self._budget(structured_tokens(count, 75, 40), self._plan_cap),
                seed=self._seed(request, "outline", start),
            )
            entries += _outline_of(more, count)
        return repair_outline(header, entries, request)

    async def write(
        self, request: StoryRequest, plan: StoryPlan, index: int, previous: Sequence[str]
    ) -> str:
        if not 0 <= index < request.units:
            raise IndexError(f"unit {index} is outside a {request.units}-unit book")
        messages = page_messages(request, plan, index, previous)
        names = [c.name for c in plan.characters]
        best: tuple[tuple[bool, bool, int], Prose] | None = None
        for attempt in range(PROSE_ATTEMPTS):
            prose = await self._prose(request, messages, previous[-2:], ("write", index, attempt))
            good, named = _good(prose, request), _names_anyone(prose.text, names)
            # A page about someone else (small models invent people) gets one more try.
            if good and (named or attempt > 0):
                return prose.text
            score = (good, named, prose.kept)
            if best is None or score > best[0]:
                best = (score, prose)
        if best is not None and best[1].kept:
            return best[1].text
        return _fallback_text(plan, index)

    async def dialogue(
        self, request: StoryRequest, plan: StoryPlan, index: int, panels: int
    ) -> list[str]:
        if panels <= 0:
            return []
        schema = dialogue_schema(panels, [c.name for c in plan.characters])
        data = await self._structured(
            partial(dialogue_messages, request, plan, index, panels, self._shown(schema)),
            schema,
            partial(dialogue_problems, count=panels),
            max_tokens=self._budget(structured_tokens(panels, 35, 20), self._plan_cap),
            seed=self._seed(request, "dialogue", index),
        )
        return repair_dialogue(data, request, plan, index, panels)

    async def edit(
        self, request: StoryRequest, plan: StoryPlan, pages: Sequence[str], instruction: str
    ) -> tuple[str, dict[int, str]]:
        noun = unit_noun(request)
        if not pages:
            return f"There is no {noun} to change yet.", {}
        rename = rename_of(instruction, plan)
        if rename is not None:
            changes = renamed(pages, *rename)
            if changes:
                where = page_list(list(changes), noun)
                return f"I renamed {rename[0]} to {rename[1]} on {where}.", changes
        # Exact references first, then a page the instruction plainly points at by its words;
        # only what neither can place is left to the model's judgement.
        targets = rule_targets(instruction, pages, plan)
        if targets is None:
            targets = clear_keyword_page(instruction, pages)
        if targets is None:
            targets = await self._model_targets(request, pages, instruction)
        changes = {}
        for index in targets:
            text = await self._rewrite(request, plan, pages, index, instruction)
            if text:
                changes[index] = text
        if not changes:
            return f"I could not find a way to make that change to {page_list(targets, noun)}.", {}
        return f"I rewrote {page_list(list(changes), noun)} as you asked.", changes

    # -- helpers -------------------------------------------------------------------------------

    async def _prose(
        self,
        request: StoryRequest,
        messages: Messages,
        before: Sequence[str],
        purpose: tuple[object, ...],
    ) -> Prose:
        reply = await self._call(
            messages,
            max_tokens=self._budget(prose_tokens(request), self._prose_cap),
            temperature=self._temperature,
            seed=self._seed(request, *purpose),
        )
        return clean_prose(reply.text, before=before, paragraphs=request.format == "novel")

    async def _model_targets(
        self, request: StoryRequest, pages: Sequence[str], instruction: str
    ) -> list[int]:
        n = len(pages)
        if n > MODEL_TARGETING_PAGES:
            return keyword_pages(instruction, pages)
        schema = targets_schema(n)

        def check(data: dict[str, Any] | None) -> list[str]:
            return [] if targets_of(data, n) else [f"give page numbers between 1 and {n}"]

        data = await self._structured(
            partial(targets_messages, request, pages, instruction, self._shown(schema)),
            schema,
            check,
            max_tokens=self._budget(structured_tokens(n, 4, 16), self._plan_cap),
            seed=self._seed(request, "targets", instruction),
        )
        return targets_of(data, n) or keyword_pages(instruction, pages)

    async def _rewrite(
        self,
        request: StoryRequest,
        plan: StoryPlan,
        pages: Sequence[str],
        index: int,
        instruction: str,
    ) -> str:
        """The page rewritten, or "" when the model gave nothing new and usable."""
        messages = rewrite_messages(request, plan, index, pages[index], instruction)
        others = [p for i, p in enumerate(pages) if i != index and abs(i - index) == 1]
        for attempt in range(REWRITE_ATTEMPTS):
            purpose = ("edit", index, instruction, attempt)
            prose = await self._prose(request, messages, others, purpose)
            if prose.usable and prose.text.strip() != pages[index].strip():
                return prose.text
        return ""


def _outline_of(data: Mapping[str, Any] | None, count: int) -> list[Any]:
    """Exactly ``count`` raw outline entries (None where the model gave none)."""
    got = (data or {}).get("outline")
    entries = list(got[:count]) if isinstance(got, list) else []
    return entries + [None] * (count - len(entries))


def _good(prose: Prose, request: StoryRequest) -> bool:
    return (
        prose.usable
        and not prose.looped
        and prose.kept >= _MIN_SENTENCES.get(request.format, 2)
        and bool(full_sentences(prose.text))
    )


def _names_anyone(text: str, names: Sequence[str]) -> bool:
    low = text.lower()
    return any(name.lower() in low for name in names)


def _fallback_text(plan: StoryPlan, index: int) -> str:
    """The outline's own sentence: a model that wrote nothing usable still leaves a story."""
    if 0 <= index < len(plan.outline):
        return plan.outline[index].summary
    return plan.summary
