"""Refining a table read: ``POST /api/v1/artifacts/{id}/refine`` (requires an Idempotency-Key;
reserves TABLE_READ_REFINE). The refine is a story job; see adapters/sleeperhit/refine.py."""

from __future__ import annotations

from typing import Any

from litestar import Response, post

from adapters.sleeperhit.posting import KeyedPost, idempotent, require_key
from adapters.sleeperhit.prices import TABLE_READ_REFINE
from adapters.sleeperhit.refine import Refiner
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
from contracts.sleeperhit_refine import RefineAccepted, RefineRequest


@post(
    f"{API}/artifacts/{{artifact_id:str}}/refine",
    status_code=200,
    tags=TAGS,
    summary=f"Revise a table read in place by an instruction ({TABLE_READ_REFINE} credits)",
    description=(
        "Makes the artifact's next revision: the script writer rewrites the cast and "
        "screenplay following the instruction (scope plan goes back to the sources first); "
        "unchanged lines keep their audio, changed lines are voiced again. Answers the refine "
        "as a story job (poll GET /api/v1/story-jobs/{id}; cancel like one). On READY the "
        "artifact's currentVersion and refineCount go up by one; the artifact id, share token "
        "and player URLs stay, and GET /api/v1/artifacts/{id}?revision=N reads any earlier "
        "revision. A completed finalize becomes stale. One refine at a time: another while "
        "one is in progress is artifact_not_ready."
    ),
    operation_id="refineArtifact",
    operation_class=KeyedPost,
    opt=route_opt("artifact:publish", "artifacts"),
    responses=errors(
        "artifact_not_found",
        "artifact_not_ready",
        "insufficient_credits",
        "validation_failed",
        "idempotency_key_required",
        "idempotency_conflict",
    ),
    request_max_body_size=MAX_BODY,
)
async def refine_artifact(
    request: AnyRequest, artifact_id: str, data: RefineRequest
) -> Response[RefineAccepted]:
    refiner = Refiner(production_of(request))
    require_key(request)
    body = await body_of(request, RefineRequest)

    return await idempotent(
        request,
        refiner.rt,
        refiner.account,
        lambda: refiner.refine(artifact_id, body.instruction, body.scope or "auto"),
        required=True,
        shape=RefineAccepted,
    )


HANDLERS: list[Any] = [refine_artifact]
