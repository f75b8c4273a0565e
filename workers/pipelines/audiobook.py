"""A finished book read aloud: the title, then every page, as one MP3 kept with the book.

The file is made once and served again until a chat edit changes the words (the edit deletes
it), so a client asking twice pays for one narration.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.core.errors import NotFound
from gateway.core.jobs import JobInfo
from workers.backends.audio import concat_pcm, pcm_to_mp3, silence
from workers.backends.base import Pcm
from workers.pipelines.book import AUDIOBOOK_FILE, job_path
from workers.pipelines.edit import finished_book
from workers.pipelines.spec import request_from_dict

__all__ = ["make_audiobook", "narration"]

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


async def make_audiobook(services: Any, job: JobInfo) -> bytes:
    result = finished_book(job)
    storage = services.storage
    path = job_path(job.id, AUDIOBOOK_FILE)
    try:
        _info, cached = await storage.get(job.account_id, path)
        return cached
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
    return mp3
