"""The fifteen art styles as drawing parameters plus a finishing filter.

StoryMint's eight (cartoon, watercolor, sketch, pixel, flat, manga, western, graphic_novel)
and ChildrenBooks' seven (watercolor, oil_painting, 3d, comic_style, crayon, colored_pencil,
paper_cut) each change the palette, the outlines and the texture, so the same scene is
recognisably different in each. Every filter is deterministic: noise comes from the seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from workers.backends.instant.drawing import Look

__all__ = ["STYLE_NAMES", "Style", "style_for"]

Finish = Callable[[Image.Image, random.Random], Image.Image]


@dataclass(frozen=True, slots=True)
class Style:
    name: str
    look: Look
    finish: Finish
    border: bool = False  # comic panels get a frame


def _noise(size: tuple[int, int], rng: random.Random, low: int, high: int) -> Image.Image:
    w, h = size
    img = Image.frombytes("L", (w, h), rng.randbytes(w * h))
    return img.point(lambda v: low + v * (high - low) // 255)


def _lines(
    size: tuple[int, int], period: int, ink: int, paper: int = 255, slope: int = 1
) -> Image.Image:
    """Diagonal hatching, built row by row from one shifted pattern."""
    w, h = size
    unit = bytes([ink]) + bytes([paper]) * (period - 1)
    row = unit * (w // period + 2)
    rows = b"".join(row[(y * slope) % period :][:w] for y in range(h))
    return Image.frombytes("L", (w, h), rows)


def _dots(size: tuple[int, int], period: int, ink: int, paper: int = 255) -> Image.Image:
    w, h = size
    unit = bytes([ink, ink]) + bytes([paper]) * (period - 2)
    dotted = (unit * (w // period + 2))[:w]
    blank = bytes([paper]) * w
    rows = b"".join(dotted if y % period < 2 else blank for y in range(h))
    return Image.frombytes("L", (w, h), rows)


def _k(img: Image.Image) -> float:
    return max(img.size) / 384


def _multiply(img: Image.Image, mask: Image.Image) -> Image.Image:
    return ImageChops.multiply(img, mask.convert("RGB"))


def _vignette(img: Image.Image, strength: int) -> Image.Image:
    ramp = Image.radial_gradient("L").resize(img.size)
    return _multiply(img, ramp.point(lambda v: 255 - v * strength // 255))


def _cartoon(img: Image.Image, rng: random.Random) -> Image.Image:
    return img


def _flat(img: Image.Image, rng: random.Random) -> Image.Image:
    return ImageOps.posterize(ImageEnhance.Color(img).enhance(0.85), 3)


def _watercolor(img: Image.Image, rng: random.Random) -> Image.Image:
    """Transparent washes on rough paper: no ink, edges that bleed, pigment pooling at rims."""
    w, h = img.size
    k = _k(img)
    paper = Image.new("RGB", img.size, (252, 248, 236))
    wash = Image.blend(ImageEnhance.Color(img).enhance(1.15), paper, 0.2)
    # Where the paper was wet the colour ran far; elsewhere it only softened.
    damp = wash.filter(ImageFilter.GaussianBlur(0.7 * k))
    wet = wash.filter(ImageFilter.GaussianBlur(2.4 * k))
    wetness = _noise((max(1, w // 28), max(1, h // 28)), rng, 0, 190)
    bled = Image.composite(wet, damp, wetness.resize(img.size, Image.Resampling.BICUBIC))
    # Pigment gathers where a wash dried: a faint rim in the wash's own hue, never black.
    rims = bled.convert("L").filter(ImageFilter.FIND_EDGES).point(lambda v: 255 - min(36, v * 2))
    pooled = ImageChops.multiply(bled, Image.merge("RGB", (rims, rims, rims)))
    blooms = _noise((max(1, w // 14), max(1, h // 14)), rng, 222, 255)
    pooled = _multiply(pooled, blooms.resize(img.size, Image.Resampling.BICUBIC))
    grain = _noise(img.size, rng, 226, 255).filter(ImageFilter.GaussianBlur(0.6 * k))
    return _multiply(pooled, grain.point(lambda v: min(255, v + 8)))


def _sketch(img: Image.Image, rng: random.Random) -> Image.Image:
    gray = img.convert("L")
    edges = gray.filter(ImageFilter.FIND_EDGES).point(lambda v: 255 - min(255, v * 4))
    tone = Image.new("L", img.size, 255)
    tone.paste(_lines(img.size, 5, 150), mask=gray.point(lambda v: 255 if v < 150 else 0))
    tone.paste(_lines(img.size, 4, 110, slope=-1), mask=gray.point(lambda v: 255 if v < 90 else 0))
    pencil = ImageChops.darker(tone, edges)
    return ImageOps.colorize(
        ImageChops.multiply(pencil, _noise(img.size, rng, 225, 255)), (55, 50, 45), (250, 246, 236)
    )


def _pixel(img: Image.Image, rng: random.Random) -> Image.Image:
    w, h = img.size
    small = img.resize((max(8, w // 5), max(8, h // 5)), Image.Resampling.BOX)
    small = small.quantize(colors=16, method=Image.Quantize.MEDIANCUT).convert("RGB")
    return small.resize(img.size, Image.Resampling.NEAREST)


def _manga(img: Image.Image, rng: random.Random) -> Image.Image:
    gray = ImageOps.autocontrast(img.convert("L"))
    out = Image.new("L", img.size, 255)
    out.paste(_dots(img.size, 4, 40), mask=gray.point(lambda v: 255 if 85 <= v < 175 else 0))
    out.paste(0, mask=gray.point(lambda v: 255 if v < 85 else 0))
    return out.convert("RGB")


def _western(img: Image.Image, rng: random.Random) -> Image.Image:
    vivid = ImageEnhance.Contrast(ImageEnhance.Color(img).enhance(1.6)).enhance(1.25)
    vivid = ImageChops.multiply(vivid, Image.new("RGB", img.size, (255, 232, 200)))
    shade = vivid.convert("L").point(lambda v: 255 if v < 120 else 0)
    dots = Image.new("RGB", img.size, (255, 255, 255))
    dots.paste((120, 30, 20), mask=ImageOps.invert(_dots(img.size, 5, 0)))
    hatched = ImageChops.multiply(vivid, dots)
    return Image.composite(hatched, vivid, shade)


def _graphic_novel(img: Image.Image, rng: random.Random) -> Image.Image:
    moody = ImageEnhance.Brightness(ImageEnhance.Color(img).enhance(0.5)).enhance(0.78)
    moody = ImageEnhance.Contrast(moody).enhance(1.5)
    toned = ImageOps.colorize(moody.convert("L"), (10, 40, 50), (255, 200, 150))
    return _vignette(Image.blend(moody, toned, 0.45), 150)


def _oil(img: Image.Image, rng: random.Random) -> Image.Image:
    w, h = img.size
    blobs = img.reduce(3).resize(img.size, Image.Resampling.BICUBIC)
    canvas = Image.new("L", img.size, 128)
    d = ImageDraw.Draw(canvas)
    stroke = max(2, round(3 * _k(img)))
    for _ in range(w * h // 140):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        dx, dy = rng.uniform(-6, 6) * _k(img), rng.uniform(-3, 3) * _k(img)
        d.line((x, y, x + dx, y + dy), fill=rng.randrange(80, 200), width=stroke)
    relief = canvas.filter(ImageFilter.EMBOSS).convert("RGB")
    rich = ImageEnhance.Color(blobs).enhance(1.35)
    painted = ImageChops.overlay(rich, relief)
    return ImageChops.multiply(painted, Image.new("RGB", img.size, (255, 238, 205)))


def _three_d(img: Image.Image, rng: random.Random) -> Image.Image:
    smooth = img.filter(ImageFilter.GaussianBlur(0.9 * _k(img)))
    smooth = ImageEnhance.Contrast(smooth).enhance(1.12)
    cool = Image.blend(smooth, Image.new("RGB", img.size, (200, 220, 255)), 0.1)
    return _vignette(cool, 90)


def _comic(img: Image.Image, rng: random.Random) -> Image.Image:
    """Flat saturated inks and halftone dots on the light tones; the pen inks every shape."""
    k = _k(img)
    vivid = ImageEnhance.Contrast(ImageEnhance.Color(img).enhance(1.7)).enhance(1.1)
    bold = ImageOps.posterize(vivid, 3)
    tone = bold.convert("L")
    period = max(4, round(5 * k))
    screen = _dots(img.size, period, 0, 255).point(lambda v: 255 - v)
    light = tone.point(lambda v: 255 if 110 < v < 245 else 0)
    dotted = ImageChops.multiply(bold, Image.new("RGB", img.size, (150, 140, 150)))
    mask = ImageChops.multiply(screen, light)
    inked = Image.composite(dotted, bold, mask)
    return inked


def _crayon(img: Image.Image, rng: random.Random) -> Image.Image:
    w, h = img.size
    waxy = ImageEnhance.Color(img).enhance(1.45)
    streaks = _noise((w, max(1, h // 10)), rng, 120, 255).resize(
        img.size, Image.Resampling.BILINEAR
    )
    streaks = streaks.rotate(35, resample=Image.Resampling.NEAREST, fillcolor=200)
    textured = _multiply(waxy, streaks.point(lambda v: 150 + v * 105 // 255))
    paper = streaks.point(lambda v: 255 if v > 240 else 0)
    return Image.composite(Image.new("RGB", img.size, (252, 250, 244)), textured, paper)


def _colored_pencil(img: Image.Image, rng: random.Random) -> Image.Image:
    pale = Image.blend(img, Image.new("RGB", img.size, (255, 255, 252)), 0.45)
    hatch = ImageChops.multiply(_lines(img.size, 3, 175), _lines(img.size, 7, 215, slope=-1))
    drawn = _multiply(pale, hatch)
    edges = img.convert("L").filter(ImageFilter.FIND_EDGES).point(lambda v: 255 - min(160, v * 2))
    return _multiply(drawn, edges)


def _paper_cut(img: Image.Image, rng: random.Random) -> Image.Image:
    layers = ImageOps.posterize(img, 2)
    edges = layers.convert("L").filter(ImageFilter.FIND_EDGES).point(lambda v: 255 if v > 12 else 0)
    offset = max(2, round(3 * _k(img)))
    shadow = ImageChops.offset(edges, offset, offset).filter(
        ImageFilter.GaussianBlur(1.5 * _k(img))
    )
    cast = _multiply(layers, shadow.point(lambda v: 255 - v * 110 // 255))
    return _multiply(cast, _noise(img.size, rng, 235, 255))


_INK = (25, 20, 25)
_STYLES = {
    "cartoon": Style("cartoon", Look(outline=3, ink=_INK), _cartoon),
    "flat": Style("flat", Look(outline=0, gradients=False), _flat),
    "watercolor": Style("watercolor", Look(outline=0), _watercolor),
    "sketch": Style("sketch", Look(outline=2, ink=(40, 40, 40)), _sketch),
    "pixel": Style("pixel", Look(outline=0, gradients=False), _pixel),
    "manga": Style("manga", Look(outline=3, ink=(0, 0, 0)), _manga),
    "western": Style("western", Look(outline=4, ink=(10, 5, 5)), _western),
    "graphic_novel": Style("graphic_novel", Look(outline=4, ink=(0, 0, 0)), _graphic_novel),
    "oil_painting": Style("oil_painting", Look(outline=0), _oil),
    "3d": Style("3d", Look(outline=0, shade=True), _three_d),
    "comic_style": Style("comic_style", Look(outline=4, ink=(0, 0, 0)), _comic, border=True),
    "crayon": Style("crayon", Look(outline=2, ink=(70, 50, 60)), _crayon),
    "colored_pencil": Style("colored_pencil", Look(outline=1, ink=(90, 80, 80)), _colored_pencil),
    "paper_cut": Style("paper_cut", Look(outline=0, gradients=False), _paper_cut),
}
STYLE_NAMES = tuple(_STYLES)
_ALIASES = {
    "comic": "comic_style",
    "oil": "oil_painting",
    "pencil": "colored_pencil",
    "papercut": "paper_cut",
    "water_color": "watercolor",
    "graphic": "graphic_novel",
    "pixel_art": "pixel",
    "anime": "manga",
}


def style_for(name: str) -> Style:
    """The style for an API value; unknown values draw as cartoon, StoryMint's default."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return _STYLES.get(_ALIASES.get(key, key), _STYLES["cartoon"])
