"""Backgrounds for each setting under the page's sky (time of day and weather).

Every setting key the planner can choose has a picture of its own, so a page set on the
coast shows cliffs, a lighthouse and the sea, never a meadow; the sky module decides how
dark, wet or windy it is.
"""

from __future__ import annotations

import math
import random

from PIL import Image

from workers.backends.instant.drawing import LIT, RGB, Pen, Scene, gradient, mix, rgb
from workers.backends.instant.places import coast, room, sea_colours, sky_world, space, underwater
from workers.backends.instant.weather import Sky, sky_colours, sky_marks, tint_ground, veil, water
from workers.backends.instant.world import SETTINGS

__all__ = ["SCENE_KEYS", "Scene", "paint_scene"]

# Every setting with a picture of its own; "coast" is drawn even before the world's tables
# list it, so plans that name it never fall back to a meadow.
SCENE_KEYS = tuple(dict.fromkeys((*SETTINGS, "coast")))


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


def _tree(p: Pen, x: float, y: float, s: float, leaf: RGB) -> None:
    p.rect((x - s * 0.06, y - s * 0.5, x + s * 0.06, y), rgb("brown"))
    for dx, dy, r in ((0, -0.75, 0.3), (-0.2, -0.55, 0.22), (0.2, -0.55, 0.22)):
        p.circle(x + dx * s, y + dy * s, r * s, leaf)


def _palm(p: Pen, x: float, y: float, s: float, leaf: RGB, lean: float) -> None:
    """A jungle palm: a leaning trunk and a crown of long fronds."""
    top = (x + lean * s * 0.25, y - s)
    p.line([(x, y), (x + lean * s * 0.1, y - s * 0.5), top], rgb("brown"), s * 0.07)
    for k in range(7):
        angle = math.pi * (1.05 + k * 0.15)  # from left-and-down, over the top, to the right
        reach = s * 0.45
        tip = (top[0] + reach * math.cos(angle), top[1] + reach * 0.6 * math.sin(angle) + s * 0.16)
        mid = (top[0] + reach * 0.5 * math.cos(angle), top[1] + reach * 0.5 * math.sin(angle))
        p.poly([top, (mid[0], mid[1] - s * 0.1), tip, (mid[0], mid[1] + s * 0.1)], leaf)


def _vines(p: Pen, w: int, h: int, leaf: RGB, rng: random.Random) -> None:
    """Creepers hanging from the canopy across the top of a jungle picture."""
    for _ in range(7):
        x, drop = rng.uniform(0, w), h * rng.uniform(0.15, 0.4)
        p.line([(x, 0), (x + w * 0.01, drop * 0.5), (x - w * 0.01, drop)], leaf, h * 0.012)
        for k in range(3):
            p.dot(x + (k % 2 - 0.5) * w * 0.02, drop * (0.3 + 0.3 * k), h * 0.014, leaf)


def _pine(p: Pen, x: float, y: float, s: float, leaf: RGB, snow: bool) -> None:
    p.rect((x - s * 0.04, y - s * 0.15, x + s * 0.04, y), rgb("brown"))
    for k in range(3):
        top = y - s * (0.45 + k * 0.25)
        half = s * (0.3 - k * 0.07)
        p.poly([(x - half, top + s * 0.35), (x, top), (x + half, top + s * 0.35)], leaf)
        if snow:
            p.poly(
                [(x - s * 0.06, top + s * 0.07), (x, top), (x + s * 0.06, top + s * 0.07)],
                rgb("white"),
            )


def _house(p: Pen, x: float, y: float, s: float, wall: RGB, roof: RGB, lit: bool) -> None:
    p.rect((x - s * 0.3, y - s * 0.45, x + s * 0.3, y), wall)
    p.poly([(x - s * 0.38, y - s * 0.45), (x, y - s * 0.8), (x + s * 0.38, y - s * 0.45)], roof)
    p.rect((x - s * 0.07, y - s * 0.22, x + s * 0.07, y), mix(wall, (0, 0, 0), 0.45))
    if lit:
        p.rect((x + s * 0.12, y - s * 0.36, x + s * 0.24, y - s * 0.24), LIT)


def _landmarks(
    p: Pen, setting: str, w: int, h: int, horizon: float, sky: Sky, rng: random.Random
) -> None:
    """What stands on the horizon: peaks, the sea's edge, houses, a castle."""
    lit = sky.time == "night" or sky.weather == "storm"
    if setting in ("mountain", "snow"):
        for _ in range(4):
            x = w * (_ / 3) + rng.uniform(-w * 0.08, w * 0.08)
            peak = horizon - h * rng.uniform(0.2, 0.35)
            p.poly([(x - w * 0.25, horizon), (x, peak), (x + w * 0.25, horizon)], (120, 130, 160))
            p.poly(
                [(x - w * 0.06, peak + h * 0.06), (x, peak), (x + w * 0.06, peak + h * 0.06)],
                (250, 250, 255),
            )
    elif setting == "beach":
        near, far = sea_colours(sky)
        p.d.rectangle((0, horizon - h * 0.12, w, horizon), fill=mix(near, far, 0.3))
        water(p, (0, horizon - h * 0.11, w, horizon), sky, rng, mix(near, far, 0.3))
    elif setting == "city":
        for k in range(7):
            bw, bh = w * 0.14, h * rng.uniform(0.2, 0.45)
            x = k * w * 0.15 - w * 0.02
            color = ((180, 120, 110), (120, 140, 170), (200, 180, 120), (150, 150, 170))[k % 4]
            p.rect((x, horizon - bh, x + bw, horizon), tint_ground(color, sky))
            for wy in range(
                int(horizon - bh + h * 0.03), int(horizon - h * 0.03), max(4, int(h * 0.06))
            ):
                for wx in (x + bw * 0.2, x + bw * 0.6):
                    pane = LIT if lit else (220, 235, 250)
                    p.d.rectangle((wx, wy, wx + bw * 0.18, wy + h * 0.025), fill=pane)
    elif setting == "castle":
        cx = w * rng.uniform(0.55, 0.75)
        stone = tint_ground((200, 195, 210), sky)
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
            if lit:
                p.rect(
                    (tx - w * 0.015, horizon - h * 0.34, tx + w * 0.015, horizon - h * 0.28), LIT
                )
        p.rect((cx - w * 0.04, horizon - h * 0.12, cx + w * 0.04, horizon), (110, 80, 60), w * 0.03)


def _land(
    img: Image.Image, p: Pen, setting: str, sky: Sky, rng: random.Random, smooth: bool
) -> Scene:
    w, h = img.size
    top, bottom, ground, horizon_f = _LAND.get(setting, _LAND["meadow"])
    top, bottom = sky_colours(top, bottom, sky)
    ground = tint_ground(ground, sky)
    horizon = h * horizon_f
    img.paste(gradient(w, int(horizon) + 1, top, bottom, smooth))
    sky_marks(p, w, h, sky, rng, horizon)
    leaf = mix(ground, (20, 90, 30), 0.35)
    _landmarks(p, setting, w, h, horizon, sky, rng)
    p.d.rectangle((0, horizon, w, h), fill=ground)
    hill = mix(ground, (255, 255, 255), 0.12)
    p.d.ellipse((-w * 0.2, horizon - h * 0.05, w * 0.6, horizon + h * 0.12), fill=hill)
    if setting == "river":
        river = (70, 150, 220) if not sky.rough else sea_colours(sky)[0]
        if sky.time == "night":
            river = mix(river, (10, 15, 45), 0.5)
        p.poly([(w * 0.55, horizon), (w * 0.7, horizon), (w * 0.9, h), (w * 0.45, h)], river)
        for k in range(5):
            t = (k + 0.5) / 5
            y = horizon + (h - horizon) * t
            x = w * (0.62 + 0.05 * t)
            crest = w * (0.03 + 0.04 * t)
            p.d.line(
                (x - crest, y, x + crest, y - (h * 0.015 if sky.rough else 0)),
                fill=(225, 238, 248),
                width=1,
            )
    if setting == "jungle":
        for _ in range(5):
            x = rng.uniform(0, w)
            size = h * rng.uniform(0.32, 0.42)
            _palm(p, x, horizon + h * rng.uniform(0.0, 0.06), size, leaf, rng.choice((-1, 1)))
        _vines(p, w, h, mix(leaf, (0, 60, 0), 0.3), rng)
    if setting in ("forest", "castle", "meadow"):
        count = {"forest": 6, "castle": 2, "meadow": 2}[setting]
        for _ in range(count):
            x = rng.uniform(0, w)
            _tree(p, x, horizon + h * rng.uniform(0.0, 0.05), h * rng.uniform(0.35, 0.5), leaf)
    if setting in ("mountain", "snow"):
        for _ in range(4):
            pine = tint_ground((40, 110, 70), sky)
            _pine(p, rng.uniform(0, w), horizon + h * 0.04, h * 0.3, pine, setting == "snow")
    if setting == "farm":
        x = w * rng.uniform(0.7, 0.85)
        _house(
            p, x, horizon + h * 0.02, h * 0.45, (200, 50, 50), (120, 60, 40), sky.time == "night"
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


def paint_scene(
    img: Image.Image, p: Pen, setting: str, sky: Sky, rng: random.Random, smooth: bool
) -> Scene:
    """Paint ``setting`` under ``sky`` over all of ``img``; returns where characters go."""
    if setting == "coast":
        scene = coast(img, p, sky, rng, smooth)
        horizon = img.height * 0.5
    elif setting == "sea":
        return underwater(img, p, sky, rng, smooth)
    elif setting == "space":
        return space(img, p, rng, smooth)
    elif setting == "sky":
        scene, horizon = sky_world(img, p, sky, rng, smooth), img.height * 0.6
    elif setting in ("home", "school"):
        return room(img, p, setting, sky, rng)
    else:
        scene = _land(img, p, setting, sky, rng, smooth)
        horizon = img.height * _LAND.get(setting, _LAND["meadow"])[3]
    if sky.weather == "fog":
        img.paste(veil(img, sky, horizon))
    return scene
