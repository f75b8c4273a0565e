"""Which setting, and which weather, a procedural picture shows, read back from its pixels.

The quality bench and the tests ask whether a page's picture really shows the page's scene
(a storm at the lighthouse, not a sunny street). Nothing in a picture records how it was
drawn, so the answer comes from the pixels alone: the picture is compared, as a coarse grid
of colours, with reference backgrounds of every setting key under every sky a plan can ask
for, drawn in the same style and at the same size but with nobody in them. The nearest
reference names the setting and the weather.

Two things differ between a page and its reference even when the setting is right, and the
comparison is built to ignore both. The layout: trees, houses and clouds stand elsewhere on
every page, so each row of the grid is compared as its cells sorted from dark to light
(what a row holds, not where). The characters: they cover part of the page, so only the
cells most alike (``KEEP`` of them) are judged, and the rest, where characters stand, are
left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from PIL import Image

from workers.backends.base import ImagePrompt
from workers.backends.instant.illustrator import render_picture
from workers.backends.instant.scenery import SCENE_KEYS
from workers.backends.instant.weather import TIMES, WEATHERS

__all__ = ["SKIES", "Guess", "guess_scene", "guess_setting", "guess_weather"]

GRID = (16, 12)  # cells across and down that a picture is averaged into
KEEP = 0.7  # share of the cells, the most alike, that the distance is judged on
# (weather, time) of the references: every sky a plan can ask for.
SKIES = tuple((weather, time) for time in TIMES for weather in WEATHERS)
SEEDS = (101,)  # a few layouts per sky: trees, clouds and houses move with the seed


class Guess(NamedTuple):
    """The nearest reference: its setting, weather and time, and how far the picture was."""

    setting: str
    weather: str
    time: str
    distance: float  # mean colour distance over the kept cells, 0..441


@dataclass(frozen=True, slots=True)
class _References:
    labels: tuple[tuple[str, str, str], ...]  # (setting, weather, time) per reference
    cells: np.ndarray  # (references, rows, columns, 3) float32, each row sorted by lightness


_LIGHTNESS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _cells(picture: Image.Image) -> np.ndarray:
    """The picture as a grid of mean colours, each row's cells ordered from dark to light."""
    small = picture.convert("RGB").resize(GRID, Image.Resampling.BOX)
    grid = np.asarray(small, dtype=np.float32)
    order = np.argsort(grid @ _LIGHTNESS, axis=1, kind="stable")
    return np.take_along_axis(grid, order[..., None], axis=1)


@lru_cache(maxsize=16)
def _references(style: str, size: tuple[int, int]) -> _References:
    """Every setting under every reference sky, without characters; drawn once per style+size."""
    labels = []
    grids = []
    for setting in SCENE_KEYS:
        for weather, time in SKIES:
            for seed in SEEDS:
                prompt = ImagePrompt(
                    "", (), setting, style, seed, size[0], size[1], weather=weather, time=time
                )
                labels.append((setting, weather, time))
                grids.append(_cells(render_picture(prompt)))
    return _References(tuple(labels), np.stack(grids))


# A picture-book page carries its words on a paper panel over the top of the art (82% paper,
# see workers/pipelines/compose.py): pixels at least this light in every channel are paper.
_PAPER_FLOOR = np.array([205, 202, 193], dtype=np.float32)
_PANEL_SHARE = 0.6  # of a pixel row's middle that is paper where the panel runs


def _open_rows(picture: Image.Image) -> int:
    """The first grid row below a words panel at the top of ``picture`` (0 where none).

    The panel hides the sky it covers, so the scene is judged on what it leaves open; the
    references are compared on the same rows.
    """
    width = 192
    height = max(1, round(picture.size[1] * width / picture.size[0]))
    small = np.asarray(picture.convert("RGB").resize((width, height)), dtype=np.float32)
    middle = small[:, width // 10 : width - width // 10]
    paper = np.flatnonzero((middle >= _PAPER_FLOOR).all(axis=2).mean(axis=1) >= _PANEL_SHARE)
    if not len(paper) or paper[0] > height // 12:  # the panel starts one margin down
        return 0
    gap = max(2, height // 20)  # a line of words between paper rows is still the panel
    bottom = int(paper[0])
    for row in paper:
        if row - bottom > gap:
            break
        bottom = int(row)
    if bottom - paper[0] < height // 30:
        return 0
    rows = GRID[1]
    return min(rows - 2, int(np.ceil(bottom / height * rows)))


def guess_scene(picture: Image.Image, style: str) -> Guess:
    """The reference scene nearest to ``picture``, drawn by the instant illustrator in ``style``;
    a words panel over the top of a page is left out of the comparison."""
    refs = _references(style, picture.size)
    top = _open_rows(picture)
    per_cell = np.linalg.norm(refs.cells[:, top:] - _cells(picture)[None, top:], axis=3).reshape(
        len(refs.labels), -1
    )
    keep = max(1, round(per_cell.shape[1] * KEEP))
    scores = np.sort(per_cell, axis=1)[:, :keep].mean(axis=1)
    best = int(np.argmin(scores))
    setting, weather, time = refs.labels[best]
    return Guess(setting, weather, time, float(scores[best]))


def guess_setting(picture: Image.Image, style: str) -> str:
    """The setting key (one of the illustrator's scene keys) that ``picture`` shows."""
    return guess_scene(picture, style).setting


def guess_weather(picture: Image.Image, style: str) -> str:
    """The weather ``picture`` shows: "clear", "storm", "rain", "snow", "wind" or "fog"."""
    return guess_scene(picture, style).weather
