"""The prompt's premise turned into the instant book's bible: what a role wears, how the
prompt's own place is said, the title, and each page's weather, time of day and action.

The page text and the pictures both read these, so the lighthouse keeper of the title is the one
in the yellow coat on every page, and the storm of page 9's text is the storm of its picture.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from workers.backends.base import Character
from workers.backends.instant.lang import BOOKS
from workers.backends.instant.world import ROLE_CLOTHES, ROLES, TRAIT_WORDS

if TYPE_CHECKING:  # premise.py reads with the instant lexicon, so it imports this package
    from workers.backends.premise import Premise

__all__ = [
    "action_of",
    "clothes_of",
    "definite",
    "english_title",
    "event_key",
    "event_line",
    "event_words",
    "over_of",
    "place_forms",
    "trait_of",
    "weather_and_time",
]

_ON = frozenset(
    "coast coastline island beach farm mountain hill hills shore shoreline ship boat cliff "
    "cliffs planet moon rocks iceberg".split()
)
_IN = frozenset(
    "forest woods jungle garden gardens city town village sea ocean kitchen house castle "
    "meadow field fields park valley space sky bedroom room cave desert snow rainforest "
    "kingdom palace reef".split()
)
_BY = frozenset("river lake pond stream".split())
_PLAIN = frozenset("girl boy child kid".split())
_SEA_SIDE = frozenset("coast sea beach".split())


def trait_of(adjectives: Sequence[str]) -> str | None:
    """The first of a character's adjectives that is a trait the phrasebooks can say."""
    for word in adjectives:
        for key, words in TRAIT_WORDS.items():
            if word in words.split():
                return key
    return None


def clothes_of(role: str) -> str | None:
    """What a role wears, by its last word: a pirate's hat, a lighthouse keeper's coat."""
    head = role.split()[-1] if role else ""
    if head in ROLES:
        return ROLES[head][0]
    return ROLE_CLOTHES.get(head)


def place_forms(place: str, *, short: bool = False) -> tuple[str, str, str]:
    """(at, to, word) for the prompt's place: ("at the lighthouse on the rocky coast",
    "to the lighthouse on the rocky coast", "lighthouse"); ``short`` drops the trailing
    phrase ("at the lighthouse") for pages after the first."""
    head_phrase = re.split(r"\s+(?:on|by|near|at|in|under|beside)\s+", place)[0]
    head = head_phrase.split()[-1].lower()
    place = head_phrase if short else place
    prep = "on" if head in _ON else "in" if head in _IN else "by" if head in _BY else "at"
    to = "into" if head == "space" else "to"
    return (f"{prep} {place}", f"{to} {place}", head)


def _title_case(words: str) -> str:
    small = {"a", "an", "the", "of", "on", "in", "and", "by", "at"}
    out = [w if w in small and i else w[:1].upper() + w[1:] for i, w in enumerate(words.split())]
    return " ".join(out)


def _called(character: Character) -> str:
    role = character.role
    if not role or role in _PLAIN or role == character.name.lower():
        return character.name
    return f"{character.name} the {_title_case(role)}"


def english_title(premise: Premise, characters: Sequence[Character]) -> str | None:
    """ "Theo the Lighthouse Keeper and the Whale": the prompt's characters, else its event;
    None where the prompt's lesson should name the book instead."""
    if not premise.characters or not characters:
        return None
    hero = _called(characters[0])
    if len(premise.characters) > 1 and len(characters) > 1:
        other, told = characters[1], premise.characters[1]
        second = other.name if told.name or not other.role else f"the {_title_case(other.role)}"
        return f"{hero} and {second}"
    if premise.event:
        event = re.sub(r"^(?:an?|the)\s+", "", premise.event)
        return f"{hero} and the {_title_case(event)}"
    if premise.lesson or hero == characters[0].name:
        return None
    return hero


_WEATHER_NOUNS = {
    "storm": "a storm",
    "rain": "rain",
    "snow": "snow",
    "wind": "a strong wind",
    "fog": "fog",
}


def event_words(premise: Premise) -> tuple[str, str]:
    """The event as English page text says it, indefinite and definite: the prompt's words
    ("a storm", "the storm"), or its weather's where the prompt's words are a whole day or
    another language ("a rainy day" rains as "rain")."""
    if not premise.event:
        return ("", "")
    if premise.weather and (premise.weather_all or premise.language != "english"):
        noun = _WEATHER_NOUNS.get(premise.weather, premise.weather)
        return (noun, definite(noun))
    if premise.language != "english":
        return ("", "")
    return (premise.event, definite(premise.event))


def definite(event: str) -> str:
    """ "a storm" -> "the storm", "rain" -> "the rain"; a holiday keeps its own name."""
    if not event or event[:1].isupper():
        return event
    return "the " + re.sub(r"^(?:an?|the)\s+", "", event)


def weather_and_time(premise: Premise, beat: str) -> tuple[str, str]:
    """A page's weather and time: the event's weather where it happens (the trouble and the
    turn), or on every page for a "rainy day"; clear elsewhere. A night story is at night."""
    weather = "clear"
    if premise.weather and (premise.weather_all or beat in ("trouble", "turn")):
        weather = premise.weather
    return weather, premise.time or "day"


def event_key(premise: Premise) -> str:
    """The phrasebook ``events`` key of the premise's event: its weather, else "event"."""
    if not premise.event:
        return ""
    return premise.weather or "event"


def event_line(
    events: Mapping[str, tuple[str, ...]], key: str, beat: str, levels: str, nth: int
) -> str | None:
    """The ``nth`` event sentence for a trouble or turn page at the book's levels; None once
    they are used up (a sentence is never said twice)."""
    pool = events.get(key if beat == "trouble" else f"{key}_turn", ())
    if not pool:
        return None
    fit = [t[2:] for t in pool if t[0].lower() in levels] or [t[2:] for t in pool]
    if levels == "s":
        fit = [t[2:] for t in pool if t[0] == "s"] or fit[:1]
    return fit[nth] if nth < len(fit) else None


def action_of(
    premise: Premise,
    beat: str,
    cast: Sequence[Character],
    setting: str,
    home: str,
    place: str,
) -> str:
    """A few English words for what happens on a page, for its picture: "Theo befriends the
    whale", "Theo and Bubbles caught in the storm at the lighthouse"."""
    english = BOOKS["english"]
    hero = cast[0]
    friend = cast[1] if len(cast) > 1 else None
    own_words = premise.language == "english"

    def kind(c: Character) -> str:
        return c.role if own_words and c.role else c.species

    _word, at, to = english.places.get(setting, english.places["meadow"])
    if setting == home and place:
        at, to, _head = place_forms(place)
    both = f"{hero.name} and {friend.name}" if friend else hero.name
    the_friend = f"the {kind(friend)}" if friend else ""
    event_the = event_words(premise)[1] or ("the event" if premise.event else "")
    if beat == "intro":
        return f"{hero.name} the {kind(hero)} {at}"
    if beat == "want":
        if premise.verb and friend:
            return f"{hero.name} {premise.verb} {the_friend}"
        return f"{hero.name} makes a wish {at}"
    if beat == "trouble":
        if event_the and premise.weather:
            return f"{both} caught in {event_the} {at}"
        if event_the:
            return f"{both} at {event_the} {at}"
        return f"{both} in trouble {at}"
    if beat == "turn":
        if event_the and premise.weather and not premise.weather_all:
            return f"{both} safe as {event_the} passes {at}"
        return f"{hero.name} helps {friend.name if friend else 'everyone'} {at}"
    if beat == "ending":
        return f"{hero.name} and friends together {at}"
    return f"{both} on the way {to}"


def over_of(home: str, word: str) -> str:
    """Where weather rolls in from: over the sea by the sea, else over the home place."""
    return "over the sea" if home in _SEA_SIDE else f"over the {word}"
