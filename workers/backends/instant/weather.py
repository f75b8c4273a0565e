"""The sky over a scene: its time of day and weather, painted around the setting.

A page's weather and time come from its outline item (``ImagePrompt.weather`` and ``.time``);
where they are empty or unknown the page text decides, as it did before pages carried them,
so older plans draw exactly as they used to. A text that merely sounds stormy ("dark",
"wind") gets the old grey sky, not lightning: only a page the plan calls a storm gets the
bolt, the rain and the rough sea.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from PIL import Image

from workers.backends.instant.drawing import RGB, Pen, mix

__all__ = [
    "TIMES",
    "WEATHERS",
    "Sky",
    "cloud",
    "sky_colours",
    "sky_for",
    "sky_marks",
    "tint_ground",
    "veil",
    "water",
    "weather_front",
]

WEATHERS = ("clear", "storm", "rain", "snow", "wind", "fog")
TIMES = ("day", "dusk", "night")

_NIGHT = re.compile(
    r"\b(night|moon|bedtime|evening|good night|stars come out|noche|nuit|nacht|notte|noite)\b"
    r"|ночь|вечер|夜|晚上|밤",
    re.IGNORECASE,
)
_SUNSET = re.compile(r"\b(sunset|dusk|twilight|golden light)\b", re.IGNORECASE)
_STORMY = re.compile(r"\b(storm|wind|thunder|rain|dark|tormenta|orage|sturm|tempesta)\b", re.I)


@dataclass(frozen=True, slots=True)
class Sky:
    """What the sky does on one page.

    ``weather`` is one of WEATHERS or "grey", the overcast look a stormy-sounding text gets
    when the plan names no weather; ``time`` is one of TIMES.
    """

    weather: str = "clear"
    time: str = "day"

    @property
    def wet(self) -> bool:
        return self.weather in ("storm", "rain")

    @property
    def rough(self) -> bool:
        """Water whipped up into white caps."""
        return self.weather in ("storm", "wind")


def sky_for(weather: str, time: str, text: str) -> Sky:
    """The page's sky: the plan's weather and time where known, else the text's mood.

    The text keeps its old precedence: night outranks a storm, a storm outranks a sunset.
    """
    w = weather.strip().lower()
    t = time.strip().lower()
    night, stormy = bool(_NIGHT.search(text)), bool(_STORMY.search(text))
    if t not in TIMES:
        if night:
            t = "night"
        elif (w not in WEATHERS and stormy) or not _SUNSET.search(text):
            t = "day"
        else:
            t = "dusk"
    if w not in WEATHERS:
        w = "grey" if stormy and not night else "clear"
    return Sky(w, t)


def sky_colours(top: RGB, bottom: RGB, sky: Sky) -> tuple[RGB, RGB]:
    """The sky gradient for a setting's own day colours under this sky."""
    if sky.weather == "storm":
        if sky.time == "night":
            return (12, 14, 26), (40, 42, 58)
        if sky.time == "dusk":  # a last red glow under the clouds
            return (58, 52, 66), (150, 104, 96)
        return (58, 62, 78), (112, 114, 128)
    if sky.time == "night":
        top, bottom = (15, 20, 60), (60, 60, 120)
    elif sky.time == "dusk":
        top, bottom = (250, 150, 110), (255, 215, 150)
    if sky.weather == "grey":
        return (90, 95, 115), (150, 150, 165)
    if sky.weather == "rain":
        return mix(top, (90, 95, 115), 0.8), mix(bottom, (150, 150, 165), 0.8)
    if sky.weather in ("snow", "fog"):
        return mix(top, (200, 205, 215), 0.6), mix(bottom, (235, 238, 242), 0.6)
    return top, bottom


def tint_ground(ground: RGB, sky: Sky) -> RGB:
    """The ground under this sky: darker at night and in a storm, warm at dusk, white in snow."""
    if sky.weather == "snow":
        ground = mix(ground, (245, 248, 252), 0.75)
    if sky.time == "night" or sky.weather in ("storm", "grey"):
        return mix(ground, (20, 25, 50), 0.45 if sky.weather != "storm" else 0.55)
    if sky.time == "dusk":
        return mix(ground, (200, 110, 70), 0.2)
    return ground


def cloud(p: Pen, x: float, y: float, s: float, color: RGB) -> None:
    for dx, dy, r in ((0, 0, 0.22), (-0.22, 0.06, 0.16), (0.22, 0.06, 0.17), (0.1, -0.1, 0.15)):
        p.circle(x + dx * s, y + dy * s, r * s, color)


def _bolt(p: Pen, x: float, top: float, bottom: float, h: float, rng: random.Random) -> None:
    """A zigzag lightning bolt from the clouds towards the horizon."""
    steps = 4
    span = (bottom - top) / steps
    width = h * 0.03
    left: list[tuple[float, float]] = []
    right: list[tuple[float, float]] = []
    for k in range(steps + 1):
        y = top + k * span
        jog = (width * 1.6) * (1 if k % 2 else -1) + rng.uniform(-width, width) * 0.4
        taper = width * (1 - k / (steps + 1))
        left.append((x + jog - taper, y))
        right.append((x + jog + taper, y))
    p.poly([*left, *reversed(right)], (255, 250, 190))


def sky_marks(p: Pen, w: int, h: int, sky: Sky, rng: random.Random, horizon: float) -> None:
    """Sun or moon, stars, clouds and lightning: everything in the sky above the horizon."""
    if sky.time == "night" and sky.weather != "storm":
        stars = 40 if sky.weather == "clear" else 12
        for _ in range(stars):
            p.dot(
                rng.uniform(0, w),
                rng.uniform(0, horizon * 0.95),
                rng.uniform(0.6, 1.6),
                (255, 250, 220),
            )
        p.circle(w * 0.82, h * 0.14, h * 0.06, (250, 245, 210))
    elif sky.time == "dusk" and sky.weather in ("clear", "wind"):
        p.circle(w * rng.uniform(0.7, 0.85), horizon - h * 0.04, h * 0.08, (250, 120, 60))
    elif sky.weather in ("clear", "wind"):
        p.circle(w * rng.uniform(0.72, 0.9), h * rng.uniform(0.1, 0.18), h * 0.07, (250, 220, 60))
    if sky.weather == "storm":
        # A low, heavy ceiling of dark cloud across the whole sky, then the bolt beneath it.
        dark = (45, 46, 60) if sky.time != "night" else (30, 31, 42)
        for k in range(9):
            x = w * (k / 8) + rng.uniform(-0.04, 0.04) * w
            cloud(p, x, rng.uniform(0.05, 0.16) * h, h * 0.42, mix(dark, (0, 0, 0), 0.1 * (k % 2)))
        x = w * rng.uniform(0.3, 0.6)
        _bolt(p, x, h * 0.16, min(horizon, h * 0.62), h, rng)
        return
    if sky.weather in ("grey", "rain"):
        colour, count = (110, 110, 130), 4
    elif sky.weather in ("snow", "fog"):
        colour, count = (225, 228, 235), 3
    else:
        colour, count = (255, 255, 255), 2
    size = 0.18 if sky.weather != "wind" else 0.12
    for _ in range(count):
        x, y = rng.uniform(0.05, 0.7) * w, rng.uniform(0.08, 0.3) * horizon
        if sky.weather == "wind":  # torn, stretched clouds
            p.ellipse((x - h * 0.12, y - h * 0.02, x + h * 0.12, y + h * 0.02), colour)
        else:
            cloud(p, x, y, h * size, colour)


def water(
    p: Pen, box: tuple[float, float, float, float], sky: Sky, rng: random.Random, colour: RGB
) -> None:
    """Waves across a stretch of ``colour`` water: gentle ripples, or white-capped swells."""
    x0, y0, x1, y1 = box
    height = y1 - y0
    if height < 2:
        return
    rough = sky.rough
    foam = (235, 240, 245) if sky.time != "night" or sky.weather == "storm" else (150, 160, 190)
    swell = mix(colour, (255, 255, 255), 0.18)
    rows = 7 if rough else 4
    for r in range(rows):
        t = (r + 0.5) / rows
        y = y0 + height * t * t
        span = (x1 - x0) * (0.03 + 0.07 * t) * (1.4 if rough else 1.0)
        x = x0 - rng.uniform(0, span)
        while x < x1:
            if rough:
                lift = span * rng.uniform(0.3, 0.45)
                peak = x + span * rng.uniform(0.45, 0.6)
                p.d.polygon([(x, y), (peak, y - lift), (x + span, y)], fill=swell)
                p.d.polygon(
                    [
                        (peak - span * 0.14, y - lift * 0.62),
                        (peak, y - lift),
                        (peak + span * 0.1, y - lift * 0.7),
                    ],
                    fill=foam,
                )
                x += span * rng.uniform(0.7, 1.1)
            else:
                p.d.arc(
                    (x, y - span * 0.15, x + span * 0.6, y + span * 0.15),
                    200,
                    340,
                    fill=foam,
                    width=max(1, round(p.scale)),
                )
                x += span * rng.uniform(1.1, 1.8)


def veil(img: Image.Image, sky: Sky, horizon: float) -> Image.Image:
    """Fog: the scenery fades into grey, thickest at the horizon; characters stay clear."""
    if sky.weather != "fog":
        return img
    w, h = img.size
    shade = (205, 210, 215) if sky.time != "night" else (70, 75, 95)
    ramp = bytes(max(40, 200 - round(abs(y - horizon) / max(1.0, h) * 260)) for y in range(h))
    mask = Image.frombytes("L", (1, h), ramp).resize((w, h))
    return Image.composite(Image.new("RGB", (w, h), shade), img, mask)


def weather_front(p: Pen, w: int, h: int, sky: Sky, rng: random.Random, indoors: bool) -> None:
    """What falls or blows in front of everything: rain streaks, snowflakes, gusts."""
    if indoors:
        return
    if sky.wet:
        count = int(w * h / (260 if sky.weather == "storm" else 420))
        colour = (200, 210, 230) if sky.time != "night" else (130, 140, 170)
        slant = 0.35 if sky.weather == "storm" else 0.15
        length = h * (0.07 if sky.weather == "storm" else 0.05)
        for _ in range(count):
            x, y = rng.uniform(-0.2 * w, w), rng.uniform(-0.1 * h, h)
            p.d.line((x, y, x + length * slant, y + length), fill=colour, width=1)
    elif sky.weather == "snow":
        for _ in range(int(w * h / 700)):
            p.dot(rng.uniform(0, w), rng.uniform(0, h), h * rng.uniform(0.005, 0.011), (255,) * 3)
    elif sky.weather == "wind":
        gust = (245, 248, 252)
        for _ in range(5):
            x, y = rng.uniform(-0.1, 0.7) * w, rng.uniform(0.1, 0.75) * h
            r = h * rng.uniform(0.05, 0.09)
            p.d.arc(
                (x, y - r, x + r * 2, y + r), 200, 330, fill=gust, width=max(1, round(h * 0.008))
            )
            p.d.line((x + r * 0.2, y - r * 0.45, x - w * 0.25, y - r * 0.45), fill=gust, width=1)
        for _ in range(8):  # leaves carried off
            lx, ly = rng.uniform(0, w), rng.uniform(0.1, 0.8) * h
            angle = rng.uniform(0, math.pi)
            dx, dy = math.cos(angle) * h * 0.015, math.sin(angle) * h * 0.008
            p.d.ellipse(
                (lx - abs(dx) - 1, ly - abs(dy) - 1, lx + abs(dx) + 1, ly + abs(dy) + 1),
                fill=rng.choice(((200, 120, 40), (120, 170, 60), (220, 170, 50))),
            )
