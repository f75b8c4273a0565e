"""Resuming a failed plan or story job: ``POST /story-plans/{id}/resume``,
``POST /story-jobs/{id}/resume`` (in use by real clients; not in the reference)."""

from __future__ import annotations

from typing import Any

from litestar import Response, post

from adapters.sleeperhit.posting import IdempotentPost, idempotent
from adapters.sleeperhit.resume import Resume
from adapters.sleeperhit.routing import (
    API,
    MAX_BODY,
    TAGS,
    AnyRequest,
    base_url,
    caller,
    errors,
    route_opt,
)
from contracts import sleeperhit_views as out


def _resume(request: AnyRequest) -> Resume:
    return Resume(request.app.state.runtime, caller(request), base_url(request))


@post(
    f"{API}/story-plans/{{plan_id:str}}/resume",
    status_code=200,
    tags=TAGS,
    summary="Run a FAILED plan's planning again (no charge)",
    operation_id="resumeStoryPlan",
    operation_class=IdempotentPost,
    opt=route_opt("story:write", "plans"),
    responses=errors("project_not_found", "validation_failed", "idempotency_conflict"),
    request_max_body_size=MAX_BODY,
)
async def resume_plan(request: AnyRequest, plan_id: str) -> Response[out.PlanEnvelope]:
    resume = _resume(request)
    return await idempotent(request, resume.rt, resume.account, lambda: resume.plan(plan_id))


@post(
    f"{API}/story-jobs/{{job_id:str}}/resume",
    status_code=200,
    tags=TAGS,
    summary="Resume a FAILED job from where it stopped (reserves its credits again)",
    operation_id="resumeStoryJob",
    operation_class=IdempotentPost,
    opt=route_opt("story:write", "jobs"),
    responses=errors(
        "story_job_not_found",
        "story_job_state_invalid",
        "insufficient_credits",
        "validation_failed",
        "idempotency_conflict",
    ),
    request_max_body_size=MAX_BODY,
)
async def resume_job(request: AnyRequest, job_id: str) -> Response[out.JobEnvelope]:
    resume = _resume(request)
    return await idempotent(request, resume.rt, resume.account, lambda: resume.job(job_id))


HANDLERS: list[Any] = [resume_plan, resume_job]
