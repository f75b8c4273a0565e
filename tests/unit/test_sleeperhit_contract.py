"""The SleeperHit contract against its reference: the documented example bodies decode, the
documented limits refuse, the error table is the reference's, and the example responses decode
into the response Structs."""

from __future__ import annotations

import json
from typing import Any, get_args

import msgspec
import pytest

from contracts import sleeperhit as sh
from contracts import sleeperhit_views as views
from contracts.common import decode_strict

# -- request examples, as the reference gives them ------------------------------------------------

CREATE_PROJECT = (
    b'{ "name": "Q3 Launch Story", "description": "Optional free-form context (max 4000 chars)", '
    b'"metadata": { "yourKey": "your-cross-reference-value" } }'
)

PATCH_PROJECT = (
    b'{ "name": "New name", "description": "Updated description or null to clear", '
    b'"metadata": { "team": "growth" }, "archived": true }'
)

CREATE_SOURCE = (
    '{ "type": "text", "content": "<inline text — required for text/markdown>", '
    '"uri": "https://example.com/article", '
    '"label": "Optional human-readable name (max 200 chars)", '
    '"retentionPolicy": "EXTRACTED_ONLY", "metadata": { "anyKey": "anyValue" } }'
).encode()

CREATE_PLAN = (
    b'{ "title": "Optional plan title (max 200 chars)", "target": { '
    b'"audience": "enterprise buyers", "objective": "explain the Q3 product launch", '
    b'"outcome": "book a demo within 7 days", "tone": "confident, specific, executive", '
    b'"industry": "enterprise SaaS", "distributionContext": "LinkedIn + sales enablement deck" }, '
    b'"artifactRequests": [ { "type": "table_read", "mode": "documentary", '
    b'"durationSeconds": 90, "notes": "Focus on the collaboration angle" } ], '
    b'"styleConstraints": { "preferredVisualStyle": "Clean, data-forward documentary", '
    b'"forbiddenVisuals": ["stock photos of handshakes"], '
    b'"voicePreference": "Authoritative, not salesy", '
    b'"musicPolicy": "Ambient corporate, no lyrics", "brandSafety": ["no competitor mentions"] }, '
    b'"sourceIds": ["cmq...", "cmq..."], "autoApprove": false }'
)

REJECT_PLAN = b'{ "reason": "Tone was too aggressive" }'

CREATE_JOB = b"""{ "storyPlanId": "cmpl...", "projectId": "cmp...", "artifactRequests": [
 { "type": "table_read", "mode": "documentary", "narrationPolicy": "include" } ] }"""

FINALIZE = b'{ "mode": "audio" }'

MINIMAL_PLAN: dict[str, Any] = {
    "target": {"audience": "a", "objective": "b", "outcome": "c"},
    "artifactRequests": [{"type": "table_read"}],
}


def _body(value: Any) -> bytes:
    return json.dumps(value).encode()


def _plan_with(**changes: Any) -> bytes:
    return _body({**MINIMAL_PLAN, **changes})


def test_the_reference_request_examples_decode() -> None:
    project = decode_strict(CREATE_PROJECT, sh.CreateProject)
    assert project.name == "Q3 Launch Story"
    assert project.metadata == {"yourKey": "your-cross-reference-value"}

    patch = decode_strict(PATCH_PROJECT, sh.PatchProject)
    assert patch.archived is True and patch.name == "New name"

    source = decode_strict(CREATE_SOURCE, sh.CreateSource)
    assert (source.type, source.retentionPolicy) == ("text", "EXTRACTED_ONLY")

    plan = decode_strict(CREATE_PLAN, sh.CreatePlan)
    assert plan.target.distributionContext == "LinkedIn + sales enablement deck"
    assert plan.artifactRequests[0].durationSeconds == 90
    assert plan.styleConstraints is not None
    assert plan.styleConstraints.forbiddenVisuals == ["stock photos of handshakes"]
    assert plan.sourceIds == ["cmq...", "cmq..."]
    assert plan.autoApprove is False and plan.creativeBrief is None

    assert decode_strict(REJECT_PLAN, sh.RejectPlan).reason == "Tone was too aggressive"
    job = decode_strict(CREATE_JOB, sh.CreateJob)
    assert job.artifactRequests is not None
    assert job.artifactRequests[0].narrationPolicy == "include"
    assert decode_strict(FINALIZE, sh.Finalize).mode == "audio"


def test_defaults_and_the_undocumented_fields() -> None:
    plan = decode_strict(
        _plan_with(creativeBrief="A heist told backwards.", extra=1), sh.CreatePlan
    )
    assert plan.creativeBrief == "A heist told backwards."
    assert plan.autoApprove is False and plan.sourceIds is None and plan.title is None
    # Unknown fields are ignored, as decode_strict does for every family.
    assert not hasattr(plan, "extra")
    assert decode_strict(b"{}", sh.Finalize).mode == "audio"
    assert decode_strict(b'{"type": "url", "uri": "https://x.test/a"}', sh.CreateSource) == (
        sh.CreateSource(type="url", uri="https://x.test/a")
    )
    # An integral float is an integer, as JSON Schema counts it.
    request = decode_strict(
        _body({"type": "table_read", "durationSeconds": 90.0}), sh.ArtifactRequest
    )
    assert request.durationSeconds == 90


def test_patch_tells_absent_from_null() -> None:
    absent = decode_strict(b'{"name": "x"}', sh.PatchProject)
    cleared = decode_strict(b'{"description": null, "metadata": null}', sh.PatchProject)
    assert absent.description is msgspec.UNSET and absent.metadata is msgspec.UNSET
    assert cleared.description is None and cleared.metadata is None
    assert cleared.name is msgspec.UNSET and cleared.archived is msgspec.UNSET


def test_echoed_request_objects_hold_only_what_was_sent() -> None:
    plan = decode_strict(_plan_with(), sh.CreatePlan)
    assert msgspec.to_builtins(plan.target) == MINIMAL_PLAN["target"]
    assert msgspec.to_builtins(plan.artifactRequests) == MINIMAL_PLAN["artifactRequests"]


@pytest.mark.parametrize(
    ("type_", "body"),
    [
        (sh.CreateProject, _body({"name": "n" * 201})),
        (sh.CreateProject, _body({"name": ""})),
        (sh.CreateProject, _body({"name": "   "})),
        (sh.CreateProject, _body({"name": "ok", "description": "d" * 4001})),
        (sh.CreatePlan, _plan_with(artifactRequests=[{"type": "table_read"}] * 7)),
        (sh.CreatePlan, _plan_with(artifactRequests=[])),
        (sh.CreatePlan, _plan_with(sourceIds=[f"cmq{i}" for i in range(21)])),
        (sh.CreatePlan, _plan_with(styleConstraints={"forbiddenVisuals": ["x"] * 11})),
        (sh.CreatePlan, _plan_with(styleConstraints={"brandSafety": ["x"] * 11})),
        (sh.CreatePlan, _plan_with(title="t" * 201)),
        (sh.CreatePlan, _plan_with(target={"audience": "a", "objective": "b"})),
        (
            sh.CreatePlan,
            _plan_with(target={"audience": "a" * 201, "objective": "b", "outcome": "c"}),
        ),
        (sh.CreatePlan, _plan_with(autoApprove="false")),
        (sh.ArtifactRequest, _body({"type": "table_read", "durationSeconds": 4})),
        (sh.ArtifactRequest, _body({"type": "table_read", "durationSeconds": 3601})),
        (sh.ArtifactRequest, _body({"type": "table_read", "durationSeconds": "90"})),
        (sh.ArtifactRequest, _body({"type": "table_read", "aspectRatio": "wide"})),
        (sh.ArtifactRequest, _body({"type": "table_read", "aspectRatio": "\u0661\u0666:9"})),
        (sh.ArtifactRequest, _body({"type": "table_read", "notes": "n" * 2001})),
        (sh.ArtifactRequest, _body({"type": "table_read", "mode": "opera"})),
        (sh.ArtifactRequest, _body({"type": "poster"})),
        (sh.CreateSource, _body({"type": "TEXT", "content": "x"})),
        # Any scheme decodes (the fetcher refuses it as source_fetch_failed); a NUL does not.
        (sh.CreateSource, _body({"type": "url", "uri": "http://x.test/\u0000"})),
        (sh.CreateSource, _body({"type": "text", "content": "x", "label": "l" * 201})),
        (sh.CreateSource, _body({"type": "text", "retentionPolicy": "FOREVER"})),
        (sh.RejectPlan, _body({"reason": "r" * 2001})),
        (sh.CreateJob, _body({"projectId": "cmp1"})),
        (sh.CreateJob, _body({"storyPlanId": "p", "artifactRequests": [{"type": "trailer"}] * 7})),
        (sh.Finalize, _body({"mode": "mp3"})),
    ],
)
def test_the_limits_refuse(type_: Any, body: bytes) -> None:
    with pytest.raises(msgspec.ValidationError):
        decode_strict(body, type_)


def test_the_limits_admit_their_bounds() -> None:
    decode_strict(_body({"name": "n" * 200, "description": "d" * 4000}), sh.CreateProject)
    decode_strict(
        _plan_with(
            artifactRequests=[{"type": "table_read", "durationSeconds": 5, "aspectRatio": "16:9"}]
            * 6,
            sourceIds=[f"cmq{i}" for i in range(20)],
            styleConstraints={"forbiddenVisuals": ["x"] * 10, "brandSafety": ["y"] * 10},
        ),
        sh.CreatePlan,
    )


REFERENCE_ERRORS = {
    "authentication_required": 401,
    "invalid_api_key": 401,
    "api_key_revoked": 401,
    "api_key_expired": 401,
    "account_disabled": 403,
    "ip_not_allowed": 403,
    "insufficient_scope": 403,
    "rate_limited": 429,
    "idempotency_key_required": 422,
    "idempotency_conflict": 409,
    "validation_failed": 422,
    "project_not_found": 404,
    "source_not_found": 404,
    "source_type_unsupported": 422,
    "source_too_large": 422,
    "source_fetch_failed": 422,
    "story_job_not_found": 404,
    "story_job_state_invalid": 409,
    "artifact_not_found": 404,
    "artifact_not_ready": 409,
    "artifact_generation_failed": 422,
    "insufficient_credits": 402,
    "internal_error": 500,
}


def test_error_codes_are_the_reference_table() -> None:
    assert len(sh.ERROR_CODES) == 23
    assert dict(sh.ERROR_CODES) == REFERENCE_ERRORS
    assert set(sh.ERROR_CODES) == set(get_args(sh.ErrorCode))


def test_the_error_envelope() -> None:
    example = (
        '{ "error": { "code": "insufficient_credits", "message": "The account does not have '
        'enough Studio Credits to reserve this job.", '
        '"requestId": "7f9d4b6a-4f0a-4a8c-9c2e-d5b3b8e6a0f1" } }'
    )
    error = msgspec.json.decode(example, type=sh.ErrorResponse)
    assert error.error.code == "insufficient_credits" and error.error.details is None
    assert b"details" not in msgspec.json.encode(error)
    with_details = sh.ErrorResponse(sh.ErrorBody("source_too_large", "m", "r", {"maxBytes": 1}))
    assert msgspec.json.decode(msgspec.json.encode(with_details))["error"]["details"] == {
        "maxBytes": 1
    }


# -- response examples: the reference's, its "..." filled in --------------------------------------

TIME = "2026-05-29T10:00:00.000Z"

CREDITS = """{ "credits": { "balance": 250, "monthlyBucketAllocated": 300, "monthlyBucketUsed":
 50, "monthlyBucketRemaining": 250, "perpetualBalance": 0, "cycleStartedAt":
 "2026-05-01T00:00:00.000Z", "cycleExpiresAt": "2026-06-01T00:00:00.000Z" } }"""

PROJECT = """{ "project": { "id": "cmp...", "name": "Q3 Launch Story", "description": "...",
 "metadata": null, "archivedAt": null, "sourceCount": 0, "createdAt": "2026-05-29T10:00:00.000Z",
 "updatedAt": "2026-05-29T10:00:00.000Z" } }"""

SOURCE = """{ "source": { "id": "cmq...", "projectId": "cmp...", "type": "TEXT", "label":
 "press-release", "status": "READY", "retentionPolicy": "EXTRACTED_ONLY", "byteSize": 4123,
 "tokenEstimate": 1031, "contentHash": "a1b2c3...", "extractedTextPreview": "<first 4000 chars>",
 "digestStatus": "NOT_STARTED", "digest": null, "createdAt": "2026-05-29T10:00:00.000Z",
 "updatedAt": "2026-05-29T10:00:00.000Z" } }"""
# What the reference's example leaves out of the full source object (its table lists them).
SOURCE_REST = {
    "uri": None,
    "extractedAt": None,
    "failureCode": None,
    "failureMessage": None,
    "metadata": None,
    "digestFailureCode": None,
    "digestFailureMessage": None,
    "digestedAt": None,
}

QUOTE = """{ "currency": "studio_credits", "total": 11, "lineItems": [ { "kind": "planning",
 "label": "StoryPlan generation", "credits": 0 }, { "kind": "source_digest", "label":
 "Source digest (1 source)", "credits": 0 }, { "kind": "artifact", "label": "Table read",
 "credits": 11 } ], "notes": [], "computedAt": "2026-05-29T10:00:00.000Z" }"""

TARGET = json.loads(CREATE_PLAN)["target"]
REQUESTS = json.loads(CREATE_PLAN)["artifactRequests"]

PLAN = f"""{{ "plan": {{ "id": "cmpl...", "projectId": "cmp...", "status": "PENDING", "title":
 null, "target": {json.dumps(TARGET)}, "artifactRequests": {json.dumps(REQUESTS)},
 "styleConstraints": null, "sourceIds": ["cmq..."], "autoApprove": true, "plan": null, "quote":
 {QUOTE}, "modelUsed": null, "providerUsed": null, "failureCode": null, "failureMessage": null,
 "approvedAt": null, "rejectedAt": null, "rejectionReason": null, "generatedAt": null,
 "currentVersion": 1, "createdAt": "2026-05-29T10:00:00.000Z", "updatedAt":
 "2026-05-29T10:00:00.000Z" }} }}"""

JOB = f"""{{ "job": {{ "id": "cmj...", "projectId": "cmp...", "storyPlanId": "cmpl...", "status":
 "RESERVED", "artifactRequests": {json.dumps(REQUESTS)}, "quote": {QUOTE},
 "creditReservationId": "cmcr...", "progress": null, "modelUsed": null, "failureCode": null,
 "failureMessage": null, "currentVersion": 1, "startedAt": null, "completedAt": null,
 "artifacts": [], "createdAt": "2026-05-29T10:00:00.000Z", "updatedAt":
 "2026-05-29T10:00:00.000Z" }} }}"""

# The READY job's artifact, as the reference shows it (it abbreviates the rest).
READY_ARTIFACT = """{ "id": "cma...", "type": "table_read", "status": "READY", "manifest": {
 "type": "table_read", "status": "ready", "shareToken": "<jwt>", "theaterUrl":
 "https://sleeperhit.studio/share/table-read/<token>", "theaterFullscreenUrl":
 "https://sleeperhit.studio/share/table-read/<token>?view=fullscreen", "audio": { "mode":
 "live_on_demand", "liveUrl": "https://sleeperhit.studio/share/table-read-audio/<token>",
 "startLiveUrl": "https://sleeperhit.studio/api/share/table-read/start-live", "recordingUrl": null
 }, "video": { "status": "not_rendered", "renderUrl": "/api/v1/artifacts/cma.../render-video",
 "url": null }, "expiresAt": "2026-06-29T10:00:00.000Z" } }"""
ARTIFACT_REST = {
    "storyJobId": "cmj...",
    "currentVersion": 1,
    "refineCount": 0,
    "tableReadShareLinkId": "cmsl...",
    "failureCode": None,
    "failureMessage": None,
    "createdAt": TIME,
    "updatedAt": TIME,
}


def _decode(text: str | bytes | dict[str, Any], type_: Any) -> Any:
    raw = _body(text) if isinstance(text, dict) else text
    return msgspec.json.decode(raw, type=type_)


def test_credits_project_and_deleted_examples_decode() -> None:
    credits = _decode(CREDITS, views.CreditsEnvelope).credits
    assert credits.balance == credits.monthlyBucketRemaining + credits.perpetualBalance
    project = _decode(PROJECT, views.ProjectEnvelope).project
    assert (project.sourceCount, project.createdAt) == (0, TIME)
    page = _decode(
        {"projects": [json.loads(PROJECT)["project"]], "nextCursor": None}, views.ProjectPage
    )
    assert page.projects == [project] and page.nextCursor is None
    deleted = _decode('{ "id": "cmp...", "deletedAt": "2026-05-29T10:00:00.000Z" }', views.Deleted)
    assert deleted.deletedAt == TIME


def test_source_examples_decode() -> None:
    example = json.loads(SOURCE)["source"]
    source = _decode({"source": {**example, **SOURCE_REST}}, views.SourceEnvelope).source
    assert (source.type, source.status, source.byteSize) == ("TEXT", "READY", 4123)
    pending = {**example, **SOURCE_REST, "type": "URL", "status": "PENDING"}
    digest = {
        "summary": "s",
        "keyPoints": ["k"],
        "people": ["Dana"],
        "places": ["Oslo"],
        "quotableLines": ["q"],
    }
    ready = {**pending, "status": "READY", "digestStatus": "READY", "digest": digest}
    page = _decode({"sources": [pending, ready], "nextCursor": "c2"}, views.SourcePage)
    assert page.sources[1].digest == views.Digest("s", ["k"], ["Dana"], ["Oslo"], ["q"])
    with pytest.raises(msgspec.ValidationError):  # lowercase is the request's vocabulary
        _decode({"source": {**example, **SOURCE_REST, "type": "text"}}, views.SourceEnvelope)


def test_plan_example_decodes() -> None:
    plan = _decode(PLAN, views.PlanEnvelope).plan
    assert plan.status == "PENDING" and plan.target.audience == "enterprise buyers"
    assert plan.quote is not None and plan.quote.total == 11
    assert [item.credits for item in plan.quote.lineItems] == [0, 0, 11]
    page = _decode({"plans": [json.loads(PLAN)["plan"]], "nextCursor": None}, views.PlanPage)
    assert page.plans == [plan]
    assert msgspec.to_builtins(plan.target) == TARGET


def test_job_examples_decode() -> None:
    job = _decode(JOB, views.JobEnvelope).job
    assert (job.status, job.creditReservationId, job.artifacts) == ("RESERVED", "cmcr...", [])
    artifact = {**json.loads(READY_ARTIFACT), **ARTIFACT_REST}
    ready = {
        **json.loads(JOB)["job"],
        "status": "READY",
        "progress": {"stage": "done", "detail": None, "percent": 100},
        "completedAt": "2026-05-29T10:08:00.000Z",
        "artifacts": [artifact],
    }
    done = _decode({"job": ready}, views.JobEnvelope).job
    assert done.artifacts[0].manifest["video"]["status"] == "not_rendered"
    assert done.progress is not None and done.progress.percent == 100
    assert _decode({"jobs": [ready], "nextCursor": None}, views.JobPage).jobs == [done]
    listed = _decode({"artifacts": [artifact]}, views.ArtifactList)
    assert listed.artifacts == done.artifacts
    single = _decode({"artifact": artifact}, views.ArtifactEnvelope).artifact
    assert single.refineCount == 0


def test_finalize_render_and_capabilities_decode() -> None:
    accepted = _decode(
        '{ "artifactId": "cma...", "mode": "audio", "finalize": { "status": "queued" } }',
        views.FinalizeAccepted,
    )
    assert accepted.finalize.status == "queued"
    assert b"error" not in msgspec.json.encode(accepted)
    render = _decode(
        '{"artifactId": "cma...", "render": {"status": "rendering"}}', views.RenderAccepted
    )
    assert render.render.status == "rendering"
    capabilities = {
        "version": "v1",
        "status": "foundation",
        "auth": {"schemes": ["bearer_api_key"], "supportsIdempotency": True},
        "projects": {"available": True},
        "sources": {"retentionPolicies": ["EXTRACTED_ONLY", "STORE_ORIGINAL", "METADATA_ONLY"]},
        "artifacts": {"table_read": {"availability": "available"}},
        "jobs": {"available": True},
        "docs": {"openapi": {"url": "/api/v1/openapi.json", "availability": "available"}},
    }
    assert _decode(capabilities, views.Capabilities).version == "v1"
