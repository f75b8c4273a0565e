"""Recasting a table read in place: ``POST /api/v1/artifacts/{id}/voice`` (in the reference;
requires an Idempotency-Key) and ``POST /api/v1/artifacts/{id}/cast`` (in use by real clients,
issue 12). No charge and no new revision; see adapters/sleeperhit/recast.py."""

from __future__ import annotations

from typing import Any

from litestar import Response, post

from adapters.sleeperhit.posting import KeyedPost, idempotent, require_key
from adapters.sleeperhit.recast import Recaster
from adapters.sleeperhit.routing import (
    API,
    MAX_BODY,
    TAGS,
    AnyRequest,
    body_of,
    errors,
    production_of,
    route_opt,
)
from contracts import sleeperhit_views as out
from contracts.sleeperhit import CastRequest, VoiceRequest

_ERRORS = (
    "artifact_not_found",
    "artifact_not_ready",
    "artifact_generation_failed",
    "validation_failed",
    "idempotency_key_required",
    "idempotency_conflict",
)
_LIVE = (
    "No charge and no new revision. manifest.audio.voiceMap shows the new voices at once; the "
    "read is voiced again in a job (manifest.audio.remix.status), after which liveUrl, the "
    "theater page and the next finalize speak them. A finalize completed before the change "
    "is marked manifest.audio.finalize.stale."
)


def _recaster(request: AnyRequest) -> Recaster:
    return Recaster(production_of(request))


@post(
    f"{API}/artifacts/{{artifact_id:str}}/voice",
    status_code=200,
    tags=TAGS,
    summary="Recast one character's voice on a table read (no charge)",
    description="The character (any case) must be in the script's cast and the voiceId one "
    "of GET /api/v1/voices. " + _LIVE,
    operation_id="recastArtifactVoice",
    operation_class=KeyedPost,
    opt=route_opt("artifact:publish", "artifacts"),
    responses=errors(*_ERRORS),
    request_max_body_size=MAX_BODY,
)
async def recast_voice(
    request: AnyRequest, artifact_id: str, data: VoiceRequest
) -> Response[out.VoiceRecast]:
    recaster = _recaster(request)
    require_key(request)
    body = await body_of(request, VoiceRequest)

    return await idempotent(
        request,
        recaster.rt,
        recaster.account,
        lambda: recaster.voice(artifact_id, body),
        required=True,
        shape=out.VoiceRecast,
    )


@post(
    f"{API}/artifacts/{{artifact_id:str}}/cast",
    status_code=200,
    tags=TAGS,
    summary="Recast several characters at once (1 to 20; one change, no charge)",
    description="Each entry as for POST /artifacts/{artifactId}/voice. " + _LIVE,
    operation_id="recastArtifactCast",
    operation_class=KeyedPost,
    opt=route_opt("artifact:publish", "artifacts"),
    responses=errors(*_ERRORS),
    request_max_body_size=MAX_BODY,
)
async def recast_cast(
    request: AnyRequest, artifact_id: str, data: CastRequest
) -> Response[out.CastRecast]:
    recaster = _recaster(request)
    require_key(request)
    body = await body_of(request, CastRequest)

    return await idempotent(
        request,
        recaster.rt,
        recaster.account,
        lambda: recaster.cast(artifact_id, body),
        required=True,
        shape=out.CastRecast,
    )


HANDLERS: list[Any] = [recast_voice, recast_cast]
