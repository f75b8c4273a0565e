"""Page pictures: art with its words laid over it, covers, chapter pages, and fast encoders.

Everything here is synchronous pixel work on Pillow images; the pipeline runs it in a thread so
the event loop keeps serving while a book is drawn. Every function is a pure function of its
inputs, which is what makes the same request give byte-identical files.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from workers.pipelines.text import DISPLAY, Fonts, fold, legible

__all__ = [
    "SQUARE",
    "TALL",
    "chapter_cover",
    "cover",
    "jpeg_bytes",
    "novel_opening",
    "picture_page",
    "shade",
]

SQUARE = (768, 768)
TALL = (768, 1024)

INK = (38, 32, 28)
PAPER = (255, 251, 240)
NIGHT = (18, 22, 38)
GOLD = (244, 200, 92)
WHITE = (255, 255, 255)

Box = tuple[int, int, int, int]


def jpeg_bytes(image: Image.Image, quality: int = 86) -> bytes:
    out = io.BytesIO()
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    rgb.save(out, "JPEG", quality=quality, optimize=False, progressive=False)
    return out.getvalue()


def shade(
    image: Image.Image, box: Box, color: tuple[int, int, int], alpha: float, radius: int = 0
) -> None:
    """Lay a translucent (rounded) panel over part of ``image``, in place."""
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return
    region = image.crop(box)
    blended = Image.blend(region, Image.new("RGB", region.size, color), alpha)
    if radius <= 0:
        image.paste(blended, (x0, y0))
        return
    mask = Image.new("L", region.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle(
        (0, 0, region.size[0] - 1, region.size[1] - 1), radius=radius, fill=255
    )
    image.paste(blended, (x0, y0), mask)


def _scale(image: Image.Image) -> float:
    return image.size[0] / 768


def picture_page(art: Image.Image, text: str, fonts: Fonts) -> Image.Image:
    """A picture-book page: the words on a soft translucent panel over the art."""
    page = art.copy()
    words = legible(text)
    if not words:
        return page
    w, h = page.size
    k = _scale(page)
    margin, pad = round(24 * k), round(18 * k)
    inner = w - 2 * margin - 2 * pad
    fitted = fonts.fit(
        words, inner, h * 0.36 - 2 * pad, largest=round(30 * k), smallest=round(15 * k)
    )
    # Along the top, over the sky: characters mostly stand in the lower half of a scene.
    box = (margin, margin, w - margin, margin + fitted.height + 2 * pad)
    shade(page, box, PAPER, 0.82, radius=round(18 * k))
    fonts.draw(
        ImageDraw.Draw(page),
        fitted,
        (box[0] + pad, box[1] + pad, box[2] - pad, box[3] - pad),
        fill=INK,
    )
    return page


def cover(art: Image.Image, title: str, author: str, series: str, fonts: Fonts) -> Image.Image:
    """The book's cover: series over the title in a band at the top, the author at the foot."""
    page = art.copy()
    draw = ImageDraw.Draw(page)
    w, h = page.size
    k = _scale(page)
    pad = round(26 * k)
    inner = w - 2 * pad
    name, label, byline = legible(title), legible(series), legible(author)
    if name or label:
        series_fit = (
            fonts.fit(label, inner, 60 * k, largest=round(24 * k), smallest=round(14 * k))
            if label
            else None
        )
        title_fit = (
            fonts.fit(
                name, inner, h * 0.26, largest=round(60 * k), smallest=round(28 * k), max_lines=3
            )
            if name
            else None
        )
        gap = round(10 * k) if series_fit and title_fit else 0
        height = (series_fit.height if series_fit else 0) + gap
        height += title_fit.height if title_fit else 0
        shade(page, (0, 0, w, height + 2 * pad), NIGHT, 0.62)
        y = pad
        if series_fit:
            fonts.draw(draw, series_fit, (pad, y, w - pad, y + series_fit.height), fill=GOLD)
            y += series_fit.height + gap
        if title_fit:
            box = (pad, y, w - pad, y + title_fit.height)
            fonts.draw(draw, title_fit, box, fill=WHITE, stroke=max(1, round(k)))
    if byline:
        fitted = fonts.fit(byline, inner, 80 * k, largest=round(28 * k), smallest=round(14 * k))
        top = h - fitted.height - 2 * pad
        shade(page, (0, top, w, h), NIGHT, 0.55)
        fonts.draw(draw, fitted, (pad, top + pad, w - pad, h - pad), fill=WHITE)
    return page


def chapter_label(language: str, number: int) -> str:
    """'Chapter 3' in the book's language where the built-in fonts can spell it."""
    word = {
        "spanish": "Capitulo",
        "portuguese": "Capitulo",
        "french": "Chapitre",
        "german": "Kapitel",
        "italian": "Capitolo",
        "russian": "Glava",
    }.get(language, "Chapter")
    return f"{word} {number}"


def chapter_cover(art: Image.Image, label: str, title: str, fonts: Fonts) -> Image.Image:
    """A chapter-comic chapter's opening page: full art, number and title in a band below."""
    page = art.copy()
    draw = ImageDraw.Draw(page)
    w, h = page.size
    k = _scale(page)
    pad = round(28 * k)
    inner = w - 2 * pad
    head = fonts.fit(fold(label, DISPLAY), inner, 60 * k, largest=round(30 * k), smallest=14)
    name = legible(title)
    body = (
        fonts.fit(name, inner, h * 0.2, largest=round(48 * k), smallest=round(22 * k), max_lines=3)
        if name
        else None
    )
    gap = round(12 * k)
    height = head.height + (gap + body.height if body else 0) + 2 * pad
    shade(page, (0, h - height, w, h), NIGHT, 0.66)
    y = h - height + pad
    fonts.draw(draw, head, (pad, y, w - pad, y + head.height), fill=GOLD, stroke=1)
    if body:
        y += head.height + gap
        fonts.draw(draw, body, (pad, y, w - pad, y + body.height), fill=WHITE, stroke=1)
    return page


def novel_opening(
    label: str, title: str, text: str, fonts: Fonts, size: tuple[int, int] = TALL
) -> Image.Image:
    """A novel chapter's first page, typeset as a picture for previews and pages[]."""
    w, h = size
    k = w / 768
    page = Image.new("RGB", size, (250, 246, 236))
    draw = ImageDraw.Draw(page)
    margin = round(64 * k)
    inner = w - 2 * margin
    draw.rectangle(
        (round(24 * k), round(24 * k), w - round(24 * k), h - round(24 * k)),
        outline=(196, 178, 140),
        width=max(1, round(2 * k)),
    )
    y = round(110 * k)
    head = fonts.fit(
        fold(label, DISPLAY).upper(), inner, 50 * k, largest=round(24 * k), smallest=12
    )
    fonts.draw(draw, head, (margin, y, w - margin, y + head.height), fill=(150, 110, 50))
    y += head.height + round(16 * k)
    name = legible(title)
    if name:
        fitted = fonts.fit(
            name, inner, 170 * k, largest=round(42 * k), smallest=round(24 * k), max_lines=3
        )
        fonts.draw(draw, fitted, (margin, y, w - margin, y + fitted.height), fill=INK, stroke=1)
        y += fitted.height
    y += round(22 * k)
    draw.line(
        (w / 2 - 60 * k, y, w / 2 + 60 * k, y), fill=(150, 110, 50), width=max(1, round(2 * k))
    )
    y += round(34 * k)
    body = legible(text)
    if body:
        size_px = round(21 * k)
        fitted = fonts.fit(
            body, inner, h - margin - y, largest=size_px, smallest=size_px, spacing=1.45
        )
        fonts.draw(
            draw, fitted, (margin, y, w - margin, h - margin), fill=INK, align="left", valign="top"
        )
    return page
