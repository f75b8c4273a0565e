"""Chooses the process's text, image and speech backends from settings.

``STORYGATE_BACKENDS`` picks a set (instant, local, hosted) and ``STORYGATE_TEXT_BACKEND`` /
``IMAGE_BACKEND`` / ``SPEECH_BACKEND`` override one kind each (text also takes ``openai``).
Whatever is chosen is reported by ``capabilities()``, which every family's model listing
renders, so a substitute (procedural pictures when no image model is configured, the local
writer when no hosted text server is) is visible to clients rather than silent.

A backend that cannot run here (its package, model file or key is missing) stops the build
with ``BackendUnavailable``: one line naming the setting to set or the extra to install, which
the CLI prints as is. Only availability is checked here; models load on first use, so
``storygate serve`` starts in a moment whatever the set.

Every local model of the process runs in one model lane (``Backends.models``): a model process
(``STORYGATE_MODEL_ISOLATION=process``, the default), started at the first model call, so a
crash or hang in a model fails that job and never the server; or a thread of this process
(``thread``). The lane is shared for the reason ``model_thread`` gives.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from gateway.settings import Settings, SettingsError
from workers.backends.base import (
    Animator,
    Capability,
    Illustrator,
    ImagePrompt,
    Narrator,
    SoundMaker,
    StoryPlan,
    StoryRequest,
    StoryWriter,
)
from workers.backends.model_process import ModelProcess
from workers.backends.model_thread import ModelLane, ModelThread
from workers.backends.scripts import ScriptWriter
from workers.backends.voice_cast import VOICES, Voice

if TYPE_CHECKING:
    from PIL import Image

    from workers.backends.hosted.elevenlabs import ElevenLabsAudio
    from workers.backends.hosted.fal import FalVideo

__all__ = [
    "CHOICES",
    "KINDS",
    "BackendUnavailable",
    "Backends",
    "NotedIllustrator",
    "NotedWriter",
    "build_audio",
    "build_backends",
    "build_video",
    "chosen",
    "model_lane",
]

KINDS = ("text", "image", "speech", "video", "sound")
CHOICES: dict[str, tuple[str, ...]] = {
    "text": ("instant", "local", "hosted", "openai"),
    "image": ("instant", "local", "hosted"),
    "speech": ("instant", "local", "hosted"),
    "video": ("instant", "local", "hosted"),
    "sound": ("instant", "local", "hosted"),
}
LOCAL_EXTRA = "the 'local' extra: pip install 'storygate[local]'"
DIFFUSION_EXTRA = "the 'diffusion' extra: pip install 'storygate[diffusion]'"
HOSTED_EXTRA = "the 'hosted' extra: pip install 'storygate[hosted]'"
NO_IMAGE_MODEL = "no image model configured (STORYGATE_IMAGE_MODEL); procedural pictures"
# The context window the local writer is opened with: a page's prompt plus the story so far.
LLAMA_CONTEXT = 2048
NO_SCRIPT_MODEL = "digests, plans and screenplays are instant, from the sources' own sentences"
NO_HOSTED_TEXT = (
    "no hosted text server configured (STORYGATE_TEXT_URL); stories are written by the "
    "local llama.cpp model"
)


class BackendUnavailable(SettingsError):
    """A configured backend cannot run in this installation; the message is one line."""


@dataclass(frozen=True, slots=True)
class Backends:
    writer: StoryWriter
    illustrator: Illustrator
    narrator: Narrator
    animator: Animator
    sounds: SoundMaker
    # SleeperHit's digests, plans and screenplays, on the same model as ``writer``; its
    # capability is the writer's own, so ``capabilities()`` does not list it twice.
    scripter: ScriptWriter
    # The lane every local model of this process runs in; tasks with a model of their own
    # call into it too (``await backends.models.call(target, ...)``).
    models: ModelLane = field(default_factory=lambda: ModelThread("models"))

    def voices(self) -> tuple[Voice, ...]:
        """The voices a table read casts from, made out of ``narrator``'s one voice."""
        return VOICES

    def capabilities(self) -> list[Capability]:
        return [
            self.writer.capability(),
            self.illustrator.capability(),
            self.narrator.capability(),
            self.animator.capability(),
            *self.sounds.capabilities(),
        ]


class NotedWriter:
    """A writer standing in for the one asked for, whose capability says so first."""

    def __init__(self, inner: StoryWriter, note: str) -> None:
        self.inner = inner
        self.note = note
        self.name = inner.name

    def capability(self) -> Capability:
        cap = self.inner.capability()
        return replace(cap, note=f"{self.note}; {cap.note}" if cap.note else self.note)

    async def plan(self, request: StoryRequest) -> StoryPlan:
        return await self.inner.plan(request)

    async def write(
        self, request: StoryRequest, plan: StoryPlan, index: int, previous: Sequence[str]
    ) -> str:
        return await self.inner.write(request, plan, index, previous)

    async def dialogue(
        self, request: StoryRequest, plan: StoryPlan, index: int, panels: int
    ) -> list[str]:
        return await self.inner.dialogue(request, plan, index, panels)

    async def edit(
        self, request: StoryRequest, plan: StoryPlan, pages: Sequence[str], instruction: str
    ) -> tuple[str, dict[int, str]]:
        return await self.inner.edit(request, plan, pages, instruction)


class NotedIllustrator:
    """An illustrator standing in for the one asked for, whose capability says so."""

    def __init__(self, inner: Illustrator, note: str) -> None:
        self.inner = inner
        self.note = note
        self.name = inner.name

    def capability(self) -> Capability:
        return replace(self.inner.capability(), note=self.note)

    async def draw(self, prompts: Sequence[ImagePrompt]) -> list[Image.Image]:
        return await self.inner.draw(prompts)


def _installed(*modules: str) -> bool:
    """Whether every module can be imported, without importing (and so loading) any of them."""
    for module in modules:
        try:
            if importlib.util.find_spec(module) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True


def _needs(kind: str, label: str, what: str) -> BackendUnavailable:
    return BackendUnavailable(f"{kind} backend {label!r} needs {what}")


B = TypeVar("B", StoryWriter, Illustrator, Narrator)


def _checked(backend: B, kind: str, label: str) -> B:
    """The backend's own verdict, for what only it can judge (a voice package, a model id)."""
    cap = backend.capability()
    if not cap.available:
        reason = " ".join((cap.note or "it reports itself unavailable").split())
        raise BackendUnavailable(f"{kind} backend {label!r} cannot run: {reason}")
    return backend


# --- text -----------------------------------------------------------------------------------


def _llama(settings: Settings, label: str, lane: ModelLane) -> StoryWriter:
    if not _installed("llama_cpp"):
        raise _needs("text", label, LOCAL_EXTRA)
    if settings.text_model:
        if not Path(settings.text_model).expanduser().is_file():
            raise BackendUnavailable(
                f"text backend {label!r}: STORYGATE_TEXT_MODEL={settings.text_model} "
                "is not a GGUF file"
            )
    else:
        from workers.backends.local.models import default_gguf

        if default_gguf() is None:
            raise _needs(
                "text", label, f"a model: set STORYGATE_TEXT_MODEL to a GGUF file or {LOCAL_EXTRA}"
            )
    from workers.backends.local.llama import LlamaWriter

    writer = LlamaWriter(
        str(Path(settings.text_model).expanduser()) if settings.text_model else None,
        n_ctx=LLAMA_CONTEXT,
        n_threads=settings.text_threads,
        lane=lane,
    )
    return _checked(writer, "text", label)


def _openai(settings: Settings, label: str) -> StoryWriter:
    if not settings.text_url:
        raise _needs("text", label, "STORYGATE_TEXT_URL (an OpenAI-compatible server)")
    from workers.backends.local.openai_http import OpenAIWriter

    writer = OpenAIWriter(
        settings.text_url, settings.text_api_model, timeout=settings.provider_timeout_seconds
    )
    return _checked(writer, "text", label)


def _text(settings: Settings, name: str, lane: ModelLane) -> StoryWriter:
    if name == "instant":
        from workers.backends.instant import InstantWriter

        return InstantWriter()
    if name == "openai" or (name in ("local", "hosted") and settings.text_url):
        return _openai(settings, name)
    if name == "local":
        return _llama(settings, name, lane)
    # hosted without a text server: no hosted text provider exists, so the local model writes,
    # and the capability says so.
    if not _installed("llama_cpp"):
        raise _needs(
            "text", name, f"STORYGATE_TEXT_URL (an OpenAI-compatible server) or {LOCAL_EXTRA}"
        )
    return NotedWriter(_llama(settings, name, lane), NO_HOSTED_TEXT)


def _scripter(writer: StoryWriter) -> ScriptWriter:
    """The script writer that runs on ``writer``'s model (the model is loaded once, not twice)."""
    from workers.backends.instant import InstantWriter
    from workers.backends.instant.script import InstantScriptWriter
    from workers.backends.local.chat import ChatWriter

    inner = writer.inner if isinstance(writer, NotedWriter) else writer
    if isinstance(inner, ChatWriter):
        from workers.backends.local.script import ChatScriptWriter

        return ChatScriptWriter(inner)
    if isinstance(inner, InstantWriter):
        return InstantScriptWriter()
    return InstantScriptWriter(note=f"{inner.name} writes no scripts; {NO_SCRIPT_MODEL}")


# --- image ----------------------------------------------------------------------------------


def _looks_like_path(model: str) -> bool:
    return model.startswith(("/", ".", "~")) or Path(model).expanduser().exists()


def _image(settings: Settings, name: str, lane: ModelLane) -> Illustrator:
    if name == "instant":
        from workers.backends.instant import InstantIllustrator

        return InstantIllustrator()
    if name == "local":
        if not settings.image_model:
            from workers.backends.instant import InstantIllustrator

            return NotedIllustrator(InstantIllustrator(), NO_IMAGE_MODEL)
        if not _installed("torch", "diffusers", "transformers"):
            raise _needs("image", name, DIFFUSION_EXTRA)
        model = settings.image_model
        if _looks_like_path(model):
            path = Path(model).expanduser()
            if not path.is_dir():
                raise BackendUnavailable(
                    f"image backend {name!r}: STORYGATE_IMAGE_MODEL={model} is not a "
                    "diffusers pipeline directory"
                )
            model = str(path)
        from workers.backends.local.diffusion import DiffusersIllustrator

        illustrator = DiffusersIllustrator(
            model, steps=settings.image_steps, size=settings.image_size, lane=lane
        )
        return _checked(illustrator, "image", name)
    if not _installed("fal_client"):
        raise _needs("image", name, HOSTED_EXTRA)
    if not settings.fal_key:
        raise _needs("image", name, "STORYGATE_FAL_KEY")
    from workers.backends.hosted.fal import FalIllustrator

    return FalIllustrator(
        settings.fal_key,
        model=settings.fal_image_model,
        timeout=settings.provider_timeout_seconds,
    )


# --- speech ---------------------------------------------------------------------------------


def _speech(settings: Settings, name: str, lane: ModelLane) -> Narrator:
    if name == "instant":
        from workers.backends.instant import InstantNarrator

        return InstantNarrator()
    if name == "local":
        if not _installed("piper"):
            raise _needs("speech", name, LOCAL_EXTRA)
        voice = settings.speech_voice
        if voice and not Path(voice).expanduser().is_file():
            raise BackendUnavailable(
                f"speech backend {name!r}: STORYGATE_SPEECH_VOICE={voice} is not a piper "
                ".onnx voice file"
            )
        from workers.backends.local.piper_voice import PiperNarrator

        narrator = PiperNarrator(str(Path(voice).expanduser()) if voice else None, lane=lane)
        return _checked(narrator, "speech", name)
    if not _installed("elevenlabs"):
        raise _needs("speech", name, HOSTED_EXTRA)
    if not settings.elevenlabs_key:
        raise _needs("speech", name, "STORYGATE_ELEVENLABS_KEY")
    from workers.backends.hosted.elevenlabs import ElevenLabsNarrator

    return ElevenLabsNarrator(
        settings.elevenlabs_key,
        voice=settings.elevenlabs_voice,
        timeout=settings.provider_timeout_seconds,
    )


# --- video and sound (StoryNote) ------------------------------------------------------------


def _video(settings: Settings, name: str) -> Animator:
    """instant and local both animate stills here (fast and deterministic); hosted is fal."""
    if name in ("instant", "local"):
        from workers.backends.local.animation import FrameAnimator

        return FrameAnimator()
    return build_video(settings)


def _sound(settings: Settings, name: str) -> SoundMaker:
    """instant and local both synthesise (milliseconds, offline); hosted is ElevenLabs."""
    if name in ("instant", "local"):
        from workers.backends.local.synth import ProceduralSounds

        return ProceduralSounds()
    return build_audio(settings)


# --- the whole set --------------------------------------------------------------------------


def chosen(settings: Settings) -> dict[str, str]:
    """kind -> backend name, the per-kind override winning over the set."""
    picked: dict[str, str] = {}
    for kind in KINDS:
        override = getattr(settings, f"{kind}_backend").strip().lower()
        name = override or settings.backends
        if name not in CHOICES[kind]:
            raise BackendUnavailable(
                f"STORYGATE_{kind.upper()}_BACKEND={override!r} must be one of "
                + ", ".join(CHOICES[kind])
            )
        picked[kind] = name
    return picked


def model_lane(settings: Settings) -> ModelLane:
    """The lane a process's local models run in; nothing starts until its first call."""
    if settings.model_isolation == "thread":
        return ModelThread("models")
    return ModelProcess("models", call_seconds=settings.model_call_seconds)


def build_backends(settings: Settings) -> Backends:
    picked = chosen(settings)
    lane = model_lane(settings)
    writer = _text(settings, picked["text"], lane)
    return Backends(
        writer=writer,
        illustrator=_image(settings, picked["image"], lane),
        narrator=_speech(settings, picked["speech"], lane),
        animator=_video(settings, picked["video"]),
        sounds=_sound(settings, picked["sound"]),
        scripter=_scripter(writer),
        models=lane,
    )


# --- providers only some families use -------------------------------------------------------


def build_video(settings: Settings) -> FalVideo:
    """fal image-to-video, for the families that animate pages (``FalVideo``)."""
    if not _installed("fal_client"):
        raise _needs("video", "hosted", HOSTED_EXTRA)
    if not settings.fal_key:
        raise _needs("video", "hosted", "STORYGATE_FAL_KEY")
    from workers.backends.hosted.fal import FalVideo

    return FalVideo(
        settings.fal_key, model=settings.fal_video_model, timeout=settings.provider_timeout_seconds
    )


def build_audio(settings: Settings) -> ElevenLabsAudio:
    """ElevenLabs sound effects and music (``ElevenLabsAudio``)."""
    if not _installed("elevenlabs"):
        raise _needs("audio", "hosted", HOSTED_EXTRA)
    if not settings.elevenlabs_key:
        raise _needs("audio", "hosted", "STORYGATE_ELEVENLABS_KEY")
    from workers.backends.hosted.elevenlabs import ElevenLabsAudio

    return ElevenLabsAudio(settings.elevenlabs_key, timeout=settings.provider_timeout_seconds)


def probe_backends(settings: Settings) -> None:
    """Refuse to start, in one line, when a local model library would crash this process.

    llama.cpp built for another CPU dies with SIGILL at its first evaluation, taking every
    request with it; the probe runs that first evaluation in a child process instead.
    """
    text = chosen(settings).get("text")
    # Whenever llama.cpp writes (see ``_text``): local, or hosted with no text server.
    if text not in ("local", "hosted") or settings.text_url or not _installed("llama_cpp"):
        return
    from workers.backends.local.models import default_gguf
    from workers.backends.local.probe import probe_llama

    model = Path(settings.text_model).expanduser() if settings.text_model else default_gguf()
    if model is not None:
        probe_llama(str(model))
