"""Comic pages: a caption box, a grid of two to four panels, speech bubbles with tails.

The grid is decided before any panel is drawn (the illustrator is asked for each panel at its
final size), so ``layout`` is separate from ``page``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw

from workers.pipelines.compose import INK, TALL
from workers.pipelines.text import Fitted, Fonts, legible

__all__ = ["ComicLayout", "layout", "page", "speech"]

Box = tuple[int, int, int, int]

_MARGIN = 24
_GUTTER = 14
_CAPTION_FILL = (255, 241, 186)
_PAGE_FILL = (250, 250, 246)
WHITE_INK = (255, 255, 255)


@dataclass(frozen=True, slots=True)
class ComicLayout:
    size: tuple[int, int]
    caption: Fitted | None
    caption_box: Box | None
    panels: tuple[Box, ...]


def _grid(count: int, x0: int, y0: int, x1: int, y1: int) -> list[Box]:
    g = _GUTTER
    w, h = x1 - x0, y1 - y0
    half_w, half_h = (w - g) // 2, (h - g) // 2
    if count <= 1:
        return [(x0, y0, x1, y1)]
    if count == 2:
        return [(x0, y0, x1, y0 + half_h), (x0, y1 - half_h, x1, y1)]
    if count == 3:
        top = (x0, y0, x1, y0 + half_h)
        return [top, (x0, y1 - half_h, x0 + half_w, y1), (x1 - half_w, y1 - half_h, x1, y1)]
    return [
        (x0, y0, x0 + half_w, y0 + half_h),
        (x1 - half_w, y0, x1, y0 + half_h),
        (x0, y1 - half_h, x0 + half_w, y1),
        (x1 - half_w, y1 - half_h, x1, y1),
    ]


def layout(count: int, caption: str, fonts: Fonts, size: tuple[int, int] = TALL) -> ComicLayout:
    w, h = size
    top = _MARGIN
    fitted = None
    cap_box = None
    words = legible(caption)
    if words:
        pad = 14
        fitted = fonts.fit(words, w - 2 * _MARGIN - 2 * pad, h * 0.2, largest=22, smallest=14)
        cap_box = (_MARGIN, _MARGIN, w - _MARGIN, _MARGIN + fitted.height + 2 * pad)
        top = cap_box[3] + _GUTTER
    boxes = _grid(max(1, min(4, count)), _MARGIN, top, w - _MARGIN, h - _MARGIN)
    return ComicLayout(size, fitted, cap_box, tuple(boxes))


def speech(line: str, names: Sequence[str]) -> tuple[str, str]:
    """Split a writer's 'Name: words' line into (speaker, words)."""
    text = line.strip()
    for name in sorted(names, key=len, reverse=True):
        if name and text.startswith(name):
            rest = text[len(name) :].lstrip()
            if rest[:1] in (":", "\uff1a", "\u300c"):
                words = rest[1:].strip().strip("\u300c\u300d").strip()
                return name, words
    return "", text


def _bubble(draw: ImageDraw.ImageDraw, fonts: Fonts, panel: Box, words: str, right: bool) -> None:
    x0, y0, x1, y1 = panel
    pw, ph = x1 - x0, y1 - y0
    pad = 12
    fitted = fonts.fit(
        words, pw * 0.6 - 2 * pad, ph * 0.4 - 2 * pad, largest=20, smallest=12, max_lines=5
    )
    text_w = max(fonts.width(line, fitted.size) for line in fitted.lines)
    bw = min(int(pw * 0.6), int(text_w) + 2 * pad + 6)
    bh = fitted.height + 2 * pad
    inset = 14
    bx0 = x1 - inset - bw if right else x0 + inset
    by0 = y0 + inset
    bubble = (bx0, by0, bx0 + bw, by0 + bh)
    # The tail leaves the bubble's lower edge and points down into the scene, towards the
    # middle of the panel where the speakers stand.
    base = bx0 + bw * (0.7 if right else 0.3)
    tip = (x0 + pw * (0.58 if right else 0.42), min(y1 - inset, by0 + bh + ph * 0.22))
    spread = max(10, min(22, bw // 6))
    tail = [(base - spread, by0 + bh - 8), (base + spread, by0 + bh - 8), tip]
    draw.polygon(tail, fill=WHITE_INK, outline=INK, width=3)
    draw.rounded_rectangle(bubble, radius=min(bh // 2, 28), fill=WHITE_INK, outline=INK, width=3)
    inner = [(base - spread + 5, by0 + bh - 10), (base + spread - 5, by0 + bh - 10), tip]
    draw.polygon(inner, fill=WHITE_INK)
    draw.line((inner[0], tip), fill=INK, width=3)
    draw.line((inner[1], tip), fill=INK, width=3)
    fonts.draw(draw, fitted, (bx0 + pad, by0 + pad, bx0 + bw - pad, by0 + bh - pad), fill=INK)


def page(
    plan: ComicLayout,
    panels: Sequence[Image.Image],
    lines: Sequence[str],
    names: Sequence[str],
    fonts: Fonts,
) -> Image.Image:
    out = Image.new("RGB", plan.size, _PAGE_FILL)
    draw = ImageDraw.Draw(out)
    if plan.caption is not None and plan.caption_box is not None:
        draw.rectangle(plan.caption_box, fill=_CAPTION_FILL, outline=INK, width=3)
        x0, y0, x1, y1 = plan.caption_box
        fonts.draw(draw, plan.caption, (x0 + 14, y0 + 14, x1 - 14, y1 - 14), fill=INK, align="left")
    for i, box in enumerate(plan.panels):
        art = panels[i]
        size = (box[2] - box[0], box[3] - box[1])
        if art.size != size:
            art = art.resize(size, Image.Resampling.BILINEAR)
        out.paste(art, box[:2])
        draw.rectangle(box, outline=INK, width=4)
        if i < len(lines):
            _speaker, words = speech(lines[i], names)
            words = legible(words)
            if words:
                _bubble(draw, fonts, box, words, right=i % 2 == 1)
    return out
