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

from workers.backends.base import Character, OutlineItem, StoryPlan, StoryRequest

__all__ = [
    "Messages",
    "age_words",
    "dialogue_messages",
    "dialogue_schema",
    "language_name",
    "max_words",
    "page_messages",
    "prose_tokens",
    "rewrite_messages",
    "schema_text",
    "structured_tokens",
    "targets_messages",
    "targets_schema",
    "unit_noun",
]

Messages = list[dict[str, str]]

_AGES = {
    "0-3": "toddlers aged 0 to 3",
    "4-7": "children aged 4 to 7",
    "8-12": "readers aged 8 to 12",
}
_PAGE_LENGTH = {
    "0-3": "two or three very short, simple sentences",
    "4-7": "two or three short sentences",
    "8-12": "four to six sentences",
}
# Completion budgets for free-form prose, in tokens: room for the asked length plus a margin,
# since the text is cut back to its last full sentence afterwards.
_PAGE_TOKENS = {"0-3": 50, "4-7": 75, "8-12": 160}
_FORMAT_TOKENS = {"comic": 80, "chapter_comic": 280, "novel": 800}
# The most words a page keeps (whole sentences, cut after the last that fits): a little over
# the asked length, what a reader of that age sits through on one page.
_PAGE_WORDS = {"0-3": 30, "4-7": 50, "8-12": 110}
_FORMAT_WORDS = {"comic": 45, "chapter_comic": 220, "novel": 650}


def _text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


def _object(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


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


def max_words(request: StoryRequest) -> int:
    return _FORMAT_WORDS.get(request.format) or _PAGE_WORDS.get(request.age_range, 80)


def prose_tokens(request: StoryRequest) -> int:
    return _FORMAT_TOKENS.get(request.format) or _PAGE_TOKENS.get(request.age_range, 120)


def _system(request: StoryRequest, book: str = "") -> dict[str, str]:
    what = book or f"a {_book_noun(request)}"
    return {
        "role": "system",
        "content": (
            f"You are the author of {what}, for {age_words(request)}. You write in "
            f"{language_name(request.language)}."
        ),
    }


def _json_system(role: str) -> dict[str, str]:
    return {"role": "system", "content": f"You are {role}. You answer with one JSON object."}


def _called(c: Character) -> str:
    return f"{c.name} the {c.role or c.species}"


def _who(plan: StoryPlan, names: Sequence[str] = ()) -> str:
    """ "Theo the lighthouse keeper and Bubbles the whale": how a small model best remembers
    the cast (``names``: only these, in the plan's order)."""
    cast = [c for c in plan.characters if not names or c.name in names] or plan.characters[:1]
    called = [_called(c) for c in cast]
    return called[0] if len(called) == 1 else ", ".join(called[:-1]) + " and " + called[-1]


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


def _scene(plan: StoryPlan, item: OutlineItem | None) -> str:
    """Where the page happens and what the weather does, in the plan's own words."""
    place = plan.place or plan.setting
    if item and item.setting and item.setting != plan.setting:
        place = f"the {item.setting}"
    weather = {
        "storm": " during the storm",
        "rain": " in the rain",
        "snow": " in the snow",
        "wind": " in the wind",
        "fog": " in the fog",
    }.get(item.weather if item else "", "")
    time = {"night": " at night", "dusk": " at sunset"}.get(item.time if item else "", "")
    return f"{place}{weather}{time}"


def page_messages(
    request: StoryRequest,
    plan: StoryPlan,
    index: int,
    previous: Sequence[str],
    problems: Sequence[str] = (),
) -> Messages:
    """A page asked for as the next turn of a conversation that wrote the page before.

    The page's characters, place, weather and beat are named in every ask, from the bible, so
    the model writes this story rather than one it half remembers. Small models keep to the
    story far better when the previous page is their own earlier answer than when it is quoted
    back inside an instruction.
    """
    noun, length = unit_noun(request), _length(request)
    item = plan.outline[index] if 0 <= index < len(plan.outline) else None
    happens = item.summary if item else plan.summary
    who = _who(plan, item.characters if item else ())
    ending = " End the story happily." if index + 1 == request.units and index > 0 else ""
    fix = (" Your last try was not usable: " + "; ".join(problems) + ".") if problems else ""
    ask = (
        f"Write {noun} {index + 1} of {length}. Characters: {who}. Place: "
        f"{_scene(plan, item)}. What happens: {happens}{ending} Use no other names.{fix}"
    )
    book = f'"{plan.title}", a {_book_noun(request)} about {_who(plan)}'
    last = previous[-1].strip() if previous else ""
    if index == 0 or not last:
        return [_system(request, book), {"role": "user", "content": ask}]
    before = plan.outline[index - 1].summary if index - 1 < len(plan.outline) else plan.summary
    limit = 900 if request.format == "novel" else 600
    return [
        _system(request, book),
        {"role": "user", "content": f"Write {noun} {index} of {length}: {before}"},
        {"role": "assistant", "content": _tail(last, limit)},
        {"role": "user", "content": ask},
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
