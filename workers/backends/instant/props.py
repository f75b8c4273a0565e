"""Small props a story mentions, drawn standing on the ground: fruit, flowers, toys, a rainbow."""

from __future__ import annotations

import math

from PIL import ImageDraw

from workers.backends.instant.drawing import RGB, Pen, rgb

__all__ = ["draw_prop", "rainbow"]


def _star(p: Pen, cx: float, cy: float, r: float, color: RGB) -> None:
    pts = []
    for k in range(10):
        ang = -math.pi / 2 + k * math.pi / 5
        rad = r if k % 2 == 0 else r * 0.45
        pts.append((cx + rad * math.cos(ang), cy + rad * math.sin(ang)))
    p.poly(pts, color)


def rainbow(d: ImageDraw.ImageDraw, w: int, h: int) -> None:
    colours = (
        (230, 60, 60),
        (245, 150, 40),
        (250, 220, 60),
        (80, 180, 80),
        (60, 120, 220),
        (140, 80, 190),
    )
    band = max(2, round(h * 0.025))
    for k, col in enumerate(colours):
        r = h * 0.55 - k * band
        d.arc(
            (w * 0.5 - r * 1.3, h * 0.62 - r, w * 0.5 + r * 1.3, h * 0.62 + r),
            180,
            360,
            fill=col,
            width=band,
        )


def draw_prop(p: Pen, kind: str, x: float, y: float, s: float, tint: RGB = (230, 60, 60)) -> None:
    """A small object standing on (x, y): story objects and the extras of chat edits."""
    if kind == "carrots":
        p.poly([(x - s * 0.12, y - s * 0.5), (x + s * 0.12, y - s * 0.5), (x, y)], rgb("orange"))
        p.line([(x, y - s * 0.5), (x - s * 0.08, y - s * 0.7)], rgb("green"), s * 0.06)
        p.line([(x, y - s * 0.5), (x + s * 0.08, y - s * 0.7)], rgb("green"), s * 0.06)
    elif kind in ("apples", "berries", "nuts", "cookies", "candies", "seeds"):
        color = {
            "apples": rgb("red"),
            "berries": rgb("purple"),
            "nuts": rgb("brown"),
            "cookies": rgb("tan"),
            "candies": tint,
            "seeds": rgb("brown"),
        }[kind]
        r = s * (0.2 if kind in ("apples", "cookies") else 0.11)
        for k, (dx, dy) in enumerate(((0, 0), (-1.6, 0.3), (1.6, 0.3))):
            p.circle(
                x + dx * r, y - r + dy * r, r, color if kind != "candies" or k else rgb("pink")
            )
        if kind == "apples":
            p.line([(x, y - r * 2), (x + r * 0.3, y - r * 2.6)], rgb("brown"), r * 0.25)
    elif kind == "flowers":
        p.line([(x, y), (x, y - s * 0.45)], rgb("green"), s * 0.05)
        for k in range(5):
            ang = k * 2 * math.pi / 5
            p.circle(
                x + math.cos(ang) * s * 0.1, y - s * 0.5 + math.sin(ang) * s * 0.1, s * 0.08, tint
            )
        p.dot(x, y - s * 0.5, s * 0.06, rgb("yellow"))
    elif kind == "shells":
        p.d.pieslice(
            (x - s * 0.2, y - s * 0.35, x + s * 0.2, y + s * 0.05), 180, 360, fill=rgb("pink")
        )
        for k in range(-2, 3):
            p.line([(x, y - s * 0.02), (x + k * s * 0.08, y - s * 0.3)], rgb("rose"), s * 0.02)
    elif kind == "balloons":
        for k, col in enumerate((rgb("red"), rgb("blue"), rgb("yellow"))):
            bx = x + (k - 1) * s * 0.22
            p.line([(x, y), (bx, y - s * 0.7)], (90, 90, 90), 1)
            p.ellipse((bx - s * 0.13, y - s * 1.0, bx + s * 0.13, y - s * 0.66), col)
    elif kind == "books":
        for k, col in enumerate((rgb("blue"), rgb("red"), rgb("green"))):
            p.rect(
                (
                    x - s * 0.25 + k * s * 0.02,
                    y - s * 0.12 * (k + 1),
                    x + s * 0.25,
                    y - s * 0.12 * k,
                ),
                col,
            )
    elif kind == "toys":
        for k, col in enumerate((rgb("red"), rgb("yellow"), rgb("blue"))):
            p.rect((x - s * 0.3 + k * s * 0.2, y - s * 0.18, x - s * 0.12 + k * s * 0.2, y), col)
        p.circle(x, y - s * 0.32, s * 0.12, rgb("purple"))
    elif kind == "stars":
        for dx, dy, r in ((0, -0.5, 0.16), (-0.3, -0.25, 0.1), (0.3, -0.3, 0.12)):
            _star(p, x + dx * s, y + dy * s, r * s, rgb("gold"))
    elif kind == "song":
        for k in range(2):
            nx, ny = x + k * s * 0.25, y - s * (0.5 + 0.1 * k)
            p.dot(nx, ny, s * 0.07, (40, 40, 60))
            p.line([(nx + s * 0.06, ny), (nx + s * 0.06, ny - s * 0.3)], (40, 40, 60), s * 0.03)
    elif kind == "party":
        p.circle(x, y - s * 0.18, s * 0.18, rgb("pink"))
        p.rect((x - s * 0.22, y - s * 0.2, x + s * 0.22, y), rgb("cream"))
        p.line([(x, y - s * 0.2), (x, y - s * 0.38)], rgb("yellow"), s * 0.03)
