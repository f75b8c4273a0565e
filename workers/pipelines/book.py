"""The "book" task: plan, write, illustrate, cover, and assemble PDF and ZIP.

One function serves every format (picture, comic, chapter_comic, novel, storybook); the
formats differ only in how written units become pages (``writing``) and how a page is drawn
(``render``). Progress is reported as StoryMint clients expect to poll it: the title after the
plan, then pages growing in ``progress.data`` as their text and pictures land.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from gateway.core import layout
from workers.backends.base import StoryPlan, StoryRequest
from workers.pipelines.pace import Pace
from workers.pipelines.package import build_zip, metadata
from workers.pipelines.pdf import PdfBook, PdfPage, build_pdf
from workers.pipelines.render import Renderer
from workers.pipelines.spec import (
    Draft,
    PageSpec,
    page_file,
    plan_to_dict,
    read_params,
    request_to_dict,
    story_request,
)
from workers.pipelines.text import Fonts
from workers.pipelines.writing import write_book
from workers.tasks import TaskContext

__all__ = ["assemble", "book_result", "generate_book", "job_path"]

# Where each phase's progress starts; illustrations take the largest share of the bar.
PCT_PLAN, PCT_WRITE, PCT_DRAW, PCT_COVER, PCT_ASSEMBLE = 5, 8, 35, 86, 92
# Pages drawn ahead of the one being stored: enough to overlap drawing with storing, few enough
# that a GPU-bound illustrator is not handed a pile of work it can only queue.
LOOKAHEAD = 3
# The narration of a finished book, made on request (``audiobook``) and dropped by edits.


def job_path(job_id: str, name: str) -> str:
    return layout.job_file(job_id, name)


async def generate_book(ctx: TaskContext) -> dict[str, Any]:
    job = ctx.job
    services = ctx.services
    backends = services.backends
    params = read_params(job.params)
    request = story_request(params)

    await ctx.progress(pct=PCT_PLAN, step="Planning story", message="Planning the story...")
    plan = await backends.writer.plan(request)

    draft = Draft()
    specs = await write_book(ctx, backends.writer, request, plan, draft, PCT_WRITE, PCT_DRAW)

    renderer = Renderer(backends.illustrator, request, plan, Fonts())
    # The cover needs nothing the pages make, so it is painted (and stored) while they are
    # drawn. Not while they are written: a local text model and a local image model each take
    # every core, and run side by side they spin against each other and both crawl.
    painting = asyncio.create_task(_cover(ctx, renderer))
    try:
        pngs, jpegs = await _draw_pages(ctx, renderer, specs, draft)
        if not painting.done():
            await ctx.progress(
                pct=PCT_COVER, step="Designing cover", message="Painting the cover..."
            )
        cover_jpeg = await painting
    finally:
        if not painting.done():
            painting.cancel()
        # Collected either way: a cover that failed before a page did (a provider going down)
        # would otherwise be logged as an exception nobody retrieved.
        await asyncio.gather(painting, return_exceptions=True)

    await ctx.progress(pct=PCT_ASSEMBLE, step="Assembling book", message="Binding the PDF...")
    models = (
        backends.writer.capability().model,
        backends.illustrator.capability().model,
    )
    result = book_result(job.id, request, plan, specs, draft, models)
    await assemble(services, job.account_id, job.id, result, cover_jpeg, pngs, jpegs)
    return result


async def _cover(ctx: TaskContext, renderer: Renderer) -> bytes:
    jpeg = await renderer.cover()
    job = ctx.job
    path = job_path(job.id, layout.COVER)
    await ctx.services.storage.put(job.account_id, path, jpeg, "image/jpeg", job_id=job.id)
    return jpeg


async def _draw_pages(
    ctx: TaskContext, renderer: Renderer, specs: Sequence[PageSpec], draft: Draft
) -> tuple[list[bytes], list[bytes | None]]:
    """Draw every page, a few ahead of the one being stored, reporting them in order.

    Drawing runs ahead by ``LOOKAHEAD`` pages so the illustrator and the encoders keep busy
    while finished pages are stored and reported; storing and reporting stay strictly in page
    order, so pollers see pictures arrive first to last. Pages finished between two reports
    are stored together just before the report that shows them.
    """
    job = ctx.job
    fmt = renderer.request.format
    total = len(specs)
    noun, verb = ("chapter", "Setting") if fmt == "novel" else ("page", "Drawing")
    await ctx.progress(
        pct=PCT_DRAW, step="Generating illustrations", message=f"{verb} {noun} 1 of {total}..."
    )
    pending: dict[int, asyncio.Task[tuple[bytes, bytes | None]]] = {}
    pace = Pace()
    pngs: list[bytes] = []
    jpegs: list[bytes | None] = []
    unstored: list[tuple[int, str, bytes]] = []  # drawn, not stored yet: page number, path, PNG
    try:
        for k, spec in enumerate(specs):
            for ahead in range(k, min(total, k + LOOKAHEAD)):
                if ahead not in pending:
                    pending[ahead] = asyncio.create_task(
                        renderer.files(specs[ahead], with_jpeg=fmt != "novel")
                    )
            png, jpeg = await pending.pop(k)
            pngs.append(png)
            jpegs.append(jpeg)
            unstored.append((spec.page_num, job_path(job.id, page_file(spec.page_num, total)), png))
            done = k + 1
            if not pace.due(last=done == total):
                continue
            files = [(path, data, "image/png") for _num, path, data in unstored]
            await ctx.services.storage.put_many(job.account_id, files, job_id=job.id)
            draft.images.update((num, path) for num, path, _data in unstored)
            unstored.clear()
            message = f"{verb} {noun} {done + 1} of {total}..." if done < total else "Pages done"
            pct = PCT_DRAW + (PCT_COVER - PCT_DRAW) * done // total
            await ctx.progress(pct=pct, message=message, data={"pages": draft.public()})
    finally:
        for task in pending.values():
            task.cancel()
        await asyncio.gather(*pending.values(), return_exceptions=True)
    return pngs, jpegs


def book_result(
    job_id: str,
    request: StoryRequest,
    plan: StoryPlan,
    specs: Sequence[PageSpec],
    draft: Draft,
    models: tuple[str, str],
) -> dict[str, Any]:
    """The job's result: what every family's book view is rendered from."""
    return {
        "title": plan.title,
        "author": request.author,
        "series": request.series,
        "format": request.format,
        "art_style": request.art_style,
        "language": request.language,
        "age_range": request.age_range,
        "tone": request.tone,
        "model_used": models[0],
        "image_model": models[1],
        "summary": plan.summary,
        "characters": [
            {"name": c.name, "species": c.species, "colors": list(c.colors), "clothing": c.clothing}
            for c in plan.characters
        ],
        "pages": draft.public(),
        "cover": job_path(job_id, layout.COVER),
        "pdf": job_path(job_id, layout.PDF),
        "zip": job_path(job_id, layout.ZIP),
        "plan": plan_to_dict(plan),
        "request": request_to_dict(request),
        "layout": [s.layout() for s in specs],
    }


async def assemble(
    services: Any,
    account_id: str,
    job_id: str,
    result: dict[str, Any],
    cover_jpeg: bytes,
    pngs: Sequence[bytes],
    jpegs: Sequence[bytes | None],
) -> None:
    """Build and store book.pdf and book.zip from the finished pages (also after an edit)."""
    pages = result["pages"]
    total = len(pages)
    book = PdfBook(
        format=result["format"],
        title=result["title"],
        author=result["author"],
        series=result["series"],
        language=result["language"],
        cover_jpeg=cover_jpeg,
        pages=[
            PdfPage(p.get("title", ""), p.get("text", ""), jpegs[i] if i < len(jpegs) else None)
            for i, p in enumerate(pages)
        ],
    )
    files = [page_file(p["page_num"], total) for p in pages]

    def pack() -> tuple[bytes, bytes]:
        pdf = build_pdf(book)
        archive = build_zip(
            cover_jpeg, pdf, list(zip(files, pngs, strict=True)), metadata(result, files)
        )
        return pdf, archive

    pdf, archive = await asyncio.to_thread(pack)
    put = services.storage.put
    await asyncio.gather(
        put(account_id, job_path(job_id, layout.PDF), pdf, "application/pdf", job_id=job_id),
        put(account_id, job_path(job_id, layout.ZIP), archive, "application/zip", job_id=job_id),
    )
