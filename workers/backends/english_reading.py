"""Reading an English story prompt's scene: where it happens in its own words ("the
lighthouse on the rocky coast") and its central event with the weather it brings ("a storm",
"a stormy night"), then the whole reading with the characters of english_np.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from workers.backends.english_np import (
    NOT_NAMES,
    Head,
    PremiseCharacter,
    Reader,
    Token,
    clause_of,
    finish,
    people_of,
)
from workers.backends.instant.analysis import lexicon_kinds
from workers.backends.premise_words import (
    DETERMINERS,
    EVENTS,
    PLACE_CONTEXT,
    STOP_WORDS,
    WEATHER_ADJECTIVES,
    adjective,
    singular,
)

__all__ = ["EnglishReading", "english_reading"]

_SEASONS = frozenset("winter summer autumn spring weather".split())
_MASS = frozenset("rain snow fog mist thunder lightning drizzle snowfall wind".split())
_WHOLE_DAY = frozenset("day days night morning afternoon evening week weekend".split())
_NOT_PLACES = frozenset("snowy icy winter frozen polar underwater stars clouds".split())
_BARE_PLACES = frozenset("space school".split())


@dataclass(frozen=True, slots=True)
class EnglishReading:
    characters: tuple[PremiseCharacter, ...]
    place: str
    event: str
    weather: str
    verb: str
    clause: bool
    weather_all: bool


def english_reading(text: str) -> EnglishReading:
    """Everything the English noun-phrase reading finds in a prompt."""
    r = Reader(text)
    heads, people = people_of(r)
    characters = tuple(finish(r, h, people) for h in people[:4])
    clause, verb = clause_of(r, people)
    event, weather, whole = _event(r)
    return EnglishReading(characters, _place(r, heads), event, weather, verb, clause, whole)


def _phrase(r: Reader, i: int) -> tuple[list[str], Token | None]:
    """The modifiers before token ``i`` and the token that opens its phrase."""
    mods: list[str] = []
    j = i - 1
    while j >= 0 and r.tokens[j].word and r.tokens[j].low not in STOP_WORDS:
        if r.is_name(j) or r.candidate(j) is not None:
            break
        mods.insert(0, r.tokens[j].text.lower() if r.titlecase else r.tokens[j].text)
        j -= 1
    return mods, r.at(j)


def _place(r: Reader, heads: list[Head]) -> str:
    """The prompt's own place ("the dark forest"), from its first word naming a setting."""
    for t in r.tokens:
        if not t.word or not any(k == "strong" for k, _ in lexicon_kinds(t.low)):
            continue
        if t.low in _NOT_PLACES:
            continue  # "a snowy day" sets the scene but names no place
        word = t.text.lower() if r.titlecase or t.first else t.text
        if any(t.index in h.modifiers for h in heads):  # "lighthouse keeper"
            context = PLACE_CONTEXT.get(t.low, "")
            return f"the {word} {context}".strip()
        if t.low == "home":
            return ""
        mods, opener = _phrase(r, t.index)
        bare = t.low in _BARE_PLACES and (opener is None or opener.low not in DETERMINERS)
        place = " ".join([*([] if bare else ["the"]), *mods, word])
        tail = _trailing_place(r, t.index)
        return place + (f" {tail}" if tail else f" {PLACE_CONTEXT.get(t.low, '')}").rstrip()
    return ""


def _trailing_place(r: Reader, i: int) -> str:
    """ "a lighthouse on a rocky cliff": the place phrase that follows a place."""
    prep = r.at(i + 1)
    if prep is None or prep.low not in ("on", "by", "near", "at", "in", "under", "beside"):
        return ""
    words: list[str] = []
    for t in r.tokens[i + 2 : i + 6]:
        if not t.word:
            return ""
        if t.low in DETERMINERS:
            continue
        words.append(t.text)
        if any(k == "strong" for k, _ in lexicon_kinds(t.low)):
            return f"{prep.low} the {' '.join(words)}"
        if t.low in STOP_WORDS:
            return ""
    return ""


def _event(r: Reader) -> tuple[str, str, bool]:
    """(event, weather, whether the weather lasts the whole book) from the first event word
    ("during a storm") or weather adjective ("on a stormy night")."""
    for t in r.tokens:
        if not t.word:
            continue
        nxt = r.at(t.index + 1)
        if t.low in WEATHER_ADJECTIVES and nxt is not None and nxt.word:
            if nxt.low in _WHOLE_DAY | _SEASONS:
                mods, _opener = _phrase(r, t.index)
                phrase = " ".join([*mods, t.low, nxt.low])
                return (_indefinite(phrase), WEATHER_ADJECTIVES[t.low], nxt.low in _WHOLE_DAY)
        base = singular(t.low)
        if base not in EVENTS or (nxt is not None and nxt.word and nxt.low not in STOP_WORDS):
            continue
        mods, _opener = _phrase(r, t.index)
        while mods and not (adjective(mods[0].lower()) or mods[0].lower() in EVENTS):
            mods.pop(0)  # "go camping on a stormy night": no verb in the event
        noun = t.text if t.low in NOT_NAMES else t.low
        phrase = " ".join([*mods, noun])
        if t.low in NOT_NAMES or (not mods and (t.low in _MASS or t.low != base)):
            return (phrase, EVENTS[base], False)
        return (_indefinite(phrase), EVENTS[base], False)
    return ("", "", False)


def _indefinite(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase
