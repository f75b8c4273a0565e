"""Character figures for the instant illustrator.

Characters are drawn from their plan entry alone (species, colours, clothing), so the same
character looks the same on every page: an orange fox in a green scarf stays one.
"""

from __future__ import annotations

from workers.backends.base import Character
from workers.backends.instant.creatures import bird, frog, robot, swimmer
from workers.backends.instant.drawing import (
    RGB,
    Pen,
    clothing,
    ears,
    eyes,
    headwear,
    mix,
    rgb,
    smile,
    tail,
)
from workers.backends.instant.world import SPECIES

__all__ = ["draw_character"]


def _mammal(p: Pen, c: Character, cx: float, base: float, s: float, side: int) -> None:
    a = SPECIES.get(c.species, SPECIES["fox"])
    main, second = (
        rgb(c.colors[0] if c.colors else "brown"),
        rgb(c.colors[-1] if c.colors else "tan"),
    )
    cloth, item = clothing(c)
    human = a.body == "human"
    body_top, body_bot = base - s * 0.58, base - s * 0.1
    hr = s * 0.2
    hx, hy = cx, body_top - hr * 0.55
    if "wings" in a.features:
        for sd in (-1, 1):
            p.poly(
                [
                    (cx + sd * s * 0.15, body_top + s * 0.08),
                    (cx + sd * s * 0.5, body_top - s * 0.15),
                    (cx + sd * s * 0.42, body_top + s * 0.2),
                ],
                second,
            )
    if item in ("cape", "backpack"):
        if item == "cape":
            p.poly(
                [
                    (cx - s * 0.2, body_top + s * 0.02),
                    (cx + s * 0.2, body_top + s * 0.02),
                    (cx + s * 0.3, body_bot + s * 0.04),
                    (cx - s * 0.3, body_bot + s * 0.04),
                ],
                cloth,
            )
        else:
            p.rect(
                (
                    cx - side * s * 0.34,
                    body_top + s * 0.06,
                    cx - side * s * 0.12,
                    body_bot - s * 0.08,
                ),
                cloth,
                s * 0.04,
            )
    if not human:
        tail(p, a.tail, cx - side * s * 0.2, body_bot - s * 0.08, s, -side, main, second)
    if "spikes" in a.features:
        for k in range(5):
            t = k / 4
            x = cx - s * 0.24 + t * s * 0.48
            y = body_top + abs(t - 0.5) * s * 0.15
            p.poly(
                [(x - s * 0.05, y + s * 0.04), (x, y - s * 0.09), (x + s * 0.05, y + s * 0.04)],
                second,
            )
    legs = cloth if item in ("overalls", "suit", "coat") else (rgb("navy") if human else main)
    for sd in (-1, 1):
        p.rect(
            (cx + sd * s * 0.1 - s * 0.06, body_bot - s * 0.04, cx + sd * s * 0.1 + s * 0.06, base),
            legs,
            s * 0.03,
        )
        if item == "boots":
            p.rect(
                (cx + sd * s * 0.1 - s * 0.07, base - s * 0.06, cx + sd * s * 0.1 + s * 0.08, base),
                cloth,
                s * 0.02,
            )
    torso = cloth if human or item in ("sweater", "suit", "armor", "coat") else main
    p.ellipse((cx - s * 0.24, body_top, cx + s * 0.24, body_bot + s * 0.03), torso)
    if not human and item not in ("sweater", "suit", "armor", "coat"):
        p.ellipse((cx - s * 0.14, body_top + s * 0.12, cx + s * 0.14, body_bot), second)
    if "stripes" in a.features:
        for k in range(3):
            y = body_top + s * (0.1 + k * 0.1)
            p.line([(cx - s * 0.22, y), (cx - s * 0.12, y + s * 0.03)], rgb("black"), s * 0.025)
            p.line([(cx + s * 0.22, y), (cx + s * 0.12, y + s * 0.03)], rgb("black"), s * 0.025)
    if item == "overalls":
        p.rect(
            (cx - s * 0.17, body_top + s * 0.22, cx + s * 0.17, body_bot + s * 0.02),
            cloth,
            s * 0.03,
        )
        for sd in (-1, 1):
            p.line(
                [
                    (cx + sd * s * 0.12, body_top + s * 0.22),
                    (cx + sd * s * 0.1, body_top + s * 0.03),
                ],
                cloth,
                s * 0.035,
            )
    elif item == "vest":
        for sd in (-1, 1):
            p.poly(
                [
                    (cx + sd * s * 0.04, body_top + s * 0.05),
                    (cx + sd * s * 0.22, body_top + s * 0.08),
                    (cx + sd * s * 0.2, body_bot - s * 0.04),
                    (cx + sd * s * 0.05, body_bot - s * 0.02),
                ],
                cloth,
            )
    arm = torso if human or item in ("sweater", "suit", "armor", "coat") else main
    for sd in (-1, 1):
        p.ellipse(
            (
                cx + sd * s * 0.2 - s * 0.06,
                body_top + s * 0.08,
                cx + sd * s * 0.2 + s * 0.06,
                body_top + s * 0.3,
            ),
            arm,
        )
    if "mane" in a.features and not human:
        p.circle(hx, hy, hr * 1.35, second)
    face = main
    ears(p, a.ears, hx, hy, hr, main, second if not human else main)
    if human:
        hair = second
        long_hair = "longhair" in a.features
        if long_hair:
            p.ellipse((hx - hr * 1.1, hy - hr * 1.05, hx + hr * 1.1, hy + hr * 1.3), hair)
        p.circle(hx, hy, hr, face)
        p.d.chord(
            (hx - hr * 1.02, hy - hr * 1.08, hx + hr * 1.02, hy + hr * 0.5), 180, 360, fill=hair
        )
    else:
        p.circle(hx, hy, hr, face)
    if "trunk" in a.features:
        p.line(
            [
                (hx, hy + hr * 0.1),
                (hx + side * hr * 0.2, hy + hr * 0.9),
                (hx + side * hr * 0.45, hy + hr * 1.0),
            ],
            main,
            hr * 0.3,
        )
    if "muzzle" in a.features:
        p.ellipse((hx - hr * 0.45, hy + hr * 0.05, hx + hr * 0.45, hy + hr * 0.75), second)
    if "snout" in a.features:
        p.ellipse(
            (hx - hr * 0.28, hy + hr * 0.2, hx + hr * 0.28, hy + hr * 0.6),
            mix(main, (200, 80, 110), 0.4),
        )
        for sd in (-1, 1):
            p.dot(hx + sd * hr * 0.1, hy + hr * 0.4, hr * 0.06, (90, 40, 60))
    if "mask" in a.features:
        p.d.ellipse(
            (hx - hr * 0.75, hy - hr * 0.35, hx + hr * 0.75, hy + hr * 0.12), fill=rgb("black")
        )
    if "mane" in a.features and c.species in ("horse", "unicorn"):
        p.ellipse((hx - hr * 0.3, hy - hr * 1.15, hx + hr * 0.3, hy - hr * 0.6), second)
    if "horn" in a.features:
        p.poly(
            [
                (hx - hr * 0.15, hy - hr * 0.85),
                (hx, hy - hr * 1.7),
                (hx + hr * 0.15, hy - hr * 0.85),
            ],
            rgb("gold"),
        )
    if "antlers" in a.features:
        for sd in (-1, 1):
            bx = hx + sd * hr * 0.45
            p.line(
                [(bx, hy - hr * 0.8), (bx + sd * hr * 0.3, hy - hr * 1.6)], rgb("brown"), hr * 0.1
            )
            p.line(
                [(bx + sd * hr * 0.15, hy - hr * 1.2), (bx + sd * hr * 0.5, hy - hr * 1.3)],
                rgb("brown"),
                hr * 0.08,
            )
    eyes(p, hx, hy - hr * 0.1, s * 1.2)
    if "muzzle" in a.features or "snout" not in a.features:
        p.dot(hx, hy + hr * 0.28, hr * 0.1, (40, 30, 35))
    smile(p, hx, hy + hr * 0.38, s * 0.9)
    if "whiskers" in a.features:
        for sd in (-1, 1):
            for k in (-1, 1):
                p.line(
                    [
                        (hx + sd * hr * 0.2, hy + hr * 0.35),
                        (hx + sd * hr * 0.85, hy + hr * (0.3 + 0.12 * k)),
                    ],
                    (60, 60, 60),
                    1,
                )
    headwear(p, item, cloth, hx, hy, hr)
    if item == "scarf":
        p.rect(
            (cx - s * 0.2, body_top - s * 0.01, cx + s * 0.2, body_top + s * 0.07), cloth, s * 0.03
        )
        x0, x1 = sorted((cx + side * s * 0.06, cx + side * s * 0.14))
        p.rect((x0, body_top + s * 0.04, x1, body_top + s * 0.22), cloth, s * 0.02)


def draw_character(
    p: Pen,
    c: Character,
    cx: float,
    base: float,
    size: float,
    side: int = 1,
    shadow: RGB | None = None,
) -> None:
    """Draw ``c`` standing on ``base`` (its feet), about ``size`` pixels tall, facing ``side``."""
    body = SPECIES.get(c.species, SPECIES["fox"]).body
    if shadow:
        p.d.ellipse(
            (cx - size * 0.3, base - size * 0.04, cx + size * 0.3, base + size * 0.04), fill=shadow
        )
    if body == "bird":
        bird(p, c, cx, base, size, side)
    elif body in ("fish", "octopus", "turtle"):
        swimmer(p, c, cx, base, size, side)
    elif body == "frog":
        frog(p, c, cx, base, size, side)
    elif body == "robot":
        robot(p, c, cx, base, size, side)
    else:
        _mammal(p, c, cx, base, size, side)
