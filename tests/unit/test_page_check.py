"""The bible checks a model-written page passes, and the plan following a chat rename."""

from __future__ import annotations

from workers.backends.base import Character, OutlineItem, StoryPlan
from workers.backends.page_check import mentions_bible, page_problems, stray_names, words_allowed
from workers.pipelines.plan_rename import follow_renames

KEEPER = Character("Theo", "boy", ("peach", "brown"), "navy cap", "shy", 4, "lighthouse keeper")
WHALE = Character("Bubbles", "whale", ("blue", "white"), "red bow", "gentle", 7, "whale")
PLAN = StoryPlan(
    title="Theo the Lighthouse Keeper and the Whale",
    characters=(KEEPER, WHALE),
    outline=(
        OutlineItem(0, "The Keeper", "Theo keeps the light.", ("Theo",), "coast"),
        OutlineItem(1, "A Storm", "Theo finds Bubbles in the storm.", ("Theo", "Bubbles"), "sea"),
    ),
    setting="coast",
    moral="Friends help each other.",
    summary="Theo and Bubbles become friends.",
    place="the lighthouse on the rocky coast",
    event="a storm",
)


def test_stray_names_skip_sentence_starts_and_common_words() -> None:
    text = (
        'Once upon a time, Theo met Bubbles. "Hello, Sam!" said Theo. Then Mary came. '
        "On Monday, Mom said Theo's lamp was bright. I waved."
    )
    assert stray_names(text, ["Theo", "Bubbles"]) == ["Sam", "Mary"]
    assert stray_names("Theo smiled at Theo's whale.", ["Theo"]) == []
    assert stray_names("テオはクジラに会いました。", []) == []  # no capitals to read


def test_words_allowed_take_the_bible_and_the_title() -> None:
    allowed = words_allowed(PLAN)
    assert {"theo", "bubbles", "lighthouse", "keeper", "whale", "rocky", "coast"} <= allowed
    assert stray_names("The Lighthouse stood tall, and the Keeper smiled.", allowed) == []


def test_mentions_bible_by_name_role_or_place() -> None:
    assert mentions_bible("Bubbles sang.", PLAN)
    assert mentions_bible("The lighthouse keeper lit the lamp.", PLAN)
    assert mentions_bible("Waves crashed below the lighthouse.", PLAN)
    assert not mentions_bible("A girl ate an apple in the city.", PLAN)


def test_page_problems_name_what_is_wrong() -> None:
    good = "Theo climbed the stairs of the lighthouse. The storm was loud."
    assert page_problems(good, plan=PLAN, index=1, previous=[], max_words=80) == []
    adrift = "A girl named Lily ate cake with her friend Max."
    problems = page_problems(adrift, plan=PLAN, index=1, previous=[], max_words=80)
    assert any("about Theo" in p for p in problems)
    assert any("Lily" in p and "Max" in p for p in problems)
    repeated = page_problems(good, plan=PLAN, index=1, previous=[good], max_words=80)
    assert repeated == ["do not repeat an earlier page"]
    long = page_problems(good * 10, plan=PLAN, index=1, previous=[], max_words=30)
    assert long == ["keep it under 30 words"]


def test_follow_renames_renames_the_bible_everywhere() -> None:
    before = ["Theo lit the lamp.", "Theo saw Bubbles in the storm.", "Bubbles sang."]
    after = ["Sam lit the lamp.", "Sam saw Bubbles in the storm.", "Bubbles sang."]
    plan = follow_renames(PLAN, before, after)
    assert [c.name for c in plan.characters] == ["Sam", "Bubbles"]
    assert plan.characters[0].role == "lighthouse keeper"
    assert plan.characters[0].seed == KEEPER.seed  # same look, new name
    assert plan.title == "Sam the Lighthouse Keeper and the Whale"
    assert plan.outline[1].characters == ("Sam", "Bubbles")
    assert plan.outline[1].summary == "Sam finds Bubbles in the storm."
    assert "Theo" not in repr(plan)


def test_follow_renames_leaves_other_edits_alone() -> None:
    before = ["Theo lit the lamp.", "Theo saw Bubbles."]
    assert follow_renames(PLAN, before, ["Theo lit the big lamp.", "Theo saw Bubbles."]) is PLAN
    # A name dropped from one page but kept on another is not a rename.
    assert follow_renames(PLAN, before, ["The lamp was lit.", "Theo saw Bubbles."]) is PLAN
