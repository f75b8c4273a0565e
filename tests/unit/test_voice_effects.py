"""Voice effects, measured: autotune pulls the pitch track onto the key's notes, robot flattens
it, radio empties the band under its low cut, echo adds a delayed copy; each stays mono 16-bit
at the input rate and costs well under half a second per line."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import parselmouth
import pytest

from workers.backends.base import Pcm
from workers.backends.instant.speech import InstantNarrator
from workers.backends.voices import Floats, from_float, to_float
from workers.pipelines.voice_effects import (
    EFFECTS,
    apply_effect,
    effect_params,
    scale_classes,
    snap_semitones,
)

RATE = 22050


def glide(seconds: float = 4.0, low: float = 130.0, octaves: float = 1.0) -> Pcm:
    """A harmonic-rich sawtooth gliding up ``octaves`` from ``low``: every pitch in between."""
    t = np.arange(int(RATE * seconds)) / RATE
    f0 = low * 2 ** (t / seconds * octaves)
    phase = np.cumsum(2 * np.pi * f0 / RATE)
    return from_float(0.2 * sum(np.sin(k * phase) / k for k in range(1, 30)), RATE)


def pitch_midi(pcm: Pcm) -> Floats:
    """Praat's pitch track, voiced frames only, as fractional MIDI note numbers."""
    sound = parselmouth.Sound(to_float(pcm), sampling_frequency=pcm.rate)
    hz = sound.to_pitch(time_step=0.01, pitch_floor=60, pitch_ceiling=600)
    f = hz.selected_array["frequency"]
    return np.asarray(69 + 12 * np.log2(f[f > 0] / 440), dtype=np.float64)


def cents_off(midi: Floats, key: str, scale: str) -> float:
    """Mean distance, in cents, from each pitch to the nearest note of the scale."""
    return float(np.mean(np.abs(midi - snap_semitones(midi, scale_classes(key, scale)))) * 100)


def band_energy(pcm: Pcm, low: float, high: float) -> float:
    x = to_float(pcm)
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / pcm.rate)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


def speech() -> Pcm:
    text = "The harbor wall was built in a single summer by people who had never built one."
    return asyncio.run(InstantNarrator().speak(text, seed=3))


def test_scale_snapping() -> None:
    assert scale_classes("C", "major") == (0, 2, 4, 5, 7, 9, 11)
    assert scale_classes("A", "minor") == (0, 2, 4, 5, 7, 9, 11)  # relative minor of C
    assert scale_classes("D", "pentatonic") == (2, 4, 6, 9, 11)
    midi = np.array([60.4, 61.2, 61.6, 66.0, 70.9])
    assert np.allclose(snap_semitones(midi, scale_classes("C", "major")), [60, 62, 62, 65, 71])
    assert np.allclose(snap_semitones(midi, tuple(range(12))), [60, 61, 62, 66, 71])


def test_params_get_defaults_and_are_clamped() -> None:
    assert effect_params("autotune", {}) == {"key": "C", "scale": "major", "strength": 1.0}
    assert effect_params("autotune", {"key": "db", "scale": "Minor"})["key"] == "Db"
    assert effect_params("autotune", {"key": "H", "scale": "dorian", "strength": 3}) == {
        "key": "C",
        "scale": "major",
        "strength": 1.0,
    }
    assert effect_params("robot", {"pitchHz": 5}) == {"pitchHz": 60.0}
    assert effect_params("radio", {}) == {"lowHz": 400.0, "highHz": 3200.0}
    assert effect_params("echo", {"feedback": "x"}) == {
        "delayMs": 260.0,
        "feedback": 0.4,
        "mix": 0.35,
    }
    with pytest.raises(ValueError):
        effect_params("flanger", {})


@pytest.mark.parametrize("source", ["glide", "speech"])
def test_autotune_moves_the_pitch_onto_the_scale(source: str) -> None:
    pcm = glide() if source == "glide" else speech()
    before = pitch_midi(pcm)
    tuned = apply_effect(pcm, "autotune", {"key": "D", "scale": "minor"})
    after = pitch_midi(tuned)
    assert tuned.rate == pcm.rate and tuned.frames == pcm.frames
    assert cents_off(before, "D", "minor") > 25  # a glide sits anywhere between notes
    assert cents_off(after, "D", "minor") < 8, (cents_off(before, "D", "minor"), after)
    # The melody is kept: the track is moved by at most a semitone or so, not replaced.
    assert abs(np.median(after) - np.median(before)) < 1.5
    # Half strength goes half way.
    half = cents_off(pitch_midi(apply_effect(pcm, "autotune", {"strength": 0.5})), "C", "major")
    assert cents_off(after, "D", "minor") < half < cents_off(before, "C", "major")


def test_robot_speaks_a_monotone() -> None:
    pcm = glide()
    robot = apply_effect(pcm, "robot", {"pitchHz": 110})
    midi = pitch_midi(robot)
    assert np.std(pitch_midi(pcm)) > 2.5
    assert np.std(midi) < 0.3
    assert abs(np.median(midi) - (69 + 12 * np.log2(110 / 440))) < 0.5
    assert robot.frames == pcm.frames


def test_radio_cuts_the_lows_and_highs() -> None:
    rate = RATE
    t = np.arange(rate * 2) / rate
    # Speech-band tones plus strong lows and highs.
    x = 0.2 * (
        np.sin(2 * np.pi * 90 * t) + np.sin(2 * np.pi * 1200 * t) + np.sin(2 * np.pi * 7000 * t)
    )
    pcm = from_float(x, rate)
    radio = apply_effect(pcm, "radio", {"lowHz": 400, "highHz": 3200})
    assert radio.frames == pcm.frames and radio.rate == rate

    def share(p: Pcm, low: float, high: float) -> float:
        return band_energy(p, low, high) / band_energy(p, 0, rate / 2)

    assert share(pcm, 0, 200) > 0.3
    assert share(radio, 0, 200) < 0.01 * share(pcm, 0, 200)
    assert share(radio, 6000, rate / 2) < 0.01 * share(pcm, 6000, rate / 2)
    assert share(radio, 800, 2000) > 0.8
    # Not silent where the line was quiet: a faint hiss under it.
    quiet = apply_effect(from_float(np.concatenate([x[:rate], np.zeros(rate)]), rate), "radio", {})
    tail = to_float(quiet)[int(rate * 1.2) :]
    assert 0 < np.sqrt(np.mean(tail**2)) < 0.01


def test_echo_adds_a_delayed_copy() -> None:
    rate = RATE
    burst = np.zeros(rate // 2)
    burst[:400] = 0.5 * np.sin(2 * np.pi * 800 * np.arange(400) / rate)
    pcm = from_float(burst, rate)
    echo = apply_effect(pcm, "echo", {"delayMs": 200, "feedback": 0.5, "mix": 0.5})
    y = to_float(echo)
    assert echo.frames > pcm.frames  # the repeats ring on past the line
    delay = int(rate * 0.2)

    def level(at: int) -> float:
        return float(np.sqrt(np.mean(y[at : at + 400] ** 2)))

    first, second, third = level(0), level(delay), level(2 * delay)
    assert level(delay // 2) < 0.01 * first  # nothing between the repeats
    assert 0.3 * first < second < 1.2 * first
    assert 0.3 * second < third < 0.8 * second  # each repeat ``feedback`` of the last


@pytest.mark.parametrize("effect", EFFECTS)
def test_effects_keep_the_format_and_are_fast_and_stable(effect: str) -> None:
    pcm = speech()
    started = time.perf_counter()
    out = apply_effect(pcm, effect, {})
    assert time.perf_counter() - started < 0.5 * max(1.0, pcm.duration_s / 6)
    assert out.rate == pcm.rate and len(out.samples) % 2 == 0 and out.frames >= pcm.frames
    assert out.samples != pcm.samples
    assert apply_effect(pcm, effect, {}) == out  # the same line always sounds the same
    assert apply_effect(Pcm(b"", RATE), effect, {}) == Pcm(b"", RATE)
