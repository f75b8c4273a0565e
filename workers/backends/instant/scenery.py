"""Backgrounds for each setting, the time of day, and the small props of a story."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageOps

from workers.backends.instant.drawing import RGB, Pen, mix, rgb

__all__ = ["Scene", "draw_prop", "paint_scene", "rainbow"]


@dataclass(frozen=True, slots=True)
class Scene:
    ground_y: float  # pixel row the characters stand on
    ground: RGB  # colour under their feet, for shadows
    floating: bool  # underwater or in the sky: no shadows


# setting -> (sky top, sky bottom, ground, horizon as a fraction of the height)
_LAND: dict[str, tuple[RGB, RGB, RGB, float]] = {
    "forest": ((120, 190, 235), (205, 235, 215), (86, 150, 70), 0.62),
    "meadow": ((110, 185, 245), (215, 240, 250), (120, 190, 80), 0.6),
    "garden": ((120, 190, 245), (225, 240, 250), (110, 180, 80), 0.62),
    "farm": ((130, 195, 240), (230, 240, 245), (140, 190, 80), 0.6),
    "beach": ((90, 170, 240), (200, 235, 250), (238, 214, 160), 0.66),
    "river": ((120, 185, 240), (215, 238, 250), (110, 180, 90), 0.58),
    "city": ((140, 190, 235), (225, 232, 245), (150, 150, 160), 0.68),
    "mountain": ((100, 165, 230), (220, 235, 250), (100, 160, 90), 0.66),
    "castle": ((150, 170, 240), (240, 220, 240), (100, 170, 90), 0.66),
    "jungle": ((120, 200, 170), (210, 240, 200), (60, 130, 60), 0.64),
    "snow": ((170, 200, 235), (235, 242, 250), (245, 248, 252), 0.6),
}


def _gradient(width: int, height: int, top: RGB, bottom: RGB, smooth: bool) -> Image.Image:
    if not smooth:
        return Image.new("RGB", (width, height), mix(top, bottom, 0.5))
    ramp = Image.linear_gradient("L").resize((width, max(1, height)))
    return ImageOps.colorize(ramp, top, bottom)


def _tree(p: Pen, x: float, y: float, s: float, leaf: RGB) -> None:
    p.rect((x - s * 0.06, y - s * 0.5, x + s * 0.06, y), rgb("brown"))
    for dx, dy, r in ((0, -0.75, 0.3), (-0.2, -0.55, 0.22), (0.2, -0.55, 0.22)):
        p.circle(x + dx * s, y + dy * s, r * s, leaf)


def _pine(p: Pen, x: float, y: float, s: float, leaf: RGB, snow: bool) -> None:
    p.rect((x - s * 0.04, y - s * 0.15, x + s * 0.04, y), rgb("brown"))
    for k in range(3):
        top = y - s * (0.45 + k * 0.25)
        p.poly(
            [
                (x - s * (0.3 - k * 0.07), top + s * 0.35),
                (x, top),
                (x + s * (0.3 - k * 0.07), top + s * 0.35),
            ],
            leaf,
        )
        if snow:
            p.poly(
                [(x - s * 0.06, top + s * 0.07), (x, top), (x + s * 0.06, top + s * 0.07)],
                rgb("white"),
            )


def _cloud(p: Pen, x: float, y: float, s: float, color: RGB = (255, 255, 255)) -> None:
    for dx, dy, r in ((0, 0, 0.22), (-0.22, 0.06, 0.16), (0.22, 0.06, 0.17), (0.1, -0.1, 0.15)):
        p.circle(x + dx * s, y + dy * s, r * s, color)


def _house(p: Pen, x: float, y: float, s: float, wall: RGB, roof: RGB) -> None:
    p.rect((x - s * 0.3, y - s * 0.45, x + s * 0.3, y), wall)
    p.poly([(x - s * 0.38, y - s * 0.45), (x, y - s * 0.8), (x + s * 0.38, y - s * 0.45)], roof)
    p.rect((x - s * 0.07, y - s * 0.22, x + s * 0.07, y), mix(wall, (0, 0, 0), 0.45))


def _sky_bits(p: Pen, w: int, h: int, mood: str, rng: random.Random, horizon: float) -> None:
    if mood == "night":
        for _ in range(40):
            p.dot(
                rng.uniform(0, w),
                rng.uniform(0, horizon * 0.95),
                rng.uniform(0.6, 1.6),
                (255, 250, 220),
            )
        p.circle(w * 0.82, h * 0.14, h * 0.06, (250, 245, 210))
    elif mood != "storm":
        p.circle(w * rng.uniform(0.72, 0.9), h * rng.uniform(0.1, 0.18), h * 0.07, rgb("yellow"))
    cloud = (110, 110, 130) if mood == "storm" else (255, 255, 255)
    for _ in range(2 if mood != "storm" else 4):
        _cloud(p, rng.uniform(0.05, 0.7) * w, rng.uniform(0.08, 0.3) * horizon, h * 0.18, cloud)


def _mood_sky(top: RGB, bottom: RGB, mood: str) -> tuple[RGB, RGB]:
    if mood == "night":
        return (15, 20, 60), (60, 60, 120)
    if mood == "sunset":
        return (250, 150, 110), (255, 215, 150)
    if mood == "storm":
        return (90, 95, 115), (150, 150, 165)
    return top, bottom


def paint_scene(
    img: Image.Image, p: Pen, setting: str, mood: str, rng: random.Random, smooth: bool
) -> Scene:
    w, h = img.size
    if setting == "sea":
        img.paste(_gradient(w, h, (60, 170, 220), (10, 60, 130), smooth))
        floor = h * 0.86
        p.d.rectangle((0, floor, w, h), fill=(225, 205, 150))
        for k in range(7):
            x = rng.uniform(0, w)
            p.line(
                [(x, floor), (x - 6, floor - h * 0.12), (x + 4, floor - h * 0.22)],
                (40, 140, 80),
                h * 0.02,
            )
            p.circle(
                rng.uniform(0, w), rng.uniform(0, h * 0.7), h * 0.012 * (1 + k % 3), (200, 235, 255)
            )
        return Scene(h * 0.8, (200, 180, 130), True)
    if setting == "space":
        img.paste(_gradient(w, h, (5, 5, 30), (40, 20, 80), smooth))
        for _ in range(70):
            p.dot(
                rng.uniform(0, w), rng.uniform(0, h * 0.7), rng.uniform(0.5, 1.5), (255, 255, 230)
            )
        px, py, pr = w * rng.uniform(0.65, 0.85), h * 0.2, h * 0.1
        p.circle(px, py, pr, (230, 140, 90))
        p.d.arc(
            (px - pr * 1.7, py - pr * 0.5, px + pr * 1.7, py + pr * 0.5),
            0,
            360,
            fill=(240, 220, 160),
            width=max(1, round(h * 0.01)),
        )
        surface = h * 0.74
        p.d.ellipse((-w * 0.3, surface, w * 1.3, h * 1.5), fill=(150, 150, 165))
        for _ in range(5):
            cx, cy = rng.uniform(0, w), rng.uniform(surface + h * 0.05, h * 0.95)
            p.d.ellipse(
                (cx - h * 0.04, cy - h * 0.015, cx + h * 0.04, cy + h * 0.015), fill=(120, 120, 135)
            )
        return Scene(h * 0.86, (120, 120, 135), False)
    if setting == "sky":
        top, bottom = _mood_sky((80, 160, 240), (200, 230, 255), mood)
        img.paste(_gradient(w, h, top, bottom, smooth))
        _sky_bits(p, w, h, mood, rng, h * 0.6)
        for k in range(3):
            _cloud(p, w * (0.15 + 0.35 * k), h * (0.88 - 0.05 * (k % 2)), h * 0.4)
        return Scene(h * 0.82, (235, 235, 245), True)
    if setting in ("home", "school"):
        wall = (250, 225, 190) if setting == "home" else (215, 230, 240)
        if mood == "night":
            wall = mix(wall, (30, 30, 70), 0.45)
        img.paste(Image.new("RGB", (w, h), wall))
        floor = h * 0.7
        p.d.rectangle(
            (0, floor, w, h), fill=(180, 130, 90) if setting == "home" else (200, 190, 170)
        )
        win = (w * 0.08, h * 0.12, w * 0.32, h * 0.42)
        outside = (20, 30, 70) if mood == "night" else (150, 205, 245)
        p.rect(win, outside)
        p.line(
            [((win[0] + win[2]) / 2, win[1]), ((win[0] + win[2]) / 2, win[3])],
            (255, 255, 255),
            h * 0.012,
        )
        if setting == "home":
            p.rect((w * 0.62, h * 0.15, w * 0.8, h * 0.33), (200, 120, 90))
            p.d.ellipse((w * 0.2, h * 0.78, w * 0.8, h * 0.95), fill=(200, 90, 90))
        else:
            p.rect((w * 0.45, h * 0.12, w * 0.92, h * 0.42), (40, 90, 60))
            p.line([(w * 0.5, h * 0.2), (w * 0.7, h * 0.22)], (240, 240, 240), h * 0.008)
        return Scene(h * 0.86, mix(wall, (0, 0, 0), 0.3), False)
    top, bottom, ground, horizon_f = _LAND.get(setting, _LAND["meadow"])
    top, bottom = _mood_sky(top, bottom, mood)
    if mood in ("night", "storm"):
        ground = mix(ground, (20, 25, 50), 0.45)
    horizon = h * horizon_f
    img.paste(_gradient(w, int(horizon) + 1, top, bottom, smooth))
    _sky_bits(p, w, h, mood, rng, horizon)
    leaf = mix(ground, (20, 90, 30), 0.35)
    if setting == "mountain" or setting == "snow":
        for k in range(4):
            x = w * (k / 3) + rng.uniform(-w * 0.08, w * 0.08)
            peak = horizon - h * rng.uniform(0.2, 0.35)
            p.poly([(x - w * 0.25, horizon), (x, peak), (x + w * 0.25, horizon)], (120, 130, 160))
            p.poly(
                [(x - w * 0.06, peak + h * 0.06), (x, peak), (x + w * 0.06, peak + h * 0.06)],
                (250, 250, 255),
            )
    if setting == "beach":
        p.d.rectangle((0, horizon - h * 0.12, w, horizon), fill=(50, 140, 210))
    if setting == "city":
        for k in range(7):
            bw, bh = w * 0.14, h * rng.uniform(0.2, 0.45)
            x = k * w * 0.15 - w * 0.02
            color = ((180, 120, 110), (120, 140, 170), (200, 180, 120), (150, 150, 170))[k % 4]
            p.rect((x, horizon - bh, x + bw, horizon), color)
            for wy in range(
                int(horizon - bh + h * 0.03), int(horizon - h * 0.03), max(4, int(h * 0.06))
            ):
                for wx in (x + bw * 0.2, x + bw * 0.6):
                    lit = (250, 230, 120) if mood == "night" else (220, 235, 250)
                    p.d.rectangle((wx, wy, wx + bw * 0.18, wy + h * 0.025), fill=lit)
    if setting == "castle":
        cx = w * rng.uniform(0.55, 0.75)
        stone = (200, 195, 210)
        p.rect((cx - w * 0.18, horizon - h * 0.28, cx + w * 0.18, horizon), stone)
        for dx in (-0.2, 0.2):
            tx = cx + dx * w
            p.rect((tx - w * 0.05, horizon - h * 0.4, tx + w * 0.05, horizon), stone)
            p.poly(
                [
                    (tx - w * 0.065, horizon - h * 0.4),
                    (tx, horizon - h * 0.52),
                    (tx + w * 0.065, horizon - h * 0.4),
                ],
                (200, 80, 120),
            )
        p.rect((cx - w * 0.04, horizon - h * 0.12, cx + w * 0.04, horizon), (110, 80, 60), w * 0.03)
    p.d.rectangle((0, horizon, w, h), fill=ground)
    hill = mix(ground, (255, 255, 255), 0.12)
    p.d.ellipse((-w * 0.2, horizon - h * 0.05, w * 0.6, horizon + h * 0.12), fill=hill)
    if setting == "river":
        p.poly(
            [(w * 0.55, horizon), (w * 0.7, horizon), (w * 0.9, h), (w * 0.45, h)], (70, 150, 220)
        )
    if setting in ("forest", "jungle", "castle", "meadow"):
        count = {"forest": 6, "jungle": 5, "castle": 2, "meadow": 2}[setting]
        for _ in range(count):
            x = rng.uniform(0, w)
            _tree(p, x, horizon + h * rng.uniform(0.0, 0.05), h * rng.uniform(0.35, 0.5), leaf)
    if setting in ("mountain", "snow"):
        for _ in range(4):
            _pine(
                p, rng.uniform(0, w), horizon + h * 0.04, h * 0.3, (40, 110, 70), setting == "snow"
            )
    if setting == "farm":
        _house(
            p,
            w * rng.uniform(0.7, 0.85),
            horizon + h * 0.02,
            h * 0.45,
            (200, 50, 50),
            (120, 60, 40),
        )
    if setting in ("garden", "farm"):
        for k in range(int(w / (h * 0.05))):
            x = k * h * 0.05
            p.rect((x, horizon - h * 0.06, x + h * 0.03, horizon + h * 0.04), (245, 240, 225))
    if setting in ("garden", "meadow", "jungle"):
        for _ in range(14):
            x, y = rng.uniform(0, w), rng.uniform(horizon + h * 0.05, h)
            p.dot(x, y, h * 0.012, rng.choice(((240, 90, 120), (250, 220, 60), (250, 250, 250))))
    return Scene(h * rng.uniform(0.86, 0.9), mix(ground, (0, 0, 0), 0.3), False)


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
