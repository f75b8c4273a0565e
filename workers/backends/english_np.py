"""Reading an English story prompt as noun phrases: the characters with their roles, names and
adjectives, and whether the prompt is a clause ("a keeper befriends a whale") or a noun phrase
("a dragon who is afraid of the dark"). Its place and event are read in english_reading.py.

The vocabulary is open: a word after "a" that ends like a person noun (keeper, baker, violinist,
librarian) is a person even if no list names it, and the words before it are its role
("lighthouse keeper") or its adjectives ("shy"). The word lists are in premise_words.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from workers.backends.base import stable_seed
from workers.backends.instant.analysis import lexicon_kinds
from workers.backends.premise_words import (
    ADJECTIVES,
    DETERMINERS,
    EVENTS,
    LINKS,
    NOT_CHARACTERS,
    PERSONS,
    PREPOSITIONS,
    STOP_WORDS,
    adjective,
    animal_of,
    known_word,
    name_gender,
    person_gender,
    singular,
)

__all__ = [
    "NOT_NAMES",
    "Head",
    "PremiseCharacter",
    "Reader",
    "Token",
    "clause_of",
    "finish",
    "people_of",
    "tokens_of",
]


@dataclass(frozen=True, slots=True)
class PremiseCharacter:
    role: str  # as the prompt says it: "lighthouse keeper", "whale"; "" for a bare name
    species: str  # a drawable world.SPECIES key ("boy" for a keeper); "" if nothing fits
    name: str = ""  # as the prompt gives it, or ""
    adjectives: tuple[str, ...] = ()  # the prompt's words for them: ("shy",)
    gender: str = ""  # "m" | "f" where the prompt says (a word, a name, a pronoun)


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    low: str  # lower case, a possessive "'s" removed
    index: int
    word: bool  # False for punctuation
    first: bool  # starts a sentence


@dataclass(slots=True)
class Head:
    index: int
    start: int  # where its noun phrase begins (its determiner, else its first modifier)
    role: str
    species: str
    gender: str
    adjectives: list[str]
    modifiers: tuple[int, ...]
    name: str = ""
    name_at: int = -1


_TOKEN = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*(?:-[^\W\d_]+)*|\d+|[^\w\s]")
_PREDICATE = frozenset("become becomes became becoming be being is was are were as into".split())
_COMPOUND_TAILS = frozenset(
    "hat hats ship ships map maps costume suit treasure egg eggs tale tales nest food house "
    "museum bed shop cake party show game games day band mask cap boots sandwich friend".split()
)
NOT_NAMES = frozenset(
    "once monday tuesday wednesday thursday friday saturday sunday christmas halloween easter "
    "january february march april june july august september october november december "
    "english spanish french german chinese japanese korean russian portuguese italian "
    "god santa".split()
)
_PARTICLES = frozenset("with to up for after out".split())
_FEMALE = frozenset("she her hers herself".split())
_MALE = frozenset("he him his himself".split())


def tokens_of(text: str) -> list[Token]:
    out: list[Token] = []
    first = True
    for m in _TOKEN.finditer(text):
        raw = m.group()
        if not raw[0].isalnum():
            out.append(Token(raw, raw, len(out), False, False))
            first = first or raw in ".!?;:"
            continue
        low = re.sub(r"['\u2019]s$", "", raw.lower())
        out.append(Token(raw, low, len(out), True, first))
        first = False
    return out


class Reader:
    """One prompt's tokens and what each one is; built once per reading."""

    def __init__(self, text: str) -> None:
        self.tokens = tokens_of(text)
        words = [t for t in self.tokens if t.word]
        caps = sum(t.text[:1].isupper() for t in words)
        self.titlecase = len(words) > 3 and caps > 0.6 * len(words)
        self.named_at: dict[int, str] = {}
        for t in words:
            if t.low in ("named", "called") and t.index + 1 < len(self.tokens):
                nxt = self.tokens[t.index + 1]
                if nxt.word and nxt.low not in STOP_WORDS:
                    self.named_at[nxt.index] = nxt.text[:1].upper() + nxt.text[1:]

    def at(self, i: int) -> Token | None:
        return self.tokens[i] if 0 <= i < len(self.tokens) else None

    def is_name(self, i: int) -> bool:
        if i in self.named_at:
            return True
        t = self.tokens[i]
        if not t.word or not t.text[:1].isupper() or len(t.text) < 2 or self.titlecase:
            return False
        if t.low in STOP_WORDS or t.low in NOT_NAMES or t.low in ADJECTIVES:
            return False
        if t.first and known_word(t.low):
            return False
        if not t.first:
            return not known_word(t.low) or self.candidate(i - 1) is not None  # "her dog Rex"
        if name_gender(t.text):
            return True
        nxt = self.at(i + 1)
        if nxt is None:
            return False
        if nxt.text in (",", "&") or nxt.low in ("and", "the", "is", "was", "has", "had", "can"):
            return True
        return nxt.word and nxt.text.islower() and nxt.low.endswith(("s", "ed"))

    def candidate(self, i: int) -> str | None:
        """ "animal", "person", "open" (an -er word) or None for token ``i``."""
        t = self.tokens[i]
        if not t.word or t.low in STOP_WORDS or t.low in NOT_CHARACTERS or self.is_name(i):
            return None
        if animal_of(t.low):
            return "animal"
        gender = person_gender(t.low)
        if gender is None:
            return None
        return "open" if gender == "?" else "person"

    def head_at(self, i: int) -> Head | None:
        kind = self.candidate(i)
        if kind is None:
            return None
        nxt = self.at(i + 1)
        if nxt is not None and nxt.word and not self.is_name(i + 1):
            if self.candidate(i + 1) is not None:
                return None  # a modifier of the next noun: "robot dog", "lighthouse keeper"
            if nxt.low in _COMPOUND_TAILS or any(
                k in ("strong", "weak", "thing", "extra") for k, _ in lexicon_kinds(nxt.low)
            ):
                return None  # "pirate hat", "dog park"
        mods: list[int] = []
        j = i - 1
        while j >= 0:
            t = self.tokens[j]
            if not t.word or t.low in STOP_WORDS or self.is_name(j):
                break
            if self.head_like(j) and self.candidate(j + 1) is None:
                break  # another character's head ("keeper befriends whale")
            mods.insert(0, j)
            j -= 1
        opener = self.at(j)
        open_phrase = opener is None or not opener.word or opener.low in STOP_WORDS
        if not open_phrase:  # "keeper befriends whale": keep only the adjectives next to it
            while mods and not adjective(self.tokens[mods[0]].low):
                mods.pop(0)
        if kind == "open" and not (open_phrase and (opener is not None or mods or i == 0)):
            return None
        if opener is not None and opener.low in DETERMINERS:
            before, there = self.at(j - 1), self.at(j - 2)
            if (
                before is not None
                and before.low in _PREDICATE
                and (there is None or there.low not in ("there", "here"))
            ):
                return None  # "wants to become a singer": not another character
        elif opener is not None and opener.low in _PREDICATE:
            return None
        adjectives = [self.tokens[m].low for m in mods if adjective(self.tokens[m].low)]
        nouns = [self.tokens[m].low for m in mods if not adjective(self.tokens[m].low)]
        base = singular(self.tokens[i].low)
        species, gender = animal_of(base), ""
        if kind != "animal":
            gender = PERSONS.get(base, "")
            pet = next((animal_of(n) for n in nouns if animal_of(n)), "")
            if pet and kind == "person" and pet not in ("girl", "boy", "child"):
                species = pet  # "a cat astronaut" is drawn as a cat
            else:
                species = "child"
        if species in ("girl", "boy"):
            gender = gender or ("f" if species == "girl" else "m")
        start = j if opener is not None and opener.low in DETERMINERS else (mods or [i])[0]
        role = " ".join([*nouns, base])
        return Head(i, start, role, species, gender, adjectives, tuple(mods))

    def head_like(self, i: int) -> bool:
        return self.candidate(i) in ("animal", "person")


def people_of(r: Reader) -> tuple[list[Head], list[Head]]:
    """(every character noun phrase, the characters): heads with their names attached, bare
    names as people of their own, one character per role, in the prompt's order."""
    heads = [h for i in range(len(r.tokens)) if (h := r.head_at(i)) is not None]
    _attach_names(r, heads)
    loose = [i for i in range(len(r.tokens)) if r.is_name(i) and all(h.name_at != i for h in heads)]
    for h in heads:
        _predicate_adjectives(r, h)
    people: list[tuple[int, Head]] = [(h.start, h) for h in heads]
    for i in loose:
        name = r.named_at.get(i) or r.tokens[i].text
        people.append((i, Head(i, i, "", "child", name_gender(name), [], (), name, i)))
    people.sort(key=lambda p: p[0])
    merged: list[Head] = []
    for _pos, h in people:
        same = next((m for m in merged if h.role and m.role == h.role), None)
        if same is None:
            merged.append(h)
        elif not same.name and h.name:
            same.name, same.name_at = h.name, h.name_at
    return heads, merged or _subject(r)


def _attach_names(r: Reader, heads: list[Head]) -> None:
    by_start = {h.start: h for h in heads}
    by_index = {h.index: h for h in heads}
    for i in sorted(r.named_at):  # "a girl named Mia": the nearest head before "named"
        owner = max(
            (h for h in heads if h.index < i - 1 and i - h.index <= 4),
            key=lambda h: h.index,
            default=None,
        )
        if owner is not None and not owner.name:
            owner.name, owner.name_at = r.named_at[i], i
    for i in range(len(r.tokens)):
        if not r.is_name(i) or i in r.named_at:
            continue
        t1, t2 = r.at(i + 1), r.at(i + 2)
        owner = None
        if t1 is not None and t1.text == "," and t2 is not None and t2.low in DETERMINERS:
            owner = by_start.get(i + 2)  # "Mia, a brave girl"
        elif t1 is not None and t1.low == "the":
            owner = by_start.get(i + 1)  # "Theo the lighthouse keeper"
        if owner is None:
            owner = by_index.get(i - 1)  # "her dog Rex"
        if owner is None and r.at(i - 1) is not None and r.tokens[i - 1].text == ",":
            owner = by_index.get(i - 2)  # "the whale, Bubbles,"
        if owner is not None and not owner.name:
            owner.name, owner.name_at = r.tokens[i].text, i


def _predicate_adjectives(r: Reader, h: Head) -> None:
    """ "a dragon who is shy": the adjectives a relative clause gives its character."""
    k = max(h.index, h.name_at) + 1
    t = r.at(k)
    if t is None or t.low not in ("who", "that"):
        return
    k += 1
    if r.at(k) is None or r.tokens[k].low not in ("is", "was", "feels", "felt", "seems", "gets"):
        return
    k += 1
    while r.at(k) is not None and r.tokens[k].low in ("very", "so", "too", "always", "a", "bit"):
        k += 1
    t = r.at(k)
    if t is not None and t.word and adjective(t.low):
        h.adjectives.append(t.low)


def _subject(r: Reader) -> list[Head]:
    """No known character: the prompt's opening noun phrase ("a lonely cloud") leads."""
    toks = r.tokens
    if not toks or toks[0].low not in DETERMINERS:
        return []
    span = []
    for t in toks[1:]:
        if not t.word or t.low in STOP_WORDS:
            break
        span.append(t)
    if len(span) >= 2 and span[-1].low.endswith("s") and not adjective(span[-2].low):
        span.pop()  # "a lonely cloud wants": the verb
    nouns = [t.low for t in span if not adjective(t.low)]
    if any(n in NOT_CHARACTERS for n in nouns):
        return []  # "two friends build a treehouse": nobody the prompt describes
    kinds = {k for k, _ in lexicon_kinds(nouns[-1])} if nouns else set()
    if not nouns or kinds & {"strong", "thing"} or singular(nouns[-1]) in EVENTS:
        return []
    adjectives = [t.low for t in span if adjective(t.low)]
    last = span[-1].index
    return [Head(last, 0, " ".join([*nouns[:-1], singular(nouns[-1])]), "", "", adjectives, ())]


def finish(r: Reader, h: Head, everyone: list[Head]) -> PremiseCharacter:
    gender = h.gender or (name_gender(h.name) if h.name else "")
    gender = gender or _pronoun(r, h, everyone)
    species = h.species
    if species == "child":
        gender = gender or ("f" if stable_seed("premise", h.role, h.name) % 2 else "m")
        species = "girl" if gender == "f" else "boy"
    return PremiseCharacter(h.role, species, h.name, tuple(dict.fromkeys(h.adjectives)), gender)


def _pronoun(r: Reader, h: Head, everyone: list[Head]) -> str:
    """The first she/he after a person and before the next person."""
    later = [p.start for p in everyone if p.start > h.start and p.species in ("child", "")]
    end = min(later, default=len(r.tokens))
    for t in r.tokens[max(h.index, h.name_at) + 1 : end]:
        if t.low in _FEMALE:
            return "f"
        if t.low in _MALE:
            return "m"
    return ""


def clause_of(r: Reader, people: list[Head]) -> tuple[bool, str]:
    """Whether the prompt states what happens (a verb follows its first character), and the
    verb that joins the first character to the second."""
    if not people:
        return (_bare_clause(r), "")
    first = people[0]
    k = max(first.index, first.name_at) + 1
    if r.at(k) is not None and r.tokens[k].text == ",":  # "Mia, a brave girl, finds ..."
        k += 1
    while r.at(k) is not None and r.tokens[k].low in ("and", "&"):
        nxt = next((p for p in people if p.start > k), None)
        if nxt is None:
            break
        k = max(nxt.index, nxt.name_at) + 1
    t = r.at(k)
    begin = min(first.start, first.name_at if first.name_at >= 0 else first.start)
    opens = begin == 0 or r.tokens[begin - 1].text == ","  # "In the woods, a fox finds"
    clause = opens and t is not None and t.word and t.low not in LINKS | PREPOSITIONS | DETERMINERS
    verb = ""
    span = r.tokens[k : people[1].start] if clause and len(people) > 1 else []
    if 0 < len(span) <= 4 and all(
        x.word and (x.low not in STOP_WORDS or x.low in _PARTICLES) for x in span
    ):
        verb = " ".join(x.low for x in span)
    return (bool(clause), verb)


def _bare_clause(r: Reader) -> bool:
    """No character found: "two friends build a treehouse" (two words, then an object) is a
    clause; "the magic treehouse" or "a day at the beach" is not."""
    toks = r.tokens
    start = 1 if toks and toks[0].low in DETERMINERS else 0
    run = 0
    for t in toks[start:]:
        if not t.word or t.low in STOP_WORDS:
            return run >= 2 and t.low in DETERMINERS
        run += 1
    return False
