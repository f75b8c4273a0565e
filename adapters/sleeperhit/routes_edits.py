"""In-place edits of a table read's sound: voice effects (``/voice-modification``, in use by real
clients, issue 12), adaptive music (``/music``) and sound cues (``/sfx``, which the reference
says requires an Idempotency-Key; the others accept one). No charge and no new revision; each
accepted POST is one state change and one remix (adapters/sleeperhit/edits.py)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, get, post
from litestar.params import Parameter

from adapters.sleeperhit.effects import Effects
from adapters.sleeperhit.music import Music
from adapters.sleeperhit.posting import IdempotentPost, KeyedPost, idempotent, require_key
from adapters.sleeperhit.routing import (
    API,
    MAX_BODY,
    TAGS,
    AnyRequest,
    base_url,
    body_of,
    errors,
    production_of,
    route_opt,
    shaped,
)
from adapters.sleeperhit.sfx import Sfx
from contracts import sleeperhit_edits as out
from contracts.sleeperhit_edits import (
    ArtifactMusicRequest,
    ArtifactSfxRequest,
    VoiceModificationRequest,
)

_READ_ERRORS = ("artifact_not_found", "artifact_not_ready", "artifact_generation_failed")
_POST_ERRORS = (*_READ_ERRORS, "validation_failed", "idempotency_conflict")
_LIVE = (
    " No charge and no new revision: the read is mixed again in a job "
    "(manifest.audio.remix.status), after which liveUrl, the theater page and the next finalize "
    "play it; a finalize completed before is marked manifest.audio.finalize.stale."
)
ModificationQ = Annotated[
    str | None, Parameter(query="modificationId", required=False, max_length=128)
]


def _editor(request: AnyRequest, kind: type[Any]) -> Any:
    return kind(production_of(request), base_url(request))


@post(
    f"{API}/artifacts/{{artifact_id:str}}/voice-modification",
    status_code=200,
    tags=TAGS,
    summary="Apply a voice effect to a range of the read's lines (no charge)",
    description="effect autotune (params key, scale, strength), robot (pitchHz), radio (lowHz, "
    "highHz) or echo (delayMs, feedback, mix) on every line from startEntryIndex to "
    "endEntryIndex (the script's entryIndex, both included); effects stack in the order they "
    "were added. status is processing until the live read has it (GET)." + _LIVE,
    operation_id="createVoiceModification",
    operation_class=IdempotentPost,
    opt=route_opt("artifact:publish", "artifacts"),
    responses=errors(*_POST_ERRORS),
    request_max_body_size=MAX_BODY,
)
async def create_voice_modification(
    request: AnyRequest, artifact_id: str, data: VoiceModificationRequest
) -> Response[out.VoiceModificationAccepted]:
    effects = _editor(request, Effects)
    body = await body_of(request, VoiceModificationRequest)

    return await idempotent(
        request,
        effects.rt,
        effects.account,
        lambda: effects.add(artifact_id, body),
        shape=out.VoiceModificationAccepted,
    )


@get(
    f"{API}/artifacts/{{artifact_id:str}}/voice-modification",
    tags=TAGS,
    summary="The read's voice effects (or the one ?modificationId= names) and their status",
    operation_id="listVoiceModifications",
    opt=route_opt("artifact:read", "artifacts"),
    responses=errors(*_READ_ERRORS, "validation_failed"),
)
async def list_voice_modifications(
    request: AnyRequest, artifact_id: str, modification_id: ModificationQ = None
) -> out.VoiceModificationList:
    effects = _editor(request, Effects)
    return shaped(await effects.read(artifact_id, modification_id), out.VoiceModificationList)


@post(
    f"{API}/artifacts/{{artifact_id:str}}/music",
    status_code=200,
    tags=TAGS,
    summary="Generate adaptive per-scene music, regenerate scenes, or tune one scene",
    description="No body or {musicCoveragePercent} (a fraction or a whole percent, clamped "
    "into 0..1; default the current one, else 0.35): beds for that share of the scenes, the "
    "first and last always, answered status generating. {regenerateScenes: [i, ...]}: those "
    "scenes' beds made again. {sceneIndex, prompt?, weight?, enabled?, clip?: {disabled?, "
    "prompt?, weight?}}: one scene tuned (enabled false or clip.disabled true mutes it), "
    "answered at once with status ready and its adaptiveSceneDirection. Poll "
    "GET /artifacts/{artifactId}/music until music.status is ready." + _LIVE,
    operation_id="updateArtifactMusic",
    operation_class=IdempotentPost,
    opt=route_opt("artifact:publish", "artifacts"),
    responses=errors(*_POST_ERRORS),
    request_max_body_size=MAX_BODY,
)
async def update_music(
    request: AnyRequest, artifact_id: str, data: ArtifactMusicRequest | None = None
) -> Response[out.MusicAccepted]:
    music = _editor(request, Music)
    body = await body_of(request, ArtifactMusicRequest, optional=True)

    return await idempotent(
        request,
        music.rt,
        music.account,
        lambda: music.post(artifact_id, body),
        shape=out.MusicAccepted,
    )


@get(
    f"{API}/artifacts/{{artifact_id:str}}/music",
    tags=TAGS,
    summary="Adaptive music readiness: none, generating or ready, and each scene's clip",
    operation_id="getArtifactMusic",
    opt=route_opt("artifact:read", "artifacts"),
    responses=errors(*_READ_ERRORS),
)
async def get_music(request: AnyRequest, artifact_id: str) -> out.MusicEnvelope:
    return shaped(await _editor(request, Music).read(artifact_id), out.MusicEnvelope)


@post(
    f"{API}/artifacts/{{artifact_id:str}}/sfx",
    status_code=200,
    tags=TAGS,
    summary="Add, update or remove a timed sound-effect cue",
    description="op add: entryIndex and label required; prompt (default the label), volume "
    "0..1 (default 0.6), triggerOffset before|with|after (default with). op update: id and "
    "any of those, or regenerate: true. op remove: id. The cue's soundUrl is null and isDraft "
    "true until its sound is in the live read." + _LIVE,
    operation_id="updateArtifactSfx",
    operation_class=KeyedPost,
    opt=route_opt("artifact:publish", "artifacts"),
    responses=errors(*_POST_ERRORS, "idempotency_key_required"),
    request_max_body_size=MAX_BODY,
)
async def update_sfx(
    request: AnyRequest, artifact_id: str, data: ArtifactSfxRequest
) -> Response[out.SfxChanged]:
    sfx = _editor(request, Sfx)
    require_key(request)
    body = await body_of(request, ArtifactSfxRequest)

    return await idempotent(
        request,
        sfx.rt,
        sfx.account,
        lambda: sfx.post(artifact_id, body),
        required=True,
        shape=out.SfxChanged,
    )


@get(
    f"{API}/artifacts/{{artifact_id:str}}/sfx",
    tags=TAGS,
    summary="The read's sound-effect cues, in reading order",
    operation_id="listArtifactSfx",
    opt=route_opt("artifact:read", "artifacts"),
    responses=errors(*_READ_ERRORS),
)
async def list_sfx(request: AnyRequest, artifact_id: str) -> out.SfxEnvelope:
    return shaped(await _editor(request, Sfx).read(artifact_id), out.SfxEnvelope)


HANDLERS: list[Any] = [
    create_voice_modification,
    list_voice_modifications,
    update_music,
    get_music,
    update_sfx,
    list_sfx,
]
