"""The voice catalogue and an artifact's cast and script, read-only: ``GET /api/v1/voices``,
``/artifacts/{id}/cast``, ``/artifacts/{id}/script``. Not in the reference, but clients of the
hosted API call them (issue 12)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import get
from litestar.params import Parameter

from adapters.sleeperhit.routing import (
    API,
    TAGS,
    AnyRequest,
    errors,
    production_of,
    route_opt,
    shaped,
)
from adapters.sleeperhit.scripts_view import SCOPES, SELECTION_MAX, ScriptView
from contracts import sleeperhit_views as out

# ``scope`` is a name Litestar reserves, so the handler's argument is ``selection_scope``.
# Read as text so a bad value gets the reference's validation_failed naming the field.
ScopeQ = Annotated[
    str | None,
    Parameter(
        query="scope",
        required=False,
        description="all (default; with a character: character) or character: only the lines "
        "of `character`.",
        schema_extra={"one_of": None, "type": "string", "enum": list(SCOPES)},
    ),
]
CharacterQ = Annotated[
    str | None,
    Parameter(
        query="character",
        required=False,
        description="The character whose lines to select (any case); required with "
        "scope=character.",
        schema_extra={"one_of": None, "type": "string"},
    ),
]
LimitQ = Annotated[
    str | None,
    Parameter(
        query="limit",
        required=False,
        description=f"At most this many of the selection's lines, 1 to {SELECTION_MAX} "
        "(default: all).",
        schema_extra={
            "one_of": None,
            "type": "integer",
            "minimum": 1,
            "maximum": SELECTION_MAX,
        },
    ),
]


def _view(request: AnyRequest) -> ScriptView:
    return ScriptView(production_of(request))


@get(
    f"{API}/voices",
    tags=TAGS,
    summary="The voices this server can speak (ids a recast may name)",
    operation_id="listVoices",
    opt=route_opt("story:read", "discovery"),
    responses=errors(),
)
async def list_voices(request: AnyRequest) -> out.VoiceList:
    return shaped(_view(request).voices(), out.VoiceList)


@get(
    f"{API}/artifacts/{{artifact_id:str}}/cast",
    tags=TAGS,
    summary="A table read's cast: each character and its voice",
    operation_id="getArtifactCast",
    opt=route_opt("artifact:read", "artifacts"),
    responses=errors("artifact_not_found", "artifact_not_ready"),
)
async def get_cast(request: AnyRequest, artifact_id: str) -> out.CastEnvelope:
    return shaped(await _view(request).cast(artifact_id), out.CastEnvelope)


@get(
    f"{API}/artifacts/{{artifact_id:str}}/script",
    tags=TAGS,
    summary="A table read's script, or one character's lines (?scope=character)",
    operation_id="getArtifactScript",
    opt=route_opt("artifact:read", "artifacts"),
    responses=errors("artifact_not_found", "artifact_not_ready", "validation_failed"),
)
async def get_script(
    request: AnyRequest,
    artifact_id: str,
    selection_scope: ScopeQ = None,
    character: CharacterQ = None,
    limit: LimitQ = None,
) -> out.ScriptEnvelope:
    found = await _view(request).script(artifact_id, selection_scope, character, limit)
    return shaped(found, out.ScriptEnvelope)


HANDLERS: list[Any] = [list_voices, get_cast, get_script]
