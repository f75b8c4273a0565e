"""Book routes: generate, status, book JSON, page images, chat edit, ZIP download, audiobook.

Bodies are declared as their Structs (so the OpenAPI document shows them) and then decoded again
strictly from the raw bytes: Litestar's own conversion would accept ``"num_pages": "5"``, which
StoryMint answers with a 400.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.openapi import ResponseSpec

from adapters.common.links import link_valid
from adapters.storymint import gate
from adapters.storymint.auth import Caller, raw_key
from adapters.storymint.errors import StoryMintError
from adapters.storymint.service import StoryMintService, find_job, image_paths
from contracts.storymint import (
    BookResponse,
    ChatRequest,
    ChatResponse,
    GenerateRequest,
    GenerateResponse,
    StatusResponse,
    decode,
)
from gateway.core.errors import NotFound
from gateway.runtime import Runtime

TAGS = ["StoryMint"]


def _binary(media_type: str, description: str) -> dict[int, ResponseSpec]:
    spec = ResponseSpec(
        bytes, description=description, media_type=media_type, generate_examples=False
    )
    return {200: spec}


@post(
    "/generate",
    status_code=200,
    summary="Generate a book",
    description=(
        "Start an asynchronous book generation job; poll /api/status/{job_id}. An optional "
        "Idempotency-Key header makes a retry with the same body answer the first job again "
        "(Idempotency-Replayed: true) instead of starting a second; another body under the "
        "same key is 409."
    ),
    tags=TAGS,
    responses=gate.error_responses(400, 401, 403, 409, 429),
)
async def generate(
    request: Request[Any, Any, Any], data: GenerateRequest, caller: Caller, runtime: Runtime
) -> Response[GenerateResponse]:
    body = await request.body()
    strict: GenerateRequest = decode(body, GenerateRequest)
    key = request.headers.get("idempotency-key")
    made, replayed = await StoryMintService(runtime).generate_once(caller, strict, key, body)
    return Response(made, headers={"Idempotency-Replayed": "true"} if replayed else None)


@get(
    "/status/{job_id:str}",
    summary="Check status",
    tags=TAGS,
    responses=gate.error_responses(401, 404, 429),
)
async def status(job_id: str, caller: Caller, runtime: Runtime) -> StatusResponse:
    service = StoryMintService(runtime)
    return service.status(caller, await service.job(caller, job_id))


@get(
    "/book/{job_id:str}",
    summary="Get book data",
    description="Pages, cover, text and metadata; page image URLs carry an expiring signature.",
    tags=TAGS,
    responses=gate.error_responses(400, 401, 404, 429),
)
async def book(job_id: str, caller: Caller, runtime: Runtime) -> BookResponse:
    service = StoryMintService(runtime)
    return service.book(caller, await service.finished(caller, job_id, "book"))


@get(
    "/book/{job_id:str}/image/{name:str}",
    summary="Page or cover image",
    description="Loads with the signed query from the book JSON (no key), or with the API key.",
    tags=TAGS,
    opt={"auth": "optional"},
    media_type="image/*",
    responses={
        **_binary("image/*", "The picture (PNG pages, JPEG cover)"),
        **gate.error_responses(401, 403, 404, 429),
    },
)
async def image(
    request: Request[Any, Any, Any],
    runtime: Runtime,
    job_id: str,
    name: str,
    expires: int | None = None,
    sig: str | None = None,
    acct: str | None = None,
) -> Response[bytes]:
    raw = raw_key(request)
    if sig is not None and acct and expires is not None:
        if raw is None:
            await gate.admit_anonymous(request, "image")
        path = await _signed_path(runtime, job_id, name, acct, expires, sig)
        if path is not None:
            return await _picture(runtime, acct, path)
        if raw is None:
            raise StoryMintError(
                403, "Invalid or expired image link", "Fetch the book JSON again for fresh URLs."
            )
    if raw is None:
        raise StoryMintError(
            401,
            "Invalid or missing API key",
            "Send the X-API-Key header, or use the signed image_url from the book JSON",
        )
    caller = await gate.identify(request, raw)
    job = await StoryMintService(runtime).job(caller, job_id)
    path = image_paths(job).get(name)
    if path is None:
        raise StoryMintError(404, "Image not found", f"No image {name!r} in this book")
    return await _picture(runtime, job.account_id, path)


async def _signed_path(
    runtime: Runtime, job_id: str, name: str, acct: str, expires: int, sig: str
) -> str | None:
    try:
        job = await find_job(runtime, job_id, acct)
    except StoryMintError:
        return None
    path = image_paths(job).get(name)
    if path is None or not link_valid(runtime.storage, acct, path, expires, sig):
        return None
    return path


async def _picture(runtime: Runtime, account_id: str, path: str) -> Response[bytes]:
    try:
        info, data = await runtime.storage.get(account_id, path)
    except NotFound:
        raise StoryMintError(404, "Image not found", "The picture is not drawn yet") from None
    return Response(
        data, media_type=info.content_type, headers={"Cache-Control": "private, max-age=300"}
    )


@post(
    "/book/{job_id:str}/chat",
    status_code=200,
    summary="Chat edit",
    description=(
        "Natural-language edit of a finished book; returns every page after the edit. One edit "
        "of a book runs at a time: another one meanwhile answers 409."
    ),
    tags=TAGS,
    responses=gate.error_responses(400, 401, 404, 409, 429, 500, 503),
)
async def chat(
    request: Request[Any, Any, Any],
    job_id: str,
    data: ChatRequest,
    caller: Caller,
    runtime: Runtime,
) -> ChatResponse:
    strict: ChatRequest = decode(await request.body(), ChatRequest)
    return await StoryMintService(runtime).chat(caller, job_id, strict.message)


@get(
    "/download/{job_id:str}",
    summary="Download package",
    description="ZIP with book.pdf, cover.jpg, pages/ and metadata.json.",
    tags=TAGS,
    media_type="application/zip",
    responses={
        **_binary("application/zip", "book_package.zip"),
        **gate.error_responses(400, 401, 403, 404, 429),
    },
)
async def download(job_id: str, caller: Caller, runtime: Runtime) -> Response[bytes]:
    data = await StoryMintService(runtime).download(caller, job_id)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="book_package.zip"'},
    )


@post(
    "/audiobook/{job_id:str}",
    status_code=200,
    summary="Audiobook",
    description="Narrated MP3 of a finished book (Max and Schools & Organizations plans).",
    tags=TAGS,
    media_type="audio/mpeg",
    responses={
        **_binary("audio/mpeg", "The audiobook"),
        **gate.error_responses(400, 401, 403, 404, 429, 500, 503),
    },
)
async def audiobook(job_id: str, caller: Caller, runtime: Runtime) -> Response[bytes]:
    data = await StoryMintService(runtime).audiobook(caller, job_id)
    return Response(
        data,
        media_type="audio/mpeg",
        headers={"Content-Disposition": 'attachment; filename="audiobook.mp3"'},
    )


ROUTES: list[Any] = [generate, status, book, image, chat, download, audiobook]
