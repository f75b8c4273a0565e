"""From the plan to the book's pages: the writer's text (and comic dialogue) per unit.

A unit is one outline item: a page for picture books, storybooks and comics, a chapter for
novels and chapter comics. A chapter comic's chapter becomes a chapter cover followed by two or
three comic pages sharing the chapter's text and dialogue.
"""

from __future__ import annotations

from collections.abc import Sequence

from workers.backends.base import StoryPlan, StoryRequest, StoryWriter
from workers.pipelines.pace import Pace
from workers.pipelines.render import panel_count
from workers.pipelines.spec import Draft, PageSpec, comic_parts, joiner_of, split_text
from workers.tasks import TaskContext

__all__ = ["chapter_pages", "write_book"]

_KIND = {"picture": "picture", "storybook": "art", "comic": "comic", "novel": "chapter"}


def _title(plan: StoryPlan, unit: int) -> str:
    return plan.outline[unit].title if 0 <= unit < len(plan.outline) else ""


def chapter_pages(
    request: StoryRequest,
    plan: StoryPlan,
    unit: int,
    first_page: int,
    text: str,
    lines: Sequence[str],
    parts: int,
) -> list[PageSpec]:
    """A chapter comic's chapter: its cover page, then ``parts`` comic pages."""
    title = _title(plan, unit)
    pages = [PageSpec(first_page, unit, "chapter_cover", title, "", chapter_text=text)]
    pieces = split_text(text, parts, joiner_of(text))
    used = 0
    for part, piece in enumerate(pieces):
        num = first_page + 1 + part
        count = panel_count(request.seed, num)
        said = tuple(lines[used : used + count])
        used += count
        pages.append(PageSpec(num, unit, "comic", "", piece, count, said, "", part, parts))
    return pages


async def write_book(
    ctx: TaskContext,
    writer: StoryWriter,
    request: StoryRequest,
    plan: StoryPlan,
    draft: Draft,
    pct_from: int,
    pct_to: int,
) -> list[PageSpec]:
    units = request.units
    fmt = request.format
    noun = "chapter" if fmt in ("novel", "chapter_comic") else "page"
    await ctx.progress(
        pct=pct_from,
        step="Writing story",
        message=f"Writing {noun} 1 of {units}...",
        data={"title": plan.title},
    )
    previous: list[str] = []
    pace = Pace()
    for unit in range(units):
        text = (await writer.write(request, plan, unit, previous)).strip()
        previous.append(text)
        page_num = len(draft.specs) + 1
        if fmt == "chapter_comic":
            parts = comic_parts(text)
            counts = [panel_count(request.seed, page_num + 1 + p) for p in range(parts)]
            lines = await writer.dialogue(request, plan, unit, sum(counts))
            draft.specs += chapter_pages(request, plan, unit, page_num, text, lines, parts)
        elif fmt == "comic":
            count = panel_count(request.seed, page_num)
            lines = await writer.dialogue(request, plan, unit, count)
            draft.specs.append(PageSpec(page_num, unit, "comic", "", text, count, tuple(lines)))
        else:
            title = _title(plan, unit) if fmt == "novel" else ""
            draft.specs.append(PageSpec(page_num, unit, _KIND[fmt], title, text))
        done = unit + 1
        if not pace.due(last=done == units):
            continue
        message = f"Writing {noun} {done + 1} of {units}..." if done < units else "Story written"
        pct = pct_from + (pct_to - pct_from) * done // units
        await ctx.progress(pct=pct, message=message, data={"pages": draft.public()})
    return list(draft.specs)
