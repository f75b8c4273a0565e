"""Chat edits of a finished book: the writer rewrites pages, only those pages are redrawn.

The book is rebuilt from ``job.result`` alone (request, plan and page layout are stored there),
so an edit works in any process, long after the worker that wrote the book has gone. An edit
runs as its own job (kind ``book_edit``) under a claim on the book (``JobService.claim_edit``):
one editor at a time writes the book's files, and its new result lands only if the book is
still at the revision it started from, so two edits never lose each other.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import replace
from io import BytesIO
from typing import Any

from PIL import Image

from gateway.core import layout
from gateway.core.errors import Conflict, InvalidState, NotFound
from gateway.core.jobs import JobInfo, JobStatus
from workers.pipelines.book import assemble, job_path
from workers.pipelines.compose import jpeg_bytes
from workers.pipelines.plan_rename import follow_renames
from workers.pipelines.render import Renderer
from workers.pipelines.spec import (
    Draft,
    PageSpec,
    joiner_of,
    page_file,
    plan_from_dict,
    plan_to_dict,
    request_from_dict,
    split_text,
    unit_texts,
)
from workers.pipelines.text import Fonts
from workers.tasks import TaskContext, TaskError

__all__ = ["edit_book", "edit_task", "finished_book"]

CONFLICT = "conflict"


def finished_book(job: JobInfo) -> dict[str, Any]:
    """The result of a succeeded book job; ``InvalidState`` for anything else."""
    if job.status is not JobStatus.SUCCEEDED or not job.result:
        raise InvalidState("the book is not finished", job_id=job.id, status=job.status.value)
    result = job.result
    if not all(key in result for key in ("request", "plan", "layout", "pages")):
        raise InvalidState("this job did not produce an editable book", job_id=job.id)
    return result


def _apply(specs: list[PageSpec], changes: dict[int, str]) -> tuple[list[PageSpec], list[int]]:
    """New page layouts after the writer's changes, and the page numbers whose words moved."""
    out: list[PageSpec] = []
    changed: list[int] = []
    for spec in specs:
        text = changes.get(spec.unit)
        if text is None:
            out.append(spec)
            continue
        if spec.kind == "chapter_cover":
            # The cover shows the chapter's number and title, which an edit does not touch.
            out.append(replace(spec, chapter_text=text))
            continue
        if spec.parts > 1:
            text = split_text(text, spec.parts, joiner_of(text))[spec.part]
        if text != spec.text:
            changed.append(spec.page_num)
        out.append(replace(spec, text=text))
    return out, changed


async def edit_task(ctx: TaskContext) -> dict[str, Any]:
    """The ``book_edit`` job: params ``book_id`` and ``message``; result: the assistant's reply
    and the page numbers whose words changed."""
    services, job = ctx.services, ctx.job
    book_id, message = str(job.params["book_id"]), str(job.params["message"])
    try:
        book = await services.jobs.get(book_id, job.account_id)
        claimed = await services.jobs.claim_edit(book_id, lease_seconds=_lease(services))
    except NotFound:
        raise TaskError("not_found", "the book is gone") from None
    except Conflict as exc:
        raise TaskError(CONFLICT, "another edit of this book is in progress") from exc
    if claimed.account_id != book.account_id:
        raise TaskError("not_found", "the book is gone")
    await ctx.progress(pct=10, step="Editing", message="Rewriting pages...")
    try:
        reply, changed, result = await edit_book(services, claimed, message)
        if changed:
            await services.jobs.update_result(book_id, result, revision=claimed.revision)
        else:
            await services.jobs.end_edit(book_id, revision=claimed.revision)
    except Conflict as exc:
        raise TaskError(CONFLICT, "the book changed while it was being edited") from exc
    except BaseException:
        await services.jobs.end_edit(book_id, revision=claimed.revision)
        raise
    return {"assistant_message": reply, "changed": changed}


def _lease(services: Any) -> float:
    settings = getattr(services, "settings", None)
    return float(getattr(settings, "job_wait_seconds", 600))


async def edit_book(
    services: Any, job: JobInfo, message: str
) -> tuple[str, list[int], dict[str, Any]]:
    """Apply one chat message: rewrites and redraws what changed, stores the book's files, and
    returns (reply, changed page numbers, the new result) for the caller to commit."""
    result = copy.deepcopy(finished_book(job))
    request = request_from_dict(result["request"])
    plan = plan_from_dict(result["plan"])
    specs = [PageSpec.from_layout(entry) for entry in result["layout"]]
    texts = unit_texts(specs, request.units)

    reply, proposed = await services.backends.writer.edit(request, plan, texts, message)
    changes = {
        int(i): str(t).strip()
        for i, t in proposed.items()
        if 0 <= int(i) < len(texts) and str(t).strip() and str(t).strip() != texts[int(i)]
    }
    if not changes:
        return reply, [], result
    specs, changed = _apply(specs, changes)
    # A renamed character is renamed in the bible too: later pictures, edits and the title
    # know them by the new name.
    plan = follow_renames(plan, texts, [changes.get(i, t) for i, t in enumerate(texts)])
    result["plan"] = plan_to_dict(plan)
    result["title"] = plan.title

    storage = services.storage
    account, total = job.account_id, len(specs)
    renderer = Renderer(services.backends.illustrator, request, plan, Fonts())
    paths = {s.page_num: job_path(job.id, page_file(s.page_num, total)) for s in specs}
    with_jpeg = request.format != "novel"
    redrawn: dict[int, tuple[bytes, bytes | None]] = {}
    for spec in specs:
        if spec.page_num in changed:
            redrawn[spec.page_num] = await renderer.files(spec, with_jpeg)

    pngs: list[bytes] = []
    jpegs: list[bytes | None] = []
    for spec in specs:
        if spec.page_num in redrawn:
            png, jpeg = redrawn[spec.page_num]
        else:
            png = (await storage.get(account, paths[spec.page_num]))[1]
            jpeg = await asyncio.to_thread(_to_jpeg, png) if with_jpeg else None
        pngs.append(png)
        jpegs.append(jpeg)
    _info, cover_jpeg = await storage.get(account, job_path(job.id, layout.COVER))

    for num, (png, _jpeg) in redrawn.items():
        await storage.put(account, paths[num], png, "image/png", job_id=job.id)
    draft = Draft(specs=specs, images=paths)
    result["pages"] = draft.public()
    result["layout"] = [s.layout() for s in specs]
    await assemble(services, account, job.id, result, cover_jpeg, pngs, jpegs)
    # The narration no longer matches the words; the next audiobook request speaks them anew.
    await storage.delete_prefix(account, job_path(job.id, "audiobook"))
    return reply, changed, result


def _to_jpeg(png: bytes) -> bytes:
    with Image.open(BytesIO(png)) as picture:
        return jpeg_bytes(picture.convert("RGB"))
