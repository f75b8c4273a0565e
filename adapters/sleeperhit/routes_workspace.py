"""Projects and sources: ``/api/v1/story-projects[/{id}[/sources[/{id}]]]``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Response, delete, get, patch, post
from litestar.openapi.spec import OpenAPIType, RequestBody, Schema
from litestar.params import Parameter

from adapters.sleeperhit.errors import ShError
from adapters.sleeperhit.posting import IdempotentPost, idempotent
from adapters.sleeperhit.routing import (
    API,
    MAX_BODY,
    TAGS,
    AnyRequest,
    body_of,
    caller,
    errors,
    route_opt,
    shaped,
)
from adapters.sleeperhit.workspace import PAGE_DEFAULT, PAGE_MAX, SOURCE_TYPES, Workspace
from contracts import sleeperhit_views as out
from contracts.common import HTTP_URL, VISIBLE
from contracts.sleeperhit import CreateProject, CreateSource, PatchProject
from gateway.core.pages import CURSOR_PATTERN

# Inline sources may hold 1,000,000 UTF-8 bytes, which JSON escaping can grow (\uXXXX: six
# bytes for three); past this the body is refused as source_too_large before it is read.
SOURCE_BODY = 8 * 1024 * 1024
# Read as text, so that any bad value reaches page_limit and gets the reference's
# validation_failed naming the field; documented as what it means: an integer 1 to PAGE_MAX
# (``one_of`` drops the generated string-or-null alternative).
Limit = Annotated[
    str | None,
    Parameter(
        query="limit",
        required=False,
        description=f"Page size, 1 to {PAGE_MAX} (default {PAGE_DEFAULT}).",
        schema_extra={
            "one_of": None,
            "type": "integer",
            "minimum": 1,
            "maximum": PAGE_MAX,
            "default": PAGE_DEFAULT,
        },
    ),
]
CursorQ = Annotated[
    str | None,
    Parameter(
        query="cursor",
        required=False,
        description="The nextCursor of the previous page; left out for the first page.",
        schema_extra={"one_of": None, "type": "string", "pattern": CURSOR_PATTERN},
    ),
]


def _ws(request: AnyRequest) -> Workspace:
    return Workspace(request.app.state.runtime, caller(request))


@post(
    f"{API}/story-projects",
    status_code=200,
    tags=TAGS,
    summary="Create a project",
    operation_id="createStoryProject",
    operation_class=IdempotentPost,
    opt=route_opt("story:write", "projects"),
    responses=errors("validation_failed", "idempotency_conflict"),
    request_max_body_size=MAX_BODY,
)
async def create_project(request: AnyRequest, data: CreateProject) -> Response[out.ProjectEnvelope]:
    body = await body_of(request, CreateProject)
    ws = _ws(request)
    return await idempotent(request, ws.rt, ws.account, lambda: ws.create_project(body))


@get(
    f"{API}/story-projects",
    tags=TAGS,
    summary="List projects (cursor pages)",
    operation_id="listStoryProjects",
    opt=route_opt("story:read", "projects"),
    responses=errors("validation_failed"),
)
async def list_projects(
    request: AnyRequest, limit: Limit = None, cursor: CursorQ = None
) -> out.ProjectPage:
    return shaped(await _ws(request).projects(limit, cursor), out.ProjectPage)


@get(
    f"{API}/story-projects/{{project_id:str}}",
    tags=TAGS,
    summary="Read a project",
    operation_id="getStoryProject",
    opt=route_opt("story:read", "projects"),
    responses=errors("project_not_found"),
)
async def get_project(request: AnyRequest, project_id: str) -> out.ProjectEnvelope:
    return shaped(await _ws(request).get_project(project_id), out.ProjectEnvelope)


@patch(
    f"{API}/story-projects/{{project_id:str}}",
    tags=TAGS,
    summary="Update or archive a project",
    operation_id="updateStoryProject",
    opt=route_opt("story:write", "projects"),
    responses=errors("project_not_found", "validation_failed"),
    request_max_body_size=MAX_BODY,
)
async def patch_project(
    request: AnyRequest, project_id: str, data: PatchProject
) -> out.ProjectEnvelope:
    body = await body_of(request, PatchProject)
    found = await _ws(request).patch_project(project_id, body)
    return shaped(found, out.ProjectEnvelope)


@delete(
    f"{API}/story-projects/{{project_id:str}}",
    status_code=200,
    tags=TAGS,
    summary="Soft-delete a project",
    operation_id="deleteStoryProject",
    opt=route_opt("story:write", "projects"),
    responses=errors("project_not_found"),
)
async def delete_project(request: AnyRequest, project_id: str) -> out.Deleted:
    return shaped(await _ws(request).delete_project(project_id), out.Deleted)


@dataclass
class CreateSourcePost(IdempotentPost):
    """Which of ``content`` and ``uri`` a source needs depends on its ``type``, which the
    body's schema alone cannot say: the operation's body is that schema and this rule."""

    def __post_init__(self) -> None:
        super().__post_init__()
        body = self.request_body
        media = body.content.get("application/json") if isinstance(body, RequestBody) else None
        if media is None or media.schema is None:
            return
        inline = Schema(
            properties={
                "type": Schema(enum=["text", "markdown"]),
                "content": Schema(type=OpenAPIType.STRING, pattern=VISIBLE),
            },
            required=["type", "content"],
            description="text and markdown: the content inline (some visible text)",
        )
        fetched = Schema(
            properties={
                "type": Schema(enum=["url", "pdf"]),
                "uri": Schema(type=OpenAPIType.STRING, pattern=HTTP_URL),
            },
            required=["type", "uri"],
            # Any other text decodes, and is refused as source_fetch_failed.
            description="url and pdf: the http(s) URL to fetch it from",
        )
        media.schema = Schema(all_of=[media.schema, Schema(one_of=[inline, fetched])])


async def _precheck_type(request: AnyRequest) -> None:
    """``source_type_unsupported`` for a type this server does not know, before the strict
    decode would call it a validation failure."""
    try:
        value = msgspec.json.decode(await request.body() or b"null")
    except msgspec.DecodeError:
        return
    kind = value.get("type") if isinstance(value, dict) else None
    if isinstance(kind, str) and kind.lower() not in SOURCE_TYPES:
        raise ShError(
            "source_type_unsupported",
            f"Source type {kind[:40]!r} is not supported; see /api/v1/capabilities sources.types",
            details={"supported": list(SOURCE_TYPES)},
        )


@post(
    f"{API}/story-projects/{{project_id:str}}/sources",
    status_code=200,
    tags=TAGS,
    summary="Attach a source",
    operation_id="createStorySource",
    operation_class=CreateSourcePost,
    opt={**route_opt("source:write", "sources"), "precheck": _precheck_type},
    responses=errors(
        "project_not_found",
        "validation_failed",
        "source_type_unsupported",
        "source_too_large",
        "source_fetch_failed",
        "idempotency_conflict",
    ),
    request_max_body_size=SOURCE_BODY,
)
async def create_source(
    request: AnyRequest, project_id: str, data: CreateSource
) -> Response[out.SourceEnvelope]:
    body = await body_of(request, CreateSource)
    ws = _ws(request)
    return await idempotent(request, ws.rt, ws.account, lambda: ws.create_source(project_id, body))


@get(
    f"{API}/story-projects/{{project_id:str}}/sources",
    tags=TAGS,
    summary="List a project's sources (cursor pages)",
    operation_id="listStorySources",
    opt=route_opt("source:read", "sources"),
    responses=errors("project_not_found", "validation_failed"),
)
async def list_sources(
    request: AnyRequest, project_id: str, limit: Limit = None, cursor: CursorQ = None
) -> out.SourcePage:
    found = await _ws(request).sources(project_id, limit, cursor)
    return shaped(found, out.SourcePage)


@get(
    f"{API}/story-projects/{{project_id:str}}/sources/{{source_id:str}}",
    tags=TAGS,
    summary="Read (poll) a source",
    operation_id="getStorySource",
    opt=route_opt("source:read", "sources"),
    responses=errors("project_not_found", "source_not_found"),
)
async def get_source(request: AnyRequest, project_id: str, source_id: str) -> out.SourceEnvelope:
    found = await _ws(request).get_source(project_id, source_id)
    return shaped(found, out.SourceEnvelope)


@delete(
    f"{API}/story-projects/{{project_id:str}}/sources/{{source_id:str}}",
    status_code=200,
    tags=TAGS,
    summary="Soft-delete a source",
    operation_id="deleteStorySource",
    opt=route_opt("source:write", "sources"),
    responses=errors("project_not_found", "source_not_found"),
)
async def delete_source(request: AnyRequest, project_id: str, source_id: str) -> out.Deleted:
    found = await _ws(request).delete_source(project_id, source_id)
    return shaped(found, out.Deleted)


HANDLERS: list[Any] = [
    create_project,
    list_projects,
    get_project,
    patch_project,
    delete_project,
    create_source,
    list_sources,
    get_source,
    delete_source,
]
