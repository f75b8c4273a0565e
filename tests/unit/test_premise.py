"""The premise reader: what a story prompt asks for, read the same way by every writer."""

from __future__ import annotations

import pytest

from workers.backends.instant.world import SETTINGS, SPECIES
from workers.backends.premise import Premise, opening_line, premise_of

LIGHTHOUSE = "A shy lighthouse keeper befriends a lost whale during a storm"


def roles(premise: Premise) -> list[str]:
    return [c.role for c in premise.characters]


def test_the_lighthouse_prompt() -> None:
    p = premise_of(LIGHTHOUSE)
    keeper, whale = p.characters
    assert keeper.role == "lighthouse keeper" and keeper.species in ("boy", "girl")
    assert keeper.adjectives == ("shy",) and keeper.name == ""
    assert whale.role == "whale" and whale.species == "whale" and whale.adjectives == ("lost",)
    assert p.setting == "coast" and "lighthouse" in p.place
    assert p.event == "a storm" and p.weather == "storm"
    assert p.verb == "befriends" and p.language == "english"
    assert p.words == ("shy", "lighthouse", "keeper", "befriends", "lost", "whale", "storm")
    assert opening_line(p, "english") == (
        "This is the story of how a shy lighthouse keeper befriends a lost whale during a storm."
    )
    assert p == premise_of(LIGHTHOUSE)  # deterministic


def test_names_the_prompt_gives_are_kept_on_their_characters() -> None:
    mia = premise_of("Mia, a brave girl, finds a magic shell on the beach")
    assert [(c.name, c.role, c.species) for c in mia.characters] == [("Mia", "girl", "girl")]
    assert mia.characters[0].adjectives == ("brave",) and mia.setting == "beach"
    theo = premise_of("Theo the baker and his cat Pip bake a cake for the king")
    assert [(c.name, c.role) for c in theo.characters[:2]] == [("Theo", "baker"), ("Pip", "cat")]
    assert theo.characters[0].species == "boy" and theo.characters[1].species == "cat"
    named = premise_of("A girl named Mia builds a rocket with her friends")
    assert named.characters[0].name == "Mia" and len(named.characters) == 1


def test_open_world_person_nouns_are_people() -> None:
    p = premise_of("A young violinist meets a seal by the harbour")
    violinist, seal = p.characters
    assert violinist.role == "violinist" and violinist.species in ("boy", "girl")
    assert seal.species in SPECIES and p.setting == "coast"
    cat = premise_of("A cat astronaut discovers a candy planet")
    assert cat.characters[0].role == "cat astronaut" and cat.characters[0].species == "cat"
    assert cat.setting == "space"
    singer = premise_of("A penguin who wants to become a singer")
    assert roles(singer) == ["penguin"]  # what it wants to be is not another character


def test_a_noun_phrase_prompt_is_told_back_with_of() -> None:
    p = premise_of("A dragon who is afraid of the dark")
    assert roles(p) == ["dragon"] and p.characters[0].adjectives == ("afraid",)
    assert p.time == "night" and p.theme == "courage"
    assert opening_line(p, "english") == "This is the story of a dragon who is afraid of the dark."


def test_lessons_and_age_bands_where_the_prompt_states_them() -> None:
    share = premise_of("A brave little raccoon who learns to share")
    assert share.lesson == "to share" and share.theme == "share" and share.age_range == ""
    kind = premise_of("A story about kindness for toddlers")
    assert kind.lesson == "kindness" and kind.age_range == "0-3"
    assert "toddlers" not in kind.words and "story" not in kind.words
    assert premise_of("A robot and a dinosaur, for 5 year olds").age_range == "4-7"
    assert premise_of("A knight and a dragon in a castle for ages 8-12").age_range == "8-12"


def test_weather_and_time_of_day() -> None:
    night = premise_of("Grandma and her dog Rex go camping in the dark forest on a stormy night")
    assert [(c.role, c.name) for c in night.characters] == [("grandma", ""), ("dog", "Rex")]
    assert night.characters[0].species == "girl"
    assert night.event == "a stormy night" and night.weather == "storm" and night.time == "night"
    assert night.weather_all and night.place == "the dark forest" and night.setting == "forest"
    snow = premise_of("A girl who loves to sing on a snowy day")
    assert snow.weather == "snow" and snow.weather_all and snow.place == ""


@pytest.mark.parametrize(
    ("prompt", "language", "species", "setting", "weather"),
    [
        (
            "Un zorro valiente y una ballena en el mar durante una tormenta",
            "spanish",
            ["fox", "whale"],
            "sea",
            "storm",
        ),
        (
            "Le petit renard et la baleine pendant une tempête",
            "french",
            ["fox", "whale"],
            "",
            "storm",
        ),
        ("キツネとクジラが海であそぶ", "japanese", ["fox", "whale"], "sea", ""),
        ("Ein kleiner Fuchs im Wald", "german", ["fox"], "forest", ""),
    ],
)
def test_other_languages_read_through_the_phrasebooks(
    prompt: str, language: str, species: list[str], setting: str, weather: str
) -> None:
    p = premise_of(prompt, language)
    assert p.language == language
    assert [c.species for c in p.characters] == species
    assert all(c.role and c.role.lower() in prompt.lower() for c in p.characters)
    assert not setting or p.setting == setting
    assert p.weather == weather and (not weather or p.event)
    assert p.words and all(w in prompt.lower() for w in p.words)
    assert p.setting in (*SETTINGS, "")


def test_spanish_words_leave_out_spanish_stop_words() -> None:
    p = premise_of("Un zorro valiente y una ballena en el mar durante una tormenta", "spanish")
    assert p.words == ("zorro", "valiente", "ballena", "mar", "tormenta")
    assert opening_line(p, "spanish").startswith("Esta es la historia de «Un zorro valiente")


def test_an_english_prompt_for_another_language_is_still_read_as_english() -> None:
    p = premise_of(LIGHTHOUSE, "spanish")
    assert p.language == "english" and roles(p) == ["lighthouse keeper", "whale"]
    assert "«A shy lighthouse keeper" in opening_line(p, "spanish")


def test_empty_and_odd_prompts_do_not_fail() -> None:
    for prompt in (
        "",
        "   ",
        "!!!",
        "Dragons",
        "The magic treehouse",
        "a lonely cloud wants a friend",
    ):
        p = premise_of(prompt)
        assert p.setting in (*SETTINGS, "")
        assert all(c.species in (*SPECIES, "") for c in p.characters)
    assert premise_of("Dragons").characters[0].species == "dragon"
    cloud = premise_of("A lonely cloud wants a friend")
    assert cloud.characters[0].role == "cloud" and cloud.characters[0].species == ""
    assert opening_line(premise_of("Two friends build a treehouse"), "english") == (
        "This is the story of how two friends build a treehouse."
    )
