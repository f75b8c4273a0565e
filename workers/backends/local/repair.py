"""Turning a chat model's (possibly partial, possibly nonsensical) speech bubbles into sound ones.

Every line is checked for plausibility, not only presence: small models fill a grammar's slots
with whatever tokens fit. What fails is replaced through seeded choices, so the same request
always repairs to the same page and a comic never fails because the model garbled a line.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

from workers.backends.base import StoryPlan, StoryRequest, stable_seed
from workers.backends.local.prose import sentences_of
from workers.backends.page_check import stray_names, words_allowed

__all__ = ["repair_dialogue"]

# Words of a model describing its task instead of doing it ("a one-sentence summary of...").
_META = re.compile(r"\b(?:summary|sentence|outline|json|schema|written in|moral is)\b", re.I)

# Text a reader could meet in a book: letters, spaces and ordinary punctuation, no code.
_PLAIN = re.compile(r"[^\W_](?:[^\W_]|[\s,.!?;:'’\"“”()-])*")  # noqa: RUF001
_FALLBACK_LINES = (
    "Look at that!",
    "We can do it together.",
    "What should we do now?",
    "I have an idea!",
    "Hooray!",
    "Follow me!",
)


def _rng(request: StoryRequest, purpose: str) -> random.Random:
    return random.Random(stable_seed("local-repair", request.seed, request.prompt, purpose))


def _plain(value: Any, limit: int, max_words: int) -> str:
    """``value`` as tidy text, or "" when it is not something a book would say."""
    if not isinstance(value, str):
        return ""
    text = " ".join(value.split()).strip(" \"'“”,;:")
    if not text or not _PLAIN.fullmatch(text) or re.search(r"\d{3,}", text):
        return ""
    if _META.search(text):
        return ""
    if len(text.split()) > max_words or len(text) > limit:
        return ""
    return text


def _sentence(value: Any, limit: int, max_words: int = 40) -> str:
    """One sentence: the first of several, or the words given with a full stop added."""
    raw = " ".join(value.split()) if isinstance(value, str) else ""
    first = sentences_of(raw)
    if first and len(first[0].split()) >= 3:
        raw = first[0]  # whatever trails it may be cut short or garbled
    text = _plain(raw, limit, max_words)
    if text and text[-1] not in ".!?\u3002\uff01\uff1f":
        text += "."
    return text


def repair_dialogue(
    data: Mapping[str, Any] | None, request: StoryRequest, plan: StoryPlan, index: int, count: int
) -> list[str]:
    """Exactly ``count`` "Name: words" lines, spoken by the page's characters."""
    if count <= 0:
        return []
    item = plan.outline[index] if 0 <= index < len(plan.outline) else None
    names = {c.name.lower(): c.name for c in plan.characters}
    speakers = [n for n in (item.characters if item else ()) if n.lower() in names]
    speakers = speakers or [c.name for c in plan.characters[:2]] or ["Narrator"]
    given = (data or {}).get("lines")
    entries = given if isinstance(given, list) else []
    rng = _rng(request, f"dialogue-{index}")
    spare = rng.sample(_FALLBACK_LINES, len(_FALLBACK_LINES))
    out: list[str] = []
    said: set[str] = set()
    allowed = words_allowed(plan)
    for k in range(count):
        entry = entries[k] if k < len(entries) else None
        who, words = "", ""
        if isinstance(entry, Mapping):
            who, words = str(entry.get("speaker") or ""), _sentence(entry.get("line"), 90, 16)
        elif isinstance(entry, str):
            head, _, tail = entry.rpartition(":")
            who, words = head, _sentence(tail, 90, 16)
        speaker = names.get(who.strip().lower()) or speakers[k % len(speakers)]
        # A lone word is an echo of a name or a stray token, unless it is an exclamation.
        lone = len(words.split()) < 2 and not words.endswith("!")
        if lone or words.lower() in said or stray_names(words, allowed):
            words = next((s for s in spare if s.lower() not in said), spare[k % len(spare)])
        said.add(words.lower())
        out.append(f"{speaker}: {words}")
    return out
