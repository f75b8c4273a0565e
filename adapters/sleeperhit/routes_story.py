"""Plans, jobs, artifacts and credits: ``/api/v1/story-plans``, ``/story-jobs``,
``/artifacts``, ``/credits``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Response, get, post
from litestar.params import Parameter

from adapters.sleeperhit.plans import Plans
from adapters.sleeperhit.posting import IdempotentPost, KeyedPost, idempotent, require_key
from adapters.sleeperhit.prices import UNIT
from adapters.sleeperhit.routes_workspace import CursorQ, Limit
from adapters.sleeperhit.routing import (
    API,
    MAX_BODY,
    TAGS,
    AnyRequest,
    body_of,
    caller,
    errors,
    production_of,
    route_opt,
    shaped,
)
from adapters.sleeperhit.views import iso
from contracts import sleeperhit_views as out
from contracts.sleeperhit import CreateJob, CreatePlan, Finalize, RejectPlan

IdQ = Annotated[str | None, Parameter(required=False)]


def _plans(request: AnyRequest) -> Plans:
    return Plans(request.app.state.runtime, caller(request))


# -- plans ---------------------------------------------------------------------------------------


@post(
    f"{API}/story-projects/{{project_id:str}}/story-plans",
    status_code=200,
    tags=TAGS,
    summary="Generate a StoryPlan asynchronously",
    operation_id="createStoryPlan",
    operation_class=IdempotentPost,
    opt=route_opt("story:write", "plans"),
    responses=errors(
        "project_not_found", "source_not_found", "validation_failed", "idempotency_conflict"
    ),
    request_max_body_size=MAX_BODY,
)
async def create_plan(
    request: AnyRequest, project_id: str, data: CreatePlan
) -> Response[out.PlanEnvelope]:
    body = await body_of(request, CreatePlan)
    plans = _plans(request)
    return await idempotent(
        request, plans.rt, plans.account, lambda: plans.create(project_id, body)
    )


@get(
    f"{API}/story-projects/{{project_id:str}}/story-plans",
    tags=TAGS,
    summary="List a project's plans (cursor pages)",
    operation_id="listStoryPlans",
    opt=route_opt("story:read", "plans"),
    responses=errors("project_not_found", "validation_failed"),
)
async def list_plans(
    request: AnyRequest, project_id: str, limit: Limit = None, cursor: CursorQ = None
) -> out.PlanPage:
    return shaped(await _plans(request).list(project_id, limit, cursor), out.PlanPage)


@get(
    f"{API}/story-plans/{{plan_id:str}}",
    tags=TAGS,
    summary="Read (poll) a plan",
    operation_id="getStoryPlan",
    opt=route_opt("story:read", "plans"),
    responses=errors("project_not_found"),
)
async def get_plan(request: AnyRequest, plan_id: str) -> out.PlanEnvelope:
    return shaped(await _plans(request).get(plan_id), out.PlanEnvelope)


@post(
    f"{API}/story-plans/{{plan_id:str}}/approve",
    status_code=200,
    tags=TAGS,
    summary="Approve a plan at REQUIRES_APPROVAL (idempotent)",
    operation_id="approveStoryPlan",
    operation_class=IdempotentPost,
    opt=route_opt("story:write", "plans"),
    responses=errors("project_not_found", "validation_failed", "idempotency_conflict"),
    request_max_body_size=MAX_BODY,
)
async def approve_plan(request: AnyRequest, plan_id: str) -> Response[out.PlanEnvelope]:
    plans = _plans(request)
    return await idempotent(request, plans.rt, plans.account, lambda: plans.approve(plan_id))


@post(
    f"{API}/story-plans/{{plan_id:str}}/reject",
    status_code=200,
    tags=TAGS,
    summary="Reject a plan (terminal)",
    operation_id="rejectStoryPlan",
    operation_class=IdempotentPost,
    opt=route_opt("story:write", "plans"),
    responses=errors("project_not_found", "validation_failed", "idempotency_conflict"),
    request_max_body_size=MAX_BODY,
)
async def reject_plan(
    request: AnyRequest, plan_id: str, data: RejectPlan | None = None
) -> Response[out.PlanEnvelope]:
    body = await body_of(request, RejectPlan, optional=True)
    plans = _plans(request)
    return await idempotent(
        request, plans.rt, plans.account, lambda: plans.reject(plan_id, body.reason)
    )


# -- jobs ----------------------------------------------------------------------------------------


@post(
    f"{API}/story-jobs",
    status_code=200,
    tags=TAGS,
    summary="Create a job from an APPROVED plan (reserves credits)",
    operation_id="createStoryJob",
    operation_class=IdempotentPost,
    opt=route_opt("story:write", "jobs"),
    responses=errors(
        "story_job_not_found",
        "story_job_state_invalid",
        "insufficient_credits",
        "validation_failed",
        "project_not_found",
        "idempotency_conflict",
    ),
    request_max_body_size=MAX_BODY,
)
async def create_job(request: AnyRequest, data: CreateJob) -> Response[out.JobEnvelope]:
    body = await body_of(request, CreateJob)
    production = production_of(request)
    return await idempotent(
        request, production.rt, production.account, lambda: production.create(body)
    )


@get(
    f"{API}/story-jobs",
    tags=TAGS,
    summary="List jobs (cursor pages)",
    operation_id="listStoryJobs",
    opt=route_opt("story:read", "jobs"),
    responses=errors("validation_failed"),
)
async def list_jobs(
    request: AnyRequest,
    limit: Limit = None,
    cursor: CursorQ = None,
    project_id: Annotated[str | None, Parameter(query="projectId", required=False)] = None,
    plan_id: Annotated[str | None, Parameter(query="storyPlanId", required=False)] = None,
) -> out.JobPage:
    found = await production_of(request).list(project_id, plan_id, limit, cursor)
    return shaped(found, out.JobPage)


@get(
    f"{API}/story-jobs/{{job_id:str}}",
    tags=TAGS,
    summary="Read (poll) a job",
    operation_id="getStoryJob",
    opt=route_opt("story:read", "jobs"),
    responses=errors("story_job_not_found"),
)
async def get_job(request: AnyRequest, job_id: str) -> out.JobEnvelope:
    return shaped(await production_of(request).get(job_id), out.JobEnvelope)


@post(
    f"{API}/story-jobs/{{job_id:str}}/cancel",
    status_code=200,
    tags=TAGS,
    summary="Cancel a job and release its credits (idempotent)",
    operation_id="cancelStoryJob",
    operation_class=IdempotentPost,
    opt=route_opt("story:write", "jobs"),
    # validation_failed: an Idempotency-Key over its length.
    responses=errors(
        "story_job_not_found",
        "story_job_state_invalid",
        "validation_failed",
        "idempotency_conflict",
    ),
    request_max_body_size=MAX_BODY,
)
async def cancel_job(request: AnyRequest, job_id: str) -> Response[out.JobEnvelope]:
    production = production_of(request)
    return await idempotent(
        request, production.rt, production.account, lambda: production.cancel(job_id)
    )


@get(
    f"{API}/story-jobs/{{job_id:str}}/artifacts",
    tags=TAGS,
    summary="A job's artifacts",
    operation_id="listStoryJobArtifacts",
    opt=route_opt("artifact:read", "artifacts"),
    responses=errors("story_job_not_found"),
)
async def job_artifacts(request: AnyRequest, job_id: str) -> out.ArtifactList:
    return shaped(await production_of(request).artifacts_of(job_id), out.ArtifactList)


# -- artifacts -----------------------------------------------------------------------------------


@get(
    f"{API}/artifacts/{{artifact_id:str}}",
    tags=TAGS,
    summary="Read an artifact and its manifest",
    operation_id="getArtifact",
    opt=route_opt("artifact:read", "artifacts"),
    responses=errors("artifact_not_found", "validation_failed"),
)
async def get_artifact(
    request: AnyRequest,
    artifact_id: str,
    revision: Annotated[int | None, Parameter(query="revision", required=False, ge=1)] = None,
) -> out.ArtifactEnvelope:
    found = await production_of(request).artifact(artifact_id, revision)
    return shaped(found, out.ArtifactEnvelope)


@post(
    f"{API}/artifacts/{{artifact_id:str}}/finalize",
    status_code=200,
    tags=TAGS,
    summary="Render the table read as a full-mix MP3 (6 credits) or an MP4 (12), once",
    operation_id="finalizeArtifact",
    operation_class=KeyedPost,
    opt=route_opt("artifact:publish", "artifacts"),
    responses=errors(
        "artifact_not_found",
        "artifact_not_ready",
        "artifact_generation_failed",
        "insufficient_credits",
        "validation_failed",
        "idempotency_key_required",
        "idempotency_conflict",
    ),
    request_max_body_size=MAX_BODY,
)
async def finalize(
    request: AnyRequest, artifact_id: str, data: Finalize | None = None
) -> Response[out.FinalizeAccepted]:
    production = production_of(request)
    require_key(request)
    body = await body_of(request, Finalize, optional=True)
    return await idempotent(
        request,
        production.rt,
        production.account,
        lambda: production.finalize(artifact_id, body.mode),
        required=True,
    )


# -- credits -------------------------------------------------------------------------------------


@get(
    f"{API}/credits",
    tags=TAGS,
    summary="The Studio Credit balance",
    operation_id="getCredits",
    opt=route_opt("credits:read", "credits"),
    responses=errors(),
)
async def credits(request: AnyRequest) -> out.CreditsEnvelope:
    runtime = request.app.state.runtime
    balance = await runtime.ledger.balance(caller(request).account_id, UNIT)
    monthly = balance.monthly_allocation or 0
    remaining = balance.monthly_remaining
    found = {
        "credits": {
            "balance": remaining + balance.perpetual,
            "monthlyBucketAllocated": monthly,
            "monthlyBucketUsed": balance.monthly_used,
            "monthlyBucketRemaining": remaining,
            "perpetualBalance": balance.perpetual,
            "cycleStartedAt": iso(datetime.combine(balance.cycle_start, datetime.min.time(), UTC)),
            "cycleExpiresAt": iso(datetime.combine(balance.cycle_end, datetime.min.time(), UTC)),
        }
    }
    return shaped(found, out.CreditsEnvelope)


HANDLERS: list[Any] = [
    create_plan,
    list_plans,
    get_plan,
    approve_plan,
    reject_plan,
    create_job,
    list_jobs,
    get_job,
    cancel_job,
    job_artifacts,
    get_artifact,
    finalize,
    credits,
]
