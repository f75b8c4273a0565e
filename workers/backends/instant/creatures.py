"""Figures that are not upright mammals: birds, swimmers, frogs and robots."""

from __future__ import annotations

from workers.backends.base import Character
from workers.backends.instant.drawing import Pen, clothing, ears, eyes, headwear, mix, rgb, smile
from workers.backends.instant.world import SPECIES

__all__ = ["bird", "frog", "robot", "swimmer"]


def bird(p: Pen, c: Character, cx: float, base: float, s: float, side: int) -> None:
    a = SPECIES.get(c.species, SPECIES["bird"])
    main, second = rgb(c.colors[0]), rgb(c.colors[-1])
    cloth, item = clothing(c)
    top = base - s * 0.7
    for sd in (-1, 1):
        p.line(
            [(cx + sd * s * 0.08, base - s * 0.12), (cx + sd * s * 0.1, base)],
            rgb("orange"),
            s * 0.03,
        )
    p.ellipse((cx - s * 0.26, top + s * 0.15, cx + s * 0.26, base - s * 0.08), main)
    p.ellipse((cx - s * 0.15, top + s * 0.3, cx + s * 0.15, base - s * 0.12), second)
    for sd in (-1, 1):
        p.ellipse(
            (
                cx + sd * s * 0.2 - s * 0.09,
                top + s * 0.25,
                cx + sd * s * 0.2 + s * 0.09,
                top + s * 0.5,
            ),
            main,
        )
    hr = s * 0.17
    hx, hy = cx, top + s * 0.08
    ears(p, a.ears, hx, hy, hr, main, second)
    p.circle(hx, hy, hr, main)
    eyes(p, hx, hy - hr * 0.1, s * 1.3, big="bigeyes" in a.features)
    p.poly(
        [
            (hx - hr * 0.2, hy + hr * 0.2),
            (hx + side * hr * 0.6, hy + hr * 0.35),
            (hx - hr * 0.05, hy + hr * 0.55),
        ],
        rgb("orange"),
    )
    headwear(p, item, cloth, hx, hy, hr)
    if item in ("scarf", "backpack"):
        p.rect((cx - s * 0.18, top + s * 0.22, cx + s * 0.18, top + s * 0.29), cloth, s * 0.02)


def swimmer(p: Pen, c: Character, cx: float, base: float, s: float, side: int) -> None:
    a = SPECIES.get(c.species, SPECIES["fish"])
    main, second = rgb(c.colors[0]), rgb(c.colors[-1])
    cloth, item = clothing(c)
    cy = base - s * 0.4
    if a.body == "octopus":
        for k in range(6):
            x = cx - s * 0.25 + k * s * 0.1
            p.line(
                [(x, cy), (x - s * 0.04, cy + s * 0.2), (x + s * 0.03, cy + s * 0.35)],
                main,
                s * 0.06,
            )
        p.ellipse((cx - s * 0.28, cy - s * 0.35, cx + s * 0.28, cy + s * 0.1), main)
        eyes(p, cx, cy - s * 0.12, s * 1.2)
        smile(p, cx, cy - s * 0.02, s)
        headwear(p, item, cloth, cx, cy - s * 0.15, s * 0.2)
        return
    if a.body == "turtle":
        for sd in (-1, 1):
            p.ellipse(
                (
                    cx + sd * s * 0.22 - s * 0.07,
                    base - s * 0.14,
                    cx + sd * s * 0.22 + s * 0.07,
                    base,
                ),
                main,
            )
        p.circle(cx + side * s * 0.36, cy - s * 0.02, s * 0.12, main)
        eyes(p, cx + side * s * 0.38, cy - s * 0.05, s * 0.8)
        p.d.chord(
            (cx - s * 0.32, cy - s * 0.28, cx + s * 0.32, base + s * 0.05),
            180,
            360,
            fill=second,
            outline=p._ink(),
            width=p.w,
        )
        for k in (-1, 0, 1):
            p.dot(
                cx + k * s * 0.13,
                cy - s * 0.08 + abs(k) * s * 0.04,
                s * 0.05,
                mix(second, (0, 0, 0), 0.25),
            )
        headwear(p, item, cloth, cx + side * s * 0.36, cy - s * 0.02, s * 0.12)
        return
    big = 1.3 if c.species == "whale" else 1.0
    w, h = s * 0.42 * big, s * 0.24 * big
    p.poly(
        [
            (cx - side * w * 0.85, cy),
            (cx - side * w * 1.35, cy - h * 0.8),
            (cx - side * w * 1.35, cy + h * 0.8),
        ],
        second,
    )
    p.ellipse((cx - w, cy - h, cx + w, cy + h), main)
    p.ellipse((cx - w * 0.6, cy, cx + w * 0.6, cy + h * 0.9), second)
    p.dot(cx + side * w * 0.5, cy - h * 0.25, h * 0.16, (25, 20, 30))
    p.dot(cx + side * w * 0.48, cy - h * 0.3, h * 0.06, (255, 255, 255))
    if "spout" in a.features:
        for k in (-1, 0, 1):
            p.line([(cx, cy - h), (cx + k * s * 0.12, cy - h - s * 0.2)], (170, 210, 255), s * 0.03)
    headwear(p, item, cloth, cx + side * w * 0.35, cy - h * 0.5, h * 0.7)


def frog(p: Pen, c: Character, cx: float, base: float, s: float, side: int) -> None:
    main, second = rgb(c.colors[0]), rgb(c.colors[-1])
    cloth, item = clothing(c)
    p.ellipse((cx - s * 0.32, base - s * 0.42, cx + s * 0.32, base), main)
    p.ellipse((cx - s * 0.2, base - s * 0.3, cx + s * 0.2, base - s * 0.02), second)
    for sd in (-1, 1):
        p.circle(cx + sd * s * 0.16, base - s * 0.45, s * 0.1, main)
        p.dot(cx + sd * s * 0.16, base - s * 0.46, s * 0.06, (255, 255, 255))
        p.dot(cx + sd * s * 0.16, base - s * 0.46, s * 0.035, (20, 20, 20))
    p.d.arc(
        (cx - s * 0.18, base - s * 0.4, cx + s * 0.18, base - s * 0.22),
        20,
        160,
        fill=(40, 60, 30),
        width=max(1, round(s * 0.02)),
    )
    headwear(p, item, cloth, cx, base - s * 0.35, s * 0.2)


def robot(p: Pen, c: Character, cx: float, base: float, s: float, side: int) -> None:
    main, second = rgb(c.colors[0]), rgb(c.colors[-1])
    cloth, item = clothing(c)
    for sd in (-1, 1):
        p.rect(
            (cx + sd * s * 0.1 - s * 0.05, base - s * 0.16, cx + sd * s * 0.1 + s * 0.05, base),
            second,
        )
    p.rect((cx - s * 0.22, base - s * 0.55, cx + s * 0.22, base - s * 0.14), main, s * 0.04)
    for k in range(3):
        p.dot(
            cx - s * 0.08 + k * s * 0.08,
            base - s * 0.36,
            s * 0.03,
            (rgb("red"), rgb("yellow"), rgb("lime"))[k],
        )
    for sd in (-1, 1):
        p.rect(
            (cx + sd * s * 0.22, base - s * 0.5, cx + sd * s * 0.3, base - s * 0.28),
            second,
            s * 0.02,
        )
    p.rect((cx - s * 0.17, base - s * 0.85, cx + s * 0.17, base - s * 0.57), main, s * 0.05)
    for sd in (-1, 1):
        p.rect(
            (
                cx + sd * s * 0.07 - s * 0.035,
                base - s * 0.76,
                cx + sd * s * 0.07 + s * 0.035,
                base - s * 0.7,
            ),
            (40, 200, 255),
        )
    ears(p, "antenna", cx, base - s * 0.71, s * 0.14, main, second)
    p.rect((cx - s * 0.06, base - s * 0.65, cx + s * 0.06, base - s * 0.62), (40, 40, 50))
    headwear(p, item, cloth, cx, base - s * 0.71, s * 0.15)
    if item == "scarf":
        p.rect((cx - s * 0.18, base - s * 0.57, cx + s * 0.18, base - s * 0.51), cloth)
