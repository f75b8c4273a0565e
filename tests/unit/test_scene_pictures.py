"""Pictures that match the page: the scene's setting, weather and time, in a visible art style.

The instant illustrator draws each page's setting key (the rocky coast with its lighthouse
included) under the page's sky, and every documented art style looks like itself; the scene
reader gets the setting and the storm back from the pixels, characters or not.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image, ImageChops, ImageFilter, ImageStat

from tests.unit.test_instant_illustrator import CHILDRENBOOKS, STORYMINT
from workers.backends.base import Character, ImagePrompt, OutlineItem, StoryPlan, picture_prompt
from workers.backends.instant.illustrator import render_picture
from workers.backends.instant.scene_guess import guess_scene, guess_setting, guess_weather
from workers.backends.instant.scenery import SCENE_KEYS
from workers.backends.instant.weather import TIMES, WEATHERS
from workers.backends.instant.world import COLORS
from workers.backends.local.diffusion import picture_seed, styled_prompt
from workers.backends.local.scene_prompt import scene_words

# The art_style values the APIs document (StoryMint's eight, ChildrenBooks' seven).
DOCUMENTED_STYLES = tuple(dict.fromkeys((*STORYMINT, *CHILDRENBOOKS)))
KEEPER = Character("Tom", "boy", ("peach", "brown"), "yellow raincoat", "shy", 11, "keeper")
WHALE = Character("Wave", "whale", ("blue", "white"), "", "lost", 12)
FOX = Character("Fern", "fox", ("orange", "white"), "green scarf", "kind", 13)


def draw(
    setting: str,
    style: str = "cartoon",
    weather: str = "",
    time: str = "",
    cast: tuple[Character, ...] = (KEEPER, WHALE),
    seed: int = 7,
    size: tuple[int, int] = (384, 384),
    text: str = "a page of the story",
) -> Image.Image:
    prompt = ImagePrompt(
        text, cast, setting, style, seed, size[0], size[1], weather=weather, time=time
    )
    return render_picture(prompt).convert("RGB")


def lightness(picture: Image.Image, box: tuple[float, float, float, float]) -> float:
    w, h = picture.size
    x0, y0, x1, y1 = box
    part = picture.crop((round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h)))
    return float(ImageStat.Stat(part.convert("L")).mean[0])


def share_near(picture: Image.Image, colour: tuple[int, int, int], tolerance: int = 24) -> float:
    pixels = np.asarray(picture, dtype=np.int16)
    close = np.all(np.abs(pixels - np.array(colour, dtype=np.int16)) <= tolerance, axis=2)
    return float(close.mean())


def greenness(picture: Image.Image) -> float:
    r, g, b = (np.asarray(band, dtype=np.int16) for band in picture.split())
    return float(((g > r + 20) & (g > b + 10)).mean())


# -- the scene is drawn ---------------------------------------------------------------------


def test_a_stormy_night_on_the_coast_is_not_a_sunny_forest() -> None:
    storm = draw("coast", weather="storm", time="night")
    forest = draw("forest", weather="clear", time="day")
    # Night and storm: a dark sky, against the forest's bright day sky.
    assert lightness(storm, (0, 0, 1, 0.3)) < 70 < 150 < lightness(forest, (0, 0, 1, 0.3))
    # A lightning bolt and the lighthouse's lamp on the stormy coast; neither in the forest.
    assert share_near(storm, (255, 250, 190), 12) > 0.002
    assert share_near(forest, (255, 250, 190), 12) == 0
    # The forest is green, the stormy coast grey and blue.
    assert greenness(forest) > 0.3 > 0.05 > greenness(storm)
    # Both keep the whale in its own blue.
    for picture in (storm, forest):
        assert share_near(picture, COLORS["blue"]) > 0.01
    assert guess_scene(storm, "cartoon")[:3] == ("coast", "storm", "night")
    assert guess_scene(forest, "cartoon")[:3] == ("forest", "clear", "day")


def test_the_coast_has_sea_rocks_and_a_lighthouse() -> None:
    coast = draw("coast", cast=())
    meadow = draw("meadow", cast=())
    # Red and white lighthouse stripes, and a blue sea across the middle of the picture.
    assert share_near(coast, (210, 50, 50), 20) > 0.002
    r, g, b = (np.asarray(band, dtype=np.int16) for band in coast.crop((0, 200, 384, 300)).split())
    assert float(((b > r + 40) & (b > g)).mean()) > 0.3
    assert share_near(coast, (210, 50, 50), 20) > 10 * share_near(meadow, (210, 50, 50), 20)


@pytest.mark.parametrize("setting", ["coast", "forest", "river", "sky", "city"])
def test_every_weather_and_time_draws_its_own_picture(setting: str) -> None:
    skies = list(itertools.product(WEATHERS, TIMES))
    pictures = [draw(setting, weather=w, time=t, size=(160, 120)) for w, t in skies]
    assert all(p.size == (160, 120) for p in pictures)
    assert len({p.tobytes() for p in pictures}) == len(skies)


@pytest.mark.parametrize("setting", ["home", "school", "sea"])
def test_indoors_and_underwater_still_show_night_and_storm(setting: str) -> None:
    clear = draw(setting, weather="clear", time="day", size=(160, 120))
    for weather, time in (("storm", "day"), ("clear", "night"), ("rain", "day")):
        assert draw(setting, weather=weather, time=time, size=(160, 120)) != clear, weather


def test_space_has_no_weather() -> None:
    skies = itertools.product(WEATHERS, TIMES)
    assert len({draw("space", weather=w, time=t).tobytes() for w, t in skies}) == 1


def test_unknown_or_empty_sky_falls_back_to_the_page_text() -> None:
    plain = draw("forest", text="Fern walks home")
    assert draw("forest", weather="banana", time="teatime", text="Fern walks home") == plain
    assert draw("forest", weather="clear", time="day", text="Fern walks home") == plain
    night = draw("forest", text="At night Fern walks home")
    assert night == draw("forest", time="night", text="At night Fern walks home")
    assert lightness(night, (0, 0, 1, 0.3)) < 80 < lightness(plain, (0, 0, 1, 0.3))


def test_night_lights_the_windows() -> None:
    day, night = draw("city", cast=()), draw("city", time="night", cast=())
    lit = (250, 225, 120)
    assert share_near(night, lit, 20) > 5 * share_near(day, lit, 20) + 0.005


def test_swimmers_float_in_the_sea_off_the_coast() -> None:
    alone = draw("coast", cast=(WHALE,))
    h = alone.height
    blue = np.argwhere(
        np.all(np.abs(np.asarray(alone, dtype=np.int16) - COLORS["blue"]) <= 20, axis=2)
    )
    assert len(blue) and blue[:, 0].mean() < h * 0.72  # in the water, above the shore rocks


# -- the art styles -------------------------------------------------------------------------


def style_figures(picture: Image.Image) -> dict[str, float]:
    """Measures that tell painting from inking: edges, ink, colours, saturation, softness."""
    grey = picture.convert("L")
    light = np.asarray(grey, dtype=np.float32)
    edges = np.asarray(grey.filter(ImageFilter.FIND_EDGES), dtype=np.float32)
    saturation = np.asarray(picture.convert("HSV"), dtype=np.float32)[..., 1]
    return {
        "edge_density": float((edges > 64).mean()),
        "ink": float((light < 40).mean()),
        "colours": float(len(picture.getcolors(1 << 16) or ())),
        "saturation": float(saturation.mean()),
        "sharpness": float(np.abs(np.diff(light, axis=1)).mean()),
    }


@pytest.mark.parametrize("setting", ["forest", "city", "beach"])
def test_watercolor_and_comic_differ_measurably(setting: str) -> None:
    water = style_figures(draw(setting, "watercolor", size=(768, 768)))
    comic = style_figures(draw(setting, "comic_style", size=(768, 768)))
    # Comic: bold black lines and halftone dots, flat saturated inks.
    assert comic["edge_density"] > 3 * water["edge_density"]
    assert comic["ink"] > 0.05 > 0.005 > water["ink"]  # watercolor has no black outlines
    assert comic["sharpness"] > 2 * water["sharpness"]
    assert comic["saturation"] > water["saturation"] + 15
    # Watercolor: soft graded washes on grainy paper, many nearby colours; comic: few inks.
    assert water["colours"] > 3 * comic["colours"]


@pytest.mark.parametrize("setting", ["forest", "coast"])
def test_every_documented_style_differs_from_cartoon(setting: str) -> None:
    cartoon = draw(setting, "cartoon")
    for style in DOCUMENTED_STYLES[1:]:
        other = draw(setting, style)
        difference = sum(ImageStat.Stat(ImageChops.difference(cartoon, other)).mean) / 3
        assert difference > 12, (style, difference)


def test_an_unknown_style_draws_as_cartoon() -> None:
    assert draw("coast", "no-such-style") == draw("coast", "cartoon")


# -- reading the scene back ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("style", ["cartoon", "watercolor", "comic_style"])
def test_the_setting_is_read_back_from_the_pixels(style: str) -> None:
    """Every setting key, with and without characters, by day and on a stormy night."""
    casts: list[tuple[Character, ...]] = [(), (KEEPER, WHALE), (FOX,)]
    right = storms = total = 0
    for i, setting in enumerate(SCENE_KEYS):
        for j, (weather, time) in enumerate((("", ""), ("storm", "night"), ("rain", "dusk"))):
            cast = casts[(i + j) % len(casts)]
            picture = draw(setting, style, weather, time, cast, seed=500 + i, size=(320, 240))
            total += 1
            right += guess_setting(picture, style) == setting
            if setting != "space":
                storms += (guess_weather(picture, style) == "storm") == (weather == "storm")
    assert right / total >= 0.95, right / total
    assert storms / (total - 3) >= 0.95, storms / (total - 3)


# -- the same scene for diffusers -------------------------------------------------------------


def lighthouse_page(
    kind: str = "page", characters: tuple[str, ...] = ("Tom", "Wave")
) -> ImagePrompt:
    item = OutlineItem(
        3,
        "",
        "Tom sees the whale in the waves",
        characters,
        "coast",
        "storm",
        "night",
        "the storm hits the lighthouse",
    )
    plan = StoryPlan(
        "Tom and the Whale",
        (KEEPER, WHALE),
        (item,),
        "coast",
        "",
        "",
        "the lighthouse on the rocky coast",
        "a storm",
    )
    return picture_prompt(
        plan, item, "watercolor", 99, 768, 768, "Tom looked out. It was wild.", kind
    )


def test_the_diffusers_prompt_is_built_from_the_scene() -> None:
    words = styled_prompt(lighthouse_page())
    assert words.startswith("soft watercolor painting")
    order = [
        "a boy keeper with brown hair wearing a yellow raincoat",  # who, in their fixed looks
        "a blue and white whale",
        "the storm hits the lighthouse",  # what happens
        "the lighthouse on the rocky coast",  # where
        "lightning",  # the sky
        "rough sea",
        "at night",
        "Tom looked out. It was wild.",  # the page's own words last, where CLIP may cut
    ]
    places = [words.index(part) for part in order]
    assert places == sorted(places), words
    assert "moon" not in words  # no moon and stars behind storm clouds
    assert "setting:" not in words and "characters:" not in words
    plain = ImagePrompt("a fox in a forest", (), "forest", "comic_style", 1, 64, 64)
    assert (
        styled_prompt(plain)
        == "comic book panel, bold outlines, halftone colours, a fox in a forest"
    )
    coast = ImagePrompt("a quiet day", (), "coast", "cartoon", 1, 64, 64, weather="clear")
    assert "a rocky coast with cliffs, a lighthouse and the sea" in scene_words(coast)


def test_the_main_characters_seed_is_reused_on_every_page() -> None:
    pages = [lighthouse_page(), lighthouse_page(kind="cover"), lighthouse_page(characters=("Tom",))]
    assert {picture_seed(p) for p in pages} == {KEEPER.seed}
    whale_first = lighthouse_page(characters=("Wave", "Tom"))
    assert picture_seed(whale_first) == WHALE.seed
    nobody = ImagePrompt("an empty shore", (), "coast", "cartoon", 1234, 64, 64)
    assert picture_seed(nobody) == 1234


def test_a_words_panel_over_the_sky_is_left_out() -> None:
    """A picture-book page carries its words on a paper panel over the sky; the reading judges
    what the panel leaves open, so a storm at the lighthouse still reads as one."""
    from workers.pipelines.compose import picture_page
    from workers.pipelines.text import Fonts

    words = "The storm grew wilder: thunder rumbled and rain lashed down. Ivy held on tight."
    for setting, weather in (("coast", "storm"), ("forest", "clear"), ("sea", "storm")):
        art = render_picture(
            ImagePrompt("", (), setting, "watercolor", 9, 768, 768, weather=weather)
        )
        page = picture_page(art.convert("RGB"), words * 2, Fonts())
        assert guess_setting(page, "watercolor") == setting
        assert (guess_weather(page, "watercolor") == "storm") == (weather == "storm")
