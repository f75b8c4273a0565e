"""The instant writer follows the prompt: its characters, roles, place and event, on every page,
in every format, and through chat edits."""

from __future__ import annotations

import re

import pytest

from workers.backends.base import StoryPlan, StoryRequest
from workers.backends.instant import InstantWriter
from workers.backends.instant.lang import BOOKS
from workers.backends.instant.phrasebook import render

LIGHTHOUSE = "A shy lighthouse keeper befriends a lost whale during a storm"


def request(prompt: str = LIGHTHOUSE, **kw: object) -> StoryRequest:
    fields: dict = {"format": "picture", "units": 12, "art_style": "watercolor"} | kw
    return StoryRequest(prompt=prompt, **fields)


async def book(req: StoryRequest, writer: InstantWriter) -> tuple[StoryPlan, list[str]]:
    plan = await writer.plan(req)
    return plan, [await writer.write(req, plan, i, []) for i in range(req.units)]


def mentions(page: str, plan: StoryPlan, role: str) -> bool:
    who = next(c for c in plan.characters if c.role == role)
    return who.name in page or role in page.lower()


async def test_the_lighthouse_book_follows_its_prompt() -> None:
    plan, pages = await book(request(), InstantWriter())
    assert [c.role for c in plan.characters[:2]] == ["lighthouse keeper", "whale"]
    keeper, whale = plan.characters[:2]
    assert keeper.species in ("boy", "girl") and whale.species == "whale"
    assert keeper.trait == "shy"
    assert plan.setting == "coast" and "lighthouse" in plan.place and plan.event == "a storm"
    assert {item.setting for item in plan.outline} <= {"coast", "sea"}
    assert "Lighthouse Keeper" in plan.title and "Whale" in plan.title
    assert pages[0].startswith(
        "This is the story of how a shy lighthouse keeper befriends a lost whale during a storm."
    )
    for page in pages:
        assert mentions(page, plan, "lighthouse keeper") or mentions(page, plan, "whale"), page
    stormy = [i for i, page in enumerate(pages) if "storm" in page.lower() and i > 0]
    assert stormy
    for i in stormy:
        assert plan.outline[i].weather == "storm"
    assert {item.weather for item in plan.outline} == {"storm", "clear"}
    assert all(item.time == "day" and item.action for item in plan.outline)
    assert plan.outline[0].action.startswith(keeper.name)


async def test_no_name_is_used_that_the_plan_does_not_hold() -> None:
    plan, pages = await book(request(), InstantWriter())
    english = BOOKS["english"]
    pool = set(english.names_m) | set(english.names_f)
    cast = {c.name for c in plan.characters}
    used = {w for page in pages for w in re.findall(r"[A-Z][a-z]+", page)}
    assert (used & pool) <= cast


@pytest.mark.parametrize(
    "prompt",
    [
        LIGHTHOUSE,
        "A brave little raccoon who learns to share",
        "Mia, a brave girl, finds a magic shell on the beach",
        "A dragon who is afraid of the dark",
        "Theo the baker and his cat Pip bake a cake for the king",
    ],
)
@pytest.mark.parametrize("age", ["0-3", "4-7", "8-12"])
async def test_every_page_names_a_character_of_the_plan(prompt: str, age: str) -> None:
    plan, pages = await book(request(prompt, age_range=age), InstantWriter())
    names = [c.name for c in plan.characters]
    assert all(any(n in page for n in names) for page in pages)
    given = [c.name for c in plan.characters if c.name in prompt]
    assert all(n in plan.characters[i].name for i, n in enumerate(given[:1]))
    if age == "0-3":  # toddler pages stay short, premise sentences included
        assert all(len(re.findall(r"[.!?]", p)) <= 3 for p in pages[1:])


async def test_a_named_character_keeps_the_prompts_name() -> None:
    plan, pages = await book(request("Mia, a brave girl, finds a magic shell"), InstantWriter())
    assert plan.characters[0].name == "Mia" and plan.characters[0].species == "girl"
    assert sum("Mia" in p for p in pages) == len(pages)


@pytest.mark.parametrize(("fmt", "units"), [("comic", 10), ("novel", 5), ("storybook", 6)])
async def test_comics_novels_and_storybooks_follow_the_same_plan(fmt: str, units: int) -> None:
    writer = InstantWriter()
    req = request(format=fmt, units=units, age_range="8-12" if fmt == "novel" else "4-7")
    plan, pages = await book(req, writer)
    assert [c.role for c in plan.characters[:2]] == ["lighthouse keeper", "whale"]
    assert "lighthouse keeper" in pages[0] and "storm" in " ".join(pages[1:]).lower()
    assert all(p.strip() for p in pages) and len(set(pages)) == units
    if fmt == "comic":
        lines = await writer.dialogue(req, plan, 3, 4)
        assert {line.split(":")[0] for line in lines} <= {c.name for c in plan.characters}


@pytest.mark.parametrize("language", ["spanish", "german", "japanese", "korean"])
async def test_other_languages_tell_the_prompt_back_and_have_the_storm(language: str) -> None:
    plan, pages = await book(request(language=language), InstantWriter())
    book_words = BOOKS[language]
    assert LIGHTHOUSE in pages[0]
    assert book_words.places["coast"][1] in " ".join(pages) or plan.setting == "coast"
    storm = book_words.events["storm"][0][2:].split("{")[0][:6]
    assert any(storm in page for page in pages)
    assert not re.search(r"[{}]|\(\(|\[\[|<<", " ".join(pages))


async def test_renaming_the_keeper_or_the_whale_renames_them_on_every_page() -> None:
    writer = InstantWriter()
    req = request()
    plan, pages = await book(req, writer)
    keeper, whale = plan.characters[:2]
    for instruction, who, new in (
        ("rename the lighthouse keeper to Sam", keeper, "Sam"),
        ("Call the whale Bubbles", whale, "Bubbles"),
        (f"change {keeper.name}'s name to Sam", keeper, "Sam"),
    ):
        message, changed = await writer.edit(req, plan, pages, instruction)
        after = [changed.get(i, page) for i, page in enumerate(pages)]
        assert all(who.name not in page for page in after), instruction
        assert set(changed) == {i for i, page in enumerate(pages) if who.name in page}
        assert all(new in after[i] for i in changed) and new in message
    _message, changed = await writer.edit(req, plan, pages, "rename the keeper to Sam")
    assert len(changed) == len(pages)  # the keeper is on every page


def test_every_premise_template_of_every_language_fills_cleanly() -> None:
    slots = {k: "X" for k in "H F G h_a h_the h_sp f_a f_the f_sp g_a g_the g_sp".split()}
    slots |= {k: "y" for k in "at to place_word home_at home_to home_word gist event".split()}
    slots |= {"event_the": "y", "over": "y", "things": "y", "many": "y"}
    slots |= {f"{p}_{k}": "z" for p in "hfg" for k in ("np", "npt")}
    for language, phrasebook in BOOKS.items():
        assert phrasebook.lead and phrasebook.pair, language
        assert {"storm", "rain", "snow", "wind", "fog"} <= set(phrasebook.events), language
        templates = [phrasebook.lead, phrasebook.pair, *phrasebook.meet]
        templates += [t[2:] for pool in phrasebook.events.values() for t in pool]
        for template in templates:
            for genders in (("m", "m", "m"), ("f", "f", "f")):
                out = render(template, slots, genders)
                assert not re.search(r"[{}|]|\(\(|\[\[|<<", out), (language, template, out)
