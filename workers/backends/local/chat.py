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
from workers.backends.instant.story import build_plan
from workers.backends.instant.writer import InstantWriter
from workers.backends.local.answers import (
    dialogue_problems,
    load_json,
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
    Messages,
    dialogue_messages,
    dialogue_schema,
    max_words,
    page_messages,
    prose_tokens,
    rewrite_messages,
    structured_tokens,
    targets_messages,
    targets_schema,
    unit_noun,
)
from workers.backends.local.prose import Prose, clean_prose, full_sentences, sentences_of
from workers.backends.local.repair import repair_dialogue
from workers.backends.page_check import keep_to_bible, page_problems
from workers.backends.premise import opening_line, premise_of

__all__ = ["ChatWriter", "Completion"]

log = logging.getLogger(__name__)

STRUCTURED_TEMPERATURE = 0.3
RETRY_TEMPERATURE = 0.1
# A page the model wrote off the bible is asked for once more, then the beat's own page is
# used: a third try rarely rescues a page and costs as much as writing one.
PAGE_ATTEMPTS = 2
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
        # The beat's templated page, for a page the model could not keep to the plan.
        self._fallback = InstantWriter()

    @property
    def tokens_per_second(self) -> float:
        if self.generation_seconds <= 0:
            return 0.0
        return self.tokens_generated / self.generation_seconds

    @abstractmethod
    def capability(self) -> Capability: ...

    def _ready(self) -> None:
        """Raise where the model cannot run, so a book fails before any page is asked for."""
        return None

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
        """The prompt's own analysis, not the model, decides the story's bones.

        Who is in it, where, what happens on each page and the title come from the premise
        (``instant.story.build_plan``): a 135M model asked for that structure forgets the
        prompt (a lighthouse keeper became a girl with a lion) and spent half a book's time
        doing it under a grammar. The model writes the pages, held to this plan.
        """
        self._ready()
        return build_plan(request)

    async def write(
        self, request: StoryRequest, plan: StoryPlan, index: int, previous: Sequence[str]
    ) -> str:
        """The page as the model writes it, checked against the bible; asked again with what
        was wrong, then the beat's own templated page, so no page is ever empty or adrift."""
        if not 0 <= index < request.units:
            raise IndexError(f"unit {index} is outside a {request.units}-unit book")
        # Page one opens by telling the prompt back; the model never sees that line, or it
        # opens every later page the same way.
        opening = opening_line(premise_of(request.prompt, request.language), request.language)
        told = [p.removeprefix(opening).strip() if opening else p for p in previous]
        limit = max_words(request)
        problems: list[str] = []
        for attempt in range(PAGE_ATTEMPTS):
            messages = page_messages(request, plan, index, told, problems)
            prose = await self._prose(request, messages, told[-2:], ("write", index, attempt))
            text = keep_to_bible(prose.text, plan, limit) if _good(prose, request) else ""
            text = _without_retelling(text, opening)
            if not full_sentences(text) or len(sentences_of(text)) < _min_sentences(request):
                problems = ["write whole sentences that tell the story"]
            else:
                problems = page_problems(
                    text, plan=plan, index=index, previous=told, max_words=limit
                )
            if not problems:
                return f"{opening} {text}".strip() if index == 0 else text
            log.debug("page %d, try %d: %s", index + 1, attempt + 1, problems)
        log.debug("page %d kept to its beat's templated text: %s", index + 1, problems)
        return await self._fallback.write(request, plan, index, previous)

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


def _without_retelling(text: str, opening: str) -> str:
    """``text`` without sentences that start the way the book's opening line does ("This is
    the story of..."): a model that saw page one tends to open every page so."""
    lead = " ".join(opening.split()[:4]).lower()
    if not lead:
        return text
    kept = (
        " ".join(s for s in sentences_of(part) if not s.lower().startswith(lead))
        for part in text.split("\n\n")
    )
    return "\n\n".join(p for p in kept if p)


def _min_sentences(request: StoryRequest) -> int:
    return _MIN_SENTENCES.get(request.format, 2)


def _good(prose: Prose, request: StoryRequest) -> bool:
    return (
        prose.usable
        and not prose.looped
        and prose.kept >= _min_sentences(request)
        and bool(full_sentences(prose.text))
    )
