"""What a chat model is asked, and in which JSON shape it must answer.

Shared by every chat-model writer (llama.cpp in process, OpenAI-compatible servers), so a book
planned through Ollama and one planned through the bundled GGUF are asked the same things; the
answers are read by ``answers`` and repaired by ``repair``. The prompts are short and plain on
purpose: the default model has 135M parameters, and long instructions (or a schema spelled out
in full) make it describe its task instead of doing it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from workers.backends.base import StoryPlan, StoryRequest

__all__ = [
    "Messages",
    "age_words",
    "dialogue_messages",
    "dialogue_schema",
    "language_name",
    "outline_messages",
    "outline_schema",
    "page_messages",
    "plan_messages",
    "plan_schema",
    "prose_tokens",
    "rewrite_messages",
    "schema_text",
    "structured_tokens",
    "targets_messages",
    "targets_schema",
    "unit_noun",
]

Messages = list[dict[str, str]]

# Outline items asked for in one structured call: a 2k context holds the prompt, the schema and
# this many items with room to spare; longer books are planned in further batches.
OUTLINE_BATCH = 8
MAX_CAST = 3
SCHEMA_CAST = 2  # characters asked for in one answer; a third costs more than it adds

_AGES = {
    "0-3": "toddlers aged 0 to 3",
    "4-7": "children aged 4 to 7",
    "8-12": "readers aged 8 to 12",
}
_PAGE_LENGTH = {
    "0-3": "two or three very short, simple sentences",
    "4-7": "three or four short sentences",
    "8-12": "four to six sentences",
}
# Completion budgets for free-form prose, in tokens: room for the asked length plus a margin,
# since the text is cut back to its last full sentence afterwards.
_PAGE_TOKENS = {"0-3": 70, "4-7": 120, "8-12": 180}
_FORMAT_TOKENS = {"comic": 80, "chapter_comic": 280, "novel": 800}


def _text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


def _strings(max_length: int, low: int, high: int) -> dict[str, Any]:
    return {"type": "array", "items": _text(max_length), "minItems": low, "maxItems": high}


def _object(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


_CHARACTER = _object(
    name=_text(16),
    species=_text(20),
    colors=_strings(12, 1, 2),
    clothing=_text(30),
    trait=_text(20),
)
# Outline items carry no cast or place: small models fill those with noise, so the cast is read
# from the names in the summary and the place is the book's setting.
_ITEM = _object(title=_text(40), summary=_text(120))


def _items(count: int) -> dict[str, Any]:
    return {"type": "array", "items": _ITEM, "minItems": count, "maxItems": count}


def plan_schema(items: int) -> dict[str, Any]:
    return _object(
        title=_text(50),
        characters={"type": "array", "items": _CHARACTER, "minItems": 1, "maxItems": SCHEMA_CAST},
        setting=_text(50),
        moral=_text(80),
        summary=_text(140),
        outline=_items(items),
    )


def outline_schema(items: int) -> dict[str, Any]:
    return _object(outline=_items(items))


def dialogue_schema(count: int, speakers: Sequence[str]) -> dict[str, Any]:
    speaker: dict[str, Any] = {"type": "string", "enum": list(speakers)} if speakers else _text(24)
    line = _object(speaker=speaker, line=_text(90))
    return _object(lines={"type": "array", "items": line, "minItems": count, "maxItems": count})


def targets_schema(pages: int) -> dict[str, Any]:
    number = {"type": "integer", "minimum": 1, "maximum": max(1, pages)}
    return _object(pages={"type": "array", "items": number, "minItems": 1, "maxItems": pages})


def schema_text(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, separators=(",", ":"))


def structured_tokens(items: int, per_item: int, base: int) -> int:
    """A completion budget for a JSON answer of ``items`` list entries."""
    return base + per_item * max(1, items)


# -- wording -----------------------------------------------------------------------------------


def language_name(language: str) -> str:
    return language.strip().replace("_", " ").title() or "English"


def age_words(request: StoryRequest) -> str:
    return _AGES.get(request.age_range, _AGES["4-7"])


def unit_noun(request: StoryRequest) -> str:
    return "chapter" if request.format in ("novel", "chapter_comic") else "page"


def _book_noun(request: StoryRequest) -> str:
    return {
        "picture": "picture book",
        "storybook": "illustrated storybook",
        "comic": "comic book",
        "chapter_comic": "comic book in chapters",
        "novel": "short novel",
    }.get(request.format, "story book")


def _length(request: StoryRequest) -> str:
    if request.format == "novel":
        return "a chapter of four or five paragraphs"
    if request.format == "chapter_comic":
        return "a short chapter of six to eight sentences"
    if request.format == "comic":
        return "one or two short sentences of narration"
    return _PAGE_LENGTH.get(request.age_range, _PAGE_LENGTH["4-7"])


def prose_tokens(request: StoryRequest) -> int:
    return _FORMAT_TOKENS.get(request.format) or _PAGE_TOKENS.get(request.age_range, 120)


def _system(request: StoryRequest) -> dict[str, str]:
    return {
        "role": "system",
        "content": (
            f"You are the author of a {_book_noun(request)} for {age_words(request)}. You "
            f"write in {language_name(request.language)}."
        ),
    }


def _json_system(role: str) -> dict[str, str]:
    return {"role": "system", "content": f"You are {role}. You answer with one JSON object."}


def _who(plan: StoryPlan) -> str:
    """ "Milo the raccoon and Hazel the fox": how a small model best remembers the cast."""
    names = [f"{c.name} the {c.species}" for c in plan.characters]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _ask(text: str, schema: Mapping[str, Any] | None, problems: Sequence[str]) -> dict[str, str]:
    """The user turn of a structured step.

    The schema is spelled out only for servers that cannot enforce it; where the model is held
    to it by a grammar, those tokens would only crowd a small context.
    """
    if schema is not None:
        text += f"\nThe JSON must match this JSON schema: {schema_text(schema)}"
    if problems:
        text += (
            "\nYour previous answer was not usable: "
            + "; ".join(problems)
            + ". Answer again with ONLY the JSON object, every field filled in."
        )
    return {"role": "user", "content": text}


# -- structured steps --------------------------------------------------------------------------


def plan_messages(
    request: StoryRequest,
    items: int,
    schema: Mapping[str, Any] | None,
    problems: Sequence[str] = (),
) -> Messages:
    noun = unit_noun(request)
    ask = (
        f"Plan a {_book_noun(request)} of {request.units} {noun}s for {age_words(request)}, "
        f"with a {request.tone.replace('_', ' ')} tone.\nIdea: {request.prompt.strip()}\n"
        "Give a title; the main characters, each with a name, a species, colours, clothing and "
        "a personality trait; the setting; the moral; a one-sentence summary; and an outline "
        f"with one item for each of the first {items} {noun}s: a short title and one sentence "
        f"saying what happens. Write in {language_name(request.language)}. Answer in JSON."
    )
    return [_json_system("a children's book planner"), _ask(ask, schema, problems)]


def outline_messages(
    request: StoryRequest,
    plan: StoryPlan,
    start: int,
    items: int,
    schema: Mapping[str, Any] | None,
    problems: Sequence[str] = (),
) -> Messages:
    noun = unit_noun(request)
    before = plan.outline[max(0, start - 2) : start]
    so_far = " ".join(f"{noun.title()} {o.index + 1}: {o.summary}" for o in before)
    ending = " The last one is the happy ending." if start + items == request.units else ""
    ask = (
        f'Continue the outline of "{plan.title}", a {_book_noun(request)} about {_who(plan)} '
        f"in {request.units} {noun}s.\nSo far: {so_far}\nGive one item for each of {noun}s "
        f"{start + 1} to {start + items}: a short title and one sentence saying what "
        f"happens.{ending} Write in {language_name(request.language)}. Answer in JSON."
    )
    return [_json_system("a children's book planner"), _ask(ask, schema, problems)]


def dialogue_messages(
    request: StoryRequest,
    plan: StoryPlan,
    index: int,
    count: int,
    schema: Mapping[str, Any] | None,
    problems: Sequence[str] = (),
) -> Messages:
    item = plan.outline[index] if 0 <= index < len(plan.outline) else None
    scene = item.summary if item else plan.summary
    ask = (
        f'Comic "{plan.title}" about {_who(plan)}, page {index + 1}: {scene}\n'
        f"Write {count} speech bubbles for this page, one per panel: who speaks and the few "
        f"words they say out loud, in {language_name(request.language)}. Answer in JSON."
    )
    return [_json_system("a comic book writer"), _ask(ask, schema, problems)]


def targets_messages(
    request: StoryRequest,
    pages: Sequence[str],
    instruction: str,
    schema: Mapping[str, Any] | None,
    problems: Sequence[str] = (),
) -> Messages:
    noun = unit_noun(request)
    listing = "\n".join(f"{noun.title()} {i + 1}: {_clip(t, 140)}" for i, t in enumerate(pages))
    ask = (
        f"{listing}\nA reader asked for this change: {instruction.strip()}\n"
        f"Which {noun} numbers must be rewritten for this change? Answer in JSON."
    )
    return [_json_system("a book editor"), _ask(ask, schema, problems)]


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


# -- free-form prose ---------------------------------------------------------------------------


def page_messages(
    request: StoryRequest, plan: StoryPlan, index: int, previous: Sequence[str]
) -> Messages:
    """A page asked for as the next turn of a conversation that wrote the page before.

    Small models keep to the story far better when the previous page is their own earlier
    answer than when it is quoted back inside an instruction.
    """
    noun, length = unit_noun(request), _length(request)
    item = plan.outline[index] if 0 <= index < len(plan.outline) else None
    happens = item.summary if item else plan.summary
    ending = " End the story happily." if index + 1 == request.units and index > 0 else ""
    book = f'"{plan.title}", a {_book_noun(request)} about {_who(plan)}'
    last = previous[-1].strip() if previous else ""
    if index == 0 or not last:
        ask = f"Write {noun} {index + 1} of {book}, in {length}: {happens}{ending}"
        return [_system(request), {"role": "user", "content": ask}]
    before = plan.outline[index - 1].summary if index - 1 < len(plan.outline) else plan.summary
    limit = 900 if request.format == "novel" else 600
    return [
        _system(request),
        {"role": "user", "content": f"Write {noun} {index} of {book}, in {length}: {before}"},
        {"role": "assistant", "content": _tail(last, limit)},
        {"role": "user", "content": f"Write the next {noun}, in {length}: {happens}{ending}"},
    ]


def rewrite_messages(
    request: StoryRequest, plan: StoryPlan, index: int, text: str, instruction: str
) -> Messages:
    noun = unit_noun(request)
    ask = (
        f'Here is {noun} {index + 1} of "{plan.title}", a {_book_noun(request)} about '
        f"{_who(plan)}:\n{text.strip()}\n\nRewrite this {noun} so that: "
        f"{instruction.strip()}\nWrite {_length(request)} in "
        f"{language_name(request.language)}. Write only the new {noun}."
    )
    return [_system(request), {"role": "user", "content": ask}]


def _tail(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:].split(" ", 1)[-1]
