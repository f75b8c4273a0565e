"""``POST /api/v1/artifacts/{id}/render-video``: the table read as an MP4 (12 credits, once).

The same render as ``finalize`` with ``{"mode": "video"}`` (adapters/sleeperhit/video.py);
progress and the download URL are on ``manifest.video`` of ``GET /artifacts/{id}``.
"""

from __future__ import annotations

from typing import Any

from litestar import Response, post

from adapters.sleeperhit.posting import IdempotentPost, idempotent
from adapters.sleeperhit.routing import (
    API,
    MAX_BODY,
    TAGS,
    AnyRequest,
    errors,
    production_of,
    route_opt,
)
from adapters.sleeperhit.video import render_video
from contracts import sleeperhit_views as out


@post(
    f"{API}/artifacts/{{artifact_id:str}}/render-video",
    status_code=200,
    tags=TAGS,
    summary="Render the table read as an MP4 (12 credits, once; replay-safe)",
    description=(
        "A title card, then each line's speaker and words over its scene's backdrop, cut to "
        "the voices, over the finalized MP3 (or the read, before any finalize). Poll "
        "GET /artifacts/{artifactId} for manifest.video.status and manifest.video.url. While "
        "a render is queued, rendering or complete, calling again answers its state and "
        "charges nothing; after a failed one it starts a new render."
    ),
    operation_id="renderArtifactVideo",
    operation_class=IdempotentPost,
    opt=route_opt("artifact:publish", "artifacts"),
    responses=errors(
        "artifact_not_found",
        "artifact_not_ready",
        "artifact_generation_failed",
        "insufficient_credits",
        "validation_failed",
        "idempotency_conflict",
    ),
    request_max_body_size=MAX_BODY,
)
async def render_artifact_video(
    request: AnyRequest, artifact_id: str
) -> Response[out.RenderAccepted]:
    production = production_of(request)
    return await idempotent(
        request,
        production.rt,
        production.account,
        lambda: render_video(production, artifact_id),
        shape=out.RenderAccepted,
    )


HANDLERS: list[Any] = [render_artifact_video]
