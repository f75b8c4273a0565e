"""``sleeperhit.coverage``: a reader's report on a table read's script, following a focus prompt.

Coverage is a side report: it reads the artifact's content from the story job that made it
(its cast and scenes, and the plan's logline from that job's envelope) and writes nothing but
its own result, so the artifact, its revision and its share links stay as they were. The report
id the API shows is this job's id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.core.errors import NotFound
from workers.backends.scripts import CoverageReport, CoverageRequest
from workers.pipelines.revisions import read_revision, script_of
from workers.tasks import TaskContext, TaskError

__all__ = ["coverage_request", "coverage_task", "report_wire"]


def coverage_request(
    content: Mapping[str, Any], plan: Mapping[str, Any], focus: str, seed: int
) -> CoverageRequest:
    """The writer's request from an artifact's CONTENT and its plan envelope."""
    cast, scenes = script_of(content)
    return CoverageRequest(
        title=str(content.get("title") or plan.get("title") or ""),
        logline=str(plan.get("logline") or ""),
        cast=cast,
        scenes=scenes,
        focus=" ".join(focus.split()),
        seed=seed,
    )


def report_wire(report: CoverageReport, focus: str) -> dict[str, Any]:
    """The API's ``coverage.report``: the writer's report with the focus prompt it followed."""
    wire = report.wire()
    return {
        "logline": wire["logline"],
        "synopsis": wire["synopsis"],
        "strengths": wire["strengths"],
        "weaknesses": wire["weaknesses"],
        "scores": wire["scores"],
        "verdict": wire["verdict"],
        "focusPrompt": focus or None,
        "focusNotes": wire["focusNotes"],
    }


async def coverage_task(ctx: TaskContext) -> dict[str, Any]:
    """``sleeperhit.coverage``: params artifact_id, story_job_id, base_job_id, focus, seed."""
    p = ctx.job.params
    focus = str(p.get("focus") or "").strip()
    try:
        # The revision the report covers: a refine's result, or the story job's own.
        story, content = await read_revision(ctx, p)
    except NotFound:
        raise TaskError("artifact_not_found", "The artifact's story job no longer exists") from None
    if content is None or content.get("status") != "READY":
        raise TaskError("artifact_not_ready", "The artifact has no finished script to cover")
    plan = (story.params or {}).get("plan") or {}
    request = coverage_request(
        content, plan if isinstance(plan, Mapping) else {}, focus, int(p.get("seed") or 0)
    )
    if not request.entries:
        raise TaskError("coverage_failed", "The artifact's script has no lines to cover")
    await ctx.progress(pct=20, step="reading", message="Reading the script...")
    scripter = ctx.services.backends.scripter
    try:
        report: CoverageReport = await scripter.coverage(request)
    except Exception as exc:
        message = getattr(exc, "message", None) or "the coverage could not be written"
        raise TaskError("coverage_failed", str(message)) from exc
    return {"report": report_wire(report, focus), "modelUsed": scripter.capability().model}
