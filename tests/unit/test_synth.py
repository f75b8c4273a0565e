"""The offline synthesiser: exact lengths, clamped limits, the same words giving the same sound,
different words audibly different ones (checked with plain signal features), and MP3s that last
what was asked."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workers.backends.audio import mp3_duration, pcm_to_mp3
from workers.backends.base import Pcm, SoundMaker
from workers.backends.local.synth import (
    MUSIC_SECONDS,
    SFX_SECONDS,
    SFX_WORDS,
    ProceduralSounds,
    render_sound_effect,
)
from workers.backends.local.synth_dsp import RATE, clamp_seconds
from workers.backends.local.synth_music import arrange, render_music

RAIN = "heavy rain on a tin roof"
KNOCK = "a single door knock"
FAST = "fast upbeat happy piano 140 bpm"
SLOW = "slow sad strings lullaby"

sounds = ProceduralSounds()


def samples(pcm: Pcm) -> np.ndarray:
    return np.frombuffer(pcm.samples, "<i2").astype(float) / 32768


def window_rms(x: np.ndarray, ms: int = 50) -> np.ndarray:
    width = RATE * ms // 1000
    return np.sqrt((x[: len(x) // width * width].reshape(-1, width) ** 2).mean(axis=1))


def centroid(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x))
    return float((spectrum * np.fft.rfftfreq(len(x), 1 / RATE)).sum() / spectrum.sum())


def crossings(x: np.ndarray) -> float:
    """Zero crossings per sample: hiss crosses all the time, a low thud rarely."""
    return float((np.diff(np.sign(x)) != 0).mean())


def band_share(x: np.ndarray, low: float, high: float) -> float:
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    return float(power[(freqs >= low) & (freqs < high)].sum() / power.sum())


def onset_strength(x: np.ndarray, hop: int = 441, size: int = 2048) -> np.ndarray:
    """Spectral flux against a frequency-widened earlier frame, so vibrato is not an onset."""
    frames = np.lib.stride_tricks.sliding_window_view(x, size)[::hop] * np.hanning(size)
    level = np.log10(1 + 1000 * np.abs(np.fft.rfft(frames, axis=1)))
    wide = level.copy()
    for shift in (1, 2, 3):
        wide[:, shift:] = np.maximum(wide[:, shift:], level[:, :-shift])
        wide[:, :-shift] = np.maximum(wide[:, :-shift], level[:, shift:])
    return np.maximum(level[2:] - wide[:-2], 0).sum(axis=1)


def onsets_per_second(x: np.ndarray, threshold: float = 30.0) -> float:
    flux = onset_strength(x)
    middle = flux[1:-1]
    peaks = (middle > threshold) & (middle >= flux[:-2]) & (middle > flux[2:])
    return float(peaks.sum() / (len(x) / RATE))


def tempo(x: np.ndarray) -> float:
    """Beats a minute from the autocorrelation of the onset strength (octave errors allowed)."""
    flux = onset_strength(x)
    flux -= flux.mean()
    correlation = np.correlate(flux, flux, "full")[len(flux) - 1 :]
    lags = np.arange(len(correlation)) / (RATE / 441)
    usable = (lags >= 60 / 200) & (lags <= 60 / 45)
    return float(60 / lags[usable][np.argmax(correlation[usable])])


def test_meets_the_protocol_and_says_what_it_is() -> None:
    assert isinstance(sounds, SoundMaker)
    assert sounds.name == "storygate-synth"
    caps = {c.kind: c for c in sounds.capabilities()}
    assert set(caps) == {"sfx", "music"}
    assert caps["sfx"].model == "storygate/synth-sfx"
    assert caps["music"].model == "storygate/synth-music"
    for cap in caps.values():
        assert cap.backend == "local" and cap.available
        assert "not a generative model" in cap.note


async def test_lengths_are_exact_mono_22050() -> None:
    effect = await sounds.sound_effect(RAIN, 2.5)
    piece = await sounds.music(FAST, 4)
    assert effect.rate == piece.rate == RATE == 22050
    assert effect.frames == round(2.5 * RATE) and len(effect.samples) == 2 * effect.frames
    assert piece.frames == round(4 * RATE)
    odd = await sounds.sound_effect(KNOCK, 1.23456)
    assert odd.frames == round(1.23456 * RATE)


async def test_lengths_are_clamped_to_the_documented_range() -> None:
    assert SFX_SECONDS == (0.5, 30.0) and MUSIC_SECONDS == (3.0, 300.0)
    assert (await sounds.sound_effect(KNOCK, 0.1)).frames == round(0.5 * RATE)
    assert (await sounds.sound_effect(RAIN, 45)).frames == 30 * RATE
    assert (await sounds.music(SLOW, 1)).frames == 3 * RATE
    assert clamp_seconds(400, MUSIC_SECONDS) == 300.0  # rendering five minutes here is slow


@pytest.mark.parametrize("seconds", [0, -1, -0.0, math.nan, math.inf, -math.inf])
async def test_impossible_lengths_are_refused(seconds: float) -> None:
    with pytest.raises(ValueError):
        await sounds.sound_effect(RAIN, seconds)
    with pytest.raises(ValueError):
        await sounds.music(FAST, seconds)


def test_the_same_words_give_the_same_samples_and_others_do_not() -> None:
    assert render_sound_effect(RAIN, 2) == render_sound_effect(RAIN, 2)
    assert render_music(FAST, 4) == render_music(FAST, 4)
    assert render_sound_effect(RAIN, 2).samples != render_sound_effect(RAIN + ".", 2).samples
    assert render_music(FAST, 4).samples != render_music(FAST + "!", 4).samples
    unknown = [render_sound_effect(word, 2).samples for word in ("zzyzx", "quux", "florp")]
    assert len(set(unknown)) == 3


def test_rain_is_dense_and_bright_a_knock_sparse_and_low() -> None:
    rain = samples(render_sound_effect(RAIN, 3))
    knock = samples(render_sound_effect(KNOCK, 3))
    rain_quiet = float((window_rms(rain) < 0.01).mean())
    knock_quiet = float((window_rms(knock) < 0.01).mean())
    assert rain_quiet < 0.05 and knock_quiet > 0.6
    assert centroid(rain) > 3000 and centroid(knock) < 1500
    assert crossings(rain) > 10 * crossings(knock)
    assert np.median(window_rms(rain)) > 0.05 and np.median(window_rms(knock)) < 0.005


def test_named_sounds_layer_together() -> None:
    heart = samples(render_sound_effect("a heartbeat", 4))
    birds = samples(render_sound_effect("birds", 4))
    both = samples(render_sound_effect("birds and a heartbeat", 4))
    assert band_share(heart, 0, 250) > 0.8 and band_share(birds, 2000, 8000) > 0.8
    assert band_share(both, 0, 250) > 0.1 and band_share(both, 2000, 8000) > 0.1


def test_fast_piano_has_more_and_sharper_onsets_than_a_slow_lullaby() -> None:
    fast = samples(render_music(FAST, 10))
    slow = samples(render_music(SLOW, 10))
    assert onsets_per_second(fast) > 2.0
    assert onsets_per_second(slow) < 0.8
    assert onset_strength(fast).mean() > 3 * onset_strength(slow).mean()
    assert any(abs(tempo(fast) * 2**k - 140) < 7 for k in (-1, 0, 1))
    assert crossings(fast) > 1.3 * crossings(slow)


def test_the_words_steer_the_arrangement() -> None:
    rng = np.random.default_rng(0)
    fast, slow = arrange(FAST, rng), arrange(SLOW, rng)
    assert fast.bpm == 140.0 and fast.meter == 4 and fast.mode == "major"
    assert fast.lead == "piano" and not fast.drums and not fast.soft
    assert slow.bpm < 80 and slow.meter == 3 and slow.mode == "minor" and slow.soft
    assert slow.lead == "strings"
    assert arrange("mysterious flute", rng).mode in ("dorian", "phrygian")
    assert arrange("spooky organ with drums", rng).drums
    assert arrange("upbeat tune at 300 bpm", rng).bpm == 220.0


@pytest.mark.parametrize("prompt", [*SFX_WORDS, "zzyzx quux", "an old door"])
def test_every_sound_is_audible_and_never_clips(prompt: str) -> None:
    x = samples(render_sound_effect(prompt, 2))
    peak = float(np.abs(x).max())
    assert 0.6 < peak < 0.75  # normalised to about -3 dBFS
    assert float(np.sqrt((x**2).mean())) > 0.005


@pytest.mark.parametrize("prompt", [FAST, SLOW, "spooky organ", "bells", "synth with drums"])
def test_music_is_audible_and_never_clips(prompt: str) -> None:
    x = samples(render_music(prompt, 5))
    assert 0.6 < float(np.abs(x).max()) < 0.75
    assert float(np.sqrt((x**2).mean())) > 0.02


async def test_the_mp3_lasts_what_was_asked() -> None:
    for pcm, asked in (
        (await sounds.sound_effect(RAIN, 2.5), 2.5),
        (await sounds.music(FAST, 4), 4),
    ):
        assert abs(mp3_duration(pcm_to_mp3(pcm)) - asked) < 0.1
