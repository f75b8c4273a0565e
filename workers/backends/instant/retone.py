"""Tone rules of the instant refine: a line made warmer, colder, shorter, longer, livelier,
more formal or more casual by a fixed, seeded rewrite (workers/backends/instant/refining.py).

Each rule must change the line, so "make the skeptic warmer" is always heard; a tone no rule
knows gets a neutral lead-in, which still marks the line as revised.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from workers.backends.base import stable_seed
from workers.backends.instant.script import trim_words
from workers.backends.people import word_count

__all__ = ["retone", "shorter", "tone_rule"]

# Tones by the stem a producer's word starts with ("warmer" → warm); anything else is generic.
_TONES = {
    "warm": "warm friend kind soft gentl nice sweet empath caring",
    "cold": "cold sharp harsh skept scept tough angr blunt cynic",
    "short": "short brief concise tight punch snapp crisp lean",
    "long": "long detail expan rich fuller",
    "excited": "excit energ upbeat enthusias lively fun happ cheer",
    "formal": "formal serious professional polite",
    "casual": "casual relax informal conversation chatt loose",
}
_WARM = "I love this part. |Honestly, this one moves me. |I'm so glad we get to say this. ".split(
    "|"
)
_COLD = ("Let's be careful here. ", "Frankly, ", "I have my doubts. ", "Look, ")
_EXCITED = ("Wow. ", "This is the best part! ", "Oh, listen to this! ")
_LONGER = (
    " And that detail matters more than it seems.",
    " It is worth sitting with that for a moment.",
    " Nobody saw how much would follow from it.",
)
_GENERIC = ("Let me put it another way. ", "On reflection, ", "To say it plainly, ")
_SOFTEN = ("I'm not convinced yet. ", "Let me push back. ", "That's only half of it. ", *_COLD)
_CONTRACTIONS = tuple(
    tuple(pair.split(">"))
    for pair in (
        "I am>I'm|do not>don't|does not>doesn't|it is>it's|that is>that's|we are>we're|"
        "they are>they're|you are>you're|cannot>can't|will not>won't|let us>let's|"
        "here is>here's|what is>what's|there is>there's"
    ).split("|")
)


def _pick(options: Sequence[str], *parts: object) -> str:
    return options[stable_seed("refine", *parts) % len(options)]


def _strip_leads(text: str, leads: Sequence[str]) -> str:
    for lead in leads:
        if text.startswith(lead) and len(text) > len(lead) + 2:
            rest = text[len(lead) :]
            return rest[:1].upper() + rest[1:]
    return text


def _contract(text: str, expand: bool) -> str:
    out = text
    for long, short in _CONTRACTIONS:
        src, dst = (short, long) if expand else (long, short)
        out = re.sub(rf"\b{re.escape(src)}\b", dst, out)
        out = re.sub(rf"\b{re.escape(src.capitalize())}\b", dst.capitalize(), out)
    return out


# Words a line may open with that stay lower-case after a lead-in (a name keeps its capital).
_OPENERS = frozenset(
    "the a an it it's this that there there's here here's what why how and but so we they he "
    "she you when where every nobody everyone let look think remember keep then if in on at as "
    "our my your his her their its one some many most all no not yes well now just after before "
    "to for with".split()
)


def _lower_first(text: str) -> str:
    first = text.split(" ", 1)[0].lower().strip(",.;:!?")
    return text[:1].lower() + text[1:] if first in _OPENERS else text


def shorter(text: str) -> str:
    """``text`` with only its weightiest sentence, or one long sentence cut at a clause break;
    a line of a few words is short already."""
    parts = [p for p in re.split(r"(?<=[.!?])\s+", text.strip()) if p]
    if len(parts) > 1:
        return max(parts, key=word_count)
    words = text.split()
    breaks = [k for k, w in enumerate(words[:-3]) if k >= 3 and w.endswith((",", ";", ":"))]
    if breaks:
        # Up to the first clause break: the main clause, said whole.
        return " ".join(words[: breaks[0] + 1]).rstrip(",;:") + ("?" if text.endswith("?") else ".")
    # One long clause is cut; one of a few words is short already.
    return trim_words(text, round(len(words) * 0.6)) if len(words) > 14 else text


def retone(text: str, rule: str, word: str, key: object) -> str:
    """``text`` rewritten by the tone ``rule``: different from ``text`` unless it is a line too
    short to shorten."""
    if rule == "warm":
        base = _strip_leads(text, _SOFTEN)
        return _pick(_WARM, key, text) + base
    if rule == "cold":
        base = _strip_leads(text, _WARM)
        lead = _pick(_COLD, key, text)
        return lead + (_lower_first(base) if lead.endswith(", ") else base)
    if rule == "short":
        return shorter(text)
    if rule == "long":
        return text.rstrip() + _pick(_LONGER, key, text)
    if rule == "excited":
        body = text[:-1] + "!" if text.endswith(".") else text
        return _pick(_EXCITED, key, text) + body
    if rule in ("formal", "casual"):
        changed = _contract(text, expand=rule == "formal")
        if changed != text:
            return changed
        return ("With respect, " if rule == "formal" else "So, ") + _lower_first(text)
    lead = _pick(_GENERIC, key, word, text)
    return lead + (_lower_first(text) if lead.endswith(", ") else text)


def tone_rule(word: str) -> str:
    low = word.lower()
    return next(
        (rule for rule, stems in _TONES.items() if low.startswith(tuple(stems.split()))), "generic"
    )
