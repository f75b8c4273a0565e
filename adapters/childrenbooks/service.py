"""ChildrenBooks' policies over the shared core: one credit a page, books a day, one library.

A create runs: idempotency (Redis down means dedup is skipped, as the reference says) -> hold
``pageCount`` credits on ``childrenbooks.credits`` under a job id chosen up front -> count the
book against the account's day -> create the ``book`` job -> submit it. Each step undoes the
ones before it when it fails, so a refused or failed create leaves no job and no charge.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import msgspec

from adapters.childrenbooks.auth import FAMILY, Caller
from adapters.childrenbooks.errors import ChildrenBooksError, ratelimit_headers
from adapters.childrenbooks.gate import books_per_day
from adapters.childrenbooks.validation import LibraryQuery, StoryInput
from adapters.childrenbooks.views import Linker, asset_path, story_of, summary_of
from contracts.childrenbooks import CreatedStory, ErrorCode, Story, StoryLibrary
from gateway.core.errors import NotFound, Unavailable
from gateway.core.idempotency import StoredResponse, fingerprint
from gateway.core.jobs import JobInfo
from gateway.core.ratelimit import Window
from gateway.core.storage import FileInfo
from gateway.runtime import Runtime

log = logging.getLogger("storygate.childrenbooks")

UNIT = "childrenbooks.credits"
KIND = "book"
# A job whose submission failed is failed with this code (its hold released) and is then
# invisible, as if the create had never happened.
NOT_SUBMITTED = "not_submitted"
CREATE_PATH = "/v1/stories"


def daily_bucket(account_id: str) -> str:
    """The rate-limit bucket counting an account's books per UTC day (window "day")."""
    return f"{FAMILY}:books:{account_id}"


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


async def _release_quietly(runtime: Runtime, hold_id: str) -> None:
    try:
        await runtime.ledger.release(hold_id)
    except Exception:
        # The hold expires on its own; the client's error is the one that matters now.
        log.exception("could not release hold %s", hold_id)


async def start_book(runtime: Runtime, caller: Caller, story: StoryInput) -> CreatedStory:
    book_id, task_id = str(uuid.uuid4()), str(uuid.uuid4())
    hold = await runtime.ledger.reserve(caller.account_id, UNIT, story.page_count, job_id=book_id)
    try:
        cap = books_per_day(caller)
        day = await runtime.ratelimit.hit(
            daily_bucket(caller.account_id), [Window("day", cap, 86_400)]
        )
        if not day.allowed:
            raise ChildrenBooksError(
                ErrorCode.DAILY_CAP_EXCEEDED,
                f"Daily limit of {cap} books reached; it resets at 00:00 UTC.",
                meta={"limit": cap, "window": "day"},
                headers=ratelimit_headers(day),
            )
        await runtime.jobs.create(
            caller.account_id,
            FAMILY,
            KIND,
            job_params(story, task_id),
            runner=runtime.runner_name,
            job_id=book_id,
        )
    except BaseException:
        await _release_quietly(runtime, hold.id)
        raise
    try:
        await runtime.submit(book_id)
    except BaseException:
        try:
            await runtime.jobs.fail(book_id, NOT_SUBMITTED, "the job could not be queued")
        except Exception:
            log.exception("could not withdraw unsubmitted book %s", book_id)
            await _release_quietly(runtime, hold.id)
        raise
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


def _visible(job: JobInfo) -> bool:
    return job.family == FAMILY and job.kind == KIND and job.error_code != NOT_SUBMITTED


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
    job = await runtime.jobs.get(book_id, account_id)
    if not _visible(job):
        raise NotFound("story not found")
    return job


async def get(runtime: Runtime, caller: Caller, book_id: str) -> Story:
    job = await book(runtime, caller.account_id, book_id)
    return story_of(job, linker(runtime, job))


async def library(runtime: Runtime, caller: Caller, query: LibraryQuery) -> StoryLibrary:
    jobs = await runtime.jobs.list(
        caller.account_id, family=FAMILY, kind=KIND, limit=query.limit + 1, before=query.before
    )
    more = len(jobs) > query.limit
    jobs = jobs[: query.limit]
    cursor = None
    if more and jobs:
        cursor = jobs[-1].created_at.isoformat().replace("+00:00", "Z")
    stories = [summary_of(j, linker(runtime, j)) for j in jobs if _visible(j)]
    return StoryLibrary(stories=stories, nextCursor=cursor)


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
    if account_id is None and not _signed(runtime, job, path, expires, signature):
        raise ChildrenBooksError(
            ErrorCode.FORBIDDEN, "This link is invalid or has expired; fetch the story again."
        )
    return await runtime.storage.get(job.account_id, path)


def _signed(
    runtime: Runtime, job: JobInfo, path: str, expires: str | None, signature: str | None
) -> bool:
    if not expires or not signature or not expires.isdigit():
        return False
    return runtime.storage.verify(job.account_id, path, int(expires), signature)
