"""The ``/v1/stories`` routes: create (202), poll (200), library, and signed page images."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post, route
from litestar.enums import HttpMethod

from adapters.childrenbooks import service
from adapters.childrenbooks.auth import SCOPE_READ, SCOPE_WRITE, client_ip, raw_key
from adapters.childrenbooks.errors import ChildrenBooksError, ratelimit_headers
from adapters.childrenbooks.gate import (
    admit,
    allow_header,
    count,
    request_id,
)
from adapters.childrenbooks.spec import (
    CREATE_RESPONSES,
    RATE_HEADERS,
    READ_RESPONSES,
    TAGS,
    CreateStoryOperation,
    LibraryOperation,
    StoryOperation,
)
from adapters.childrenbooks.validation import (
    book_id as parse_book_id,
)
from adapters.childrenbooks.validation import (
    canonical_body,
    check_content_type,
    library_query,
    parse_json,
    validate_story,
)
from contracts.childrenbooks import (
    CreateStoryResponse,
    ErrorCode,
    StoryLibraryResponse,
    StoryResponse,
)
from gateway.core.errors import NotFound
from gateway.runtime import Runtime

# The reference's longest valid body is ~8 KB; anything far beyond it is not a story request.
MAX_BODY = 64 * 1024

AnyRequest = Request[Any, Any, Any]


@post(
    "/",
    status_code=202,
    tags=TAGS,
    summary="Create a storybook",
    operation_id="createStory",
    operation_class=CreateStoryOperation,
    responses=CREATE_RESPONSES,
    response_headers=RATE_HEADERS,
    request_max_body_size=MAX_BODY,
)
async def create_story(request: AnyRequest, runtime: Runtime) -> Response[CreateStoryResponse]:
    admitted = await admit(request, runtime, SCOPE_WRITE)
    check_content_type(request.headers.get("content-type"))
    body = parse_json(await request.body())
    key = request.headers.get("idempotency-key")
    story = validate_story(body, key)
    created = await service.create(runtime, admitted.caller, story, key, canonical_body(body))
    headers = ratelimit_headers(admitted.decision)
    if created.replayed:
        headers["idempotent-replayed"] = "true"
    content = CreateStoryResponse(requestId=request_id(request), data=created.story)
    return Response(content, status_code=202, headers=headers)


@get(
    "/",
    tags=TAGS,
    summary="List the account's library",
    operation_id="listStories",
    operation_class=LibraryOperation,
    responses=READ_RESPONSES,
    response_headers=RATE_HEADERS,
)
async def list_stories(request: AnyRequest, runtime: Runtime) -> Response[StoryLibraryResponse]:
    admitted = await admit(request, runtime, SCOPE_READ)
    query = library_query(request.query_params.get("limit"), request.query_params.get("cursor"))
    data = await service.library(runtime, admitted.caller, query)
    content = StoryLibraryResponse(requestId=request_id(request), data=data)
    return Response(content, headers=ratelimit_headers(admitted.decision))


@get(
    "/{id:str}",
    tags=TAGS,
    summary="Get a storybook's status, progress and pages",
    operation_id="getStory",
    operation_class=StoryOperation,
    responses=READ_RESPONSES,
    response_headers=RATE_HEADERS,
)
async def get_story(request: AnyRequest, runtime: Runtime, id: str) -> Response[StoryResponse]:
    admitted = await admit(request, runtime, SCOPE_READ)
    story = await service.get(runtime, admitted.caller, parse_book_id(id))
    content = StoryResponse(requestId=request_id(request), data=story)
    return Response(content, headers=ratelimit_headers(admitted.decision))


@get("/{id:str}/assets/{name:str}", include_in_schema=False)
async def get_asset(request: AnyRequest, runtime: Runtime, id: str, name: str) -> Response[bytes]:
    """A page image, the cover or the PDF: by signed link (no key) or with the owner's key."""
    signature = request.query_params.get("sig")
    account_id = None
    if raw_key(request) is not None or signature is None:
        admitted = await admit(request, runtime, SCOPE_READ)
        account_id, decision = admitted.caller.account_id, admitted.decision
    else:
        bucket = f"childrenbooks:anon:assets:{client_ip(request)}"
        decision = await count(request, runtime, bucket, runtime.settings.anonymous_per_minute)
    try:
        canonical = parse_book_id(id)
    except ChildrenBooksError:
        raise NotFound("file not found") from None
    info, data = await service.asset(
        runtime,
        canonical,
        name,
        account_id=account_id,
        expires=request.query_params.get("expires"),
        signature=signature,
    )
    headers = {**ratelimit_headers(decision), "cache-control": "private, max-age=300"}
    return Response(data, media_type=info.content_type, headers=headers)


@route(
    ["/", "/{id:str}", "/{id:str}/assets/{name:str}"],
    http_method=[HttpMethod.OPTIONS],
    include_in_schema=False,
)
async def options(request: AnyRequest) -> None:
    """No browser CORS here (keys belong on servers): OPTIONS is a method like any other."""
    raise ChildrenBooksError(
        ErrorCode.METHOD_NOT_ALLOWED,
        "Method OPTIONS is not allowed here.",
        headers={"allow": allow_header(request.url.path)},
    )


HANDLERS = [options, create_story, list_stories, get_story, get_asset]
