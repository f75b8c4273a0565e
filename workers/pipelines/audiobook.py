"""A finished book read aloud: the title, then every page, as one MP3 kept with the book.

It runs as its own job (kind ``audiobook``). The file is kept per revision of the book's words
(``gateway.core.layout.audiobook_file``), made once and served again until a chat edit changes
the words, so a client asking twice pays for one narration.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.core import layout
from gateway.core.errors import NotFound
from gateway.core.jobs import JobInfo
from workers.backends.audio import concat_pcm, pcm_to_mp3, silence
from workers.backends.base import Pcm
from workers.pipelines.book import job_path
from workers.pipelines.edit import finished_book
from workers.pipelines.spec import request_from_dict
from workers.tasks import TaskContext, TaskError

__all__ = ["audiobook_task", "make_audiobook", "narration"]

_GAP_MS = 700


def narration(result: dict[str, Any]) -> list[str]:
    """What is read, in order: the title, then each page's title, words and speech bubbles."""
    layout = result.get("layout") or []
    parts = [str(result.get("title", "")).strip()]
    for i, page in enumerate(result.get("pages", [])):
        parts.append(str(page.get("title") or "").strip())
        parts.append(str(page.get("text") or "").strip())
        if i < len(layout):
            parts += [str(line).strip() for line in layout[i].get("dialogue", [])]
    return [p for p in parts if p]


async def audiobook_task(ctx: TaskContext) -> dict[str, Any]:
    """The ``audiobook`` job: param ``book_id``; result: where the MP3 is stored."""
    try:
        book = await ctx.services.jobs.get(str(ctx.job.params["book_id"]), ctx.job.account_id)
    except NotFound:
        raise TaskError("not_found", "the book is gone") from None
    await ctx.progress(pct=10, step="Narrating", message="Reading the book aloud...")
    path, size = await make_audiobook(ctx.services, book)
    return {"path": path, "size": size, "revision": book.revision}


async def make_audiobook(services: Any, job: JobInfo) -> tuple[str, int]:
    """The stored narration of the book as it stands: (path, size in bytes)."""
    result = finished_book(job)
    storage = services.storage
    path = job_path(job.id, layout.audiobook_file(job.revision))
    try:
        info = await storage.info(job.account_id, path)
        return path, info.size
    except NotFound:
        pass
    request = request_from_dict(result["request"])
    narrator = services.backends.narrator
    clips: list[Pcm] = []
    for text in narration(result):
        clips.append(await narrator.speak(text, language=request.language, seed=request.seed))
    if not clips:
        clips.append(silence(500, 22050))
    mp3 = await asyncio.to_thread(lambda: pcm_to_mp3(concat_pcm(clips, gap_ms=_GAP_MS)))
    await storage.put(job.account_id, path, mp3, "audio/mpeg", job_id=job.id)
    return path, len(mp3)
