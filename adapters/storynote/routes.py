"""StoryNote's routes, each served under ``/v1`` and, as clients in the wild also call them,
``/api/v1``. A handler admits the request, decodes the body strictly, calls the service once
and answers with the rate-limit headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.params import Parameter

from adapters.common.streams import meter_anonymous
from adapters.storynote import catalogue
from adapters.storynote.auth import client_ip, raw_key
from adapters.storynote.errors import StoryNoteError
from adapters.storynote.gate import HEADERS, admit, admitted
from adapters.storynote.paths import both, operation_id
from adapters.storynote.service import StoryNote, result_file
from adapters.storynote.stream import job_events
from contracts.common import decode_strict
from contracts.storynote import (
    AudioRequest,
    CreateProjectRequest,
    ErrorResponse,
    ImageAccepted,
    ImageRequest,
    Job,
    JobAccepted,
    JobBatch,
    ModelsAvailable,
    Project,
    ProjectGraph,
    VideoRequest,
)
from gateway.runtime import Runtime

AnyRequest = Request[Any, Any, Any]
TAGS = ["StoryNote"]
MAX_BODY = 64 * 1024


def _errors(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        s: ResponseSpec(ErrorResponse, description="Error", generate_examples=False)
        for s in statuses
    }


def _base_url(request: AnyRequest) -> str:
    return str(request.base_url).rstrip("/")


def _service(request: AnyRequest, runtime: Runtime) -> tuple[StoryNote, dict[str, str]]:
    """The caller the router's ``before_request`` admitted, and its rate-limit headers."""
    admission = admitted(request)
    return StoryNote(runtime, admission.caller, _base_url(request)), admission.headers


async def _generate(
    request: AnyRequest,
    runtime: Runtime,
    body_type: Any,
    start: Callable[[StoryNote, Any], Awaitable[Any]],
) -> Response[Any]:
    """The shape every generation shares: decode the body strictly, start, answer 202."""
    service, headers = _service(request, runtime)
    body = decode_strict(await request.body(), body_type)
    return Response(await start(service, body), status_code=202, headers=headers)


@post(
    both("/projects"),
    status_code=201,
    tags=TAGS,
    summary="Create a project",
    operation_id=operation_id("createProject"),
    responses=_errors(400, 401, 429),
    request_max_body_size=MAX_BODY,
)
async def create_project(
    request: AnyRequest, runtime: Runtime, data: CreateProjectRequest
) -> Response[Project]:
    service, headers = _service(request, runtime)
    body: CreateProjectRequest = decode_strict(await request.body(), CreateProjectRequest)
    return Response(await service.create_project(body.name), status_code=201, headers=headers)


@get(
    both("/projects"),
    tags=TAGS,
    summary="List your projects, newest first",
    operation_id=operation_id("listProjects"),
    responses=_errors(401, 429),
)
async def list_projects(request: AnyRequest, runtime: Runtime) -> Response[list[Project]]:
    service, headers = _service(request, runtime)
    return Response(await service.projects(), headers=headers)


@get(
    both("/projects/{project_id:str}"),
    tags=TAGS,
    summary="A project with its graph",
    operation_id=operation_id("getProject"),
    responses=_errors(401, 404, 429),
)
async def get_project(
    request: AnyRequest, runtime: Runtime, project_id: str
) -> Response[ProjectGraph]:
    service, headers = _service(request, runtime)
    return Response(await service.project(project_id), headers=headers)


@post(
    both("/projects/{project_id:str}/image"),
    status_code=202,
    tags=TAGS,
    summary="Generate images",
    operation_id=operation_id("generateImage"),
    opt={"generation": True},
    responses=_errors(400, 401, 402, 404, 429),
    request_max_body_size=MAX_BODY,
)
async def image(
    request: AnyRequest, runtime: Runtime, project_id: str, data: ImageRequest
) -> Response[ImageAccepted]:
    return await _generate(
        request, runtime, ImageRequest, lambda sn, body: sn.image(project_id, body)
    )


@post(
    both("/projects/{project_id:str}/video"),
    status_code=202,
    tags=TAGS,
    summary="Generate a video",
    operation_id=operation_id("generateVideo"),
    opt={"generation": True},
    responses=_errors(400, 401, 402, 404, 429),
    request_max_body_size=MAX_BODY,
)
async def video(
    request: AnyRequest, runtime: Runtime, project_id: str, data: VideoRequest
) -> Response[JobAccepted]:
    return await _generate(
        request, runtime, VideoRequest, lambda sn, body: sn.video(project_id, body)
    )


@post(
    both("/projects/{project_id:str}/audio"),
    status_code=202,
    tags=TAGS,
    summary="Generate speech, a sound effect or music",
    operation_id=operation_id("generateAudio"),
    opt={"generation": True},
    responses=_errors(400, 401, 402, 404, 429),
    request_max_body_size=MAX_BODY,
)
async def audio(
    request: AnyRequest, runtime: Runtime, project_id: str, data: AudioRequest
) -> Response[JobAccepted]:
    return await _generate(
        request, runtime, AudioRequest, lambda sn, body: sn.audio(project_id, body)
    )


@get(
    both("/jobs/batch"),
    tags=TAGS,
    summary="Up to 256 jobs at once",
    operation_id=operation_id("getJobs"),
    responses=_errors(400, 401, 429),
)
async def batch(
    request: AnyRequest,
    runtime: Runtime,
    job_ids: Annotated[
        str,
        Parameter(query="jobIds", required=True, description="Comma-separated job ids (≤ 256)"),
    ],
) -> Response[JobBatch]:
    service, headers = _service(request, runtime)
    return Response(await service.batch(job_ids), headers=headers)


@get(
    both("/jobs/{job_id:str}"),
    tags=TAGS,
    summary="A job's status and result",
    operation_id=operation_id("getJob"),
    responses=_errors(401, 404, 429),
)
async def job(request: AnyRequest, runtime: Runtime, job_id: str) -> Response[Job]:
    service, headers = _service(request, runtime)
    return Response(await service.job(job_id), headers=headers)


@get(
    both("/models/available"),
    tags=TAGS,
    summary="Models, prices, parameters, and whether each runs on this server",
    operation_id=operation_id("listModels"),
    responses=_errors(401, 429),
)
async def models(request: AnyRequest, runtime: Runtime) -> Response[ModelsAvailable]:
    listing = catalogue.listing(runtime.backends.capabilities())
    return Response(listing, headers=admitted(request).headers)


@get(
    both("/files/{job_id:str}/{name:str}"),
    include_in_schema=False,
    opt={"admission": "self"},
)
async def file(request: AnyRequest, runtime: Runtime, job_id: str, name: str) -> Response[bytes]:
    """A result by its signed link (no key), or with the owner's key."""
    account_id = None
    headers: dict[str, str] = {}
    if raw_key(request) is not None:
        admitted = await admit(request, runtime)
        account_id, headers = admitted.caller.account_id, admitted.headers
    else:
        decision = await meter_anonymous(runtime, "storynote", "files", client_ip(request))
        headers = HEADERS.render(decision)
        if not decision.allowed:
            raise StoryNoteError(429, "Rate limit exceeded", headers)
    info, data = await result_file(
        runtime,
        job_id,
        name,
        account_id=account_id,
        expires=request.query_params.get("expires"),
        signature=request.query_params.get("sig"),
    )
    headers["cache-control"] = "private, max-age=300"
    return Response(data, media_type=info.content_type, headers=headers)


HANDLERS: list[Any] = [
    create_project,
    list_projects,
    get_project,
    image,
    video,
    audio,
    batch,
    job,
    models,
    file,
    job_events,
]
