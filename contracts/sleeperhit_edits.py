"""SleeperHit's in-place edits of a table read: voice effects on a range of lines, adaptive
per-scene music and timed sound cues. Requests and answers of
``/artifacts/{id}/voice-modification``, ``/artifacts/{id}/music`` and ``/artifacts/{id}/sfx``.

Bodies decode strictly like every other SleeperHit request (``contracts.sleeperhit``); an
effect's ``params`` is a free object here because what it may hold depends on ``effect``:
``EFFECT_PARAMS`` and ``EFFECT_CHOICES`` say what, and the service refuses anything else.
Answers keep every documented field, ``null`` where it has no value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

from msgspec import Meta, Struct

from contracts.common import VISIBLE
from contracts.sleeperhit import LABEL_MAX, Id, items_of

# -- voice effects -------------------------------------------------------------------------------

EffectName = Literal["autotune", "robot", "radio", "echo"]
ModificationStatus = Literal["processing", "ready", "failed"]
# Each effect's numeric params: (least, most, default).
EFFECT_PARAMS: Final[Mapping[str, Mapping[str, tuple[float, float, float]]]] = {
    "autotune": {"strength": (0.0, 1.0, 1.0)},
    "robot": {"pitchHz": (60.0, 400.0, 110.0)},
    "radio": {"lowHz": (200.0, 1000.0, 400.0), "highHz": (2000.0, 5000.0, 3200.0)},
    "echo": {
        "delayMs": (60.0, 1000.0, 260.0),
        "feedback": (0.0, 0.9, 0.4),
        "mix": (0.0, 1.0, 0.35),
    },
}
NOTES = ("C", "C#", "Db", "D", "D#", "Eb", "E", "F", "F#", "Gb", "G", "G#", "Ab", "A", "A#", "Bb")
# Each effect's named params: (choices, default).
EFFECT_CHOICES: Final[Mapping[str, Mapping[str, tuple[tuple[str, ...], str]]]] = {
    "autotune": {
        "key": ((*NOTES, "B"), "C"),
        "scale": (("major", "minor", "chromatic", "pentatonic"), "major"),
    },
}
# storygate: how many effects and cues one read may carry.
EFFECTS_MAX = 50
CUES_MAX = 100
# gt=-1, not ge=0: the OpenAPI generator drops a minimum of 0 on an optional field (it is
# falsy), and the document must refuse what the decoder refuses (as contracts/storynote.py).
EntryIndex = Annotated[int, Meta(gt=-1, le=100_000)]


class VoiceModificationRequest(Struct):
    """``POST /artifacts/{id}/voice-modification``: ``effect`` on every line from
    ``startEntryIndex`` to ``endEntryIndex`` (both included; the script's ``entryIndex``)."""

    startEntryIndex: EntryIndex
    endEntryIndex: EntryIndex
    effect: EffectName
    params: dict[str, Any] | None = None


class VoiceModificationAccepted(Struct):
    modificationId: str
    status: ModificationStatus


class VoiceModification(Struct):
    """One effect on the read, its ``params`` with every default filled in."""

    modificationId: str
    startEntryIndex: int
    endEntryIndex: int
    effect: EffectName
    params: dict[str, Any]
    status: ModificationStatus
    createdAt: str | None


class VoiceModificationList(Struct):
    """``GET /artifacts/{id}/voice-modification``: in the order they apply (later ones stack)."""

    artifactId: str
    modifications: list[VoiceModification]


# -- music ---------------------------------------------------------------------------------------

PROMPT_MAX = 1000
SCENES_MAX = 500
SoundPrompt = Annotated[str, Meta(min_length=1, max_length=PROMPT_MAX, pattern=VISIBLE)]
# A level up to 1; under 0 counts as 0 (silent), clamped like musicCoveragePercent: a float
# bound of 0 cannot reach the OpenAPI document (see EntryIndex), so the decoder takes any.
Weight = Annotated[float, Meta(le=1)]
SceneIndex = Annotated[int, Meta(gt=-1, le=SCENES_MAX)]


def _level(value: float | None) -> float | None:
    return None if value is None else max(0.0, value)


MusicStatus = Literal["none", "generating", "ready"]
ClipStatus = Literal["pending", "rendering", "ready", "failed"]
SceneList = Annotated[list[SceneIndex], items_of(SceneIndex, SCENES_MAX), Meta(min_length=1)]


class MusicClipEdit(Struct):
    """``clip`` of a scene edit, as real clients send it (``{"disabled": true}`` mutes)."""

    disabled: bool | None = None
    prompt: SoundPrompt | None = None
    weight: Weight | None = None

    def __post_init__(self) -> None:
        self.weight = _level(self.weight)


class ArtifactMusicRequest(Struct):
    """``POST /artifacts/{id}/music``, one of three shapes: ``musicCoveragePercent`` (or no
    body) regenerates beds for that share of scenes; ``regenerateScenes`` renders exactly those
    scenes' beds again; ``sceneIndex`` with ``prompt`` / ``weight`` / ``enabled`` / ``clip``
    tunes one scene's bed."""

    # A fraction (0.35) or a whole percent (35); clamped into 0..1.
    musicCoveragePercent: float | None = None
    regenerateScenes: SceneList | None = None
    sceneIndex: SceneIndex | None = None
    prompt: SoundPrompt | None = None
    weight: Weight | None = None
    enabled: bool | None = None
    clip: MusicClipEdit | None = None

    def __post_init__(self) -> None:
        self.weight = _level(self.weight)


class AdaptiveSceneDirection(Struct):
    sceneIndex: int
    prompt: str
    weight: float
    enabled: bool


class MusicAccepted(Struct):
    """``POST /artifacts/{id}/music``: ``generating`` for a (re)generation, ``ready`` with the
    scene's ``adaptiveSceneDirection`` for a scene edit (``null`` otherwise)."""

    artifactId: str
    status: Literal["generating", "ready"]
    coveragePercent: float | None
    totalScenes: int
    sceneIndex: int | None
    adaptiveSceneDirection: AdaptiveSceneDirection | None


class MusicClip(Struct):
    sceneIndex: int
    status: ClipStatus
    disabled: bool
    prompt: str
    weight: float


class Music(Struct):
    """``none`` before any music edit (the read keeps its default bed), ``generating`` while an
    enabled scene's bed is not rendered yet, else ``ready``."""

    artifactId: str
    status: MusicStatus
    musicMode: Literal["adaptive"] | None
    coveragePercent: float | None
    totalScenes: int
    definedClips: list[MusicClip]


class MusicEnvelope(Struct):
    music: Music


# -- sound cues ----------------------------------------------------------------------------------

SfxOp = Literal["add", "update", "remove"]
TriggerOffset = Literal["before", "with", "after"]
CueLabel = Annotated[str, Meta(min_length=1, max_length=LABEL_MAX, pattern=VISIBLE)]


class ArtifactSfxRequest(Struct):
    """``POST /artifacts/{id}/sfx``. ``add``: ``entryIndex`` and ``label`` (``prompt`` defaults
    to the label, ``volume`` to 0.6, ``triggerOffset`` to ``with``); ``update``: ``id`` and any
    of the others (``regenerate: true`` makes its sound again); ``remove``: ``id``."""

    op: SfxOp
    id: Id | None = None
    entryIndex: EntryIndex | None = None
    label: CueLabel | None = None
    prompt: SoundPrompt | None = None
    volume: Weight | None = None
    triggerOffset: TriggerOffset | None = None
    regenerate: bool | None = None

    def __post_init__(self) -> None:
        self.volume = _level(self.volume)


class SfxCue(Struct):
    """``soundUrl`` is ``null`` and ``isDraft`` true until the cue's sound is in the live read."""

    id: str
    label: str
    entryIndex: int
    prompt: str
    volume: float
    triggerOffset: TriggerOffset
    soundUrl: str | None
    isDraft: bool


class SfxChanged(Struct):
    """``POST /artifacts/{id}/sfx``: the added or updated cue; for ``remove`` ``cue`` is
    ``null`` and ``removedId`` names the cue removed."""

    artifactId: str
    cue: SfxCue | None
    removedId: str | None


class SfxList(Struct):
    artifactId: str
    cues: list[SfxCue]


class SfxEnvelope(Struct):
    sfx: SfxList


__all__ = [
    "CUES_MAX",
    "EFFECTS_MAX",
    "EFFECT_CHOICES",
    "EFFECT_PARAMS",
    "ArtifactMusicRequest",
    "ArtifactSfxRequest",
    "MusicAccepted",
    "MusicEnvelope",
    "SfxChanged",
    "SfxEnvelope",
    "VoiceModificationAccepted",
    "VoiceModificationList",
    "VoiceModificationRequest",
]
