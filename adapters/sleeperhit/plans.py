"""Story plans: checked whole before anything is written, written by a planning job, decided
by the client.

A plan request is validated synchronously — artifact types this server makes, sources that are
the project's, live and ``READY`` — and answered ``PENDING`` with a preliminary quote. The
planning job writes the envelope; approval, rejection and supersession are decisions on the
plan's record, made by conditional updates so concurrent calls agree on one outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from adapters.common.pages import next_cursor, page_cursor, page_limit
from adapters.sleeperhit.auth import FAMILY, Caller
from adapters.sleeperhit.errors import ShError, invalid
from adapters.sleeperhit.prices import ARTIFACT_PRICES, quote
from adapters.sleeperhit.views import now, plan_status, plan_view, source_status
from adapters.sleeperhit.workspace import PAGE_DEFAULT, PAGE_MAX, Workspace, source_missing
from gateway.core import layout
from gateway.core.errors import NotFound
from gateway.core.ids import new_job_id
from gateway.core.jobs import JobInfo
from gateway.core.story_plans import APPROVED, REJECTED, PlanRecord

PLAN_KIND = "sleeperhit.plan"


def plan_missing() -> ShError:
    # The reference: a plan that is not found is answered as its project would be.
    return ShError("project_not_found", "Plan not found")


def check_artifacts(requests: Sequence[dict[str, Any]]) -> None:
    """Only types this server makes; a table read's options only on table reads."""
    for index, request in enumerate(requests):
        kind = request["type"]
        if kind not in ARTIFACT_PRICES:
            raise invalid(
                f"artifactRequests[{index}].type {kind!r} is planned, not available on this "
                "server; see /api/v1/capabilities",
                field=f"artifactRequests[{index}].type",
            )


def artifact_dicts(requests: Any) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in msgspec.to_builtins(r).items() if v is not None} for r in requests or ()
    ]


class Plans:
    def __init__(self, runtime: Any, caller: Caller) -> None:
        self.rt = runtime
        self.account = caller.account_id
        self.workspace = Workspace(runtime, caller)

    async def record(self, plan_id: str) -> tuple[PlanRecord, JobInfo]:
        try:
            record = await self.rt.story_plans.get(plan_id, self.account)
        except NotFound:
            raise plan_missing() from None
        await self.workspace.project(record.project_id)
        jobs = await self.rt.jobs.many([plan_id], self.account, family=FAMILY)
        if not jobs:
            raise plan_missing()
        return record, jobs[0]

    async def create(self, project_id: str, body: Any) -> dict[str, Any]:
        await self.workspace.project(project_id)
        requests = artifact_dicts(body.artifactRequests)
        check_artifacts(requests)
        source_ids = list(dict.fromkeys(body.sourceIds or ()))
        found = await self.rt.story_sources.many(source_ids, self.account, project_id)
        missing = [s for s in source_ids if s not in found]
        if missing:
            raise ShError(
                "source_not_found",
                f"Source {missing[0][:64]} is not a live source of this project",
                details={"sourceId": missing[0][:64]},
            )
        jobs = await self.rt.jobs.many(
            [s.job_id for s in found.values() if s.job_id], self.account, family=FAMILY
        )
        by_job = {j.id: j for j in jobs}
        sources = []
        for source_id in source_ids:
            source = found[source_id]
            status = source_status(source, by_job.get(source.job_id or ""))
            if status != "READY":
                raise invalid(
                    f"Source {source_id} is {status}, not READY",
                    sourceId=source_id,
                    status=status,
                )
            kept = source.retention != "METADATA_ONLY"
            text = layout.source_text(source_id) if kept else None
            sources.append({"id": source_id, "job_id": source.job_id, "text_path": text})
        moment = now()
        plan_id = new_job_id()
        params = {
            "project_id": project_id,
            "title": body.title,
            "target": msgspec.to_builtins(body.target),
            "creative_brief": body.creativeBrief or "",
            "style": msgspec.to_builtins(body.styleConstraints)
            if body.styleConstraints is not None
            else None,
            "artifact_requests": requests,
            "sources": sources,
            "auto_approve": bool(body.autoApprove),
            "quote": quote(requests, len(sources), moment, planning=True),
            "seed": int(plan_id[:8], 16),
        }
        record = await self.rt.story_plans.create(plan_id, self.account, project_id)
        try:
            job = await self.rt.admission.admit(
                self.account, FAMILY, PLAN_KIND, params, subject_id=project_id, job_id=plan_id
            )
        except BaseException:
            await self.rt.story_plans.forget(plan_id)
            raise
        await self.rt.story_plans.supersede_others(plan_id, self.account, project_id)
        return {"plan": plan_view(record, job)}

    async def list(self, project_id: str, limit: str | None, cursor: str | None) -> dict[str, Any]:
        await self.workspace.project(project_id)
        size = page_limit(limit, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        records, more = await self.rt.story_plans.page(
            self.account, project_id, limit=size, after=page_cursor(cursor)
        )
        jobs = await self.rt.jobs.many([r.id for r in records], self.account, family=FAMILY)
        by_id = {j.id: j for j in jobs}
        return {
            "plans": [plan_view(r, by_id[r.id]) for r in records if r.id in by_id],
            "nextCursor": next_cursor(more),
        }

    async def get(self, plan_id: str) -> dict[str, Any]:
        record, job = await self.record(plan_id)
        return {"plan": plan_view(record, job)}

    async def approve(self, plan_id: str) -> dict[str, Any]:
        record, job = await self.record(plan_id)
        status = plan_status(record, job)
        if status == "REQUIRES_APPROVAL":
            decided = await self.rt.story_plans.decide(
                plan_id, self.account, APPROVED, allowed_from=[None]
            )
            record = decided or (await self.record(plan_id))[0]
            status = plan_status(record, job)
        if status != APPROVED:
            raise invalid(
                f"The plan is {status}; only a plan at REQUIRES_APPROVAL can be approved",
                status=status,
                allowed=["REQUIRES_APPROVAL"],
            )
        return {"plan": plan_view(record, job)}

    async def reject(self, plan_id: str, reason: str | None) -> dict[str, Any]:
        record, job = await self.record(plan_id)
        status = plan_status(record, job)
        if status in ("PENDING", "RUNNING", "REQUIRES_APPROVAL", APPROVED):
            decided = await self.rt.story_plans.decide(
                plan_id, self.account, REJECTED, allowed_from=[None, APPROVED], reason=reason
            )
            record = decided or (await self.record(plan_id))[0]
            status = plan_status(record, job)
        if status != REJECTED:
            raise invalid(
                f"The plan is {status} and can no longer be rejected",
                status=status,
                allowed=["PENDING", "RUNNING", "REQUIRES_APPROVAL", APPROVED],
            )
        return {"plan": plan_view(record, job)}


__all__ = ["PLAN_KIND", "Plans", "check_artifacts", "plan_missing", "source_missing"]
