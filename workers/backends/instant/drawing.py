"""Drawing primitives for the instant illustrator: the pen, and the parts figures share.

The pen applies a style's outline and shading to every shape, so figures and scenery are
written once and drawn in any style. Sizes are in pixels of the working canvas.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageOps

from workers.backends.base import Character
from workers.backends.instant.world import COLORS

RGB = tuple[int, int, int]
Box = tuple[float, float, float, float]

__all__ = [
    "LIT",
    "Look",
    "Pen",
    "Scene",
    "clothing",
    "ears",
    "eyes",
    "gradient",
    "headwear",
    "mix",
    "rgb",
    "smile",
    "tail",
]

LIT: RGB = (250, 225, 120)  # a window with the lamp on


def rgb(name: str, default: RGB = (150, 150, 150)) -> RGB:
    return COLORS.get(name, default)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


@dataclass(frozen=True, slots=True)
class Look:
    """How shapes are laid down; colour and texture come afterwards, in the style filters."""

    outline: int = 2
    ink: RGB = (30, 24, 28)
    shade: bool = False  # rounded 3D-like shading
    gradients: bool = True


@dataclass(frozen=True, slots=True)
class Scene:
    """What a painted setting tells the illustrator: where and how the characters stand."""

    ground_y: float  # pixel row the characters stand on
    ground: RGB  # colour under their feet, for shadows
    floating: bool  # underwater or in the sky: no shadows
    water_y: float | None = None  # where swimmers (a whale, a fish) float, if there is open sea
    indoors: bool = False  # no rain or snow falls in front of the characters


def gradient(width: int, height: int, top: RGB, bottom: RGB, smooth: bool) -> Image.Image:
    """A vertical ramp from ``top`` to ``bottom``; one flat colour for flat styles."""
    if not smooth:
        return Image.new("RGB", (width, height), mix(top, bottom, 0.5))
    ramp = Image.linear_gradient("L").resize((width, max(1, height)))
    return ImageOps.colorize(ramp, top, bottom)


class Pen:
    def __init__(self, draw: ImageDraw.ImageDraw, look: Look, scale: float) -> None:
        self.d = draw
        self.look = look
        self.scale = scale  # output pixels per working-canvas pixel
        self.w = max(1, round(look.outline * scale)) if look.outline else 0

    def _ink(self) -> RGB | None:
        return self.look.ink if self.w else None

    def ellipse(self, box: Box, color: RGB) -> None:
        x0, y0, x1, y1 = box
        if x1 - x0 < 1 or y1 - y0 < 1:
            return
        if self.look.shade:
            self.d.ellipse(box, fill=mix(color, (0, 0, 0), 0.35))
            dx, dy = (x1 - x0) * 0.08, (y1 - y0) * 0.08
            self.d.ellipse((x0 + dx * 0.5, y0 + dy * 0.5, x1 - dx * 1.5, y1 - dy * 1.5), fill=color)
            hx, hy = x0 + (x1 - x0) * 0.22, y0 + (y1 - y0) * 0.18
            r = min(x1 - x0, y1 - y0) * 0.14
            self.d.ellipse((hx, hy, hx + r * 1.6, hy + r), fill=mix(color, (255, 255, 255), 0.55))
            return
        self.d.ellipse(box, fill=color, outline=self._ink(), width=self.w)

    def circle(self, cx: float, cy: float, r: float, color: RGB) -> None:
        self.ellipse((cx - r, cy - r, cx + r, cy + r), color)

    def poly(self, points: list[tuple[float, float]], color: RGB) -> None:
        if self.look.shade:
            self.d.polygon(points, fill=mix(color, (0, 0, 0), 0.2))
            cx = sum(p[0] for p in points) / len(points)
            cy = sum(p[1] for p in points) / len(points)
            inner = [(cx + (x - cx) * 0.8 - 1, cy + (y - cy) * 0.8 - 1) for x, y in points]
            self.d.polygon(inner, fill=color)
            return
        self.d.polygon(points, fill=color, outline=self._ink(), width=self.w)

    def rect(self, box: Box, color: RGB, radius: float = 0) -> None:
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            return
        if self.look.shade:
            self.d.rounded_rectangle(box, radius=radius, fill=mix(color, (0, 0, 0), 0.3))
            x0, y0, x1, y1 = box
            inset = (x0 + 1, y0 + 1, x1 - (x1 - x0) * 0.12, y1 - (y1 - y0) * 0.12)
            self.d.rounded_rectangle(inset, radius=radius, fill=color)
            return
        self.d.rounded_rectangle(box, radius=radius, fill=color, outline=self._ink(), width=self.w)

    def line(self, points: list[tuple[float, float]], color: RGB, width: float) -> None:
        self.d.line(points, fill=color, width=max(1, round(width)), joint="curve")

    def dot(self, cx: float, cy: float, r: float, color: RGB) -> None:
        """A small mark never outlined or shaded (eyes, glints, spots)."""
        self.d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=color)


def clothing(character: Character) -> tuple[RGB, str]:
    words = character.clothing.lower().split()
    colour = rgb(words[0], (200, 60, 60)) if words else (200, 60, 60)
    kinds = "suit armor crown coat cape scarf cap vest bow boots overalls sweater backpack".split()
    item = next((k for k in kinds if k in words), "hat" if "hat" in words else "")
    if item == "hat" and "wizard" in words:
        item = "wizard"
    return colour, item


def eyes(p: Pen, cx: float, cy: float, s: float, big: bool = False) -> None:
    r = s * (0.055 if big else 0.035)
    for side in (-1, 1):
        x = cx + side * s * 0.1
        if big:
            p.dot(x, cy, r * 1.5, (255, 255, 255))
        p.dot(x, cy, r, (25, 20, 30))
        p.dot(x - r * 0.35, cy - r * 0.35, r * 0.35, (255, 255, 255))


def smile(p: Pen, cx: float, cy: float, s: float) -> None:
    r = s * 0.06
    p.d.arc(
        (cx - r, cy - r, cx + r, cy + r), 20, 160, fill=(60, 30, 30), width=max(1, round(s * 0.012))
    )


def ears(p: Pen, kind: str, hx: float, hy: float, hr: float, main: RGB, inner: RGB) -> None:
    for side in (-1, 1):
        x = hx + side * hr * 0.6
        if kind in ("pointy", "tufts"):
            k = 0.55 if kind == "pointy" else 0.35
            p.poly(
                [
                    (x - hr * 0.3, hy - hr * 0.55),
                    (x + side * hr * 0.15, hy - hr * (0.6 + k * 1.2)),
                    (x + hr * 0.3, hy - hr * 0.45),
                ],
                main,
            )
        elif kind == "round":
            p.circle(x, hy - hr * 0.75, hr * 0.3, main)
            p.dot(x, hy - hr * 0.75, hr * 0.15, inner)
        elif kind == "big":
            p.circle(hx + side * hr * 0.95, hy - hr * 0.3, hr * 0.55, main)
            p.dot(hx + side * hr * 0.95, hy - hr * 0.3, hr * 0.32, inner)
        elif kind == "long":
            p.ellipse((x - hr * 0.18, hy - hr * 1.9, x + hr * 0.18, hy - hr * 0.5), main)
            p.dot(x, hy - hr * 1.2, hr * 0.08, inner)
        elif kind == "floppy":
            p.ellipse(
                (
                    hx + side * hr * 0.75 - hr * 0.25,
                    hy - hr * 0.6,
                    hx + side * hr * 0.75 + hr * 0.25,
                    hy + hr * 0.45,
                ),
                inner,
            )
        elif kind == "horns":
            p.poly(
                [
                    (x - hr * 0.12, hy - hr * 0.7),
                    (x + side * hr * 0.2, hy - hr * 1.3),
                    (x + hr * 0.12, hy - hr * 0.7),
                ],
                rgb("cream"),
            )
        elif kind == "antenna" and side == 1:
            p.line([(hx, hy - hr), (hx, hy - hr * 1.5)], (60, 60, 70), hr * 0.08)
            p.dot(hx, hy - hr * 1.55, hr * 0.14, rgb("red"))


def tail(p: Pen, kind: str, x: float, y: float, s: float, side: int, main: RGB, tip: RGB) -> None:
    if kind == "bushy":
        p.poly(
            [
                (x, y),
                (x + side * s * 0.35, y - s * 0.2),
                (x + side * s * 0.45, y - s * 0.05),
                (x + side * s * 0.2, y + s * 0.06),
            ],
            main,
        )
        p.poly(
            [
                (x + side * s * 0.35, y - s * 0.2),
                (x + side * s * 0.47, y - s * 0.05),
                (x + side * s * 0.4, y - s * 0.08),
            ],
            tip,
        )
    elif kind in ("thin", "long"):
        end = (x + side * s * (0.3 if kind == "thin" else 0.4), y - s * 0.22)
        p.line([(x, y), (x + side * s * 0.22, y + s * 0.02), end], main, s * 0.035)
    elif kind == "puff":
        p.circle(x + side * s * 0.05, y, s * 0.06, tip)
    elif kind == "ringed":
        p.ellipse(
            (x, y - s * 0.22, x + side * s * 0.14, y + s * 0.02)
            if side > 0
            else (x - s * 0.14, y - s * 0.22, x, y + s * 0.02),
            main,
        )
        for k in range(3):
            yy = y - s * 0.04 - k * s * 0.06
            p.line([(x, yy), (x + side * s * 0.13, yy - s * 0.02)], (40, 40, 45), s * 0.02)
    elif kind == "curly":
        r = s * 0.1
        p.d.arc(
            (x + side * r * 0.5 - r, y - r * 2, x + side * r * 0.5 + r, y),
            90,
            400,
            fill=main,
            width=max(1, round(s * 0.035)),
        )
    elif kind == "short":
        p.circle(x + side * s * 0.04, y - s * 0.02, s * 0.05, main)


def headwear(p: Pen, item: str, cloth: RGB, hx: float, hy: float, hr: float) -> None:
    if item == "cap":
        p.d.chord((hx - hr, hy - hr * 1.05, hx + hr, hy + hr * 0.3), 180, 360, fill=cloth)
        p.rect((hx, hy - hr * 0.42, hx + hr * 1.2, hy - hr * 0.3), cloth)
    elif item == "hat":
        p.rect((hx - hr * 0.9, hy - hr * 0.95, hx + hr * 0.9, hy - hr * 0.78), cloth)
        p.rect((hx - hr * 0.55, hy - hr * 1.6, hx + hr * 0.55, hy - hr * 0.85), cloth, hr * 0.1)
    elif item == "wizard":
        p.poly(
            [
                (hx - hr * 0.8, hy - hr * 0.75),
                (hx + hr * 0.2, hy - hr * 2.1),
                (hx + hr * 0.8, hy - hr * 0.75),
            ],
            cloth,
        )
    elif item == "bow":
        bx, by = hx + hr * 0.55, hy - hr * 0.85
        p.poly([(bx, by), (bx - hr * 0.4, by - hr * 0.25), (bx - hr * 0.4, by + hr * 0.25)], cloth)
        p.poly([(bx, by), (bx + hr * 0.4, by - hr * 0.25), (bx + hr * 0.4, by + hr * 0.25)], cloth)
        p.dot(bx, by, hr * 0.1, mix(cloth, (0, 0, 0), 0.3))
    elif item == "crown":
        y = hy - hr * 0.85
        pts = [
            (hx - hr * 0.6, y),
            (hx - hr * 0.6, y - hr * 0.5),
            (hx - hr * 0.3, y - hr * 0.25),
            (hx, y - hr * 0.6),
            (hx + hr * 0.3, y - hr * 0.25),
            (hx + hr * 0.6, y - hr * 0.5),
            (hx + hr * 0.6, y),
        ]
        p.poly(pts, rgb("gold") if cloth == rgb("pink") else cloth)
    elif item == "suit":
        p.d.ellipse(
            (hx - hr * 1.3, hy - hr * 1.3, hx + hr * 1.3, hy + hr * 1.3),
            outline=(230, 240, 255),
            width=max(1, round(hr * 0.12)),
        )
