"""SleeperHit API (``/api/v1``): vocabularies, error codes and request bodies, as its reference
(``sleeperhit-api.txt``) documents them. Response shapes are in ``contracts.sleeperhit_views``.

Every error is ``{"error": {"code", "message", "requestId", "details"?}}``, its status given by
``ERROR_CODES``. Request bodies decode strictly (``contracts.common.decode_strict``: no coercion
but JSON Schema's own) and, as in every family, unknown fields are ignored, since real clients
send more than the reference names. The one undocumented field clients rely on,
``creativeBrief`` on a plan, is declared so that it is kept. Optional fields accept ``null`` as
"not given"; only ``PatchProject`` tells an absent field (``UNSET``) from an explicit ``null``.

The request sub-objects (``Target``, ``ArtifactRequest``, ``StyleConstraints``) are echoed on
plans and jobs; they omit fields left out, so an echo holds what the client sent and no more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from contracts.common import NO_NUL, VISIBLE

# -- limits: the reference's, and storygate's where it is silent (marked) -----------------------

NAME_MAX = 200
DESCRIPTION_MAX = 4000
LABEL_MAX = 200
TITLE_MAX = 200
NOTES_MAX = 2000
REASON_MAX = 2000
AUDIENCE_MAX = 200
OBJECTIVE_MAX = 400
OUTCOME_MAX = 400
TONE_MAX = 120
INDUSTRY_MAX = 120
DISTRIBUTION_MAX = 300
ARTIFACT_REQUESTS = (1, 6)
SOURCE_IDS_MAX = 20
STYLE_ITEMS_MAX = 10
# Inline source content, checked in UTF-8 bytes by the service (a schema counts characters).
SOURCE_MAX_BYTES = 1_000_000
DURATION_MIN = 5
# storygate: the reference gives no upper bound ("artifact adapter may clamp"); an hour.
DURATION_MAX = 3600
# storygate: styleConstraints' free-text fields and each array item.
STYLE_TEXT_MAX = 500
# storygate: the undocumented creativeBrief.
CREATIVE_BRIEF_MAX = 8000
# storygate: ids and URIs.
ID_MAX = 128
URI_MAX = 4096
# "\d+:\d+" spelled with ASCII digits: Python's \d also matches other scripts' digits, ECMA's not.
ASPECT_RATIO = "^[0-9]+:[0-9]+$"

# -- vocabularies --------------------------------------------------------------------------------

Scope = Literal[
    "story:read",
    "story:write",
    "source:read",
    "source:write",
    "artifact:read",
    "artifact:publish",
    "credits:read",
    "webhook:write",
]
# Lowercase in requests, uppercase in responses.
SourceTypeRequest = Literal["text", "markdown", "url", "pdf"]
SourceType = Literal["TEXT", "MARKDOWN", "URL", "PDF"]
SourceStatus = Literal["PENDING", "EXTRACTING", "READY", "FAILED"]
DigestStatus = Literal["NOT_STARTED", "PENDING", "RUNNING", "READY", "FAILED", "SKIPPED"]
RetentionPolicy = Literal["EXTRACTED_ONLY", "STORE_ORIGINAL", "METADATA_ONLY"]
PlanStatus = Literal[
    "PENDING", "RUNNING", "REQUIRES_APPROVAL", "APPROVED", "REJECTED", "FAILED", "SUPERSEDED"
]
JobStatus = Literal["PENDING", "RESERVED", "RUNNING", "PARTIAL", "READY", "FAILED", "CANCELED"]
ArtifactStatus = Literal["PENDING", "RUNNING", "READY", "FAILED"]
ArtifactType = Literal["table_read", "pitch_deck", "storyboard", "trailer", "production_video"]
TableReadMode = Literal["documentary", "podcast", "drama"]
NarrationPolicy = Literal["auto", "include", "suppress"]
FinalizeMode = Literal["audio", "video"]
FinalizeStatus = Literal[
    "needs_recording", "queued", "rendering", "uploading", "complete", "failed"
]
VideoStatus = Literal["not_rendered", "queued", "rendering", "complete", "failed"]

# -- errors --------------------------------------------------------------------------------------

ErrorCode = Literal[
    "authentication_required",
    "invalid_api_key",
    "api_key_revoked",
    "api_key_expired",
    "account_disabled",
    "ip_not_allowed",
    "insufficient_scope",
    "rate_limited",
    "idempotency_key_required",
    "idempotency_conflict",
    "validation_failed",
    "project_not_found",
    "source_not_found",
    "source_type_unsupported",
    "source_too_large",
    "source_fetch_failed",
    "story_job_not_found",
    "story_job_state_invalid",
    "artifact_not_found",
    "artifact_not_ready",
    "artifact_generation_failed",
    "insufficient_credits",
    "internal_error",
]

# The reference's table: every stable code and its HTTP status.
ERROR_CODES: Final[Mapping[str, int]] = {
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


class ErrorBody(Struct, omit_defaults=True):
    code: ErrorCode
    message: str
    requestId: str
    # e.g. {"maxBytes"} for source_too_large, {"required", "available"} for insufficient_credits.
    details: dict[str, Any] | None = None


class ErrorResponse(Struct):
    error: ErrorBody


# -- field types ---------------------------------------------------------------------------------


Id = Annotated[str, Meta(min_length=1, max_length=ID_MAX, pattern=NO_NUL)]
Name = Annotated[str, Meta(min_length=1, max_length=NAME_MAX, pattern=VISIBLE)]
Description = Annotated[str, Meta(max_length=DESCRIPTION_MAX, pattern=NO_NUL)]
# Any scheme decodes: the fetcher refuses what is not http(s) as ``source_fetch_failed``, the
# code the reference gives a URL that cannot be fetched.
Uri = Annotated[str, Meta(min_length=1, max_length=URI_MAX, pattern=NO_NUL)]
StyleText = Annotated[str, Meta(max_length=STYLE_TEXT_MAX, pattern=NO_NUL)]


def items_of(item: Any, max_items: int) -> Meta:
    """The ``Meta`` of a ``list[item]`` of at most ``max_items``, its items' constraints
    documented too: the OpenAPI generator drops an item type's own constraints (it would
    document any string) and copies ``extra_json_schema["extra"]`` onto the list's schema."""
    extra = {"items": msgspec.json.schema(item)}
    return Meta(max_length=max_items, extra_json_schema={"extra": extra})


StyleList = Annotated[list[StyleText], items_of(StyleText, STYLE_ITEMS_MAX)]
SourceIds = Annotated[list[Id], items_of(Id, SOURCE_IDS_MAX)]
# Optional free text: no NUL (PostgreSQL cannot store it). Required text: a visible character.
Label = Annotated[str, Meta(max_length=LABEL_MAX, pattern=NO_NUL)]
Title = Annotated[str, Meta(max_length=TITLE_MAX, pattern=NO_NUL)]
Notes = Annotated[str, Meta(max_length=NOTES_MAX, pattern=NO_NUL)]
Reason = Annotated[str, Meta(max_length=REASON_MAX, pattern=NO_NUL)]
CreativeBrief = Annotated[str, Meta(max_length=CREATIVE_BRIEF_MAX, pattern=NO_NUL)]
Audience = Annotated[str, Meta(min_length=1, max_length=AUDIENCE_MAX, pattern=VISIBLE)]
Objective = Annotated[str, Meta(min_length=1, max_length=OBJECTIVE_MAX, pattern=VISIBLE)]
Outcome = Annotated[str, Meta(min_length=1, max_length=OUTCOME_MAX, pattern=VISIBLE)]
Tone = Annotated[str, Meta(max_length=TONE_MAX, pattern=NO_NUL)]
Industry = Annotated[str, Meta(max_length=INDUSTRY_MAX, pattern=NO_NUL)]
DistributionContext = Annotated[str, Meta(max_length=DISTRIBUTION_MAX, pattern=NO_NUL)]
DurationSeconds = Annotated[int, Meta(ge=DURATION_MIN, le=DURATION_MAX)]
AspectRatio = Annotated[str, Meta(max_length=16, pattern=ASPECT_RATIO)]

# -- requests ------------------------------------------------------------------------------------


class CreateProject(Struct):
    name: Name
    description: Description | None = None
    metadata: dict[str, Any] | None = None


class PatchProject(Struct, omit_defaults=True):
    """Every field optional; ``description: null`` and ``metadata: null`` clear them, an absent
    field (``UNSET``) leaves it as it is. ``archived: true`` soft-deletes (sets archivedAt)."""

    name: Name | UnsetType = UNSET
    description: Description | UnsetType | None = UNSET
    metadata: dict[str, Any] | UnsetType | None = UNSET
    archived: bool | UnsetType = UNSET


class CreateSource(Struct):
    """``content`` is required for text and markdown (at most ``SOURCE_MAX_BYTES`` of UTF-8,
    which the service checks: ``source_too_large``), ``uri`` for url and pdf; the service
    enforces both, since which is required depends on ``type``."""

    type: SourceTypeRequest
    content: str | None = None
    uri: Uri | None = None
    label: Label | None = None
    retentionPolicy: RetentionPolicy = "EXTRACTED_ONLY"
    metadata: dict[str, Any] | None = None


class Target(Struct, omit_defaults=True):
    audience: Audience
    objective: Objective
    outcome: Outcome
    tone: Tone | None = None
    industry: Industry | None = None
    distributionContext: DistributionContext | None = None


class ArtifactRequest(Struct, omit_defaults=True):
    """One artifact to make. ``mode`` and ``narrationPolicy`` apply to table_read,
    ``includePdf`` to pitch_deck; capabilities say which types this server makes."""

    type: ArtifactType
    mode: TableReadMode | None = None
    narrationPolicy: NarrationPolicy | None = None
    durationSeconds: DurationSeconds | None = None
    aspectRatio: AspectRatio | None = None
    includePdf: bool | None = None
    notes: Notes | None = None


ArtifactRequests = Annotated[
    list[ArtifactRequest],
    Meta(min_length=ARTIFACT_REQUESTS[0], max_length=ARTIFACT_REQUESTS[1]),
]


class StyleConstraints(Struct, omit_defaults=True):
    """All optional; arrays hold at most ``STYLE_ITEMS_MAX`` items."""

    preferredVisualStyle: StyleText | None = None
    forbiddenVisuals: StyleList | None = None
    voicePreference: StyleText | None = None
    musicPolicy: StyleText | None = None
    brandSafety: StyleList | None = None


class CreatePlan(Struct):
    target: Target
    artifactRequests: ArtifactRequests
    title: Title | None = None
    styleConstraints: StyleConstraints | None = None
    # Must belong to the project and be READY (the service checks); empty: no source material.
    sourceIds: SourceIds | None = None
    autoApprove: bool = False
    # Undocumented, sent by real clients: free-form direction for the planner.
    creativeBrief: CreativeBrief | None = None


class RejectPlan(Struct):
    """The body is optional: an empty one means no reason (the route decides)."""

    reason: Reason | None = None


class CreateJob(Struct):
    storyPlanId: Id
    # A cross-check: must match the plan's project when given.
    projectId: Id | None = None
    # Overrides the plan's own requests when given.
    artifactRequests: ArtifactRequests | None = None


class Finalize(Struct):
    mode: FinalizeMode = "audio"


# -- coverage ------------------------------------------------------------------------------------

# storygate: the reference gives no bound for a focus prompt.
FOCUS_PROMPT_MAX = 2000
CoverageStatus = Literal["generating", "complete", "failed"]
CoverageVerdict = Literal["recommend", "consider", "pass"]
FocusPrompt = Annotated[str, Meta(max_length=FOCUS_PROMPT_MAX, pattern=NO_NUL)]


class CoverageRequest(Struct):
    """``POST /artifacts/{id}/coverage``: the body is optional; without ``focusPrompt`` the
    report is general coverage."""

    focusPrompt: FocusPrompt | None = None


# -- voices and cast -----------------------------------------------------------------------------

CAST_ENTRIES_MAX = 20
VoiceGender = Annotated[str, Meta(min_length=1, max_length=40, pattern=VISIBLE)]
VoiceProvider = Annotated[str, Meta(min_length=1, max_length=80, pattern=VISIBLE)]


class VoiceRequest(Struct):
    """``POST /artifacts/{id}/voice`` (and each entry of ``POST /artifacts/{id}/cast``): the
    character (as the script spells it, any case) and the voice it speaks in from now on;
    ``gender`` and ``provider`` default to the catalogue's."""

    character: Name
    voiceId: Id
    voiceName: Name
    gender: VoiceGender | None = None
    provider: VoiceProvider | None = None


class CastRequest(Struct):
    """``POST /artifacts/{id}/cast``: several characters recast at once (one change)."""

    entries: Annotated[list[VoiceRequest], Meta(min_length=1, max_length=CAST_ENTRIES_MAX)]
