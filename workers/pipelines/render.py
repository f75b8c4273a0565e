"""Turning one page's layout into its picture: the prompts, the illustrator, the composition.

Shared by the book task and by chat edits, so a page redrawn after an edit is made exactly the
way the original was. The illustrator is awaited as it is; decoding, composing and encoding run
together in one worker thread so the event loop stays free and pages can overlap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from PIL import Image

from workers.backends.base import (
    Illustrator,
    ImagePrompt,
    OutlineItem,
    StoryPlan,
    StoryRequest,
    exact_size,
    picture_prompt,
    stable_seed,
)
from workers.pipelines import comic
from workers.pipelines.compose import (
    SQUARE,
    TALL,
    chapter_cover,
    chapter_label,
    cover,
    jpeg_bytes,
    novel_opening,
    picture_page,
)
from workers.pipelines.spec import PageSpec
from workers.pipelines.text import Fonts
from workers.png import png_bytes
from workers.tasks import TaskError

__all__ = ["Renderer", "page_size", "panel_count"]

Finish = Callable[[list[Image.Image]], Image.Image]


def page_size(fmt: str) -> tuple[int, int]:
    return SQUARE if fmt in ("picture", "storybook") else TALL


def panel_count(seed: int, page_num: int) -> int:
    """Two to four panels, varying from page to page but fixed for a given book."""
    return 2 + stable_seed(seed, "panels", page_num) % 3


class Renderer:
    """Draws the pages of one book; one per book, holding that book's fonts."""

    def __init__(
        self, illustrator: Illustrator, request: StoryRequest, plan: StoryPlan, fonts: Fonts
    ) -> None:
        self.illustrator = illustrator
        self.request = request
        self.plan = plan
        self.fonts = fonts
        self.size = page_size(request.format)

    def item(self, unit: int) -> OutlineItem:
        outline = self.plan.outline
        if 0 <= unit < len(outline):
            return outline[unit]
        names = tuple(c.name for c in self.plan.characters[:1])
        return OutlineItem(unit, "", "", names, self.plan.setting)

    def _prompt(
        self, unit: int, key: object, size: tuple[int, int], text: str, kind: str
    ) -> ImagePrompt:
        seed = stable_seed(self.request.seed, "art", kind, key)
        w, h = size
        item = self.item(unit)
        return picture_prompt(self.plan, item, self.request.art_style, seed, w, h, text, kind)

    def _layout(self, spec: PageSpec) -> tuple[list[ImagePrompt], Finish]:
        """The pictures a page needs and how they become the page."""
        fonts = self.fonts
        label = chapter_label(self.request.language, spec.unit + 1)
        if spec.kind == "chapter":
            return [], lambda _arts: novel_opening(label, spec.title, spec.text, fonts, self.size)
        if spec.kind == "comic":
            grid = comic.layout(spec.panels or max(2, len(spec.dialogue)), spec.text, fonts)
            prompts = []
            for i, (x0, y0, x1, y1) in enumerate(grid.panels):
                line = spec.dialogue[i] if i < len(spec.dialogue) else ""
                text = f"{spec.text} {line}".strip()
                prompts.append(
                    self._prompt(spec.unit, (spec.page_num, i), (x1 - x0, y1 - y0), text, "panel")
                )
            names = [c.name for c in self.plan.characters]
            return prompts, lambda arts: comic.page(grid, arts, spec.dialogue, names, fonts)
        if spec.kind == "chapter_cover":
            text = self.item(spec.unit).summary or spec.title
            prompt = self._prompt(spec.unit, spec.page_num, self.size, text, "page")
            return [prompt], lambda arts: chapter_cover(arts[0], label, spec.title, fonts)
        prompt = self._prompt(spec.unit, spec.page_num, self.size, spec.text, "page")
        if spec.kind == "picture":
            return [prompt], lambda arts: picture_page(arts[0], spec.text, fonts)
        return [prompt], lambda arts: arts[0]

    async def _draw(self, prompts: Sequence[ImagePrompt]) -> list[Image.Image]:
        if not prompts:
            return []
        raw = await self.illustrator.draw(prompts)
        if len(raw) != len(prompts):
            raise TaskError(
                "illustration_failed",
                f"the illustrator returned {len(raw)} pictures for {len(prompts)} prompts",
            )
        return list(raw)

    @staticmethod
    def _arts(raw: Sequence[Image.Image], prompts: Sequence[ImagePrompt]) -> list[Image.Image]:
        return [exact_size(a, p.width, p.height) for a, p in zip(raw, prompts, strict=True)]

    async def page(self, spec: PageSpec) -> Image.Image:
        prompts, finish = self._layout(spec)
        raw = await self._draw(prompts)
        return await asyncio.to_thread(lambda: finish(self._arts(raw, prompts)))

    async def files(self, spec: PageSpec, with_jpeg: bool) -> tuple[bytes, bytes | None]:
        """The page's PNG, and the JPEG the PDF embeds when asked for one."""
        prompts, finish = self._layout(spec)
        raw = await self._draw(prompts)

        def work() -> tuple[bytes, bytes | None]:
            if spec.kind == "art" and raw[0].size == self.size:
                # A storybook page is the illustration itself, in its own mode (a palette
                # picture makes a small PNG).
                picture = raw[0]
            else:
                picture = finish(self._arts(raw, prompts))
            return png_bytes(picture), jpeg_bytes(picture) if with_jpeg else None

        return await asyncio.to_thread(work)

    async def cover(self) -> bytes:
        """cover.jpg: the illustrator's cover art with the title, series and author on it."""
        prompt = self._prompt(0, "cover", self.size, "", "cover")
        raw = await self._draw([prompt])
        r = self.request

        def work() -> bytes:
            (art,) = self._arts(raw, [prompt])
            return jpeg_bytes(cover(art, self.plan.title, r.author, r.series, self.fonts), 88)

        return await asyncio.to_thread(work)
