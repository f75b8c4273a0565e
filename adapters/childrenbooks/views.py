"""A book job as the reference's story object: status vocabulary, pages, signed asset links.

While a book is being written its pages come from the job's progress (so a poll sees them
grow); once it is done they come from the result. Images are served by this family's own
asset route under links that carry an HMAC signature and an expiry, so a client can hand them
to an ``<img>`` without exposing its key.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

from adapters.common.links import signed_params
from contracts.childrenbooks import Story, StoryPage, StoryStatus, StorySummary
from gateway.core import layout
from gateway.core.jobs import JobInfo, JobStatus
from gateway.core.storage import Storage

SOURCE = "api"
STORAGE_PROVIDER = "local"

STATUS = {
    JobStatus.QUEUED: StoryStatus.PENDING,
    JobStatus.RUNNING: StoryStatus.PROCESSING,
    JobStatus.SUCCEEDED: StoryStatus.COMPLETED,
    JobStatus.FAILED: StoryStatus.FAILED,
    JobStatus.CANCELED: StoryStatus.FAILED,
}

_ASSET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def slugify(title: str | None) -> str | None:
    if not title:
        return None
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = _NOT_SLUG.sub("-", folded.lower().replace("'", "")).strip("-")
    return slug[:80].strip("-") or None


def asset_name(book_id: str, path: str) -> str | None:
    """The URL name of a stored file of this book: ``cover.jpg``, ``page_01.png``, ..."""
    name = layout.file_name(book_id, path)
    return name if name and _ASSET_NAME.fullmatch(name) and ".." not in name else None


def asset_path(book_id: str, name: str) -> str | None:
    """The inverse of ``asset_name``."""
    if not _ASSET_NAME.fullmatch(name) or ".." in name:
        return None
    return layout.path_of(book_id, name)


class Linker:
    """Signed links to one book's files."""

    def __init__(self, storage: Storage, job: JobInfo, *, base_url: str, expires_in: int) -> None:
        self.storage = storage
        self.job = job
        self.base = base_url.rstrip("/")
        self.expires_in = max(1, expires_in)

    def url(self, path: Any) -> str | None:
        if not isinstance(path, str) or not path:
            return None
        name = asset_name(self.job.id, path)
        if name is None:
            return None
        query = signed_params(self.storage, self.job.account_id, path, self.expires_in)
        return f"{self.base}/v1/stories/{self.job.id}/assets/{name}?{query}"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _pages(job: JobInfo, link: Linker) -> list[StoryPage]:
    done = job.status is JobStatus.SUCCEEDED and job.result is not None
    source = (job.result or {}).get("pages") if done else job.progress.get("pages")
    if not isinstance(source, list):
        return []
    pages: list[StoryPage] = []
    for position, page in enumerate(source):
        if not isinstance(page, dict):
            continue
        number = page.get("page_num")
        index = number - 1 if isinstance(number, int) and number >= 1 else position
        content = page.get("text")
        pages.append(
            StoryPage(
                index=index,
                title=_text(page.get("title")),
                content=content if isinstance(content, str) else None,
                imageUrl=link.url(page.get("image")),
            )
        )
    pages.sort(key=lambda p: p.index)
    return pages


def _fields(job: JobInfo, link: Linker) -> dict[str, Any]:
    params = job.params
    result = job.result if job.status is JobStatus.SUCCEEDED and job.result else {}
    title = _text(result.get("title")) or _text(job.progress.get("title"))
    page_count = params.get("page_count")
    error = None
    if job.status is JobStatus.FAILED:
        error = job.error_message or "Generation failed."
    elif job.status is JobStatus.CANCELED:
        error = "Generation was canceled."
    return {
        "id": job.id,
        "title": title,
        "slug": slugify(title),
        "coverImage": link.url(result.get("cover")),
        "summary": _text(result.get("summary")),
        "storyIdea": _text(params.get("prompt")),
        "ageRange": _text(params.get("age_range")),
        "style": _text(params.get("art_style")),
        "pageCount": page_count if isinstance(page_count, int) else None,
        "tone": _text(params.get("tone")),
        "language": _text(params.get("language")),
        "source": SOURCE,
        "storageProvider": STORAGE_PROVIDER,
        "createdAt": iso(job.created_at),
        "updatedAt": iso(job.updated_at),
        "status": STATUS[job.status],
        "progress": 100 if job.status is JobStatus.SUCCEEDED else max(0, min(100, job.pct)),
        "errorMessage": error,
        "completedAt": iso(job.finished_at) if job.status is JobStatus.SUCCEEDED else None,
    }


def story_of(job: JobInfo, link: Linker) -> Story:
    return Story(**_fields(job, link), pages=_pages(job, link))


def summary_of(job: JobInfo, link: Linker) -> StorySummary:
    return StorySummary(**_fields(job, link))
