"""StoryMint's use-cases over the shared core: start a book, read it back, edit, export.

Generation admits before it creates: one "storymint.books" unit (and one "storymint.novels" for
a novel) is held against a pre-generated job id, then the job is created and submitted. Any
failure on the way gives back what was taken and leaves no job, so a refused or broken request
never costs quota. The runner captures the holds when the book is done and releases them when
it fails.
"""

from __future__ import annotations

import logging
import posixpath
from typing import Any, NoReturn

from sqlalchemy import delete

from adapters.storymint.auth import FAMILY, Caller
from adapters.storymint.errors import StoryMintError
from adapters.storymint.policy import (
    PlanRules,
    check_audiobook,
    check_download,
    rules_for,
    units_for,
)
from contracts.storymint import (
    BookFormat,
    BookMetadata,
    BookResponse,
    ChatResponse,
    GenerateRequest,
    GenerateResponse,
    Page,
    StatusResponse,
)
from gateway.core.errors import InsufficientFunds, NotFound
from gateway.core.ids import new_job_id
from gateway.core.jobs import JobInfo, JobStatus
from gateway.core.wallets import Hold
from gateway.db.models import Job
from gateway.runtime import Runtime

log = logging.getLogger("storygate.storymint")

BOOKS, NOVELS, PINGS = "storymint.books", "storymint.novels", "storymint.pings"
KIND = "book"

DONE_MSG = "Book complete!"
_WIRE_STATUS = {
    JobStatus.QUEUED: "running",
    JobStatus.RUNNING: "running",
    JobStatus.SUCCEEDED: "done",
    JobStatus.FAILED: "error",
    JobStatus.CANCELED: "error",
}


def wire_status(job: JobInfo) -> str:
    return _WIRE_STATUS[job.status]


def error_message(job: JobInfo) -> str:
    if job.status is JobStatus.CANCELED:
        return "The job was canceled"
    return job.error_message or "Generation failed"


def models_of(runtime: Runtime, kind: str) -> list[str]:
    caps = runtime.backends.capabilities()
    return [c.model for c in caps if c.kind == kind and c.available]


def _quota_error(
    exc: InsufficientFunds, rules: PlanRules, unit: str, monthly: int | None
) -> NoReturn:
    what = "novel" if unit == NOVELS else "book"
    allowance = f"{monthly} {what}s a month" if monthly is not None else "no allowance"
    raise StoryMintError(
        403,
        f"Monthly {what} quota reached",
        f"Your {rules.display_name} plan includes {allowance}; quotas reset on the 1st of "
        "each month.",
    ) from exc


# A chapter comic's chapter is a cover page plus two or three comic pages.
PAGES_PER_COMIC_CHAPTER = 4


def pipeline_units(fmt: BookFormat, pages: int) -> int:
    """StoryMint counts chapter comics in pages; the pipeline plans them in chapters."""
    if fmt is BookFormat.CHAPTER_COMIC:
        return max(1, pages // PAGES_PER_COMIC_CHAPTER)
    return pages


class StoryMintService:
    """Constructed per request around the process's runtime; holds no state of its own."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    # -- generate --------------------------------------------------------------------------

    def _params(self, req: GenerateRequest, units: int, prompt: str) -> dict[str, Any]:
        text_model = req.ollama_model if req.ollama_model in models_of(self.rt, "text") else ""
        image_model = req.sd_model if req.sd_model in models_of(self.rt, "image") else ""
        return {
            "prompt": prompt,
            "format": req.book_format.value,
            "units": pipeline_units(req.book_format, units),
            "art_style": req.art_style.value,
            "author": req.author,
            "series": req.series,
            "language": "english",
            "text_model": text_model,
            "image_model": image_model,
            "save_mode": req.save_mode.value,
            "num_pages": units,
            "num_pages_requested": req.num_pages,
            "ollama_model_requested": req.ollama_model,
            "sd_model_requested": req.sd_model,
        }

    async def generate(self, caller: Caller, req: GenerateRequest) -> GenerateResponse:
        prompt = req.prompt.strip()
        if not prompt:
            raise StoryMintError(400, "Invalid request", "prompt must not be empty")
        for name in ("prompt", "author", "series", "ollama_model", "sd_model"):
            if "\x00" in getattr(req, name):
                raise StoryMintError(400, "Invalid request", f"{name}: must not contain NUL")
        rules = rules_for(caller.plan)
        units = units_for(rules, req.book_format, req.num_pages)
        params = self._params(req, units, prompt)
        job_id = new_job_id()
        units_needed = [BOOKS] + ([NOVELS] if req.book_format is BookFormat.NOVEL else [])
        holds: list[Hold] = []
        created = False
        try:
            for unit in units_needed:
                try:
                    hold = await self.rt.ledger.reserve(caller.account_id, unit, 1, job_id=job_id)
                except InsufficientFunds as exc:
                    _quota_error(exc, rules, unit, caller.plan.monthly.get(unit))
                holds.append(hold)
            await self.rt.jobs.create(
                caller.account_id,
                FAMILY,
                KIND,
                params,
                runner=self.rt.runner_name,
                job_id=job_id,
            )
            created = True
            await self.rt.submit(job_id)
        except BaseException:
            await self._undo(job_id, holds, created)
            raise
        return GenerateResponse(job_id=job_id, status="running")

    async def _undo(self, job_id: str, holds: list[Hold], created: bool) -> None:
        """Leave nothing behind: the unstarted job goes, every hold comes back."""
        try:
            if created:
                stmt = delete(Job).where(
                    Job.id == job_id,  # type: ignore[arg-type]
                    Job.status == JobStatus.QUEUED.value,  # type: ignore[arg-type]
                )
                async with self.rt.db.write() as conn:
                    await conn.execute(stmt)
            for hold in holds:
                await self.rt.ledger.release(hold.id)
        except Exception:
            # The holds expire on their own; the client already gets the original error.
            log.exception("could not undo the admission of job %s", job_id)

    # -- reading ---------------------------------------------------------------------------

    async def job(self, caller: Caller, job_id: str) -> JobInfo:
        """The caller's StoryMint book job; anyone else's is simply not there."""
        return await find_job(self.rt, job_id, caller.account_id)

    async def finished(self, caller: Caller, job_id: str, what: str) -> JobInfo:
        return ready(await self.job(caller, job_id), what)

    def status(self, caller: Caller, job: JobInfo) -> StatusResponse:
        wire = wire_status(job)
        title = str(job.progress.get("title") or (job.result or {}).get("title") or "")
        fmt = str(job.params.get("format", ""))
        if wire == "done":
            step, msg, pct = "done", DONE_MSG, 100
        elif wire == "error":
            step, msg, pct = "error", error_message(job), job.pct
        elif job.status is JobStatus.QUEUED:
            step, msg, pct = "Queued", "Waiting to start...", job.pct
        elif not job.step:
            step, msg, pct = "Starting", job.message or "Starting...", job.pct
        else:
            step, msg, pct = job.step, job.message, job.pct
        return StatusResponse(
            status=wire,
            step=step,
            msg=msg,
            pct=pct,
            title=title,
            format=fmt,
            can_download=wire == "done" and rules_for(caller.plan).full_download,
        )

    def _image_url(self, job: JobInfo, path: str | None) -> str:
        if not path:
            return ""
        query = self.rt.storage.signed_query(
            job.account_id, path, expires_in=self.rt.settings.signed_url_seconds
        )
        return f"/api/book/{job.id}/image/{posixpath.basename(path)}?{query}"

    def pages(self, job: JobInfo) -> list[Page]:
        result = job.result or {}
        return [
            Page(
                page_num=int(p.get("page_num", i + 1)),
                text=str(p.get("text", "")),
                image_url=self._image_url(job, p.get("image")),
            )
            for i, p in enumerate(result.get("pages") or [])
        ]

    def book(self, caller: Caller, job: JobInfo) -> BookResponse:
        result = job.result or {}
        pages = self.pages(job)
        return BookResponse(
            title=str(result.get("title", "")),
            author=str(result.get("author", "")),
            series=str(result.get("series", "")),
            format=str(result.get("format") or job.params.get("format", "")),
            pages=pages,
            cover_url=self._image_url(job, result.get("cover")),
            can_download=rules_for(caller.plan).full_download,
            metadata=BookMetadata(
                total_pages=len(pages),
                art_style=str(result.get("art_style") or job.params.get("art_style", "")),
                model_used=str(result.get("model_used", "")),
            ),
        )

    # -- changing and exporting ------------------------------------------------------------

    async def chat(self, caller: Caller, job_id: str, message: str) -> ChatResponse:
        from workers.pipelines.edit import edit_book

        if not message.strip() or "\x00" in message:
            raise StoryMintError(
                400, "Invalid request", "message must be non-empty text without NUL characters"
            )
        job = await self.finished(caller, job_id, "book")
        assistant, _changed = await edit_book(self.rt, job, message.strip())
        job = await self.job(caller, job_id)
        return ChatResponse(assistant_message=assistant, pages=self.pages(job))

    async def download(self, caller: Caller, job_id: str) -> bytes:
        job = await self.job(caller, job_id)
        check_download(rules_for(caller.plan))
        ready(job, "download")
        path = str((job.result or {}).get("zip") or f"jobs/{job.id}/book.zip")
        _, data = await self.rt.storage.get(job.account_id, path)
        return data

    async def audiobook(self, caller: Caller, job_id: str) -> bytes:
        from workers.pipelines.audiobook import make_audiobook

        job = await self.job(caller, job_id)
        check_audiobook(rules_for(caller.plan))
        ready(job, "audiobook")
        return await make_audiobook(self.rt, job)


def plausible_id(value: str) -> bool:
    """Ids we issue are short and printable; anything else names nothing (and PostgreSQL would
    refuse a NUL in a query parameter)."""
    return 0 < len(value) <= 64 and value.isascii() and value.isprintable()


async def find_job(runtime: Runtime, job_id: str, account_id: str | None) -> JobInfo:
    """A StoryMint book job, of ``account_id`` when given; 404 for anything else."""
    job = None
    if plausible_id(job_id) and (account_id is None or plausible_id(account_id)):
        try:
            job = await runtime.jobs.get(job_id, account_id)
        except NotFound:
            job = None
    if job is None or job.family != FAMILY or job.kind != KIND:
        raise StoryMintError(404, "Job not found", f"No job with id {job_id[:64]!r}")
    return job


def ready(job: JobInfo, what: str) -> JobInfo:
    """The job, if its book is done; a 400 naming the state otherwise."""
    if job.status is JobStatus.SUCCEEDED and job.result is not None:
        return job
    if job.final:
        raise StoryMintError(
            400, f"The {what} is not available: generation failed", error_message(job)
        )
    raise StoryMintError(
        400,
        f"The {what} is not available until the book is done",
        f"Job status is running ({job.pct}%); poll /api/status/{job.id} until done.",
    )


def image_paths(job: JobInfo) -> dict[str, str]:
    """File name in the URL -> stored path, for every picture the job has (or is drawing)."""
    paths: dict[str, str] = {}
    for source in (job.progress, job.result or {}):
        for page in source.get("pages") or []:
            if isinstance(page, dict) and page.get("image"):
                paths[posixpath.basename(str(page["image"]))] = str(page["image"])
        if source.get("cover"):
            paths[posixpath.basename(str(source["cover"]))] = str(source["cover"])
    return paths
