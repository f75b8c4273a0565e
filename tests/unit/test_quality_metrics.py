"""The quality bench's figures (bench/quality_metrics.py) on small hand-made books."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image

from workers.backends.base import Character, OutlineItem, StoryPlan


def _load() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "quality_metrics.py"
    spec = importlib.util.spec_from_file_location("quality_metrics", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("quality_metrics", module)
    spec.loader.exec_module(module)
    return module


qm = _load()

KEEPER = Character("Theo", "boy", ("blue",), "", "shy", 1, role="lighthouse keeper")
WHALE = Character("Mira", "whale", ("grey",), "", "", 2)


def _plan(*settings: str, place: str = "the lighthouse on the rocky coast") -> StoryPlan:
    outline = tuple(
        OutlineItem(i, f"Part {i}", "", ("Theo",), setting) for i, setting in enumerate(settings)
    )
    return StoryPlan("Theo and the Whale", (KEEPER, WHALE), outline, "coast", "", "", place)


def _book(texts: list[str], units: int | None = None, **kw: object) -> object:
    plan = kw.pop("plan", None) or _plan(*["coast"] * len(texts))
    pages = tuple(qm.BookPage(i, "picture", t) for i, t in enumerate(texts))
    return qm.FinishedBook(
        prompt=str(kw.pop("prompt", "A shy lighthouse keeper befriends a lost whale")),
        language="english",
        art_style="watercolor",
        requested_units=len(texts) if units is None else units,
        plan=plan,
        pages=pages,
    )


# -- stem and coverage ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "language"),
    [
        ("befriends", "befriended", "english"),
        ("whale", "whales", "english"),
        ("share", "sharing", "english"),
        ("planned", "plan", "english"),
        ("stories", "story", "english"),
        ("pequeño", "pequeña", "spanish"),
        ("forêt", "foret", "french"),
        ("kleiner", "kleine", "german"),
    ],
)
def test_stem_joins_inflections(a: str, b: str, language: str) -> None:
    assert qm.stem(a, language) == qm.stem(b, language)


@pytest.mark.parametrize(("a", "b"), [("keeper", "keep"), ("storm", "story"), ("cat", "cut")])
def test_stem_keeps_different_words_apart(a: str, b: str) -> None:
    assert qm.stem(a) != qm.stem(b)


def test_coverage_counts_words_found_on_their_stem() -> None:
    words = ("shy", "lighthouse", "keeper", "befriends", "lost", "whale", "storm", "shy")
    text = "The keeper of the Lighthouse befriended two whales."
    # keeper, lighthouse, befriends, whale of 7 distinct words
    assert qm.coverage(words, text) == pytest.approx(4 / 7)
    assert qm.coverage((), text) == 1.0
    assert qm.coverage(("storm",), "") == 0.0


def test_coverage_multiword_and_cjk_entries() -> None:
    assert qm.coverage(("lighthouse keeper",), "a keeper by the lighthouse") == 1.0
    assert qm.coverage(("lighthouse keeper",), "a keeper by the sea") == 0.0
    assert qm.coverage(("灯台", "鯨"), "灯台の近くに") == 0.5


def test_book_coverage_with_and_without_page_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qm, "content_words", lambda prompt, language: ("keeper", "whale", "storm"))
    book = _book(["A keeper met a whale in a storm.", "The whale sang.", "They slept."])
    assert qm.book_coverage(book) == 1.0
    assert qm.book_coverage(book, body_only=True) == pytest.approx(1 / 3)


def test_book_coverage_counts_the_title(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qm, "content_words", lambda prompt, language: ("theo", "storm"))
    book = _book(["Waves rolled in."])
    assert qm.book_coverage(book) == 0.5  # "Theo" from the title only
    assert qm.book_coverage(book, body_only=True) == 0.0


def test_content_words_drop_stop_words() -> None:
    words = qm.content_words("A shy lighthouse keeper befriends a lost whale during a storm")
    assert {"lighthouse", "keeper", "whale", "storm"} <= set(words)
    assert not {"a", "during"} & set(words)


# -- bible adherence ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Theo climbed the stairs.", True),  # a name
        ("The keeper lit the lamp.", True),  # a role word
        ("Two whales sang.", True),  # the species, as the whale has no role
        ("Waves hit the rocky shore.", True),  # a place word
        ("A cat ate a sandwich.", False),
        ("", False),
    ],
)
def test_page_names_bible(text: str, names: bool) -> None:
    assert qm.page_names_bible(text, _plan("coast")) is names


def test_setting_key_names_the_bible_without_a_place() -> None:
    plan = _plan("coast", place="")
    assert qm.page_names_bible("Gulls flew over the coast.", plan)
    assert not qm.page_names_bible("Waves hit the rocky shore.", plan)


def test_bible_adherence_is_the_share_of_pages() -> None:
    book = _book(["Theo waved.", "A cat ate.", "The whale swam.", "Rain fell."])
    assert qm.bible_adherence(book) == 0.5
    assert qm.bible_adherence(_book([])) == 0.0


# -- stray names ----------------------------------------------------------------------------------


def test_stray_characters_are_distinct_names_outside_the_bible() -> None:
    book = _book(
        [
            "Theo waved at Mira. Then he saw Oliver on the rocks.",
            "The whale and Oliver swam. Later Aisha came with a lamp.",
            "Theo and the Whale were friends.",
        ]
    )
    assert qm.stray_characters(book) == ["Oliver", "Aisha"]


def test_no_stray_characters_when_only_the_cast_is_named() -> None:
    book = _book(["Theo saw Mira from the Lighthouse.", "Mira sang to Theo."])
    assert qm.stray_characters(book) == []


# -- distinct-2 -----------------------------------------------------------------------------------


def test_distinct_2() -> None:
    assert qm.distinct_2(["a b a b"]) == pytest.approx(2 / 3)
    assert qm.distinct_2(["the cat sat", "The cat ran"]) == pytest.approx(3 / 4)
    # bigrams never cross from one page to the next
    assert qm.distinct_2(["one two", "three four"]) == 1.0
    assert qm.distinct_2(["猫猫猫"]) == 0.5
    assert qm.distinct_2(["", "alone"]) == 0.0


# -- page counts ----------------------------------------------------------------------------------


def test_units_made_and_exactness() -> None:
    assert qm.units_made(_book(["a", "b", "c"])) == 3
    scores = qm.score_book(_book(["a", "b"], units=3), None)
    assert (scores.units_made, scores.units_asked, scores.exact) == (2, 3, False)
    assert qm.score_book(_book(["a", "b"]), None).exact


# -- scene match ----------------------------------------------------------------------------------

_COLOURS = {"coast": (10, 60, 200), "city": (120, 120, 120), "forest": (20, 140, 30)}


def _picture(setting: str) -> Image.Image:
    return Image.new("RGB", (8, 8), _COLOURS[setting])


def _read(picture: Image.Image, style: str) -> str:
    assert style == "watercolor"
    pixel = picture.getpixel((0, 0))
    return next(k for k, v in _COLOURS.items() if v == pixel)


def test_scene_match_counts_pictured_pages_only() -> None:
    plan = _plan("coast", "coast", "forest", "", "coast")
    pages = (
        qm.BookPage(0, "picture", "", (_picture("coast"),)),
        qm.BookPage(1, "picture", "", (_picture("city"),)),  # wrong scene
        qm.BookPage(2, "comic", "", (_picture("forest"), _picture("city"), _picture("forest"))),
        qm.BookPage(3, "picture", "", (_picture("coast"),)),  # "" -> the plan's setting
        qm.BookPage(4, "chapter", "", ()),  # no picture: not counted
    )
    book = qm.FinishedBook("p", "english", "watercolor", 5, plan, pages)
    assert qm.scene_match(book, _read) == (3, 4)


def test_scene_match_panels_vote() -> None:
    plan = _plan("forest")
    panels = (_picture("city"), _picture("city"), _picture("forest"))
    book = qm.FinishedBook(
        "p", "english", "watercolor", 1, plan, (qm.BookPage(0, "comic", "", panels),)
    )
    assert qm.scene_match(book, _read) == (0, 1)


# -- overall and targets --------------------------------------------------------------------------


def _scores(**kw: object) -> object:
    base: dict[str, object] = dict(
        coverage=0.9,
        coverage_body=0.5,
        adherence=1.0,
        strays=(),
        distinct2=0.7,
        units_made=4,
        units_asked=4,
        scene_hits=4,
        scene_pages=4,
        wall_s=1.0,
    )
    base.update(kw)
    return qm.BookScores(**base)


def test_overall_means_and_pooled_scene() -> None:
    o = qm.overall(
        [
            _scores(coverage=1.0, strays=("Oliver", "Aisha"), scene_hits=1, scene_pages=2),
            _scores(coverage=0.5, units_made=3, scene_hits=0, scene_pages=0, wall_s=2.0),
        ]
    )
    assert o.coverage == 0.75
    assert (o.strays_mean, o.strays_max) == (1.0, 2)
    assert o.exact_share == 0.5
    assert o.scene == 0.5
    assert o.wall_s == 3.0
    with pytest.raises(ValueError):
        qm.overall([])


def test_judge_passes_and_misses() -> None:
    verdicts = {label: met for label, _goal, met in qm.judge(qm.overall([_scores()]))}
    assert all(verdicts.values())
    missed = qm.judge(
        qm.overall([_scores(coverage=0.79, strays=("A", "B"), units_made=3, scene_pages=0)])
    )
    verdicts = {label: met for label, _goal, met in missed}
    assert verdicts["prompt coverage"] is False
    assert verdicts["stray names"] is False
    assert verdicts["exact page counts"] is False
    assert verdicts["scene match"] is None  # nothing pictured: not measured
    assert verdicts["bible adherence"] is True


def test_capitalised_species_role_and_place_are_not_strays() -> None:
    plan = _plan("coast", place="Gull Rock")
    book = _book(["Theo met the Whale near Gull Rock. The Keeper smiled."], plan=plan)
    assert qm.stray_characters(book) == []
    book = _book(["Theo met the Whale near Gull Rock and Oliver."], plan=plan)
    assert qm.stray_characters(book) == ["Oliver"]


def test_score_book_lists_the_pages_behind_misses() -> None:
    plan = _plan("coast", "coast", "city")
    pages = (
        qm.BookPage(0, "picture", "Theo waved.", (_picture("coast"),)),
        qm.BookPage(1, "picture", "A cat ate.", (_picture("forest"),)),
        qm.BookPage(2, "chapter", "Mira sang.", ()),
    )
    book = qm.FinishedBook("p", "english", "watercolor", 3, plan, pages)
    scores = qm.score_book(book, _read)
    assert scores.off_bible == (2,)
    assert scores.scene_misses == ((2, "coast", "forest"),)
    assert (scores.scene_hits, scores.scene_pages) == (1, 2)


def test_headings_count_for_coverage_and_adherence_not_for_strays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(qm, "content_words", lambda prompt, language: ("storm",))
    page = qm.BookPage(0, "chapter", "It was quiet.", heading="The Keeper and the Storm Upon Us")
    book = qm.FinishedBook("p", "english", "sketch", 1, _plan("coast", place=""), (page,))
    assert qm.stray_characters(book) == []
    assert qm.bible_adherence(book) == 1.0
    assert qm.book_coverage(book) == 1.0
    assert qm.distinct_2(p.text for p in book.pages) == 1.0
