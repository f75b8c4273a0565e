"""Turning a chat model's (possibly partial, possibly nonsensical) JSON into a sound plan.

Every field is checked for plausibility, not only presence: small models fill a grammar's slots
with whatever tokens fit ("species": "Greco-Roman", "setting": "{2018,JULY,3}"). What fails is
replaced from the request alone, through seeded choices, so the same request always repairs to
the same plan and a book never fails because the model dropped or garbled a field. The filler
words are English: they describe characters to the illustrator, whose prompts are English.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from workers.backends.base import Character, OutlineItem, StoryPlan, StoryRequest, stable_seed
from workers.backends.local.prompts import MAX_CAST
from workers.backends.local.prose import sentences_of

__all__ = ["repair_dialogue", "repair_header", "repair_outline"]

_SPECIES = frozenset(
    "raccoon fox bear bunny rabbit hare cat kitten dog puppy owl mouse rat dragon unicorn robot "
    "turtle tortoise elephant lion tiger leopard cheetah penguin duck duckling goose swan frog "
    "toad squirrel chipmunk hedgehog deer moose reindeer wolf monkey gorilla sloth giraffe whale "
    "dolphin shark seal walrus fish bird parrot robin sparrow eagle hawk crow butterfly bee ant "
    "spider dinosaur pig piglet cow calf horse pony donkey sheep lamb goat chicken chick hen "
    "rooster badger otter beaver panda koala kangaroo zebra hippo rhino camel llama octopus crab "
    "snail ladybug caterpillar worm bat mole witch wizard fairy elf giant troll monster alien "
    "astronaut princess prince king queen knight pirate girl boy child kid baby grandma grandpa "
    "teacher firefighter doctor snowman ghost mermaid".split()
)
_COLOR_WORDS = frozenset(
    "red orange yellow green blue purple violet pink brown grey gray white black golden gold "
    "silver teal turquoise navy cream beige tan lavender mint crimson ginger rusty copper amber "
    "spotted striped rainbow".split()
)
_GARMENTS = frozenset(
    "scarf hat cap coat raincoat jacket sweater jumper dress skirt shirt vest boots shoes "
    "backpack cape cloak glasses tie overalls hoodie apron helmet crown mittens gloves belt sash "
    "bandana pajamas pyjamas bow ribbon necklace collar suit uniform sneakers tutu robe gown "
    "armor armour jersey goggles".split()
)
_PLACES = (
    "forest woods ocean sea beach city village farm castle space moon jungle garden school "
    "mountain river lake island desert park kingdom meadow cave town library zoo"
).split()
_PLACE_WORDS = frozenset(
    [*_PLACES, *"home house tree nest den valley hill pond sky planet street room".split()]
)
# Words of a model describing its task instead of doing it ("a one-sentence summary of...").
_META = re.compile(r"\b(?:summary|sentence|outline|json|schema|written in|moral is)\b", re.I)
_NAMES = (
    "Milo Luna Pip Rosie Finn Hazel Otto Ivy Theo Nora Leo Mia Juniper Basil Clover Ruby Oscar "
    "Poppy Felix Maple"
).split()
_FRIENDS = ("fox", "owl", "rabbit", "bear", "mouse", "turtle", "hedgehog", "duck")
_COLORS = "red orange yellow green blue purple brown grey white golden pink teal".split()
_CLOTHES = (
    "red scarf",
    "blue cap",
    "yellow raincoat",
    "green backpack",
    "striped sweater",
    "star-patterned cape",
    "little bow tie",
    "pair of round glasses",
)
_TRAITS = ("curious", "brave", "kind", "cheerful", "clever", "gentle", "shy but brave", "playful")
# What each part of the story arc is about, where the model gave nothing usable.
_BEATS = {
    "start": ("A New Day", "{hero} starts the day in {place} and dreams of something new."),
    "problem": ("A Problem", "{hero} runs into a problem that needs solving."),
    "climax": ("The Brave Moment", "{hero} is brave and finds a way to fix the problem."),
    "end": ("Home Again", "{hero} celebrates with {friend} and learns that {moral}"),
}
_MIDDLE = (
    ("Exploring", "{hero} explores a new corner of {place}."),
    ("A Helping Hand", "{hero} asks {friend} for help."),
    ("A Clue", "{hero} and {friend} find a surprising clue."),
    ("Trying Again", "{hero} makes a mistake and tries again."),
    ("Together", "{hero} and {friend} work together."),
)
_NAMED = re.compile(r"\b(?:named|called)\s+([A-Z][\w'-]+)")
_WORDS = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")
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


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORDS.findall(text)]


def _prompt_species(prompt: str) -> list[str]:
    found: list[str] = []
    for word in _words(prompt):
        single = word[:-1] if word.endswith("s") and word[:-1] in _SPECIES else word
        if single in _SPECIES and single not in found:
            found.append(single)
    return found


def _place(prompt: str) -> str:
    words = set(_words(prompt))
    return next((f"the {p}" for p in _PLACES if p in words), "a cozy village")


def _moral(prompt: str) -> str:
    found = re.search(r"\blearns?\s+(?:to|that|about|how)\s+([^.!?,]+)", prompt, re.IGNORECASE)
    return f"It is good to {found.group(1).strip()}." if found else "Kindness helps us grow."


def _species(value: Any, prompt: str, wanted: str) -> str:
    text = _plain(value, 20, 3).lower()
    words = _words(text)
    if words and (words[-1] in _SPECIES or words[-1] in _words(prompt)):
        return words[-1]
    return wanted


def _colors(value: Any, rng: random.Random) -> tuple[str, ...]:
    entries = value if isinstance(value, list) else [value]
    found: list[str] = []
    for entry in entries:
        for word in _words(entry) if isinstance(entry, str) else ():
            if word in _COLOR_WORDS and word not in found:
                found.append(word)
    return tuple(found[:3]) or tuple(rng.sample(_COLORS, 2))


def _clothing(value: Any, rng: random.Random) -> str:
    text = _plain(value, 40, 6).lower()
    return text if set(_words(text)) & _GARMENTS else rng.choice(_CLOTHES)


def _name(value: Any, species: str, taken: set[str], rng: random.Random) -> str:
    text = _plain(value, 24, 2)
    words = _WORDS.findall(text)
    name = " ".join(w[:1].upper() + w[1:] for w in words[:2])
    low = name.lower()
    # "Racoon the raccoon" is a species, not a name
    bad = len(name) < 2 or any(len(w) > 12 for w in words) or low in _SPECIES
    bad = bad or low[:4] == species[:4] or re.search(r"(\w)\1\1", low) is not None
    if bad or name.lower() in taken:
        name = next(n for n in rng.sample(_NAMES, len(_NAMES)) if n.lower() not in taken)
    return name


def _trait(value: Any, rng: random.Random) -> str:
    text = _plain(value, 30, 3).lower()
    if not text or set(_words(text)) & (_SPECIES | _COLOR_WORDS | {"the", "a", "an"}):
        return rng.choice(_TRAITS)
    return text


def _related(text: str, anchors: set[str]) -> bool:
    """Whether ``text`` shares a word stem with the idea or the cast (a title about *this* book)."""
    return any(w[:4] in anchors for w in _words(text) if len(w) > 2)


def _setting(value: Any, prompt: str, taken: set[str]) -> str:
    """The model's place, unless it is a title or a name, or misses the place the idea names."""
    text = _plain(value, 60, 8)
    if not text or text.lower() in taken:
        return _place(prompt)
    if set(_words(prompt)) & set(_PLACES) and not set(_words(text)) & _PLACE_WORDS:
        return _place(prompt)
    return text


def repair_header(data: Mapping[str, Any] | None, request: StoryRequest) -> StoryPlan:
    """Title, cast, setting, moral and summary, each from the model where it is plausible."""
    data = data or {}
    rng = _rng(request, "header")
    prompt = request.prompt
    cast_in = [c for c in data.get("characters") or () if isinstance(c, Mapping)][:MAX_CAST]
    named = _NAMED.search(prompt)
    if not cast_in:
        cast_in = [{}]
    if named:  # the name the reader chose beats whatever the model invented
        cast_in[0] = {**cast_in[0], "name": named.group(1)}
    in_prompt = _prompt_species(prompt)
    taken: set[str] = set()
    cast: list[Character] = []
    for k, entry in enumerate(cast_in):
        wanted = in_prompt[k] if k < len(in_prompt) else ("child" if k == 0 else "")
        species = _species(entry.get("species"), prompt, wanted or rng.choice(_FRIENDS))
        name = _name(entry.get("name"), species, taken, rng)
        taken.add(name.lower())
        cast.append(
            Character(
                name=name,
                species=species,
                colors=_colors(entry.get("colors"), rng),
                clothing=_clothing(entry.get("clothing"), rng),
                trait=_trait(entry.get("trait"), rng),
                seed=stable_seed(request.seed, "character", name),
            )
        )
    hero = cast[0]
    anchors = {w[:4] for w in _words(prompt) if len(w) > 3}
    anchors |= {w[:4] for c in cast for w in _words(f"{c.name} {c.species}")}
    title = _plain(data.get("title"), 60, 10)
    if not _related(title, anchors):
        title = f"{hero.name} the {hero.species.title()}"
    taken |= {title.lower()}
    moral = _sentence(data.get("moral"), 120, 20)
    if not _related(moral, anchors) or title.lower() in moral.lower():
        moral = ""
    summary = _sentence(data.get("summary"), 220)
    return StoryPlan(
        title=title,
        characters=tuple(cast),
        outline=(),
        setting=_setting(data.get("setting"), prompt, taken),
        moral=moral if len(moral.split()) >= 3 else _sentence(_moral(prompt), 120),
        summary=summary if len(summary.split()) >= 4 else _sentence(prompt, 220, 60),
    )


def _beat(index: int, units: int) -> tuple[str, str]:
    if index == 0:
        return _BEATS["start"]
    if units > 1 and index == units - 1:
        return _BEATS["end"]
    if units >= 4 and index == units - 2:
        return _BEATS["climax"]
    if index == 1:
        return _BEATS["problem"]
    return _MIDDLE[(index - 2) % len(_MIDDLE)]


def _filler(plan: StoryPlan, index: int, units: int) -> tuple[str, str]:
    title, summary = _beat(index, units)
    hero = plan.characters[0].name
    friend = plan.characters[1].name if len(plan.characters) > 1 else "a new friend"
    moral = plan.moral[:1].lower() + plan.moral[1:]
    return title, summary.format(hero=hero, friend=friend, place=plan.setting, moral=moral)


def repair_outline(plan: StoryPlan, entries: Sequence[Any], request: StoryRequest) -> StoryPlan:
    """Exactly ``request.units`` outline items: the model's where usable, seeded filler else."""
    units = request.units
    names = {c.name.lower(): c.name for c in plan.characters}
    items: list[OutlineItem] = []
    seen: set[str] = set()
    for index in range(units):
        entry = entries[index] if index < len(entries) else None
        entry = entry if isinstance(entry, Mapping) else {}
        title, summary = _filler(plan, index, units)
        told = _sentence(entry.get("summary"), 200, 35)
        if len(told.split()) >= 3 and " ".join(_words(told)) not in seen:
            summary = told
        seen.add(" ".join(_words(summary)))
        named = _plain(entry.get("title"), 50, 8)
        if named and named.lower() not in seen:
            title = named
        seen.add(title.lower())
        cast = _cast_of(entry.get("characters"), summary, names)
        items.append(
            OutlineItem(
                index=index,
                title=title,
                summary=summary,
                characters=cast or (plan.characters[0].name,),
                setting=_plain(entry.get("setting"), 60, 8) or plan.setting,
            )
        )
    return StoryPlan(
        title=plan.title,
        characters=plan.characters,
        outline=tuple(items),
        setting=plan.setting,
        moral=plan.moral,
        summary=plan.summary,
    )


def _cast_of(value: Any, summary: str, names: Mapping[str, str]) -> tuple[str, ...]:
    """Only characters the plan knows: the illustrator looks their looks up by name."""
    listed = [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
    found: list[str] = []
    for entry in [*listed, *_WORDS.findall(summary)]:
        key = entry.strip().lower()
        if key in names and names[key] not in found:
            found.append(names[key])
    return tuple(found[:MAX_CAST])


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
        if lone or words.lower() in said:
            words = next((s for s in spare if s.lower() not in said), spare[k % len(spare)])
        said.add(words.lower())
        out.append(f"{speaker}: {words}")
    return out
