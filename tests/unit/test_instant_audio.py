"""The instant narrator and the shared audio plumbing: PCM in, valid MP3 out."""

from __future__ import annotations

import math
import struct

import pytest

from workers.backends.audio import (
    concat_mp3,
    concat_pcm,
    mp3_duration,
    mp3_frames,
    pcm_to_mp3,
    pcm_to_wav,
    silence,
    wav_to_pcm,
)
from workers.backends.base import Narrator, Pcm
from workers.backends.instant import InstantNarrator

SHORT = "Once upon a time, a fox lived in the forest."
LONG = (
    "Once upon a time, in the forest, there lived a raccoon named Luna. Every morning, Luna "
    "woke up early and ran outside to say hello to the day. Where are we going? You will see!"
)


def rms(pcm: Pcm) -> float:
    samples = struct.unpack(f"<{pcm.frames}h", pcm.samples)
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))


def test_narrator_meets_the_protocol() -> None:
    narrator = InstantNarrator()
    assert isinstance(narrator, Narrator)
    assert narrator.capability().kind == "speech" and narrator.capability().backend == "instant"


async def test_speech_is_audible_mono_22050_and_paced_like_reading() -> None:
    pcm = await InstantNarrator().speak(LONG)
    assert pcm.rate == 22050 and len(pcm.samples) % 2 == 0
    assert rms(pcm) > 500
    assert 11 <= len(LONG) / pcm.duration_s <= 16  # about 13 characters a second
    peak = max(abs(s) for s in struct.unpack(f"<{pcm.frames}h", pcm.samples))
    assert peak < 32000  # no clipping


async def test_speech_is_deterministic_and_seeded() -> None:
    one = await InstantNarrator().speak(SHORT, seed=3)
    two = await InstantNarrator().speak(SHORT, seed=3)
    other = await InstantNarrator().speak(SHORT, seed=4)
    assert one == two and one.samples != other.samples


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("chinese", "从前\uff0c在森林里住着一只小狐狸。"),
        ("korean", "옛날 옛적, 숲에 여우가 살았어요."),
        ("russian", "Давным-давно в лесу жила-была Катя."),
        ("japanese", "むかしむかし、森にキツネがいました。"),
    ],
)
async def test_every_script_is_spoken(language: str, text: str) -> None:
    pcm = await InstantNarrator().speak(text, language=language)
    assert pcm.duration_s > 1.0 and rms(pcm) > 300


async def test_mp3_is_valid_and_longer_for_longer_text() -> None:
    narrator = InstantNarrator()
    short = pcm_to_mp3(await narrator.speak(SHORT))
    long = pcm_to_mp3(await narrator.speak(LONG))
    for mp3 in (short, long):
        assert mp3[:3] == b"ID3" or (mp3[0] == 0xFF and mp3[1] & 0xE0 == 0xE0)
        frames = mp3_frames(mp3)
        assert frames and frames[-1][0] + frames[-1][1] == len(mp3)  # frame chain covers the file
        assert all(rate == 22050 for *_rest, rate in frames)
    assert mp3_duration(long) > 2 * mp3_duration(short)
    pcm = await narrator.speak(LONG)
    assert abs(mp3_duration(long) - pcm.duration_s) < 0.2
    assert pcm_to_mp3(await narrator.speak("")) != b""  # silence still encodes to frames


def test_concat_pcm_inserts_gaps_and_refuses_mixed_rates() -> None:
    a, b = silence(100, 22050), Pcm(b"\x01\x00" * 220, 22050)
    joined = concat_pcm([a, b], gap_ms=400)
    assert joined.frames == a.frames + b.frames + 22050 * 400 // 1000
    assert joined.samples.endswith(b.samples)
    with pytest.raises(ValueError):
        concat_pcm([a, silence(100, 16000)])
    with pytest.raises(ValueError):
        concat_pcm([])
    assert concat_pcm([], rate=16000).frames == 0


async def test_concat_mp3_adds_up_and_wav_round_trips() -> None:
    narrator = InstantNarrator()
    parts = [pcm_to_mp3(await narrator.speak(t)) for t in (SHORT, LONG)]
    joined = concat_mp3(parts)
    assert abs(mp3_duration(joined) - sum(map(mp3_duration, parts))) < 0.01
    assert mp3_frames(joined)[-1][0] + mp3_frames(joined)[-1][1] == len(joined)
    pcm = await narrator.speak(SHORT)
    assert wav_to_pcm(pcm_to_wav(pcm)) == pcm
