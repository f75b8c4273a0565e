"""StoryMint's use-cases over the shared core: start a book, read it back, edit, export.

Generation is one core admission: one "storymint.books" unit (and one "storymint.novels" for a
novel) held for the book's job, which the runner captures when the book is done and releases
when it fails; a refused or broken request costs nothing and leaves no job. Chat edits and
audiobooks keep the reference's synchronous answers, but the work runs as a job (in-process or
on a worker) and the request waits for it, bounded by ``STORYGATE_JOB_WAIT_SECONDS``.
"""

from __future__ import annotations

import logging
import posixpath
from typing import Any, NoReturn

import msgspec

from adapters.common.jobs import find_job as find_family_job
from adapters.common.jobs import plausible_id
from adapters.common.links import signed_params
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
from gateway.core import layout
from gateway.core.admission import Charge
from gateway.core.errors import InsufficientFunds, NotFound
from gateway.core.idempotency import StoredResponse, canonical_json, fingerprint
from gateway.core.jobs import JobInfo, JobStatus
from gateway.runtime import Runtime

__all__ = ["StoryMintService", "find_job", "image_paths", "plausible_id", "ready"]

log = logging.getLogger("storygate.storymint")

BOOKS, NOVELS, PINGS = "storymint.books", "storymint.novels", "storymint.pings"
KIND = "book"
EDIT_KIND, AUDIOBOOK_KIND = "book_edit", "audiobook"

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

    async def generate_once(
        self, caller: Caller, req: GenerateRequest, key: str | None, body: bytes
    ) -> tuple[GenerateResponse, bool]:
        """``generate``, at most once per Idempotency-Key (and body): (answer, replayed)."""
        if key is None:
            return await self.generate(caller, req), False
        key = key.strip()
        if not key or len(key) > 255 or not key.isprintable():
            raise StoryMintError(400, "Invalid request", "Idempotency-Key: 1-255 printable chars")

        async def first() -> StoredResponse:
            made = await self.generate(caller, req)
            return StoredResponse(200, {}, msgspec.json.encode(made))

        fp = fingerprint("POST", "/api/generate", canonical_json(body))
        stored, replayed = await self.rt.idempotency.run(caller.account_id, FAMILY, key, fp, first)
        return msgspec.json.decode(stored.body, type=GenerateResponse), replayed

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
        wallets = [BOOKS] + ([NOVELS] if req.book_format is BookFormat.NOVEL else [])
        try:
            job = await self.rt.admission.admit(
                caller.account_id,
                FAMILY,
                KIND,
                params,
                charges=[Charge(unit, 1) for unit in wallets],
            )
        except InsufficientFunds as exc:
            _quota_error(exc, rules, exc.unit, caller.plan.monthly.get(exc.unit))
        return GenerateResponse(job_id=job.id, status="running")

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
        query = signed_params(
            self.rt.storage,
            job.account_id,
            path,
            self.rt.settings.signed_url_seconds,
            name_account=True,
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
        if not message.strip() or "\x00" in message:
            raise StoryMintError(
                400, "Invalid request", "message must be non-empty text without NUL characters"
            )
        book = await self.finished(caller, job_id, "book")
        params = {"book_id": book.id, "message": message.strip()}
        done = await self._run(caller, EDIT_KIND, params, book.id)
        if done.error_code == "conflict":
            raise StoryMintError(
                409, "Another edit of this book is in progress", "Retry when it has finished."
            )
        self._check(done, "edit")
        result = done.result or {}
        book = await find_job(self.rt, job_id, caller.account_id, fresh=True)
        return ChatResponse(
            assistant_message=str(result.get("assistant_message", "")), pages=self.pages(book)
        )

    async def download(self, caller: Caller, job_id: str) -> bytes:
        job = await self.job(caller, job_id)
        check_download(rules_for(caller.plan))
        ready(job, "download")
        path = str((job.result or {}).get("zip") or layout.job_file(job.id, layout.ZIP))
        _, data = await self.rt.storage.get(job.account_id, path)
        return data

    async def audiobook(self, caller: Caller, job_id: str) -> bytes:
        job = await self.job(caller, job_id)
        check_audiobook(rules_for(caller.plan))
        book = ready(job, "audiobook")
        done = await self._run(caller, AUDIOBOOK_KIND, {"book_id": book.id}, book.id)
        self._check(done, "audiobook")
        _, data = await self.rt.storage.get(book.account_id, str((done.result or {})["path"]))
        return data

    async def _run(
        self, caller: Caller, kind: str, params: dict[str, Any], book_id: str
    ) -> JobInfo:
        """Run work for a synchronous answer as a job, and wait for it."""
        job = await self.rt.admission.admit(
            caller.account_id, FAMILY, kind, params, subject_id=book_id
        )
        wait = self.rt.settings.job_wait_seconds
        return await self.rt.jobs.wait(job.id, timeout=wait)

    @staticmethod
    def _check(job: JobInfo, what: str) -> None:
        if job.status is JobStatus.SUCCEEDED:
            return
        if not job.final:
            raise StoryMintError(
                503,
                f"The {what} is taking longer than this request may wait",
                "It is still being made; ask again in a minute.",
            )
        log.warning("%s job %s failed: %s", what, job.id, job.error_code)
        unavailable = (job.error_code or "").endswith("_unavailable")
        raise StoryMintError(
            503 if unavailable else 500,
            f"The {what} could not be made",
            job.error_message or "Retry after a few seconds",
        )


async def find_job(
    runtime: Runtime, job_id: str, account_id: str | None, *, fresh: bool = False
) -> JobInfo:
    """A StoryMint book job, of ``account_id`` when given; 404 for anything else."""
    try:
        return await find_family_job(
            runtime, job_id, account_id, family=FAMILY, kinds=(KIND,), fresh=fresh
        )
    except NotFound:
        raise StoryMintError(404, "Job not found", f"No job with id {job_id[:64]!r}") from None


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
