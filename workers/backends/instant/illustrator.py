"""The instant illustrator: procedural pictures drawn with Pillow, no model, no fonts.

A picture is composed on a small working canvas (the setting's background under the page's
sky, its weather and time of day, the props the text mentions, the page's characters in their
own colours, then rain or snow in front), finished with the style's filter and enlarged to
the requested size. The layout depends only on the prompt, never on the style, so
one page in two styles shows the same scene two ways.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Sequence

from PIL import Image, ImageDraw

from workers.backends.base import Capability, ImagePrompt, stable_seed
from workers.backends.instant.analysis import analyse
from workers.backends.instant.drawing import Pen, mix
from workers.backends.instant.figures import draw_character
from workers.backends.instant.props import draw_prop, rainbow
from workers.backends.instant.scenery import SCENE_KEYS, paint_scene
from workers.backends.instant.styles import STYLE_NAMES, style_for
from workers.backends.instant.weather import sky_for, weather_front
from workers.backends.instant.world import SPECIES

__all__ = ["InstantIllustrator", "render_picture"]

WORKING_SIZE = 320  # long side of the canvas the scene is composed on
_SWIMMERS = ("fish", "octopus")  # bodies drawn in the water where a scene has open sea


def _setting(prompt: ImagePrompt) -> str:
    key = prompt.setting.strip().lower()
    if key in SCENE_KEYS:
        return key
    return analyse(f"{prompt.setting} {prompt.text}").setting or "meadow"


def _swims(species: str) -> bool:
    anatomy = SPECIES.get(species)
    return anatomy is not None and anatomy.body in _SWIMMERS


def _compose(prompt: ImagePrompt, size: tuple[int, int], style_name: str) -> Image.Image:
    style = style_for(style_name)
    w, h = size
    rng = random.Random(
        stable_seed(
            "instant-picture",
            prompt.seed,
            prompt.kind,
            prompt.setting,
            prompt.text,
            tuple(c.name for c in prompt.characters),
        )
    )
    img = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(img)
    pen = Pen(draw, style.look, max(w, h) / WORKING_SIZE)
    text = prompt.text
    setting = _setting(prompt)
    sky = sky_for(prompt.weather, prompt.time, text)
    scene = paint_scene(img, pen, setting, sky, rng, style.look.gradients)
    found = analyse(text)
    if "rainbow" in found.extras:
        rainbow(draw, w, h)
    cast = list(prompt.characters)
    n = len(cast)
    if prompt.kind == "cover":
        sizes = [h * 0.6] + [h * 0.3] * (n - 1)
        slots = [w * 0.5] + [w * (0.16 if i % 2 else 0.84) for i in range(n - 1)]
    else:
        zoom = 1.15 if prompt.kind == "panel" else 1.0
        fit = min(1.0, 3.2 / max(1, n))
        sizes = [h * zoom * fit * (0.44 if i == 0 else 0.36) for i in range(n)]
        slots = [
            w * (0.15 + 0.7 * (i + 0.5) / max(1, n)) + rng.uniform(-0.04, 0.04) * w
            for i in range(n)
        ]
        rng.shuffle(slots)
    props = [k for k in (found.thing, *found.extras) if k and k not in ("rainbow", "snow")]
    for k, prop in enumerate(props[:2]):
        x = w * (0.08 + 0.84 * rng.random()) if n else w * (0.35 + 0.3 * k)
        draw_prop(
            pen,
            prop,
            x,
            scene.ground_y + h * 0.02,
            h * 0.16,
            mix((230, 60, 60), (60, 60, 230), rng.random()),
        )
    shadow = None if scene.floating else scene.ground
    order = sorted(range(n), key=lambda i: (i == 0, sizes[i]))  # hero last, in front
    for i in order:
        bob = -h * 0.06 * rng.random() if scene.floating else 0.0
        side = 1 if slots[i] < w / 2 else -1
        base = scene.ground_y + (h * 0.04 if prompt.kind == "cover" and i else 0) + bob
        own_shadow = shadow
        if scene.water_y is not None and _swims(cast[i].species):
            base, own_shadow = scene.water_y + h * 0.08 * (i % 2), None
        draw_character(pen, cast[i], slots[i], base, min(sizes[i], base * 0.92), side, own_shadow)
    weather_front(pen, w, h, sky, rng, scene.indoors)
    if setting == "snow" and sky.weather != "snow":
        for _ in range(60):
            pen.dot(rng.uniform(0, w), rng.uniform(0, h), h * 0.008, (255, 255, 255))
    finished = style.finish(img, rng)
    if style.border or prompt.kind == "panel":
        fw, fh = finished.size
        edge = max(2, round(max(fw, fh) * 0.012))
        framed = ImageDraw.Draw(finished)
        framed.rectangle((0, 0, fw - 1, fh - 1), outline=(255, 255, 255), width=edge * 2)
        framed.rectangle((edge, edge, fw - 1 - edge, fh - 1 - edge), outline=(0, 0, 0), width=edge)
    return finished


def render_picture(prompt: ImagePrompt) -> Image.Image:
    """One picture for one prompt; the same prompt always gives the same pixels.

    Speed over finesse: the scene is composed at most WORKING_SIZE pixels wide, reduced to a
    256-colour palette and enlarged by a whole factor, which keeps it small as a PNG.
    """
    width, height = max(8, int(prompt.width)), max(8, int(prompt.height))
    factor = max(1, math.ceil(max(width, height) / WORKING_SIZE))
    work = (math.ceil(width / factor), math.ceil(height / factor))
    picture = _compose(prompt, work, prompt.style)
    palette = picture.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    if factor > 1:
        palette = palette.resize((work[0] * factor, work[1] * factor), Image.Resampling.NEAREST)
    if palette.size != (width, height):
        palette = palette.crop((0, 0, width, height))
    return palette


class InstantIllustrator:
    """Draws every page in a few milliseconds, offline, in any of the APIs' art styles."""

    name = "instant"

    def capability(self) -> Capability:
        return Capability(
            kind="image",
            backend="instant",
            model="instant-procedural-v1",
            available=True,
            note="procedural Pillow drawings; styles: " + ", ".join(STYLE_NAMES),
        )

    async def draw(self, prompts: Sequence[ImagePrompt]) -> list[Image.Image]:
        # Pillow releases the GIL while filtering and resizing, so pictures drawn
        # in worker threads overlap, and the event loop stays free meanwhile.
        return list(await asyncio.gather(*(asyncio.to_thread(render_picture, p) for p in prompts)))
