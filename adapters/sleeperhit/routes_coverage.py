"""Script coverage: ``POST /api/v1/artifacts/{id}/coverage`` asks for a report (a job; no
credits: the reference names no price), ``GET`` reads the latest or a named one."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, get, post
from litestar.params import Parameter

from adapters.sleeperhit.coverage import CoverageDesk
from adapters.sleeperhit.posting import KeyedPost, idempotent, require_key
from adapters.sleeperhit.routing import (
    API,
    MAX_BODY,
    TAGS,
    AnyRequest,
    base_url,
    body_of,
    caller,
    errors,
    route_opt,
    shaped,
)
from contracts import sleeperhit_views as out
from contracts.sleeperhit import CoverageRequest

ReportQ = Annotated[str | None, Parameter(query="reportId", required=False, max_length=128)]


def _desk(request: AnyRequest) -> CoverageDesk:
    return CoverageDesk(request.app.state.runtime, caller(request), base_url(request))


@post(
    f"{API}/artifacts/{{artifact_id:str}}/coverage",
    status_code=200,
    tags=TAGS,
    summary="Generate script coverage for a table read (async; the artifact is not changed)",
    operation_id="createArtifactCoverage",
    operation_class=KeyedPost,
    opt=route_opt("story:write", "artifacts"),
    responses=errors(
        "artifact_not_found",
        "artifact_not_ready",
        "artifact_generation_failed",
        "validation_failed",
        "idempotency_key_required",
        "idempotency_conflict",
    ),
    request_max_body_size=MAX_BODY,
)
async def create_coverage(
    request: AnyRequest, artifact_id: str, data: CoverageRequest | None = None
) -> Response[out.CoverageAccepted]:
    desk = _desk(request)
    require_key(request)
    body = await body_of(request, CoverageRequest, optional=True)

    return await idempotent(
        request,
        desk.rt,
        desk.account,
        lambda: desk.request(artifact_id, body.focusPrompt),
        required=True,
        shape=out.CoverageAccepted,
    )


@get(
    f"{API}/artifacts/{{artifact_id:str}}/coverage",
    tags=TAGS,
    summary="Read the latest coverage report, or the one ?reportId= names",
    operation_id="getArtifactCoverage",
    opt=route_opt("artifact:read", "artifacts"),
    responses=errors(
        "artifact_not_found",
        "artifact_not_ready",
        "artifact_generation_failed",
        "validation_failed",
    ),
)
async def get_coverage(
    request: AnyRequest, artifact_id: str, report_id: ReportQ = None
) -> out.CoverageEnvelope:
    return shaped(await _desk(request).read(artifact_id, report_id), out.CoverageEnvelope)


HANDLERS: list[Any] = [create_coverage, get_coverage]
