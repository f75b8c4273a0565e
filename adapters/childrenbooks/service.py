"""ChildrenBooks' policies over the shared core: one credit a page, books a day, one library.

A create runs: idempotency (Redis down means dedup is skipped, as the reference says) -> one
core admission: hold ``pageCount`` credits on ``childrenbooks.credits``, create the ``book`` job
within the account's daily cap (counted from the jobs table, so it survives restarts and counts
only books actually created), submit it; a refused or failed create leaves no job and no charge.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec

from adapters.childrenbooks.auth import FAMILY, Caller
from adapters.childrenbooks.errors import ChildrenBooksError
from adapters.childrenbooks.gate import books_per_day
from adapters.childrenbooks.validation import LibraryQuery, StoryInput
from adapters.childrenbooks.views import Linker, asset_path, story_of, summary_of
from adapters.common.jobs import find_job
from adapters.common.links import link_valid
from adapters.common.pages import next_cursor
from contracts.childrenbooks import CreatedStory, ErrorCode, Story, StoryLibrary
from gateway.core.admission import Charge
from gateway.core.errors import NotFound, QuotaExceeded, Unavailable
from gateway.core.idempotency import StoredResponse, fingerprint
from gateway.core.jobs import DailyCap, JobInfo
from gateway.core.storage import FileInfo
from gateway.runtime import Runtime

log = logging.getLogger("storygate.childrenbooks")

UNIT = "childrenbooks.credits"
KIND = "book"
CREATE_PATH = "/v1/stories"


@dataclass(frozen=True, slots=True)
class Created:
    story: CreatedStory
    replayed: bool


def job_params(story: StoryInput, task_id: str) -> dict[str, object]:
    return {
        "prompt": story.story_idea,
        "format": "storybook",
        "units": story.page_count - 1,  # the cover is the remaining page
        "art_style": story.style,
        "author": "",
        "series": "",
        "language": story.language,
        "age_range": story.age_range,
        "tone": story.tone,
        "text_model": "",
        "image_model": "",
        "task_id": task_id,
        "page_count": story.page_count,
        "source": "api",
    }


def _seconds_to_midnight() -> int:
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return max(1, math.ceil((midnight - now).total_seconds()))


async def start_book(runtime: Runtime, caller: Caller, story: StoryInput) -> CreatedStory:
    book_id, task_id = str(uuid.uuid4()), str(uuid.uuid4())
    cap = books_per_day(caller)
    try:
        await runtime.admission.admit(
            caller.account_id,
            FAMILY,
            KIND,
            job_params(story, task_id),
            charges=[Charge(UNIT, story.page_count)],
            daily_cap=DailyCap(cap),
            job_id=book_id,
        )
    except QuotaExceeded:
        wait = str(_seconds_to_midnight())
        raise ChildrenBooksError(
            ErrorCode.DAILY_CAP_EXCEEDED,
            f"Daily limit of {cap} books reached; it resets at 00:00 UTC.",
            meta={"limit": cap, "window": "day"},
            # The day is the window that refused: its figures, not the minute's.
            headers={
                "x-ratelimit-limit": str(cap),
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": wait,
                "retry-after": wait,
            },
        ) from None
    return CreatedStory(taskId=task_id, bookId=book_id)


async def create(
    runtime: Runtime,
    caller: Caller,
    story: StoryInput,
    idempotency_key: str | None,
    canonical_body: bytes,
) -> Created:
    if idempotency_key is None:
        return Created(await start_book(runtime, caller, story), replayed=False)
    started = False

    async def handler() -> StoredResponse:
        nonlocal started
        started = True
        created = await start_book(runtime, caller, story)
        return StoredResponse(202, {}, msgspec.json.encode(created))

    fp = fingerprint("POST", CREATE_PATH, canonical_body)
    try:
        stored, replayed = await runtime.idempotency.run(
            caller.account_id, FAMILY, idempotency_key, fp, handler
        )
    except Unavailable:
        if started:
            raise
        # The reference: "Requires API-side Redis; if Redis is down, deduplication is skipped."
        log.warning("idempotency store unavailable; creating without deduplication")
        return Created(await start_book(runtime, caller, story), replayed=False)
    return Created(msgspec.json.decode(stored.body, type=CreatedStory), replayed)


def linker(runtime: Runtime, job: JobInfo) -> Linker:
    settings = runtime.settings
    return Linker(
        runtime.storage,
        job,
        base_url=settings.public_base_url,
        expires_in=settings.signed_url_seconds,
    )


async def book(runtime: Runtime, account_id: str | None, book_id: str) -> JobInfo:
    """The book job, or NotFound for a missing id, another account's or another family's job."""
    return await find_job(runtime, book_id, account_id, family=FAMILY, kinds=(KIND,))


async def get(runtime: Runtime, caller: Caller, book_id: str) -> Story:
    job = await book(runtime, caller.account_id, book_id)
    return story_of(job, linker(runtime, job))


async def library(runtime: Runtime, caller: Caller, query: LibraryQuery) -> StoryLibrary:
    jobs, more = await runtime.jobs.page(
        caller.account_id, family=FAMILY, kinds=(KIND,), limit=query.limit, after=query.after
    )
    stories = [summary_of(j, linker(runtime, j)) for j in jobs]
    return StoryLibrary(stories=stories, nextCursor=next_cursor(more))


async def asset(
    runtime: Runtime,
    book_id: str,
    name: str,
    *,
    account_id: str | None,
    expires: str | None = None,
    signature: str | None = None,
) -> tuple[FileInfo, bytes]:
    """A stored file of a book, for its owner's key (``account_id``) or a valid signature."""
    path = asset_path(book_id, name)
    if path is None:
        raise NotFound("file not found")
    job = await book(runtime, account_id, book_id)
    if account_id is None and not link_valid(
        runtime.storage, job.account_id, path, expires, signature
    ):
        raise ChildrenBooksError(
            ErrorCode.FORBIDDEN, "This link is invalid or has expired; fetch the story again."
        )
    return await runtime.storage.get(job.account_id, path)
