"""A refine on a chat model: the instant rules decide what changes, the model rewords it.

Renames and drops are the instant rules' alone (workers/backends/instant/refining.py): a 135M
model cannot be trusted to rename exactly one character everywhere, and a producer must be able
to. The lines those rules rewrite for a tone or a free instruction are offered to the model
with the instruction, and each answer is kept only when it is a sayable sentence, names no one
the script does not (nor anyone dropped), still makes the line's point (keeps a share of its
words) without being the same line, repeats neither another line nor the prompt and, for
"shorter", is shorter; otherwise the rule's rewrite stands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from workers.backends.instant.cast_names import mention
from workers.backends.instant.refining import Draft, DraftLine, draft_of
from workers.backends.instant.script import clip, trim_words
from workers.backends.local.chat import ChatWriter
from workers.backends.local.prompts import Messages, schema_text
from workers.backends.local.script_repair import (
    MAX_LINE_WORDS,
    clean,
    invents,
    lexicon,
    similar,
    strings,
    usable,
    whole,
)
from workers.backends.people import content_words, word_count
from workers.backends.scripts import Refined, RefineRequest

__all__ = ["KEEP", "MAX_LINES", "chat_refine", "refine_schema", "usable_rewrite"]

MAX_LINES = 6  # lines offered to the model in one answer (a 2048-token context)
KEEP = 0.34  # share of a line's content words its rewrite must keep (the same point, reworded)


def refine_schema(count: int) -> dict[str, Any]:
    line = {"type": "string", "minLength": 8, "maxLength": 240}
    lines = {"type": "array", "items": line, "minItems": count, "maxItems": count}
    return {"type": "object", "properties": {"lines": lines}, "required": ["lines"]}


def _messages(ask: str, schema: Mapping[str, Any] | None, problems: Sequence[str]) -> Messages:
    text = ask
    if schema is not None:
        text += f"\nThe JSON must match this JSON schema: {schema_text(schema)}"
    if problems:
        text += "\nYour previous answer was not usable: " + "; ".join(problems) + "."
    system = "You are a script editor revising a table read. You answer with one JSON object."
    return [{"role": "system", "content": system}, {"role": "user", "content": text}]


def _ask(request: RefineRequest, lines: Sequence[DraftLine]) -> str:
    listed = "\n".join(
        f"{k + 1}. {ln.character}: {clip(ln.said, 200)}" for k, ln in enumerate(lines)
    )
    return (
        f'Table read "{clip(request.title, 120)}", a {request.mode}.\n'
        f"Producer's instruction: {clip(request.instruction, 400)}\n"
        f"Lines to revise:\n{listed}\n"
        f"Rewrite each of these {len(lines)} lines as the instruction asks, in the same order: "
        "the same speaker, one or two sentences said out loud, no new names. Answer in JSON."
    )


def _problems(count: int, data: dict[str, Any] | None) -> list[str]:
    found = (data or {}).get("lines")
    return [] if isinstance(found, list) and len(found) == count else [f"give {count} lines"]


def usable_rewrite(
    text: str,
    line: DraftLine,
    known: set[str],
    banned: Sequence[str],
    others: Sequence[str],
    echoes: Sequence[str] = (),
) -> bool:
    """Whether the model's rewrite of ``line`` may replace the rule's: sayable, naming no one
    unknown or gone, still about what the line was about (a share of its words), repeating no
    other line and none of the prompt (``echoes``: the title, the instruction)."""
    if not usable(text, 3) or invents(text, known) or text.strip() == line.said.strip():
        return False
    if any(mention(text, name, "\x00") != text for name in banned):
        return False
    if any(similar(text, other) for other in others):
        return False
    low = text.lower()
    if any(e.strip() and e.strip().lower() in low for e in echoes):
        return False
    was_words = set(content_words(line.said))
    kept = was_words & set(content_words(text))
    if was_words and len(kept) < KEEP * len(was_words):
        return False
    words, was = word_count(text), word_count(line.said)
    if line.rule == "short":
        return words < was
    return words <= max(2 * was + 8, 12)


def _known(request: RefineRequest, draft: Draft) -> set[str]:
    digests = [
        " ".join((d.summary, *d.key_points, *d.quotes, *d.people, *d.places))
        for d in request.digests
    ]
    script = [f"{e.character} {e.text}" for e in request.entries]
    cast = [c.name for c in (*request.cast, *draft.cast)]
    return lexicon(
        request.title,
        request.logline,
        request.instruction,
        *script,
        *cast,
        *draft.renamed.values(),
        *digests,
    )


async def chat_refine(chat: ChatWriter, request: RefineRequest, seed: int) -> Refined:
    draft = draft_of(request)
    offered = [ln for ln in draft.lines if ln.rule][:MAX_LINES]
    if not offered:
        return draft.refined()
    data = await chat.ask_json(
        partial(_messages, _ask(request, offered)),
        refine_schema(len(offered)),
        partial(_problems, len(offered)),
        max_tokens=len(offered) * 70 + 24,
        seed=seed,
    )
    known = _known(request, draft)
    # Names the revision no longer has: a line must not address them.
    banned = list(draft.dropped) + [o for o in draft.renamed if o not in draft.renamed.values()]
    for line, raw in zip(offered, strings((data or {}).get("lines")), strict=False):
        text = whole(clean(raw))
        for old, new in draft.renamed.items():
            text = mention(text, old, new)
        text = trim_words(text, MAX_LINE_WORDS)
        others = [t for ln in draft.lines if ln is not line for t in (ln.text, ln.said)]
        echoes = (request.title, request.instruction)
        if usable_rewrite(text, line, known, banned, others, echoes):
            line.text = text
    return draft.refined()
