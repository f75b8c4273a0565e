"""Casting, outlining and laying out an instant book.

Every choice is drawn from ``random.Random`` seeded by a digest of the request, so one request
always gives the same book, and each page can be rebuilt alone: the layout of the whole book is
cheap to recompute, only the requested page is rendered.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

# A module, not its names: premise.py reads with this package's lexicon, so either may be
# imported first.
import workers.backends.premise as premise_reader
from workers.backends.base import Character, OutlineItem, StoryPlan, StoryRequest, stable_seed
from workers.backends.instant.analysis import Analysis, analyse
from workers.backends.instant.bible import (
    action_of,
    clothes_of,
    english_title,
    event_words,
    over_of,
    place_forms,
    trait_of,
    weather_and_time,
)
from workers.backends.instant.lang import phrasebook
from workers.backends.instant.phrasebook import BEATS, Phrasebook, articles, render
from workers.backends.instant.world import (
    CLOTHING_COLORS,
    CLOTHING_ITEMS,
    FAUNA,
    NEIGHBOURS,
    ROLES,
    SETTING_THINGS,
    SPECIES,
    TONE_DEFAULTS,
    TRAITS,
)

if TYPE_CHECKING:
    from workers.backends.premise import Premise

LEVELS = {"0-3": "s", "4-7": "m", "8-12": "mr"}
COUNTS = {"0-3": (1, 2), "4-7": (3, 5), "8-12": (5, 8)}

Sentence = tuple[str, int]  # (template, speaker): -1 narrates; 0 and 1 quote the hero or friend
Page = tuple[tuple[Sentence, ...], ...]  # paragraphs


@dataclass(frozen=True, slots=True)
class World:
    """What the story is about; re-derived from the request whenever a page is written."""

    book: Phrasebook
    analysis: Analysis
    theme: str
    home: str
    thing: str
    hero_species: str
    hero_gender: str
    premise: Premise
    # The prompt's place as the page text says it ("the lighthouse on the rocky coast"), and
    # whether the text calls characters by their roles: both only where the prompt and the book
    # are English, since a role is the prompt's own word.
    place: str = ""
    roles: bool = False


def cast_seed(request: StoryRequest) -> int:
    return stable_seed("instant-cast", request.seed, request.prompt.strip(), request.language)


def layout_seed(request: StoryRequest, salt: str = "") -> int:
    return stable_seed(
        "instant-layout",
        request.seed,
        request.prompt.strip(),
        request.language,
        request.format,
        request.units,
        request.age_range,
        request.tone,
        salt,
    )


def gender(character: Character) -> str:
    """A character's grammatical gender, kept in its seed's parity so renames keep it."""
    if character.species in ("girl", "boy"):
        return "f" if character.species == "girl" else "m"
    return "f" if character.seed % 2 else "m"


def world_of(request: StoryRequest) -> World:
    """The story's world, from the prompt's premise first and the tone's defaults after."""
    book = phrasebook(request.language)
    found = analyse(request.prompt)
    premise = premise_reader.premise_of(request.prompt, request.language)
    rng = random.Random(cast_seed(request))
    tone_theme, tone_home, _trait = TONE_DEFAULTS.get(request.tone, TONE_DEFAULTS["heartwarming"])
    lead = premise.characters[0] if premise.characters else None
    hint = (lead.gender if lead else "") or found.gender
    if not hint and lead and lead.name:
        hint = "f" if lead.name in book.names_f else "m" if lead.name in book.names_m else None
    hero_gender = hint or rng.choice("mf")
    species = lead.species if lead else ""
    if species in ("girl", "boy"):
        hero_gender = "f" if species == "girl" else "m"
    home = premise.setting if premise.setting in NEIGHBOURS else tone_home
    if not species:
        species = rng.choice(FAUNA[home])
        if species in ("girl", "boy"):
            species = "girl" if hero_gender == "f" else "boy"
    thing = found.thing or rng.choice(SETTING_THINGS[home])
    roles = book.language == "english" and premise.language == "english"
    place = premise.place if roles else ""
    theme = premise.theme or tone_theme
    return World(book, found, theme, home, thing, species, hero_gender, premise, place, roles)


def _character(
    rng: random.Random, name: str, species: str, sex: str, trait: str, taken: set[str]
) -> Character:
    anatomy = SPECIES.get(species, SPECIES["fox"])
    main, secondary = rng.choice(anatomy.palettes)
    colour = rng.choice([c for c in CLOTHING_COLORS if c not in {main, secondary} | taken])
    taken.add(colour)
    items = CLOTHING_ITEMS
    if anatomy.body in ("fish", "octopus", "turtle"):
        items = ("bow", "hat", "cap")
    elif anatomy.body == "bird":
        items = ("scarf", "bow", "hat", "cap", "backpack")
    seed = rng.getrandbits(30) * 2 + (1 if sex == "f" else 0)
    return Character(name, species, (main, secondary), f"{colour} {rng.choice(items)}", trait, seed)


def cast(request: StoryRequest, world: World) -> tuple[Character, ...]:
    """The prompt's characters first, each with the role, name and adjective it gave them
    (the hero is the first of them), then friends from the setting's fauna."""
    rng = random.Random(cast_seed(request) ^ 0x5EED)
    book, found, people = world.book, world.analysis, world.premise.characters[:4]
    _theme, _home, tone_trait = TONE_DEFAULTS.get(request.tone, TONE_DEFAULTS["heartwarming"])
    lead = people[0] if people else None
    hero_trait = trait_of(lead.adjectives if lead else ()) or found.trait or tone_trait
    used_names = {p.name for p in people if p.name} | set(found.names)
    taken: set[str] = set()

    def pick_name(sex: str) -> str:
        pool = book.names_f if sex == "f" else book.names_m
        free = [n for n in pool if n not in used_names] or list(pool)
        name = rng.choice(free)
        used_names.add(name)
        return name

    hero_name = lead.name if lead and lead.name else pick_name(world.hero_gender)
    hero = _character(rng, hero_name, world.hero_species, world.hero_gender, hero_trait, taken)
    clothing = clothes_of(lead.role) if lead else None
    clothing = clothing or (ROLES[found.role][0] if found.role and not lead else None)
    hero = replace(hero, clothing=clothing or hero.clothing, role=lead.role if lead else "")
    wanted = 2 if request.units < 8 else 3
    told = {p.species for p in people}
    species_pool = [s for s in FAUNA[world.home] if s != world.hero_species and s not in told]
    rng.shuffle(species_pool)
    traits = [t for t in TRAITS if t != hero_trait]
    friends = []
    for p in people[1:]:
        kind = p.species or (species_pool.pop(0) if species_pool else "rabbit")
        sex = p.gender or rng.choice("mf")
        if kind in ("girl", "boy"):
            sex = "f" if kind == "girl" else "m"
        trait = trait_of(p.adjectives) or rng.choice(traits)
        friend = _character(rng, p.name or pick_name(sex), kind, sex, trait, taken)
        friends.append(replace(friend, clothing=clothes_of(p.role) or friend.clothing, role=p.role))
    for i in range(wanted - len(friends)):
        kind = species_pool[i % len(species_pool)] if species_pool else "rabbit"
        sex = rng.choice("mf")
        if kind == "child":
            kind = "girl" if sex == "f" else "boy"
        if kind in ("girl", "boy"):
            sex = "f" if kind == "girl" else "m"
        friends.append(_character(rng, pick_name(sex), kind, sex, rng.choice(traits), taken))
    return (hero, *friends)


def beats(n: int) -> list[str]:
    """The arc over ``n`` pages: beginning, middle and end, whatever the length."""
    if n <= 0:
        return []
    short = {1: ["intro"], 2: ["intro", "ending"], 3: ["intro", "trouble", "ending"]}
    if n in short:
        return short[n]
    if n == 4:
        return ["intro", "want", "turn", "ending"]
    troubles = 1 + (n >= 12) + (n >= 30)
    middle = n - 4 - troubles
    journey = ["trouble" if i % 9 == 8 else "journey" for i in range(middle)]
    return ["intro", "want", *journey, *["trouble"] * troubles, "turn", "ending"]


def _layout_places(home: str, arc: Sequence[str], premise: Premise | None = None) -> list[str]:
    """Each page's setting: home at the start and the end, a tour of the neighbours between.
    A prompt that names its place keeps the story there and next door, and its event happens
    at home ("the storm hits the lighthouse")."""
    near = NEIGHBOURS[home]
    tour = [home, near[0], near[1], home, near[2]]
    if premise is not None and premise.place:
        tour = [home, near[0]]
    crisis = near[-1] if len(tour) > 2 else near[0]
    if premise is not None and premise.event:
        crisis = home
    places, step = [], 0
    for beat in arc:
        if beat in ("intro", "want", "ending"):
            places.append(home)
        elif beat in ("trouble", "turn"):
            places.append(crisis)
        else:
            places.append(tour[step % len(tour)])
            step += 1
    return places


def _layout_cast(
    characters: Sequence[Character], arc: Sequence[str], told: int = 0
) -> list[tuple[str, ...]]:
    """Who is on each page: the hero always; the prompt's other ``told`` characters on every
    page of the middle, the setting's friends taking turns beside them."""
    hero, friends = characters[0], list(characters[1:])
    key = friends[:told] or friends
    others = friends[told:] if told and len(friends) > told else None
    out: list[tuple[str, ...]] = []
    step = 0
    for beat in arc:
        if not friends or beat == "intro":
            out.append((hero.name,))
        elif beat == "want":
            out.append((hero.name, friends[0].name))
        elif beat == "ending":
            out.append(tuple(c.name for c in characters))
        else:
            first = key[step % len(key)]
            second = others[step % len(others)] if others else key[(step + 1) % len(key)]
            with_two = beat != "journey" or step % 3 == 2
            out.append(
                (hero.name, first.name, second.name) if with_two else (hero.name, first.name)
            )
            step += 1
    return out


def slots(
    world: World, characters: Sequence[Character], item: OutlineItem | None, index: int
) -> tuple[dict[str, str], tuple[str, str, str]]:
    """Template slot values and (hero, friend, second friend) genders for one page."""
    book = world.book
    by_name = {c.name: c for c in characters}
    hero = characters[0]
    friends = list(characters[1:]) or [hero]
    present = [by_name[n] for n in (item.characters if item else ()) if n in by_name]
    f = present[1] if len(present) > 1 else friends[index % len(friends)]
    rest = [c for c in friends if c is not f] or [f]
    g = present[2] if len(present) > 2 else rest[index % len(rest)]
    setting = item.setting if item and item.setting in book.places else world.home
    values: dict[str, str] = {"H": hero.name, "F": f.name, "G": g.name}
    for prefix, who in (("h", hero), ("f", f), ("g", g)):
        if world.roles and who.role:  # the prompt's word: "a lighthouse keeper"
            a, the, bare = articles("en", who.role)
            told = next((p for p in world.premise.characters if p.role == who.role), None)
            described = " ".join([*(told.adjectives if told else ()), who.role])
            described_a, described_the, _ = articles("en", described)  # "a shy ... keeper"
            values |= {f"{prefix}_np": described_a, f"{prefix}_npt": described_the}
        else:
            a, the, bare = articles(book.article, book.species.get(who.species, who.species))
            values |= {f"{prefix}_np": a, f"{prefix}_npt": the}
        values |= {f"{prefix}_a": a, f"{prefix}_the": the, f"{prefix}_sp": bare}
    word, at, to = book.places[setting]
    home_word, home_at, home_to = book.places[world.home]
    if world.place:  # the prompt's own place: "at the lighthouse on the rocky coast", in
        # full on page one and as "the lighthouse" after
        home_at, home_to, home_word = place_forms(world.place, short=index > 0)
        if setting == world.home:
            at, to, word = home_at, home_to, home_word
    plural, many = book.things[world.thing]
    event, event_the = event_words(world.premise)
    values |= {
        "gist": premise_reader.told_back(world.premise, book.language),
        "event": event,
        "event_the": event_the,
        "over": over_of(world.home, book.places[world.home][0]),
    }
    values |= {
        "at": at,
        "to": to,
        "place_word": word,
        "home_at": home_at,
        "home_to": home_to,
        "home_word": home_word,
        "things": plural,
        "many": many,
        "things_t": plural.title() if book.article == "en" else plural,
        "trait": book.traits.get(hero.trait, hero.trait),
        "moral": book.themes[world.theme][2],
    }
    return values, (gender(hero), gender(f), gender(g))


def outline(
    request: StoryRequest, world: World, characters: Sequence[Character]
) -> tuple[OutlineItem, ...]:
    rng = random.Random(layout_seed(request, "outline"))
    arc = beats(request.units)
    premise = world.premise
    places = _layout_places(world.home, arc, premise)
    told = min(len(premise.characters), len(characters)) - 1
    people = _layout_cast(characters, arc, max(0, told))
    by_name = {c.name: c for c in characters}
    items = []
    seen: set[str] = set()
    for i, beat in enumerate(arc):
        draft = OutlineItem(i, "", "", people[i], places[i])
        values, genders = slots(world, characters, draft, i)
        headings = list(world.book.headings[beat])
        rng.shuffle(headings)
        title = next((h for h in headings if render(h, values, genders) not in seen), headings[0])
        title = render(title, values, genders)
        seen.add(title)
        summary = render(world.book.summaries[beat], values, genders)
        weather, time = weather_and_time(premise, beat)
        present = [by_name[n] for n in people[i] if n in by_name]
        action = action_of(premise, beat, present, places[i], world.home, premise.place)
        items.append(OutlineItem(i, title, summary, people[i], places[i], weather, time, action))
    return tuple(items)


def build_plan(request: StoryRequest) -> StoryPlan:
    if request.units < 1:
        raise ValueError("a book needs at least one page or chapter")
    world = world_of(request)
    characters = cast(request, world)
    items = outline(request, world, characters)
    rng = random.Random(layout_seed(request, "title"))
    values, genders = slots(world, characters, items[0], 0)
    theme = world.book.themes[world.theme]
    title = render(rng.choice((theme[3], theme[3], *world.book.titles)), values, genders)
    premise = world.premise
    if world.book.language == "english":
        title = english_title(premise, characters) or title
    elif len(premise.characters) > 1 and len(characters) > 1 and world.book.pair:
        title = render(world.book.pair, values, genders)
    return StoryPlan(
        title=title,
        characters=characters,
        outline=items,
        setting=world.home,
        moral=render(theme[2], values, genders),
        summary=render(world.book.book_summary, values, genders),
        place=premise.place,
        event=premise.event,
    )


__all__ = [
    "BEATS",
    "COUNTS",
    "LEVELS",
    "Page",
    "Sentence",
    "World",
    "beats",
    "build_plan",
    "cast",
    "gender",
    "layout_seed",
    "slots",
    "world_of",
]
