"""How true a finished book is to its prompt: the figures ``bench/quality.py`` prints.

Every function here is pure over a ``FinishedBook`` (its request, plan, page texts and page
pictures), so each figure can be checked on a hand-made book (tests/unit/test_quality_metrics.py)
and means the same on every backend set. Each docstring gives the figure's exact definition.

Words are compared folded (case-folded, accents dropped: a writer that drops an accent still
names the thing) and, where said, on a light stem: a few inflection endings are cut so that
"befriends" and "befriended", or "pequeño" and "pequeña", count as the same word.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from statistics import fmean
from typing import Final

from PIL import Image

from workers.backends.base import StoryPlan
from workers.backends.page_check import stray_names
from workers.backends.premise import premise_of

__all__ = [
    "TARGETS",
    "BookPage",
    "BookScores",
    "FinishedBook",
    "Overall",
    "SceneReader",
    "bible_adherence",
    "book_coverage",
    "content_words",
    "coverage",
    "distinct_2",
    "judge",
    "off_bible_pages",
    "overall",
    "page_names_bible",
    "scene_match",
    "scene_reads",
    "score_book",
    "stem",
    "stray_characters",
    "tokens",
    "units_made",
]

# Reads which setting key a picture shows; ``workers.backends.instant.scene_guess.guess_setting``.
SceneReader = Callable[[Image.Image, str], str]

_CJK_CHARS = "\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff"
# A token is one CJK character (those scripts do not separate words) or a run of other letters.
_TOKEN = re.compile(rf"[{_CJK_CHARS}]|[^\W\d_{_CJK_CHARS}]+")
_CJK = re.compile(rf"[{_CJK_CHARS}]")

# Inflection endings cut by ``stem``, longest first; English also drops a final "e" and a
# doubled final consonant after the cut (share~sharing, plan~planned).
_SUFFIXES: Final = {
    "english": ("ingly", "edly", "ings", "ing", "ied", "ies", "ed", "es", "s", "ly"),
    "spanish": ("ones", "es", "as", "os", "a", "o", "s", "e"),
    "french": ("ement", "es", "s", "e", "x"),
    "german": ("ern", "en", "er", "es", "em", "e", "n", "s"),
}
_MIN_STEM = 3

# Words too common to name a character or a place by (``page_names_bible``).
_STOP_WORDS: Final = frozenset(
    """
    a an the and or but of to in on at by for with from into about over under through during
    is are was were be been being am do does did has have had who whom whose which that this
    these those what when where why how its it his her their our your my me him them us they
    he she we you i very so too up out off again once as than then there here just not no
    un una unos unas el la los las y o de del al en con por para su sus que se es lo le
    une le les et ou du des au aux dans avec pour sur son sa ses qui est
    ein eine einen einem einer der die das den dem des und oder im in am mit fur von zu sein
    seine ihr ihre ist
    """.split()
)


# -- the book -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookPage:
    """One page as a reader gets it: ``text`` is its story words (a comic's caption and then
    its speech lines), ``heading`` a chapter title printed over them, ``pictures`` the scene
    art on it (a comic: one per panel; a novel's typeset chapter page: none).

    Headings count where the book is read for what it says (coverage, adherence), not where
    it is read as prose: a title capitalises every word (no stray names there) and is no
    sentence (no distinct-2)."""

    unit: int
    kind: str
    text: str
    pictures: tuple[Image.Image, ...] = ()
    heading: str = ""

    @property
    def printed(self) -> str:
        return f"{self.heading}\n{self.text}" if self.heading else self.text


@dataclass(frozen=True, slots=True)
class FinishedBook:
    prompt: str
    language: str
    art_style: str
    requested_units: int
    plan: StoryPlan
    pages: tuple[BookPage, ...]
    wall_s: float = 0.0


# -- words ----------------------------------------------------------------------------------------


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokens(text: str) -> list[str]:
    """The text's words, case-folded with accents kept; a CJK character is a word of its own."""
    return _TOKEN.findall(text.casefold())


def stem(word: str, language: str = "english") -> str:
    """The word folded, with the first of its language's endings (``_SUFFIXES``) cut that
    leaves at least three letters; languages without a table only lose a plural "s"."""
    word = _fold(word)
    if _CJK.search(word):
        return word
    for suffix in _SUFFIXES.get(language, ("s",)):
        if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_STEM:
            word = word[: -len(suffix)] + ("y" if suffix in ("ied", "ies") else "")
            break
    if language == "english":
        if word.endswith("e") and len(word) > _MIN_STEM:
            word = word[:-1]
        if len(word) > _MIN_STEM and word[-1] == word[-2] and word[-1] not in "aeiousl":
            word = word[:-1]
    return word


def _stems(text: str, language: str) -> set[str]:
    return {stem(t, language) for t in tokens(text)}


def content_words(prompt: str, language: str = "english") -> tuple[str, ...]:
    """The prompt's content words: ``premise_of(prompt, language).words``, the words the
    pipeline itself reads the prompt by (in order, lower case, no stop words)."""
    return tuple(premise_of(prompt, language).words)


# -- the figures ----------------------------------------------------------------------------------


def coverage(words: Sequence[str], text: str, language: str = "english") -> float:
    """Share of ``words`` (duplicates counted once) found in ``text``, compared on ``stem``;
    a multi-word entry counts when all its words are there, a CJK one when it appears as a
    substring. No words to find: 1.0."""
    wanted = list(dict.fromkeys(w for w in words if w.strip()))
    if not wanted:
        return 1.0
    present = _stems(text, language)
    folded = _fold(text)
    found = 0
    for word in wanted:
        if _CJK.search(word):
            found += _fold(word) in folded
        else:
            found += all(stem(t, language) in present for t in tokens(word))
    return found / len(wanted)


def book_coverage(book: FinishedBook, *, body_only: bool = False) -> float:
    """Prompt coverage: ``coverage`` of the prompt's ``content_words`` over the title and
    every page's printed words (headings included). ``body_only``: over pages 2.. only,
    without the title or page 1 (page 1 restates the premise, so this shows how much of the
    prompt the story itself carries)."""
    pages = book.pages[1:] if body_only else book.pages
    parts = [p.printed for p in pages]
    if not body_only:
        parts.insert(0, book.plan.title)
    words = content_words(book.prompt, book.language)
    return coverage(words, "\n".join(parts), book.language)


def _role_words(role: str, language: str) -> set[str]:
    return {
        stem(t, language)
        for t in tokens(role)
        if len(t) >= _MIN_STEM and _fold(t) not in _STOP_WORDS
    }


def page_names_bible(text: str, plan: StoryPlan, language: str = "english") -> bool:
    """Whether the page names the bible: a plan character by every word of its name, or by
    any content word of its role (its species when the role is ""), or the plan's setting
    key, or any content word longer than three letters of the plan's place; on ``stem``."""
    present = _stems(text, language)
    for c in plan.characters:
        name = [stem(t, language) for t in tokens(c.name)]
        if name and all(n in present for n in name):
            return True
        if _role_words(c.role or c.species, language) & present:
            return True
    place = {stem(t, language) for t in tokens(plan.place) if len(t) > 3}
    place -= {stem(w, language) for w in _STOP_WORDS}
    if plan.setting:
        place.add(stem(plan.setting, language))
    return bool(place & present)


def bible_adherence(book: FinishedBook) -> float:
    """Bible adherence: share of the book's pages for which ``page_names_bible`` holds
    (every page counts, a comic's speech included; no pages: 0.0)."""
    if not book.pages:
        return 0.0
    return 1 - len(off_bible_pages(book)) / len(book.pages)


def stray_characters(book: FinishedBook) -> list[str]:
    """Stray named characters: the distinct (case-insensitive) names that
    ``page_check.stray_names`` finds on any page, in order of first appearance. Allowed: the
    plan characters' names, and the title's words; also their roles and species and the plan's
    place, as "the Keeper" or "the Lighthouse" written with a capital names nobody new."""
    allowed = [book.plan.title, book.plan.place]
    for c in book.plan.characters:
        allowed += [c.name, c.role, c.species]
    found: dict[str, str] = {}
    for page in book.pages:
        for name in stray_names(page.text, allowed, book.language):
            found.setdefault(name.casefold(), name)
    return list(found.values())


def distinct_2(texts: Iterable[str]) -> float:
    """Distinct-2: distinct word bigrams / all word bigrams, bigrams taken within each text
    (never across two pages) over case-folded ``tokens`` (CJK: characters). No bigram: 0.0."""
    grams: list[tuple[str, str]] = []
    for text in texts:
        words = tokens(text)
        grams += pairwise(words)
    return len(set(grams)) / len(grams) if grams else 0.0


def units_made(book: FinishedBook) -> int:
    """Pages (picture book, comic) or chapters (novel) produced: the distinct outline units
    that the book's pages belong to. Page count exactness: this equals ``requested_units``."""
    return len({p.unit for p in book.pages})


def scene_reads(book: FinishedBook, read: SceneReader) -> list[tuple[int, str, str]]:
    """(page number, expected, read) for every page with pictures, in page order. Expected is
    the page's outline item's setting (the plan's setting when that is "", as the
    illustrator was told); read is the setting ``read`` finds most often in the page's
    pictures (a comic's panels vote; the first seen wins a tie)."""
    out = []
    outline = book.plan.outline
    for number, page in enumerate(book.pages, 1):
        if not page.pictures:
            continue
        item = outline[page.unit] if 0 <= page.unit < len(outline) else None
        expected = (item.setting if item else "") or book.plan.setting
        seen = Counter(read(picture, book.art_style) for picture in page.pictures)
        out.append((number, expected, seen.most_common(1)[0][0]))
    return out


def scene_match(book: FinishedBook, read: SceneReader) -> tuple[int, int]:
    """Scene match as (matching, pictured) pages: of the ``scene_reads``, those whose read
    setting equals the expected one. Pages without pictures, such as a novel's typeset
    chapter pages, are not counted at all."""
    reads = scene_reads(book, read)
    return sum(expected == got for _n, expected, got in reads), len(reads)


def off_bible_pages(book: FinishedBook) -> list[int]:
    """Page numbers (from 1) of the pages for which ``page_names_bible`` does not hold."""
    plan, language = book.plan, book.language
    return [
        n for n, p in enumerate(book.pages, 1) if not page_names_bible(p.printed, plan, language)
    ]


# -- a book's and the run's scores ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookScores:
    coverage: float
    coverage_body: float
    adherence: float
    strays: tuple[str, ...]
    distinct2: float
    units_made: int
    units_asked: int
    scene_hits: int
    scene_pages: int  # pages with pictures; 0 for a novel
    wall_s: float
    # What to look at when a figure misses: pages naming no bible character or place, and
    # (page, expected, read) for pages whose picture shows another setting.
    off_bible: tuple[int, ...] = ()
    scene_misses: tuple[tuple[int, str, str], ...] = ()

    @property
    def exact(self) -> bool:
        return self.units_made == self.units_asked


def score_book(book: FinishedBook, read: SceneReader | None) -> BookScores:
    """Every figure for one book; without a scene reader the scene figures are 0 of 0."""
    reads = scene_reads(book, read) if read else []
    misses = tuple(r for r in reads if r[1] != r[2])
    return BookScores(
        coverage=book_coverage(book),
        coverage_body=book_coverage(book, body_only=True),
        adherence=bible_adherence(book),
        strays=tuple(stray_characters(book)),
        distinct2=distinct_2(p.text for p in book.pages),
        units_made=units_made(book),
        units_asked=book.requested_units,
        scene_hits=len(reads) - len(misses),
        scene_pages=len(reads),
        wall_s=book.wall_s,
        off_bible=tuple(off_bible_pages(book)),
        scene_misses=misses,
    )


@dataclass(frozen=True, slots=True)
class Overall:
    """The run's figures: ratios are means over books, except scene match, which is pooled
    over every pictured page (novels have none); strays are per book (mean and worst)."""

    books: int
    coverage: float
    coverage_body: float
    adherence: float
    strays_mean: float
    strays_max: int
    distinct2: float
    exact_share: float
    scene: float | None  # None: no pictured page was read
    wall_s: float


def overall(scores: Sequence[BookScores]) -> Overall:
    if not scores:
        raise ValueError("no books scored")
    hits = sum(s.scene_hits for s in scores)
    pictured = sum(s.scene_pages for s in scores)
    return Overall(
        books=len(scores),
        coverage=fmean(s.coverage for s in scores),
        coverage_body=fmean(s.coverage_body for s in scores),
        adherence=fmean(s.adherence for s in scores),
        strays_mean=fmean(len(s.strays) for s in scores),
        strays_max=max(len(s.strays) for s in scores),
        distinct2=fmean(s.distinct2 for s in scores),
        exact_share=fmean(s.exact for s in scores),
        scene=hits / pictured if pictured else None,
        wall_s=sum(s.wall_s for s in scores),
    )


# Issue 13's targets, the same on every backend set: (label, goal as printed, test).
TARGETS: Final[tuple[tuple[str, str, Callable[[Overall], bool | None]], ...]] = (
    ("prompt coverage", ">= 0.8", lambda o: o.coverage >= 0.8),
    ("bible adherence", ">= 0.9", lambda o: o.adherence >= 0.9),
    ("stray names", "<= 1 per book", lambda o: o.strays_max <= 1),
    ("distinct-2", ">= 0.6", lambda o: o.distinct2 >= 0.6),
    ("exact page counts", "100%", lambda o: o.exact_share == 1.0),
    ("scene match", ">= 0.9", lambda o: None if o.scene is None else o.scene >= 0.9),
)


def judge(result: Overall) -> list[tuple[str, str, bool | None]]:
    """(label, goal, met) per target; met is None where the figure could not be measured."""
    return [(label, goal, test(result)) for label, goal, test in TARGETS]
