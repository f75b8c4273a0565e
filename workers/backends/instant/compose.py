"""Choosing each page's sentences, and rendering a page or a comic page's speech bubbles.

Templates are drawn from per-beat decks without replacement, so a book repeats a sentence only
once a beat's templates (and then the middle of the story's) are used up; a page whose choice of
templates equals an earlier page's is drawn again.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from workers.backends.base import Character, OutlineItem, StoryPlan, StoryRequest, stable_seed
from workers.backends.instant.bible import event_key, event_line
from workers.backends.instant.phrasebook import BEATS, Phrasebook, render
from workers.backends.instant.story import (
    COUNTS,
    LEVELS,
    Page,
    Sentence,
    World,
    beats,
    gender,
    layout_seed,
    slots,
)

__all__ = ["Decks", "dialogue_lines", "layout", "render_page"]

_SUBJECTS = ("{H", "{F", "{G")


class Decks:
    """Draws templates for one book: each beat's own first, then unused ones of the other
    written levels, then the middle of the story's, and only then repeats. Toddler (``s``)
    templates are never mixed with the others: they are in the present tense."""

    def __init__(self, book: Phrasebook, levels: str, rng: random.Random) -> None:
        self.book = book
        self.rng = rng
        every = {b: tuple(t[2:] for t in book.beats[b]) for b in BEATS}
        self.rank = {t: i for b in BEATS for i, t in enumerate(every[b])}
        self.openings = {b: book.openings(b, levels) for b in BEATS}
        closed = {b: set(book.openings(b, "smr")) for b in BEATS}
        self.primary = {
            b: tuple(t for t in book.pool(b, levels) if t not in closed[b]) for b in BEATS
        }
        other = "" if levels == "s" else "".join(c for c in "mr" if c not in levels)
        self.secondary = {
            b: tuple(t for t in book.pool(b, other) if t not in closed[b]) if other else ()
            for b in BEATS
        }
        self.used: dict[str, set[str]] = {b: set() for b in BEATS}
        self.tones: list[str] = []
        self.tone_rounds = 0
        self.repeat_tones = False  # long books may reuse tone sentences; short ones never do
        self.openers: list[str] = []

    def _fresh(self, beat: str, avoid: set[str]) -> list[str]:
        for pool in (self.primary[beat], self.secondary[beat]):
            choice = [t for t in pool if t not in self.used[beat] and t not in avoid]
            if choice:
                return choice
        return []

    def fresh_count(self, beat: str) -> int:
        return len(self._fresh(beat, set()))

    def draw(self, beat: str, avoid: set[str], *, opening: bool = False) -> str:
        source = beat
        choice = [t for t in self.openings[beat] if t not in avoid] if opening else []
        choice = choice or self._fresh(beat, avoid)
        if not choice and beat != "journey":
            source, choice = "journey", self._fresh("journey", avoid)
        if not choice:
            source = beat
            self.used[beat].clear()
            choice = [t for t in self.primary[beat] if t not in avoid] or list(self.primary[beat])
        template = self.rng.choice(choice)
        self.used[source].add(template)
        rank = self.rank.get(template, 0)
        if (
            source in ("journey", "trouble")
            and self.book.openers
            and template.startswith(_SUBJECTS)
            and self.rng.random() < 0.3
        ):
            if not self.openers:
                self.openers = list(self.book.openers)
                self.rng.shuffle(self.openers)
            space = "" if self.book.joiner == "" else " "
            template = self.openers.pop() + space + template
            self.rank[template] = rank
        avoid.add(template)
        return template

    def tone(self, tone: str, avoid: set[str]) -> str | None:
        if not self.tones and (self.tone_rounds == 0 or self.repeat_tones):
            self.tones = list(self.book.tones.get(tone, self.book.tones["heartwarming"]))
            self.rng.shuffle(self.tones)
            self.tone_rounds += 1
        choice = next((t for t in self.tones if t not in avoid), None)
        if choice:
            self.tones.remove(choice)
            avoid.add(choice)
        return choice


def _paragraph(
    decks: Decks,
    world: World,
    request: StoryRequest,
    beat: str,
    count: int,
    levels: str,
    *,
    specials: bool,
    single: bool,
) -> list[Sentence]:
    """One paragraph: the beat's sentences in their written order, with the lesson, a tone
    sentence and the moral placed where a reader expects them."""
    rng = decks.rng
    theme = world.book.themes[world.theme]
    avoid: set[str] = set()
    lesson: list[str] = []
    if specials and levels != "s":
        if single:
            lesson = [theme[0], theme[1]]
        elif beat == "want":
            lesson = [theme[0]]
        elif beat == "turn":
            lesson = [theme[1]]
    moral = [theme[2]] if specials and (beat == "ending" or single) else []
    tone = None
    if beat in ("journey", "trouble") and levels != "s" and rng.random() < 0.5:
        tone = decks.tone(request.tone, avoid)
    core_count = max(1, count - len(lesson) - len(moral) - (1 if tone else 0))
    if beat not in ("journey", "trouble"):  # only the middle may borrow other beats' lines
        core_count = max(
            1, min(core_count, decks.fresh_count(beat) + (1 if beat == "intro" else 0))
        )
    opening = specials and beat == "intro"
    core = [decks.draw(beat, avoid, opening=opening)]
    while len(core) < core_count:
        core.append(decks.draw(beat, avoid))
    core = core[:1] + sorted(core[1:], key=lambda t: decks.rank.get(t, 0))
    if not opening:
        core.sort(key=lambda t: decks.rank.get(t, 0))
    out = core[:1] + lesson + core[1:]
    if tone:
        out.insert(1 + rng.randrange(len(out)), tone)
    return [(t, -1) for t in out + moral]


def _dialogue_paragraph(decks: Decks, beat: str) -> list[Sentence]:
    lines = list(dict.fromkeys(decks.book.lines[beat] + decks.book.lines["journey"]))
    decks.rng.shuffle(lines)
    return [(line, i % 2) for i, line in enumerate(lines[: 2 + decks.rng.randrange(2)])]


def _names_lead(page: Page) -> bool:
    """Whether a page names the hero or the page's first friend (the prompt's second
    character, where it has one): narrated, or speaking in a conversation."""
    return any(_leads(t) or speaker >= 0 for para in page for t, speaker in para)


def _leads(template: str) -> bool:
    return "{H" in template or "{F" in template


def _name_the_lead(page: Page, own: int, decks: Decks, beat: str) -> Page:
    """``page`` with its last story sentence swapped for one that names the hero or the
    friend, so every page says who it is about (toddler lines such as "Oh no!" name nobody)."""
    para = list(page[own])
    on_page = {t for p in page for t, _s in p}
    spot = max((i for i, (t, s) in enumerate(para) if s < 0 and t in decks.rank), default=-1)
    for source in (beat, "journey"):
        pool = [
            t
            for t in decks.primary[source]
            if _leads(t) and t not in on_page and t not in decks.used[source]
        ]
        if pool and spot >= 0:
            choice = decks.rng.choice(pool)
            decks.used[source].add(choice)
            para[spot] = (choice, -1)
            break
    else:
        para.append((decks.book.found, -1))
    return (*page[:own], tuple(para), *page[own + 1 :])


def _premise_lines(
    world: World, arc: Sequence[str], index: int, levels: str, nth: int
) -> tuple[list[Sentence], list[Sentence]]:
    """The premise's own sentences for a page: page one opens by telling the prompt back and
    meeting the hero as the prompt describes them, the prompt's second character is met where
    the hero first meets a friend, and the event comes in on the trouble pages and ends on the
    turn ("At last the storm passed")."""
    front: list[Sentence] = []
    back: list[Sentence] = []
    beat = arc[index]
    premise, meet = world.premise, world.book.meet if world.roles else ()
    if index == 0 and premise.statement and world.book.lead:
        front.append((world.book.lead, -1))
    if index == 0 and meet and premise.characters and premise.characters[0].role:
        back.append((meet[0], -1))
    meeting = arc.index("want") if "want" in arc else 0
    if index == meeting and len(meet) > 1 and len(premise.characters) > 1:
        back.append((meet[1], -1))
    key = event_key(world.premise)
    if key and (beat == "trouble" or (beat == "turn" and not world.premise.weather_all)):
        line = event_line(world.book.events, key, beat, levels, nth)
        if line:
            (front if beat == "trouble" else back).append((line, -1))
    return front, back


def layout(request: StoryRequest, world: World, salt: str = "") -> list[Page]:
    """Every page's templates, chosen for the whole book at once so no two pages repeat, each
    naming its hero, page one telling the prompt back and the event on the pages it happens."""
    rng = random.Random(layout_seed(request, "pages" + salt))
    novel = request.format == "novel"
    levels = "mr" if novel else LEVELS.get(request.age_range, "m")
    low, high = COUNTS.get(request.age_range, COUNTS["4-7"])
    if request.format in ("comic", "chapter_comic"):
        low, high = max(1, low - 2), max(1, high - 2)
    decks = Decks(world.book, levels, rng)
    arc = beats(request.units)
    decks.repeat_tones = novel or len(arc) > 16
    single = len(arc) == 1
    pages: list[Page] = []
    seen: set[Page] = set()

    def paragraph(beat: str, count: int, specials: bool) -> tuple[Sentence, ...]:
        return tuple(
            _paragraph(decks, world, request, beat, count, levels, specials=specials, single=single)
        )

    told = {"trouble": 0, "turn": 0}
    for index, beat in enumerate(arc):
        front, back = _premise_lines(world, arc, index, levels, told.get(beat, 0))
        if beat in told:
            told[beat] += 1
        page: Page = ()
        own = 0
        for _attempt in range(6):
            if novel:  # a chapter: the beat's paragraph, the road around it, a conversation
                middle = "trouble" if beat == "trouble" else "journey"
                mine = (*front, *paragraph(beat, rng.randint(3, 5), True), *back)
                road = [
                    paragraph(middle, rng.randint(3, 5), False) for _ in range(rng.randint(2, 3))
                ]
                paras = [*road, mine] if beat in ("turn", "ending") else [mine, *road]
                talk = tuple(_dialogue_paragraph(decks, beat))
                paras.insert(1 + rng.randrange(len(paras) - 1), talk)
                page = tuple(paras)
                own = page.index(mine)
            else:
                count = max(1, rng.randint(low, high) - len(front) - len(back))
                page = ((*front, *paragraph(beat, count, True), *back),)
            if page not in seen and _names_lead(page):
                break
        if not _names_lead(page):
            page = _name_the_lead(page, own, decks, beat)
        if page in seen:  # every redraw collided: make it unique by adding one more line
            page = (page[0] + ((decks.draw("journey", set()), -1),), *page[1:])
        seen.add(page)
        pages.append(page)
    return pages


def _speaker_slots(
    world: World,
    characters: Sequence[Character],
    item: OutlineItem | None,
    index: int,
    speaker: Character,
    other: Character,
) -> tuple[dict[str, str], tuple[str, str, str]]:
    rest = [c for c in characters if c is not speaker and c is not other]
    names = (speaker.name, other.name, *(c.name for c in rest[:1]))
    setting = item.setting if item else world.home
    order = [speaker, other, *rest]
    return slots(world, order, OutlineItem(index, "", "", names, setting), index)


def render_page(
    world: World, plan: StoryPlan, index: int, page: Page, item: OutlineItem | None = None
) -> str:
    characters = plan.characters
    if item is None and index < len(plan.outline):
        item = plan.outline[index]
    values, genders = slots(world, characters, item, index)
    by_name = {c.name: c for c in characters}
    hero = characters[0]
    friend = by_name.get(values["F"], hero)
    book = world.book
    paragraphs = []
    for para in page:
        out = []
        for template, speaker in para:
            if speaker < 0:
                out.append(render(template, values, genders))
                continue
            who, other = (hero, friend) if speaker == 0 else (friend, hero)
            said, said_g = _speaker_slots(world, characters, item, index, who, other)
            line = render(template, said, said_g)
            out.append(render(book.say, {"line": line, "S": who.name}, said_g))
        paragraphs.append(book.joiner.join(out))
    return "\n\n".join(paragraphs)


def dialogue_lines(
    request: StoryRequest, world: World, plan: StoryPlan, index: int, panels: int
) -> list[str]:
    """Speech-bubble lines for one comic page, spoken in turn by the page's characters."""
    if panels <= 0:
        return []
    arc = beats(len(plan.outline)) or ["journey"]
    beat = arc[min(index, len(arc) - 1)]
    item = plan.outline[index] if index < len(plan.outline) else None
    by_name = {c.name: c for c in plan.characters}
    speakers = [by_name[n] for n in (item.characters if item else ()) if n in by_name]
    speakers = speakers or list(plan.characters[:2])
    book = world.book
    pool = list(dict.fromkeys(book.lines[beat] + book.lines["journey"] + book.lines["turn"]))
    rng = random.Random(stable_seed(layout_seed(request, "dialogue"), index))
    rng.shuffle(pool)
    out = []
    for p in range(panels):
        who = speakers[p % len(speakers)]
        other = speakers[(p + 1) % len(speakers)] if len(speakers) > 1 else plan.characters[-1]
        values, genders = _speaker_slots(world, plan.characters, item, index, who, other)
        line = render(pool[p % len(pool)], values, genders)
        out.append(render(book.speaker, {"S": who.name, "line": line}, (gender(who), "m", "m")))
    return out
