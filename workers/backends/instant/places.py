"""The settings that are not open land: the rocky coast, under the sea, space, rooms, the sky.

Each paints the whole picture under the page's sky and says where the characters go.
"""

from __future__ import annotations

import random

from PIL import Image

from workers.backends.instant.drawing import LIT, RGB, Pen, Scene, gradient, mix
from workers.backends.instant.weather import (
    Sky,
    cloud,
    sky_colours,
    sky_marks,
    tint_ground,
    water,
)

__all__ = ["coast", "room", "sea_colours", "sky_world", "space", "underwater"]


def sea_colours(sky: Sky) -> tuple[RGB, RGB]:
    """Open water under this sky, top (far) to bottom (near)."""
    if sky.weather == "storm":
        return (50, 70, 85), (20, 40, 60)
    top, bottom = (60, 150, 205), (25, 90, 160)
    if sky.time == "night":
        return mix(top, (10, 15, 45), 0.6), mix(bottom, (5, 10, 35), 0.6)
    if sky.time == "dusk":
        return mix(top, (240, 150, 110), 0.35), bottom
    if sky.weather in ("grey", "rain", "fog"):
        return mix(top, (110, 115, 125), 0.45), mix(bottom, (60, 70, 85), 0.4)
    return top, bottom


def _lighthouse(p: Pen, x: float, base: float, s: float, sky: Sky, facing: int) -> None:
    """A striped tower on the cliff top; its lamp shines at night, at dusk and in a storm."""
    lit = sky.time != "day" or sky.weather in ("storm", "fog", "rain", "grey")
    top = base - s
    if lit:
        glow = (255, 245, 170)
        beam_end = x + facing * s * 1.6
        p.d.polygon(
            [(x, top + s * 0.06), (beam_end, top - s * 0.12), (beam_end, top + s * 0.3)],
            fill=mix(glow, (40, 40, 60), 0.35 if sky.time == "night" else 0.15),
        )
    p.poly(
        [
            (x - s * 0.16, base),
            (x - s * 0.1, top + s * 0.14),
            (x + s * 0.1, top + s * 0.14),
            (x + s * 0.16, base),
        ],
        (245, 245, 240),
    )
    for band in (0.3, 0.62):
        y0, y1 = base - s * (band + 0.14), base - s * band
        inset0, inset1 = 0.16 - 0.06 * (band + 0.14), 0.16 - 0.06 * band
        p.d.polygon(
            [
                (x - s * inset1, y1),
                (x - s * inset0, y0),
                (x + s * inset0, y0),
                (x + s * inset1, y1),
            ],
            fill=(210, 50, 50),
        )
    p.rect((x - s * 0.14, top + s * 0.1, x + s * 0.14, top + s * 0.15), (60, 60, 70))
    p.rect(
        (x - s * 0.08, top - s * 0.02, x + s * 0.08, top + s * 0.11),
        LIT if lit else (170, 210, 230),
    )
    p.poly(
        [(x - s * 0.11, top - s * 0.02), (x, top - s * 0.13), (x + s * 0.11, top - s * 0.02)],
        (200, 50, 50),
    )


def coast(img: Image.Image, p: Pen, sky: Sky, rng: random.Random, smooth: bool) -> Scene:
    """A rocky shore: the sea to the horizon, a cliff with a lighthouse, rocks underfoot."""
    w, h = img.size
    horizon = h * 0.5
    top, bottom = sky_colours((105, 170, 230), (215, 232, 245), sky)
    img.paste(gradient(w, int(horizon) + 1, top, bottom, smooth))
    sky_marks(p, w, h, sky, rng, horizon)
    near, far = sea_colours(sky)
    img.paste(gradient(w, h - int(horizon), near, far, smooth), (0, int(horizon)))
    water(p, (0, horizon + h * 0.01, w, h * 0.8), sky, rng, mix(near, far, 0.4))
    left = rng.random() < 0.5
    edge, face = (0.0, 1) if left else (float(w), -1)

    def at(fraction: float) -> float:
        return edge + face * w * fraction

    rock = tint_ground((128, 116, 104), sky)
    cliff_top = h * rng.uniform(0.38, 0.42)
    p.poly(
        [
            (at(0), h),
            (at(0), cliff_top),
            (at(0.3), cliff_top + h * 0.02),
            (at(0.36), h * 0.55),
            (at(0.46), h * 0.82),
            (at(0.5), h),
        ],
        rock,
    )
    strata = mix(rock, (0, 0, 0), 0.25)
    for k in range(3):
        y = cliff_top + h * (0.1 + 0.12 * k)
        p.line([(at(0.02), y), (at(0.3 + 0.05 * k), y + h * 0.03)], strata, h * 0.008)
    grass = tint_ground((100, 150, 80), sky)
    p.poly(
        [
            (at(0), cliff_top - h * 0.02),
            (at(0.31), cliff_top),
            (at(0.3), cliff_top + h * 0.03),
            (at(0), cliff_top + h * 0.04),
        ],
        grass,
    )
    _lighthouse(p, at(0.15), cliff_top + h * 0.01, h * 0.3, sky, face)
    shore = h * 0.82
    foam = (240, 244, 248) if sky.time != "night" else (160, 170, 200)
    p.d.rectangle((0, shore - h * 0.015, w, shore + h * 0.01), fill=foam)
    ground = tint_ground((150, 138, 122), sky)
    p.d.rectangle((0, shore, w, h), fill=ground)
    for _ in range(9):
        rx, ry = rng.uniform(0, w), rng.uniform(shore - h * 0.02, h)
        r = h * rng.uniform(0.03, 0.06)
        p.ellipse(
            (rx - r * 1.4, ry - r, rx + r * 1.4, ry + r * 0.6),
            mix(rock, (255, 255, 255), rng.uniform(0, 0.2)),
        )
    return Scene(h * rng.uniform(0.9, 0.93), mix(ground, (0, 0, 0), 0.3), False, h * 0.7)


def underwater(img: Image.Image, p: Pen, sky: Sky, rng: random.Random, smooth: bool) -> Scene:
    w, h = img.size
    top, bottom = (60, 170, 220), (10, 60, 130)
    if sky.time == "night" or sky.weather == "storm":
        top, bottom = mix(top, (10, 20, 50), 0.55), mix(bottom, (5, 10, 35), 0.5)
    elif sky.time == "dusk":  # evening light through the water
        top = mix(top, (240, 150, 110), 0.3)
    img.paste(gradient(w, h, top, bottom, smooth))
    if sky.weather in ("storm", "rain", "wind"):
        # The surface seen from below: a strip of stormy sky above heaving water.
        surface = h * 0.12
        air, _ = sky_colours((120, 180, 230), (200, 225, 245), sky)
        p.d.rectangle((0, 0, w, surface), fill=air)
        water(p, (0, surface * 0.6, w, surface * 1.4), sky, rng, top)
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
            rng.uniform(0, w),
            rng.uniform(h * 0.15, h * 0.7),
            h * 0.012 * (1 + k % 3),
            (200, 235, 255),
        )
    return Scene(h * 0.8, (200, 180, 130), True, indoors=True)


def space(img: Image.Image, p: Pen, rng: random.Random, smooth: bool) -> Scene:
    w, h = img.size
    img.paste(gradient(w, h, (5, 5, 30), (40, 20, 80), smooth))
    for _ in range(70):
        p.dot(rng.uniform(0, w), rng.uniform(0, h * 0.7), rng.uniform(0.5, 1.5), (255, 255, 230))
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
    return Scene(h * 0.86, (120, 120, 135), False, indoors=True)


def room(img: Image.Image, p: Pen, setting: str, sky: Sky, rng: random.Random) -> Scene:
    w, h = img.size
    wall = (250, 225, 190) if setting == "home" else (215, 230, 240)
    if sky.time == "night":
        wall = mix(wall, (30, 30, 70), 0.45)
    elif sky.weather == "storm":
        wall = mix(wall, (40, 40, 60), 0.3)
    img.paste(Image.new("RGB", (w, h), wall))
    floor = h * 0.7
    p.d.rectangle((0, floor, w, h), fill=(180, 130, 90) if setting == "home" else (200, 190, 170))
    win = (w * 0.08, h * 0.12, w * 0.32, h * 0.42)
    outside, _ = sky_colours((150, 205, 245), (150, 205, 245), sky)
    if sky.time == "night" and sky.weather != "storm":
        outside = (20, 30, 70)
    p.rect(win, outside)
    if sky.weather == "storm":
        x = (win[0] + win[2]) / 2 + (win[2] - win[0]) * 0.25
        p.d.line(
            [
                (x, win[1] + 2),
                (x - w * 0.02, win[1] + h * 0.12),
                (x + w * 0.01, win[1] + h * 0.13),
                (x - w * 0.01, win[3] - 2),
            ],
            fill=(255, 250, 190),
            width=max(1, round(h * 0.01)),
        )
    if sky.wet:
        for _ in range(10):
            rx, ry = rng.uniform(win[0] + 2, win[2] - 4), rng.uniform(win[1] + 2, win[3] - h * 0.06)
            p.d.line((rx, ry, rx + 2, ry + h * 0.05), fill=(200, 210, 230), width=1)
    elif sky.weather == "snow":
        for _ in range(12):
            p.dot(
                rng.uniform(win[0] + 2, win[2] - 2),
                rng.uniform(win[1] + 2, win[3] - 2),
                1.2,
                (255, 255, 255),
            )
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
    return Scene(h * 0.86, mix(wall, (0, 0, 0), 0.3), False, indoors=True)


def sky_world(img: Image.Image, p: Pen, sky: Sky, rng: random.Random, smooth: bool) -> Scene:
    w, h = img.size
    top, bottom = sky_colours((80, 160, 240), (200, 230, 255), sky)
    img.paste(gradient(w, h, top, bottom, smooth))
    sky_marks(p, w, h, sky, rng, h * 0.6)
    below = (235, 235, 245) if sky.weather not in ("storm", "rain", "grey") else (120, 122, 138)
    for k in range(3):
        cloud(p, w * (0.15 + 0.35 * k), h * (0.88 - 0.05 * (k % 2)), h * 0.4, below)
    return Scene(h * 0.82, mix(below, (0, 0, 0), 0.05), True)
