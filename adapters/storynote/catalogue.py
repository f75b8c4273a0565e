"""The reference's model table, and what each model runs on in this server.

Every listed model is served by the backend of its kind that this process runs (the picture
backend draws every image model, the animator every video model, and so on), so the listing says
where each one runs and, when its backend cannot serve it, that it is unavailable and why.
Prices are the reference's: images per picture, video per second (rounded up), audio and tools
per request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.storynote.errors import StoryNoteError
from contracts.storynote import (
    IMAGES_MAX,
    MUSIC_SECONDS,
    SFX_SECONDS,
    VIDEO_SECONDS,
    AspectRatio,
    Model,
    ModelsAvailable,
)

ASPECTS = [a.value for a in AspectRatio]


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    name: str
    credits: int
    tier: str
    kind: str  # image | video | speech | sfx | music | tool
    # The capability kind of the backend that serves it (None: nothing here does).
    serves: str | None


CATALOGUE: tuple[Entry, ...] = (
    Entry("fal-ai/z-image/turbo", "Z-Image Turbo", 1, "fast", "image", "image"),
    Entry("fal-ai/flux-2", "Flux 2", 2, "fast", "image", "image"),
    Entry("fal-ai/bytedance/seedream/v4", "Seedream v4", 5, "standard", "image", "image"),
    Entry("nano-banana", "Nano Banana", 6, "standard", "image", "image"),
    Entry("fal-ai/recraft/v4", "Recraft V4", 6, "standard", "image", "image"),
    Entry("nano-banana-2", "Nano Banana 2", 12, "premium", "image", "image"),
    Entry("nano-banana-pro", "Nano Banana Pro", 35, "premium", "image", "image"),
    Entry("fal-ai/veo3.1/lite", "Veo 3.1 Lite", 5, "fast", "video", "video"),
    Entry("fal-ai/pixverse/v6", "Pixverse v6", 7, "standard", "video", "video"),
    Entry(
        "fal-ai/kling-video/v2.6/pro/image-to-video",
        "Kling v2.6 Pro",
        10,
        "premium",
        "video",
        "video",
    ),
    Entry("elevenlabs/music", "ElevenLabs Music", 1, "standard", "music", "music"),
    Entry("elevenlabs/sfx", "ElevenLabs SFX", 2, "standard", "sfx", "sfx"),
    Entry("elevenlabs/tts", "ElevenLabs TTS", 3, "standard", "speech", "speech"),
    Entry("tools/background-removal", "Background Removal", 3, "standard", "tool", None),
    Entry("tools/object-removal", "Object Removal", 3, "standard", "tool", None),
    Entry("tools/image-upscale", "Image Upscale", 5, "standard", "tool", None),
)

# What ``modelId`` omitted or "default" means, per kind (the reference's own examples).
DEFAULTS = {
    "image": "fal-ai/flux-2",
    "video": "fal-ai/kling-video/v2.6/pro/image-to-video",
    "speech": "elevenlabs/tts",
    "sfx": "elevenlabs/sfx",
    "music": "elevenlabs/music",
}
NO_TOOLS = "no tool endpoints are served (the reference documents none)"


@dataclass(frozen=True, slots=True)
class Serving:
    """Whether a model runs here, where (local | hosted), and the backend's own words."""

    available: bool
    runs_on: str
    note: str


def _serving(entry: Entry, capabilities: Iterable[Any]) -> Serving:
    if entry.serves is None:
        return Serving(False, "none", NO_TOOLS)
    for cap in capabilities:
        if cap.kind == entry.serves:
            where = "local" if cap.backend in ("instant", "local", "piper") else "hosted"
            note = f"{cap.backend} {cap.model}" + (f": {cap.note}" if cap.note else "")
            return Serving(bool(cap.available), where, note)
    return Serving(False, "none", f"no {entry.serves} backend in this server")


def _model(entry: Entry, serving: Serving) -> Model:
    model = Model(
        id=entry.id,
        name=entry.name,
        credits=entry.credits,
        tier=entry.tier,
        available=serving.available,
        runsOn=serving.runs_on,
        note=serving.note,
        default=DEFAULTS.get(entry.kind) == entry.id,
    )
    if entry.kind == "image":
        model.creditsPer = "image"
        model.allowedAspectRatios = list(ASPECTS)
        model.maxImages = IMAGES_MAX
    elif entry.kind == "video":
        model.creditsPer = "second"
        model.allowedAspectRatios = list(ASPECTS)
        model.minDurationSec, model.maxDurationSec = VIDEO_SECONDS
        model.defaultDurationSec = 3.0
        model.modes = ["text-to-video", "image-to-video", "keyframe"]
    elif entry.kind in ("sfx", "music"):
        model.soundType = entry.kind
        low, high = SFX_SECONDS if entry.kind == "sfx" else MUSIC_SECONDS
        model.minDurationSec, model.maxDurationSec = low, high
    elif entry.kind == "speech":
        model.soundType = "speech"
        # One voice per server (docs/compat.md): voiceId is accepted and not honoured.
        model.voiceIds = []
    return model


def listing(capabilities: Sequence[Any]) -> ModelsAvailable:
    found: dict[str, list[Model]] = {"image": [], "video": [], "audio": [], "tools": []}
    for entry in CATALOGUE:
        group = {"image": "image", "video": "video", "tool": "tools"}.get(entry.kind, "audio")
        found[group].append(_model(entry, _serving(entry, capabilities)))
    return ModelsAvailable(**found)


def resolve(kind: str, model_id: str | None, capabilities: Sequence[Any]) -> Entry:
    """The catalogue entry a request names for ``kind`` (image | video | speech | sfx | music);
    a 400 naming the reason for an unknown, mismatched or unavailable model."""
    wanted = DEFAULTS[kind] if model_id in (None, "", "default") else model_id
    entry = next((e for e in CATALOGUE if e.id == wanted), None)
    if entry is None:
        raise StoryNoteError(
            400, f"Unknown modelId {wanted!r}; GET /v1/models/available lists the models"
        )
    if entry.kind != kind:
        raise StoryNoteError(400, f"Model {wanted!r} is a {entry.kind} model, not {kind}")
    serving = _serving(entry, capabilities)
    if not serving.available:
        raise StoryNoteError(400, f"Model {wanted!r} is unavailable on this server: {serving.note}")
    return entry
