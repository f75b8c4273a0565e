"""Checking a chat model's script answers against the source, and repairing what fails.

A 135M model holds to a JSON grammar but not to the truth: it names cities as people, invents
places and repeats itself. Every sentence it gives is kept only when it is whole, sayable, new
and grounded (mostly the source's own words, and no name the source lacks); what is left out is
filled from the rules of ``people`` and the instant writer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from workers.backends.instant.script import clip, trim_words
from workers.backends.people import content_words, names, word_count
from workers.backends.scripts import Digest, PlanBrief, PlanDraft, SceneOutline, ScriptEntry

__all__ = [
    "alternated",
    "clean",
    "found_in",
    "grounded",
    "invents",
    "lexicon",
    "lines_of",
    "repair_digest",
    "repair_plan",
    "similar",
    "strings",
    "usable",
    "whole",
]

MAX_LINE_WORDS = 45
GROUNDED = 0.5  # share of a sentence's content words the source must hold
# What small models put before a line: "MAYA:", "Lagos:", "1.", "- ".
_PREFIX = re.compile(
    r"^\s*(?:[A-Z][A-Z .'-]{1,30}:|[A-Z][a-z]+(?: [A-Z][a-z]+)?:|\d{1,2}[.)]|[-*•])\s+"
)
_WORD = re.compile(r"[^\W\d_][\w'\u2019-]*")
_ENDS = (".", "!", "?", '"', "\u201d")
_TITLE_ENDS = frozenset("dr mr mrs ms st prof".split())  # "... by one vote. Dr." was cut short
# The prompt's own words, which a small model hands back as a line.
_ECHOES = (
    "answer in json",
    "write the next",
    "json",
    "the cast",
    "scene:",
    "lines:",
    "so far:",
    "out loud",
    "who speaks",
)
SIMILAR = 0.7  # share of the shorter sentence's content words that makes two the same point


def usable(text: str, words: int = 3) -> bool:
    """Prose a person could say: enough words, mostly letters, not a loop, not the prompt."""
    parts = text.split()
    if len(parts) < words or any(c in text for c in "{}[]<>\\|"):
        return False
    letters = sum(c.isalpha() for c in text)
    if letters < 0.6 * len(text.replace(" ", "")):
        return False
    low = text.lower()
    if any(echo in low for echo in _ECHOES):
        return False
    return len(parts) < 8 or len({p.lower() for p in parts}) >= 0.5 * len(parts)


def clean(text: str) -> str:
    text = " ".join(text.split())
    for _ in range(3):
        text = _PREFIX.sub("", text)
    return text.strip().strip('"“”').strip()


def similar(a: str, b: str) -> bool:
    one, two = set(content_words(a)), set(content_words(b))
    return bool(one and two) and len(one & two) >= SIMILAR * min(len(one), len(two))


def lexicon(*texts: str) -> set[str]:
    """Every word of ``texts``, lower-cased: what a model's sentence is checked against."""
    return {w.lower() for t in texts for w in _WORD.findall(t)}


def invents(sentence: str, vocabulary: set[str]) -> bool:
    """Whether a name inside the sentence (a capitalised word after its first) is not known."""
    words = _WORD.findall(sentence)[1:]
    return any(w[0].isupper() and w != "I" and w.lower() not in vocabulary for w in words)


def grounded(sentence: str, vocabulary: set[str]) -> bool:
    """Mostly the source's own words, and no name the source does not hold."""
    words = content_words(sentence)
    share = sum(w in vocabulary for w in words) >= GROUNDED * len(words)
    return bool(words) and share and not invents(sentence, vocabulary)


def whole(text: str) -> str:
    """The text up to its last full sentence (a grammar's length limit cuts mid-word)."""
    text = text.rstrip()
    incomplete = text.endswith(("...", "\u2026"))
    text = text.rstrip(".\u2026 ")
    last = text.split()[-1].rstrip(".").lower() if text.split() else ""
    if not incomplete and text.endswith(_ENDS[1:]) and last not in _TITLE_ENDS:
        return text
    cut = max(text.rfind(e) for e in _ENDS)
    if cut > 0 and word_count(text[: cut + 1]) >= 5:
        return text[: cut + 1]
    return "" if incomplete else text.rstrip(",;:-") + "."


def strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else []
    return [clean(x) for x in items if isinstance(x, str) and clean(x)]


def found_in(name: str, text: str, known: Sequence[str], least: int = 1) -> bool:
    """A name the model gave that the source really holds, shaped like a name, not known yet.

    ``least`` words at the least: a person the rules missed must be given in full ("Miami" is
    as likely a city the model took for someone).
    """
    words = name.split()
    return (
        least <= len(words) <= 4
        and name in text
        and all(
            w[:1].isupper() or w in ("van", "von", "de", "da", "di", "del", "la") for w in words
        )
        and not any(set(words) <= set(k.split()) for k in known)
    )


def lines_of(data: Mapping[str, Any] | None, allowed: Sequence[str]) -> list[ScriptEntry]:
    """The answer's lines that name a cast member and say something sayable."""
    raw = (data or {}).get("lines")
    found = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, Mapping):
            continue
        who, text = item.get("character"), item.get("text")
        if who not in allowed or not isinstance(text, str):
            continue
        text = whole(clean(text))
        if usable(text, 5):
            found.append(ScriptEntry(str(who), trim_words(text, MAX_LINE_WORDS)))
    return found


def alternated(entries: Sequence[ScriptEntry], allowed: Sequence[str]) -> list[ScriptEntry]:
    """No one speaks twice running (small models give every line to one character): the next
    speaker takes the second line, and a narrator's two lines become one."""
    speakers = [n for n in allowed if n != "NARRATOR"]
    fixed: list[ScriptEntry] = []
    for entry in entries:
        who = entry.character
        if fixed and fixed[-1].character == who and who not in speakers:
            fixed[-1] = ScriptEntry(who, f"{fixed[-1].text} {entry.text}")
            continue
        if len(speakers) > 1 and fixed and fixed[-1].character == who:
            who = speakers[(speakers.index(who) + 1) % len(speakers)]
        fixed.append(ScriptEntry(who, entry.text))
    return fixed


def repair_digest(data: Mapping[str, Any], text: str, base: Digest) -> Digest:
    vocabulary = lexicon(text)
    summary = whole(clean(str(data.get("summary") or "")))
    if not (usable(summary, 5) and grounded(summary, vocabulary)):
        summary = base.summary
    points = [p for p in strings(data.get("keyPoints")) if usable(p, 6) and grounded(p, vocabulary)]
    for point in base.key_points:
        points.append(point)
    points = [p for k, p in enumerate(points) if not any(similar(p, q) for q in points[:k])]
    where = names(text)[1]
    people = list(base.people)
    given = strings(data.get("people"))
    people += [p for p in given if found_in(p, text, [*people, *where], least=2)]
    places = list(base.places)
    places += [p for p in strings(data.get("places")) if found_in(p, text, [*places, *people])]
    return Digest(
        summary=summary,
        key_points=tuple(points[:5]),
        people=tuple(dict.fromkeys(people))[:8],
        places=tuple(dict.fromkeys(places))[:6],
        quotes=base.quotes,
    )


def repair_plan(
    data: Mapping[str, Any], brief: PlanBrief, base: PlanDraft, vocabulary: set[str]
) -> PlanDraft:
    def field(key: str, fallback: str, words: int = 4) -> str:
        value = clean(str(data.get(key) or ""))
        return value if usable(value, words) and grounded(value, vocabulary) else fallback

    title = " ".join(brief.title.split()) or field("title", base.title, 2)
    beats = [b for b in strings(data.get("beats")) if usable(b, 4) and grounded(b, vocabulary)]
    beats = [b for k, b in enumerate(beats) if not any(similar(b, c) for c in beats[:k])]
    beats += [b for b in base.beats if len(beats) < 5 and not any(similar(b, c) for c in beats)]
    names_ = tuple(c.name for c in base.cast)
    scenes: list[SceneOutline] = []
    raw = data.get("scenes")
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, Mapping):
            continue
        name, summary = clean(str(item.get("title") or "")), clean(str(item.get("summary") or ""))
        who = tuple(dict.fromkeys(c for c in item.get("characters") or () if c in names_))
        fresh = all(name != s.title and not similar(summary, s.summary) for s in scenes)
        if usable(name, 1) and usable(summary, 5) and grounded(summary, vocabulary) and fresh:
            scenes.append(SceneOutline(clip(name, 60), clip(summary, 240), who or names_))
    return PlanDraft(
        title=clip(title, 80),
        logline=clip(field("logline", base.logline), 240),
        audience_promise=clip(field("audiencePromise", base.audience_promise), 240),
        beats=tuple(beats[:6]),
        cast=base.cast,
        scenes=tuple(scenes) if len(scenes) >= 2 else base.scenes,
    )
