"""Sentence templates for the instant writer, and the little grammar needed to fill them.

Each language ships one :class:`Phrasebook` (in ``instant/lang/``). Templates are plain
``str.format`` strings with these slots:

``{H} {F} {G}``
    the hero, the page's friend and a second friend (names are only ever used where a
    language needs no case ending, so renaming stays a plain replacement);
``{h_a} {h_the} {h_sp}`` (and ``f_``, ``g_``)
    the species with an indefinite article, a definite article, or bare;
``{at} {to} {place_word}``, ``{home_at} {home_to} {home_word}``
    the page's setting and the hero's home setting, as a locative, an allative and a noun;
``{things} {many} {things_t}``
    the story's object, plural, as "lots of ...", and title-cased for English titles;
``{trait} {moral}``
    the hero's trait and the book's moral;
``{h_np} {h_npt}`` (and ``f_``, ``g_``)
    the character as the prompt describes them, with an indefinite or a definite article
    ("a shy lighthouse keeper");
``{gist} {event} {event_the} {over}``
    the prompt told back ("how a shy keeper befriends a whale"), its event with an indefinite
    and a definite article ("a storm", "the storm"), and where weather rolls in ("over the
    sea"); only the premise sentences (``lead``, ``events``, ``meet``) use these.

Gendered words are written ``((masculine|feminine))`` for the hero, ``[[...|...]]`` for the
friend and ``<<...|...>>`` for the second friend. Korean particles are a format spec:
``{H:은}`` becomes 은 or 는 by the name's last syllable. Templates are prefixed with a level,
``s|`` (toddlers, present tense), ``m|`` (4-7) or ``r|`` (8-12, richer); a capital letter
(``M|Once upon a time...``) marks a sentence that may only open its beat.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["BEATS", "Phrasebook", "articles", "capitalize", "particle", "render"]

BEATS = ("intro", "want", "journey", "trouble", "turn", "ending")


@dataclass(frozen=True)
class Phrasebook:
    language: str
    article: str  # en | es | fr | it | pt | de | none | zh
    joiner: str  # between sentences: " ", or "" for Chinese and Japanese
    names_m: tuple[str, ...]
    names_f: tuple[str, ...]
    species: Mapping[str, str]
    places: Mapping[str, tuple[str, str, str]]  # key -> (word, at, to)
    things: Mapping[str, tuple[str, str]]  # key -> (plural, "lots of")
    traits: Mapping[str, str]
    themes: Mapping[str, tuple[str, str, str, str]]  # key -> (want, learn, moral, title)
    tones: Mapping[str, tuple[str, ...]]
    beats: Mapping[str, tuple[str, ...]]
    openers: tuple[str, ...]
    titles: tuple[str, ...]
    headings: Mapping[str, tuple[str, ...]]
    summaries: Mapping[str, str]
    book_summary: str
    lines: Mapping[str, tuple[str, ...]]
    say: str
    speaker: str
    extras: Mapping[str, str]
    found: str
    # Page one's first sentence, telling the prompt back: "This is the story of {gist}."
    lead: str = ""
    # A title naming the hero and the prompt's second character: "{H} y {f_the}".
    pair: str = ""
    # The prompt's event on the pages where it happens, level-tagged like beats: keys are the
    # weather (storm, rain, snow, wind, fog) or "event" for any other, "<key>_turn" for the
    # page it ends on. A language without a key says nothing of that event in its text.
    events: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Where the prompt's roles are the book's words (English): the hero and the prompt's second
    # character named as the prompt describes them, at the end of page one ("... as Ivy, the
    # shy lighthouse keeper.") and of the page where they first meet ("... met Oscar, a lost
    # whale.").
    meet: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in (
            "species",
            "places",
            "things",
            "traits",
            "themes",
            "tones",
            "beats",
            "headings",
            "summaries",
            "lines",
            "extras",
            "events",
        ):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def pool(self, beat: str, levels: str) -> tuple[str, ...]:
        """The templates of one beat at the given levels, tags stripped."""
        chosen = tuple(t[2:] for t in self.beats[beat] if t[0].lower() in levels)
        return chosen or tuple(t[2:] for t in self.beats[beat])

    def openings(self, beat: str, levels: str) -> tuple[str, ...]:
        """Templates that can only start a beat (tagged with a capital level letter)."""
        return tuple(t[2:] for t in self.beats[beat] if t[0].isupper() and t[0].lower() in levels)


def articles(style: str, spec: str) -> tuple[str, str, str]:
    """(indefinite, definite, bare) noun phrases for a species spec such as ``renard:m``."""
    noun, _, gender = spec.partition(":")
    if style == "en":
        first = noun[:1].lower()
        an = first in "aeiou" and not noun.lower().startswith(("uni", "eu"))
        return (f"{'an' if an else 'a'} {noun}", f"the {noun}", noun)
    if style == "zh":
        counter, _, bare = noun.partition("|")
        return (f"一{counter}{bare}", bare, bare)
    if style == "es":
        return (
            ("una " if gender == "f" else "un ") + noun,
            ("la " if gender == "f" else "el ") + noun,
            noun,
        )
    if style == "pt":
        return (
            ("uma " if gender == "f" else "um ") + noun,
            ("a " if gender == "f" else "o ") + noun,
            noun,
        )
    if style == "fr":
        elide = noun[:1].lower() in "aeiouyéèêàâîôû"
        indef = ("une " if gender == "f" else "un ") + noun
        definite = "l'" + noun if elide else ("la " if gender == "f" else "le ") + noun
        return (indef, definite, noun)
    if style == "it":
        lower = noun.lower()
        vowel = lower[:1] in "aeiou"
        if gender == "f":
            return (("un'" if vowel else "una ") + noun, ("l'" if vowel else "la ") + noun, noun)
        impure = (lower[:1] == "s" and lower[1:2] not in "aeiou") or lower.startswith(
            ("z", "gn", "ps", "x", "y")
        )
        if vowel:
            return ("un " + noun, "l'" + noun, noun)
        if impure:
            return ("uno " + noun, "lo " + noun, noun)
        return ("un " + noun, "il " + noun, noun)
    if style == "de":
        indef = {"m": "ein ", "f": "eine ", "n": "ein "}[gender or "m"] + noun
        definite = {"m": "der ", "f": "die ", "n": "das "}[gender or "m"] + noun
        return (indef, definite, noun)
    return (noun, noun, noun)


_PARTICLES = {
    "은": ("은", "는"),
    "는": ("은", "는"),
    "이": ("이", "가"),
    "가": ("이", "가"),
    "을": ("을", "를"),
    "를": ("을", "를"),
    "과": ("과", "와"),
    "와": ("과", "와"),
    "으로": ("으로", "로"),
    "로": ("으로", "로"),
    "아": ("아", "야"),
    "야": ("아", "야"),
    "이에요": ("이에요", "예요"),
    "예요": ("이에요", "예요"),
    "이야": ("이야", "야"),
}


def _final_consonant(word: str) -> int:
    """Korean final consonant index of the last syllable (0: none, 8: ㄹ).

    Names from the prompt may be Latin; a consonant ending is read as a final consonant.
    """
    last = word.rstrip()[-1:] or "a"
    if "가" <= last <= "힣":
        return (ord(last) - 0xAC00) % 28
    if last.isalpha() and last.lower() not in "aeiouy":
        return 1
    return 0


def particle(word: str, spec: str) -> str:
    """``word`` followed by the Korean particle ``spec`` in the form its last sound needs."""
    with_final, without = _PARTICLES[spec]
    final = _final_consonant(word)
    if with_final == "으로":
        return word + ("로" if final in (0, 8) else "으로")
    return word + (with_final if final else without)


class _Fill(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        text = str(value)
        return particle(text, format_spec) if format_spec else text


_FILL = _Fill()
_HERO = re.compile(r"\(\(([^|()]*)\|([^|()]*)\)\)")
_FRIEND = re.compile(r"\[\[([^|\[\]]*)\|([^|\[\]]*)\]\]")
_THIRD = re.compile(r"<<([^|<>]*)\|([^|<>]*)>>")


def _masculine(m: re.Match[str]) -> str:
    return m.group(1)


def _feminine(m: re.Match[str]) -> str:
    return m.group(2)


def capitalize(text: str) -> str:
    for i, ch in enumerate(text):
        if ch.isalpha():
            return text[:i] + ch.upper() + text[i + 1 :] if ch.islower() else text
    return text


def render(template: str, slots: Mapping[str, str], genders: tuple[str, str, str]) -> str:
    """Fill a template, resolve its gendered alternatives, capitalise its first letter."""
    text = _FILL.vformat(template, (), slots)
    for pattern, gender in zip((_HERO, _FRIEND, _THIRD), genders, strict=True):
        text = pattern.sub(_masculine if gender == "m" else _feminine, text)
    return capitalize(text)
