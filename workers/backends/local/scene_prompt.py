"""A page's scene in the words a diffusion model's text encoder weighs: who, what, where, sky.

The diffusers illustrator starts every prompt from these words, built from the picture
prompt's own fields (its characters' fixed looks, the action, the place, the weather and the
time of day) rather than from the page's prose, so the picture shows what the outline asks
for even when the page text is long and CLIP reads only its first 77 tokens.
"""

from __future__ import annotations

from workers.backends.base import Character, ImagePrompt
from workers.backends.instant.world import SPECIES

__all__ = ["PLACE_WORDS", "TIME_WORDS", "WEATHER_WORDS", "scene_words"]

# A setting key in words a text encoder knows, for pages whose plan gave no place phrase.
PLACE_WORDS = {
    "coast": "a rocky coast with cliffs, a lighthouse and the sea",
    "sea": "under the sea",
    "beach": "a sandy beach by the sea",
    "sky": "high in the sky among the clouds",
    "space": "outer space with planets and stars",
    "home": "a cosy room at home",
    "school": "a school classroom",
    "city": "a town street",
    "snow": "a snowy landscape",
}
WEATHER_WORDS = {
    "storm": "a fierce storm, dark heavy clouds, lightning, pouring rain",
    "rain": "rain falling, grey clouds",
    "snow": "snow falling",
    "wind": "strong wind, blowing leaves",
    "fog": "thick fog, misty",
}
TIME_WORDS = {
    "night": "at night, dark sky with moon and stars, lit windows",
    "dusk": "at dusk, warm sunset light",
}
_WATER = ("coast", "sea", "beach", "river")  # settings where a storm whips up the waves
# The labels picture_prompt() writes; their content is rebuilt from the prompt's own fields.
_REBUILT = ("setting:", "weather:", "time:", "action:", "characters:")


def _looks(character: Character) -> str:
    """One character's fixed look in a few words: species and role, colours, clothing."""
    anatomy = SPECIES.get(character.species)
    colors = [c for c in character.colors if c]
    kind = character.species
    if character.role and character.role != character.species:
        kind = f"{character.species} {character.role}" if anatomy else character.role
    if anatomy is not None and anatomy.body == "human" and len(colors) > 1:
        look = f"a {kind} with {colors[-1]} hair"
    elif colors:
        look = f"a {' and '.join(colors)} {kind}"
    else:
        look = f"a {kind}"
    if character.clothing:
        look += f" wearing a {character.clothing}"
    return look


def _split_text(text: str) -> tuple[str, list[str]]:
    """picture_prompt()'s text as (place phrase, the parts left to say), labels dropped."""
    place = ""
    rest: list[str] = []
    parts = text.split(". ")
    for i, part in enumerate(parts):
        lowered = part.strip().lower()
        if lowered.startswith("text:"):  # the page's own words come last and run to the end
            rest.append(". ".join(parts[i:]).split(":", 1)[1].strip())
            break
        if lowered.endswith("style children's book illustration"):
            continue
        if lowered.startswith("setting:"):
            place = part.split(":", 1)[1].strip()
        elif lowered.startswith(_REBUILT):
            continue
        elif lowered.startswith("scene:"):
            rest.append(part.split(":", 1)[1].strip())
        elif part.strip():
            rest.append(part.strip())
    return place, rest


def scene_words(prompt: ImagePrompt) -> str:
    """The page's scene, most telling first: who is there, what happens, where, under which sky.

    Built from the prompt's fields, not its prose, so the picture shows what the page's
    outline says (the whale at the lighthouse in a storm at night) even where the page text
    is long: CLIP reads 77 tokens, and what it cuts is the page text at the end.
    """
    place, rest = _split_text(prompt.text)
    said = prompt.text.lower()
    key = prompt.setting.strip().lower()
    if not place and key and key not in said:
        place = PLACE_WORDS.get(key, key)
    who = " and ".join(_looks(c) for c in prompt.characters)
    weather = prompt.weather.strip().lower()
    time = prompt.time.strip().lower()
    sky = WEATHER_WORDS.get(weather, "")
    if weather == "storm" and key in _WATER:
        sky += ", rough sea with big waves"
    when = TIME_WORDS.get(time, "")
    if time == "night" and weather in WEATHER_WORDS:  # no moon and stars behind the clouds
        when = "at night, dark sky, lit windows"
    parts = [who, prompt.action.strip(), place, sky, when, *rest]
    return ", ".join(p for p in parts if p)
