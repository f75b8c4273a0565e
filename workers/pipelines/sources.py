"""``sleeperhit.source``: read one source, keep what its retention policy allows, digest it.

A URL or PDF source is fetched here through the SSRF-safe fetcher (the adapter only checked the
URL), its main text extracted off the event loop and capped; a TEXT or MARKDOWN source was
stored by the adapter, so the task reads it back. Either way the result carries the figures a
client sees (size, token estimate, hash, preview, metadata) and the digest a plan is built from.

Content types. A URL source accepts HTML, XHTML, plain text and Markdown, and also a PDF: links
to reports and papers are common, and refusing one would only make a client re-submit the same
URL as a PDF source, so it is extracted as a PDF (metadata ``pageCount``). A PDF source accepts
``application/pdf``, and ``application/octet-stream`` when the bytes start as a PDF does (many
file servers label PDFs that way); anything else is ``source_fetch_failed``. Bytes labelled PDF
that pypdf cannot read are ``source_extract_failed``.

Retention. EXTRACTED_ONLY keeps ``text.txt``; STORE_ORIGINAL keeps ``text.txt`` and
``original`` (the fetched bytes, or the inline content as sent); METADATA_ONLY keeps neither,
deletes the adapter's ``text.txt`` once the digest is made (or the task fails), and its result
holds figures and metadata only: no preview.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from gateway.core import layout
from gateway.core.errors import NotFound
from gateway.core.fetcher import Fetched, FetchRefused
from workers.pipelines.extract import (
    Extracted,
    ExtractFailed,
    cap,
    decode_text,
    extract_html,
    extract_pdf,
    figures,
    is_pdf,
    strip_controls,
    tidy,
)
from workers.tasks import TaskContext, TaskError

__all__ = ["original_path", "source_task", "text_path"]

TEXT_TYPE = "text/plain; charset=utf-8"
HTML_TYPES = ("text/html", "application/xhtml+xml")
PLAIN_TYPES = ("text/plain", "text/markdown")
URL_ACCEPT = (*HTML_TYPES, *PLAIN_TYPES, "application/pdf")
PDF_ACCEPT = ("application/pdf", "application/octet-stream")
# The stored content type of an inline source's original, by source type.
INLINE_TYPES = {"TEXT": "text/plain; charset=utf-8", "MARKDOWN": "text/markdown; charset=utf-8"}


text_path = layout.source_text
original_path = layout.source_original


def _extract_fetched(fetched: Fetched, kind: str) -> Extracted:
    """Runs in a worker thread: the fetched bytes to capped text, by what they turn out to be."""
    media = fetched.content_type
    if media == "application/pdf" or (kind == "PDF" and media == "application/octet-stream"):
        if not is_pdf(fetched.data):
            raise ExtractFailed("the file is not a PDF")
        return extract_pdf(fetched.data)
    if media in HTML_TYPES:
        return extract_html(fetched.data, media)
    text = tidy(decode_text(fetched.data))
    return cap(Extracted(text=text, metadata={"contentType": media}))


def _inline(data: bytes, kind: str) -> Extracted:
    """Inline content is the client's own text: kept as sent (so its hash matches what the
    adapter reported), less only control characters and anything past the cap."""
    text = strip_controls(decode_text(data))
    media = INLINE_TYPES.get(kind, TEXT_TYPE).split(";", 1)[0]
    return cap(Extracted(text=text, metadata={"contentType": media}))


async def _fetch(ctx: TaskContext, url: str, kind: str) -> Fetched:
    accept = PDF_ACCEPT if kind == "PDF" else URL_ACCEPT
    what = "pdf" if kind == "PDF" else "url"
    try:
        fetched: Fetched = await ctx.services.fetcher.fetch(url, accept=accept, what=what)
    except FetchRefused as exc:
        raise TaskError("source_fetch_failed", exc.message) from None
    if kind == "PDF" and fetched.content_type == "application/octet-stream":
        if not is_pdf(fetched.data):
            raise TaskError("source_fetch_failed", "pdf is not a PDF (application/octet-stream)")
    return fetched


async def _remote(ctx: TaskContext, uri: Any, kind: str) -> tuple[Extracted, Fetched]:
    await ctx.progress(
        pct=10, step="extracting", message="Reading the source...", data={"stage": "extracting"}
    )
    if not isinstance(uri, str) or not uri:
        raise TaskError("source_fetch_failed", "the source has no URL to fetch")
    fetched = await _fetch(ctx, uri, kind)
    try:
        extracted = await asyncio.to_thread(_extract_fetched, fetched, kind)
    except ExtractFailed as exc:
        raise TaskError("source_extract_failed", str(exc)) from None
    return extracted, fetched


async def _stored(ctx: TaskContext, path: str, kind: str) -> tuple[Extracted, bytes]:
    try:
        _info, data = await ctx.services.storage.get(ctx.job.account_id, path)
    except NotFound:
        raise TaskError("source_extract_failed", "the source text is no longer stored") from None
    return await asyncio.to_thread(_inline, data, kind), data


async def _keep(
    ctx: TaskContext,
    source_id: str,
    retention: str,
    extracted: Extracted,
    original: tuple[bytes, str] | None,
    stored_text: bytes | None,
) -> None:
    """Store what the policy keeps. ``stored_text`` is what the adapter already wrote: it is
    rewritten only when extraction changed it (control characters, the cap), so that the
    stored text always hashes to the result's contentHash."""
    if retention == "METADATA_ONLY":
        return
    account, job_id = ctx.job.account_id, ctx.job.id
    files: list[tuple[str, bytes, str]] = []
    text = extracted.text.encode("utf-8")
    if text != stored_text:
        files.append((text_path(source_id), text, TEXT_TYPE))
    if retention == "STORE_ORIGINAL" and original is not None:
        files.append((original_path(source_id), original[0], original[1]))
    if files:
        await ctx.services.storage.put_many(account, files, job_id=job_id)


async def _digest(ctx: TaskContext, text: str, seed: int) -> dict[str, Any]:
    """A digest failure is recorded, not raised: the source is READY without one."""
    await ctx.progress(
        pct=60, step="digesting", message="Digesting the source...", data={"stage": "digesting"}
    )
    try:
        digest = await ctx.services.backends.scripter.digest(text, seed=seed)
    except Exception as exc:
        message = getattr(exc, "message", None) or "the source could not be digested"
        code = getattr(exc, "code", None) or "digest_failed"
        return {"digest": None, "digestFailure": {"code": str(code), "message": str(message)}}
    return {"digest": digest.wire(), "digestFailure": None}


async def _run(ctx: TaskContext, p: dict[str, Any], source_id: str, kind: str) -> dict[str, Any]:
    retention = str(p.get("retention") or "EXTRACTED_ONLY")
    original: tuple[bytes, str] | None
    if kind in ("URL", "PDF"):
        extracted, fetched = await _remote(ctx, p.get("uri"), kind)
        original, stored_text = (fetched.data, fetched.content_type), None
    else:
        path = str(p.get("text_path") or text_path(source_id))
        extracted, stored_text = await _stored(ctx, path, kind)
        original = (stored_text, INLINE_TYPES.get(kind, TEXT_TYPE))
    if not extracted.text.strip():
        raise TaskError("source_empty", "the source holds no readable text")
    extraction = await asyncio.to_thread(figures, extracted, preview=retention != "METADATA_ONLY")
    await _keep(ctx, source_id, retention, extracted, original, stored_text)
    await ctx.progress(
        pct=50,
        step="extracted",
        message="Source read",
        data={"stage": "extracted", "extraction": extraction},
    )
    digested = await _digest(ctx, extracted.text, int(p.get("seed") or 0))
    done = datetime.now(UTC).isoformat() if digested["digest"] is not None else None
    return {"extraction": extraction, **digested, "digestedAt": done}


async def source_task(ctx: TaskContext) -> dict[str, Any]:
    """``sleeperhit.source``: params source_id, type, uri, retention, text_path, seed."""
    p = ctx.job.params
    source_id, kind = str(p["source_id"]), str(p["type"]).upper()
    try:
        return await _run(ctx, p, source_id, kind)
    finally:
        # Whatever happened, a METADATA_ONLY source leaves no content behind.
        if str(p.get("retention")) == "METADATA_ONLY" and kind not in ("URL", "PDF"):
            path = str(p.get("text_path") or text_path(source_id))
            await ctx.services.storage.delete_prefix(ctx.job.account_id, path)
