"""The instant illustrator: real, deterministic PNGs in fifteen distinguishable styles."""

from __future__ import annotations

import io
import itertools

import pytest
from PIL import Image, ImageChops, ImageStat

from workers.backends.base import (
    Character,
    ImagePrompt,
    StoryPlan,
    StoryRequest,
    picture_prompt,
    stable_seed,
)
from workers.backends.instant import InstantIllustrator, InstantWriter
from workers.backends.instant.styles import STYLE_NAMES
from workers.backends.instant.world import COLORS, SETTINGS, SPECIES
from workers.png import png_bytes

STORYMINT = (
    "cartoon",
    "watercolor",
    "sketch",
    "pixel",
    "flat",
    "manga",
    "western",
    "graphic_novel",
)
CHILDRENBOOKS = (
    "watercolor",
    "oil_painting",
    "3d",
    "comic_style",
    "crayon",
    "colored_pencil",
    "paper_cut",
)


async def plan_and_texts(prompt: str, units: int = 6) -> tuple[StoryPlan, list[str]]:
    writer = InstantWriter()
    req = StoryRequest(prompt=prompt, format="picture", units=units, art_style="cartoon")
    plan = await writer.plan(req)
    return plan, [await writer.write(req, plan, i, []) for i in range(units)]


def opened(picture: Image.Image) -> Image.Image:
    """The illustrator's picture in RGB, after checking it survives a PNG round trip."""
    assert picture.mode in ("P", "RGB")
    with Image.open(io.BytesIO(png_bytes(picture))) as again:
        assert again.convert("RGB").tobytes() == picture.convert("RGB").tobytes()
    return picture.convert("RGB")


def pixels(picture: Image.Image) -> tuple[object, ...]:
    return picture.mode, picture.size, picture.tobytes(), tuple(picture.getpalette() or ())


def near(img: Image.Image, colour: tuple[int, int, int], tolerance: int = 24) -> int:
    r, g, b = colour
    bands = [
        band.point(lambda v, c=c: 255 if abs(v - c) <= tolerance else 0)
        for band, c in zip(img.split(), (r, g, b), strict=True)
    ]
    mask = ImageChops.multiply(ImageChops.multiply(bands[0], bands[1]), bands[2])
    return int(ImageStat.Stat(mask).sum[0] / 255)


def test_every_api_style_is_known() -> None:
    assert set(STORYMINT) | set(CHILDRENBOOKS) == set(STYLE_NAMES)


async def test_pictures_have_the_requested_sizes() -> None:
    plan, texts = await plan_and_texts("A cat astronaut discovers a candy planet")
    sizes = [(512, 512), (333, 517), (800, 600), (64, 48), (1024, 768)]
    prompts = [
        picture_prompt(plan, plan.outline[i % 6], STYLE_NAMES[i], i, w, h, text=texts[i % 6])
        for i, (w, h) in enumerate(sizes)
    ]
    prompts.append(picture_prompt(plan, plan.outline[0], "3d", 9, 600, 900, kind="cover"))
    prompts.append(picture_prompt(plan, plan.outline[2], "manga", 9, 300, 200, kind="panel"))
    pictures = await InstantIllustrator().draw(prompts)
    assert len(pictures) == len(prompts)
    for picture, prompt in zip(pictures, prompts, strict=True):
        assert opened(picture).size == (prompt.width, prompt.height)


async def test_same_prompt_same_pixels_other_prompt_other_pixels() -> None:
    plan, texts = await plan_and_texts("A brave little raccoon who learns to share")
    prompt = picture_prompt(plan, plan.outline[3], "watercolor", 42, 256, 256, text=texts[3])
    first = await InstantIllustrator().draw([prompt])
    second = await InstantIllustrator().draw([prompt])
    assert pixels(first[0]) == pixels(second[0])
    assert png_bytes(first[0]) == png_bytes(second[0])
    others = await InstantIllustrator().draw(
        [
            picture_prompt(plan, plan.outline[3], "watercolor", 43, 256, 256, text=texts[3]),
            picture_prompt(plan, plan.outline[4], "watercolor", 42, 256, 256, text=texts[4]),
        ]
    )
    assert all(pixels(o) != pixels(first[0]) for o in others)


async def test_styles_differ_pairwise() -> None:
    plan, texts = await plan_and_texts(
        "A little fox who learns to share carrots with forest friends."
    )
    prompts = [
        picture_prompt(plan, plan.outline[2], s, 5, 160, 160, text=texts[2]) for s in STYLE_NAMES
    ]
    images = dict(
        zip(STYLE_NAMES, map(opened, await InstantIllustrator().draw(prompts)), strict=True)
    )
    for a, b in itertools.combinations(STYLE_NAMES, 2):
        difference = sum(ImageStat.Stat(ImageChops.difference(images[a], images[b])).mean) / 3
        assert difference > 8, (a, b, difference)


async def test_characters_are_drawn_in_their_own_colours() -> None:
    for prompt in (
        "A brave little raccoon who learns to share",
        "A child explores the ocean",
        "Dragons and unicorns",
    ):
        plan, _texts = await plan_and_texts(prompt, units=8)
        for item in plan.outline[1::3]:
            page = picture_prompt(plan, item, "cartoon", 11, 256, 256)
            image = opened((await InstantIllustrator().draw([page]))[0])
            for character in page.characters:
                assert near(image, COLORS[character.colors[0]]) >= 20, (prompt, character)


async def test_the_cover_draws_the_hero_large() -> None:
    plan, _texts = await plan_and_texts("A brave little raccoon who learns to share")
    hero = COLORS[plan.characters[0].colors[0]]
    cover, page = await InstantIllustrator().draw(
        [
            picture_prompt(plan, plan.outline[0], "cartoon", 1, 256, 256, kind="cover"),
            picture_prompt(plan, plan.outline[-1], "cartoon", 1, 256, 256),
        ]
    )
    # The hero stands on the last page too (plans now keep the cast on every page), drawn at
    # 0.44 of the height against 0.6 on the cover: about 1.9 times the area.
    assert near(opened(cover), hero) > 1.5 * near(opened(page), hero)


@pytest.mark.parametrize("species", sorted(SPECIES))
async def test_every_species_and_outfit_draws(species: str) -> None:
    outfits = [
        "green scarf",
        "red cap",
        "blue vest",
        "purple cape",
        "pink bow",
        "navy boots",
        "teal overalls",
        "yellow sweater",
        "orange backpack",
        "white space suit",
        "silver armor",
        "pink crown",
        "purple wizard hat",
        "brown coat",
    ]
    seed = stable_seed(species)
    cast = tuple(
        Character(f"C{i}", species, SPECIES[species].palettes[0], outfit, "kind", seed + i)
        for i, outfit in enumerate(outfits[seed % 5 :: 5])
    )
    setting = SETTINGS[seed % len(SETTINGS)]
    prompt = ImagePrompt(
        "a scene at night", cast, setting, STYLE_NAMES[seed % len(STYLE_NAMES)], seed, 96, 80
    )
    assert opened((await InstantIllustrator().draw([prompt]))[0]).size == (96, 80)


async def test_every_setting_and_unknown_style_draws() -> None:
    plan, _texts = await plan_and_texts("A brave little raccoon who learns to share")
    prompts = [
        ImagePrompt(
            f"{mood} with a rainbow and a party",
            plan.characters[:2],
            setting,
            "mystery",
            i,
            120,
            90,
        )
        for i, (setting, mood) in enumerate(itertools.product(SETTINGS, ("day", "night", "storm")))
    ]
    pictures = await InstantIllustrator().draw(prompts)
    assert len({pixels(p) for p in pictures}) == len(prompts)
