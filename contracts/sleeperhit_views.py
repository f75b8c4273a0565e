"""SleeperHit API responses, every key as the reference spells it (camelCase).

Every documented field is always present, ``null`` where it has no value, as the reference's
examples show. Times are ISO 8601 UTC strings with milliseconds and ``Z``
(``"2026-05-29T10:00:00.000Z"``). Request vocabularies and echoed request objects come from
``contracts.sleeperhit``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from contracts.sleeperhit import (
    ArtifactRequest,
    ArtifactStatus,
    ArtifactType,
    CoverageStatus,
    CoverageVerdict,
    DigestStatus,
    FinalizeMode,
    FinalizeStatus,
    JobStatus,
    PlanStatus,
    RetentionPolicy,
    SourceStatus,
    SourceType,
    StyleConstraints,
    Target,
    VideoStatus,
)

# -- discovery and credits -----------------------------------------------------------------------


class Capabilities(Struct):
    """The live feature manifest; each section is as loose as the reference's example."""

    version: str
    status: str
    auth: dict[str, Any]
    projects: dict[str, Any]
    sources: dict[str, Any]
    artifacts: dict[str, Any]
    jobs: dict[str, Any]
    docs: dict[str, Any]


class Credits(Struct):
    """``balance`` = ``monthlyBucketRemaining`` + ``perpetualBalance``."""

    balance: int
    monthlyBucketAllocated: int
    monthlyBucketUsed: int
    monthlyBucketRemaining: int
    perpetualBalance: int
    cycleStartedAt: str
    cycleExpiresAt: str


class CreditsEnvelope(Struct):
    credits: Credits


class Deleted(Struct):
    id: str
    deletedAt: str


# -- projects ------------------------------------------------------------------------------------


class Project(Struct):
    id: str
    name: str
    description: str | None
    metadata: dict[str, Any] | None
    archivedAt: str | None
    sourceCount: int
    createdAt: str
    updatedAt: str


class ProjectEnvelope(Struct):
    project: Project


class ProjectPage(Struct):
    projects: list[Project]
    nextCursor: str | None


# -- sources -------------------------------------------------------------------------------------


class Digest(Struct):
    summary: str
    keyPoints: list[str]
    people: list[str]
    places: list[str]
    quotableLines: list[str]


class Source(Struct):
    id: str
    projectId: str
    type: SourceType
    label: str | None
    uri: str | None
    status: SourceStatus
    retentionPolicy: RetentionPolicy
    # UTF-8 bytes of the extracted text.
    byteSize: int | None
    tokenEstimate: int | None
    contentHash: str | None
    # The first 4000 characters.
    extractedTextPreview: str | None
    extractedAt: str | None
    failureCode: str | None
    failureMessage: str | None
    # e.g. {"pageCount": 12} for a PDF.
    metadata: dict[str, Any] | None
    digestStatus: DigestStatus
    digest: Digest | None
    digestFailureCode: str | None
    digestFailureMessage: str | None
    digestedAt: str | None
    createdAt: str
    updatedAt: str


class SourceEnvelope(Struct):
    source: Source


class SourcePage(Struct):
    sources: list[Source]
    nextCursor: str | None


# -- plans ---------------------------------------------------------------------------------------


class QuoteLineItem(Struct):
    # "planning", "source_digest", "artifact".
    kind: str
    label: str
    credits: int


class Quote(Struct):
    currency: Literal["studio_credits"]
    total: int
    lineItems: list[QuoteLineItem]
    notes: list[str]
    computedAt: str


class Plan(Struct):
    id: str
    projectId: str
    status: PlanStatus
    title: str | None
    target: Target
    artifactRequests: list[ArtifactRequest]
    styleConstraints: StyleConstraints | None
    sourceIds: list[str]
    autoApprove: bool
    # The plan envelope, once generated (REQUIRES_APPROVAL, APPROVED).
    plan: dict[str, Any] | None
    quote: Quote | None
    modelUsed: str | None
    providerUsed: str | None
    failureCode: str | None
    failureMessage: str | None
    approvedAt: str | None
    rejectedAt: str | None
    rejectionReason: str | None
    generatedAt: str | None
    currentVersion: int
    createdAt: str
    updatedAt: str


class PlanEnvelope(Struct):
    plan: Plan


class PlanPage(Struct):
    plans: list[Plan]
    nextCursor: str | None


# -- artifacts -----------------------------------------------------------------------------------


class Artifact(Struct):
    id: str
    storyJobId: str
    type: ArtifactType
    status: ArtifactStatus
    # Populated when READY: share URLs, audio (and audio.finalize), video.
    manifest: dict[str, Any] | None
    currentVersion: int
    refineCount: int
    tableReadShareLinkId: str | None
    failureCode: str | None
    failureMessage: str | None
    createdAt: str
    updatedAt: str


class ArtifactEnvelope(Struct):
    artifact: Artifact


class ArtifactList(Struct):
    artifacts: list[Artifact]


class FinalizeState(Struct, omit_defaults=True):
    status: FinalizeStatus
    error: str | None = None


class FinalizeAccepted(Struct):
    artifactId: str
    mode: FinalizeMode
    finalize: FinalizeState


class RenderState(Struct, omit_defaults=True):
    status: VideoStatus
    url: str | None = None


class RenderAccepted(Struct):
    """``POST /artifacts/{id}/render-video``."""

    artifactId: str
    render: RenderState


# -- jobs ----------------------------------------------------------------------------------------


class Progress(Struct):
    stage: str
    detail: str | None
    percent: float


class Job(Struct):
    id: str
    projectId: str
    storyPlanId: str
    status: JobStatus
    artifactRequests: list[ArtifactRequest]
    quote: Quote | None
    creditReservationId: str | None
    progress: Progress | None
    modelUsed: str | None
    failureCode: str | None
    failureMessage: str | None
    currentVersion: int
    startedAt: str | None
    completedAt: str | None
    artifacts: list[Artifact]
    createdAt: str
    updatedAt: str


class JobEnvelope(Struct):
    job: Job


class JobPage(Struct):
    jobs: list[Job]
    nextCursor: str | None


# -- voices, cast and script (read-only) ---------------------------------------------------------


class Voice(Struct):
    """One voice of ``GET /voices``: an id a recast may name. ``local`` voices are made on this
    server (pitch and pace transformations of its installed speech voice)."""

    id: str
    name: str
    gender: Literal["feminine", "masculine", "neutral"]
    provider: str
    local: bool
    description: str | None


class VoiceList(Struct):
    voices: list[Voice]


class CastEntry(Struct):
    """A character and the voice it speaks in (``GET /artifacts/{id}/cast``); ``gender`` and
    ``provider`` are ``null`` for a voice the catalogue does not know."""

    character: str
    voiceId: str
    voiceName: str
    gender: str | None
    provider: str | None


class CastEnvelope(Struct):
    cast: list[CastEntry]


class ScriptLine(Struct):
    """One line of a scene (times are offsets into the read's audio)."""

    entryIndex: int
    character: str
    text: str
    startMs: int | None
    endMs: int | None


class ScriptEntry(Struct):
    """One line of the whole script, in reading order, with the scene it belongs to."""

    entryIndex: int
    character: str
    text: str
    sceneIndex: int
    startMs: int | None
    endMs: int | None


class ScriptScene(Struct):
    index: int
    title: str | None
    entries: list[ScriptLine]


class SelectedLine(Struct):
    entryIndex: int
    character: str
    text: str


class ScriptSelection(Struct):
    """``?scope=character``: one character's lines (``total`` before ``limit``)."""

    character: str
    total: int
    entries: list[SelectedLine]


class Script(Struct, omit_defaults=True):
    """The whole script (``scenes`` and ``entries``) or, for ``?scope=character``, only
    ``selection``."""

    scenes: list[ScriptScene] | None = None
    entries: list[ScriptEntry] | None = None
    selection: ScriptSelection | None = None


class ScriptEnvelope(Struct):
    script: Script


# -- coverage ------------------------------------------------------------------------------------

CoverageScore = Annotated[int, Meta(ge=1, le=10)]


class CoverageScores(Struct):
    premise: CoverageScore
    character: CoverageScore
    dialogue: CoverageScore
    structure: CoverageScore


class CoverageReport(Struct):
    """``coverage.report`` once ``complete``: what the text backend's reader made of the script,
    ``focusNotes`` answering ``focusPrompt`` (general notes without one)."""

    logline: str
    synopsis: str
    strengths: list[str]
    weaknesses: list[str]
    scores: CoverageScores
    verdict: CoverageVerdict
    focusPrompt: str | None
    focusNotes: str


class Coverage(Struct):
    """One coverage report of an artifact; ``reportId`` is what ``?reportId=`` names."""

    reportId: str
    artifactId: str
    status: CoverageStatus
    focusPrompt: str | None
    report: CoverageReport | None
    error: str | None
    createdAt: str
    completedAt: str | None


class CoverageEnvelope(Struct):
    """``GET /artifacts/{id}/coverage``: ``null`` before any report was requested."""

    coverage: Coverage | None


class CoverageAccepted(Struct):
    """``POST /artifacts/{id}/coverage``."""

    reportId: str
    status: CoverageStatus


class VoiceMapEntry(Struct):
    voiceId: str
    voiceName: str


class VoiceRecast(Struct):
    """``POST /artifacts/{id}/voice``: the artifact's whole cast after the recast."""

    artifactId: str
    character: str
    voiceMap: dict[str, VoiceMapEntry]


class CastRecast(Struct):
    """``POST /artifacts/{id}/cast``: the artifact's whole cast after the recast."""

    voiceMap: dict[str, VoiceMapEntry]
