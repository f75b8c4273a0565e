"""Levels shared by every SleeperHit mix: how loud the voices speak, how far under them a music
bed sits, and the loudness a finished recording is delivered at.

A read is judged by its pauses (workers/pipelines/read_audio.py), so a bed is set from the
voices' own level and then held under the silence gate with room to spare: a listener still
hears every line start, and a scene without music stays silent under its voices. The finished
mix is measured with pyloudnorm (ITU-R BS.1770) and brought to the loudness podcasts are
delivered at, never louder than a ceiling just under full scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workers.backends.voices import Floats
from workers.pipelines.read_audio import GATE_DB, frame_rms

__all__ = [
    "BED_DB",
    "PEAK_DBFS",
    "TARGET_LUFS",
    "SpeechLevel",
    "bed_gain",
    "cover",
    "envelope",
    "loudness_normalised",
    "speech_level",
]

# How far under the voices' speaking level (RMS of their sounding frames) a bed sits.
BED_DB = 22.0
# A bed's loudest frames stay this far under the silence gate.
GATE_MARGIN_DB = 6.0
# The delivered loudness (integrated, LUFS) and the ceiling its peaks are kept under.
TARGET_LUFS = -16.0
PEAK_DBFS = -1.0
# Peaks are looked for at this many times the rate: the ones between samples count too.
OVERSAMPLE = 4
LOOP_FADE_S = 1.0


@dataclass(frozen=True, slots=True)
class SpeechLevel:
    # The loud speech (95th percentile of the sounding 20 ms frames' RMS): the gate's reference.
    loud: float
    # The RMS of the frames a listener hears as speech (those above the gate).
    speaking: float


def speech_level(voice: Floats, rate: int) -> SpeechLevel | None:
    """How loud the voices speak, or ``None`` for a recording with nothing in it."""
    rms = frame_rms(voice, rate)
    active = rms[rms > 1e-5]
    if not len(active):
        return None
    loud = float(np.percentile(active, 95))
    speaking = float(np.sqrt((active[active > loud * 10 ** (-GATE_DB / 20)] ** 2).mean()))
    return SpeechLevel(loud, speaking)


def bed_gain(level: SpeechLevel, bed: Floats, rate: int) -> float:
    """The gain that puts ``bed`` :data:`BED_DB` under the speaking level, lowered as needed so
    that however the bed swells its loudest frames stay well under the silence gate (0 for a
    silent bed)."""
    rms = frame_rms(bed, rate)
    sounding = rms[rms > 1e-6]
    if not len(sounding):
        return 0.0
    gain = level.speaking * 10 ** (-BED_DB / 20) / float(np.sqrt((sounding**2).mean()))
    ceiling = level.loud * 10 ** (-(GATE_DB + GATE_MARGIN_DB) / 20)
    return min(gain, ceiling / float(np.percentile(sounding, 99.5)))


def cover(music: Floats, length: int, rate: int) -> Floats:
    """``music`` looped (with a crossfade at each seam) or cut to exactly ``length`` samples."""
    if len(music) == 0:
        return np.zeros(length)
    fade = min(int(rate * LOOP_FADE_S), len(music) // 3)
    out = music.copy()
    while len(out) < length:
        if fade:
            ramp = np.linspace(0.0, 1.0, fade)
            seam = out[-fade:] * (1 - ramp) + music[:fade] * ramp
            out = np.concatenate([out[:-fade], seam, music[fade:]])
        else:
            out = np.concatenate([out, music])
    return out[:length]


def envelope(length: int, fade_in: int, fade_out: int) -> Floats:
    """Ones with a linear fade of ``fade_in`` samples at the start and ``fade_out`` at the end."""
    env = np.ones(length)
    fin, fout = min(length, fade_in), min(length, fade_out)
    if fin:
        env[:fin] = np.linspace(0.0, 1.0, fin)
    if fout:
        env[-fout:] = np.minimum(env[-fout:], np.linspace(1.0, 0.0, fout))
    return env


def _true_peak(x: Floats) -> float:
    """The peak of ``x`` between its samples as well (polyphase oversampling), close to the
    true peak a decoder's reconstruction reaches."""
    from scipy.signal import resample_poly

    if not len(x):
        return 0.0
    return max(float(np.abs(x).max()), float(np.abs(resample_poly(x, OVERSAMPLE, 1)).max()))


def loudness_normalised(
    x: Floats, rate: int, *, target_lufs: float = TARGET_LUFS, peak_dbfs: float = PEAK_DBFS
) -> Floats:
    """``x`` at ``target_lufs`` integrated loudness, turned down instead where that would put
    its (oversampled) peak over ``peak_dbfs``. A recording too short or too quiet to measure
    is only kept under the ceiling."""
    import pyloudnorm

    gain = 1.0
    if len(x) >= int(rate * 0.4):
        loudness = pyloudnorm.Meter(rate).integrated_loudness(x)
        if np.isfinite(loudness):
            gain = 10 ** ((target_lufs - loudness) / 20)
    peak = _true_peak(x) * gain
    ceiling = 10 ** (peak_dbfs / 20)
    if peak > ceiling:
        gain *= ceiling / peak
    return np.asarray(x * gain, dtype=np.float64)
