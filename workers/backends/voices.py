"""A cast of distinct voices made from any one narrator by shifting its pitch and pace.

The bundled piper voice is a single speaker and the instant narrator hums one voice per seed,
so a table read with four characters would otherwise sound like one person reading every part.
Each :class:`Voice` here is a transformation of whatever the narrator returns: resampling moves
the pitch (and the formants with it, as a larger or smaller speaker would), then a WSOLA time
stretch sets the pace without touching the pitch again. Everything is numpy; PyAV is imported
only inside :func:`decode_mp3`, which lives here because pipelines may not import it.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import numpy.typing as npt

from workers.backends.base import Pcm
from workers.backends.voice_cast import NARRATOR, VOICES, Voice, assign_voices, voice_by_id

__all__ = [
    "NARRATOR",
    "VOICES",
    "Voice",
    "assign_voices",
    "decode_mp3",
    "from_float",
    "median_f0",
    "resample",
    "to_float",
    "voice_by_id",
    "voiced",
]

Floats = npt.NDArray[np.float64]

# -- samples as floats --------------------------------------------------------------------------


def to_float(pcm: Pcm) -> Floats:
    """16-bit PCM as floats in [-1, 1)."""
    return np.frombuffer(pcm.samples, dtype="<i2").astype(np.float64) / 32768.0


def from_float(samples: Floats, rate: int) -> Pcm:
    clipped = np.clip(np.round(samples * 32768.0), -32768, 32767)
    return Pcm(clipped.astype("<i2").tobytes(), rate)


# -- the transformation ------------------------------------------------------------------------


def _lowpass(x: Floats, cutoff: float, taps: int = 63) -> Floats:
    """A windowed-sinc low-pass at ``cutoff`` cycles per sample (before reading x faster)."""
    n = np.arange(taps) - (taps - 1) / 2
    kernel = 2 * cutoff * np.sinc(2 * cutoff * n) * np.blackman(taps)
    kernel /= kernel.sum()
    return np.convolve(x, kernel, mode="same")


def resample(x: Floats, step: float) -> Floats:
    """Read ``x`` at ``step`` input samples per output sample (linear interpolation): pitch
    times ``step``, length divided by it. Content that would fold over Nyquist is removed first.
    """
    if len(x) < 2 or abs(step - 1.0) < 1e-3:
        return x
    if step > 1.0:
        x = _lowpass(x, 0.47 / step)
    count = max(1, int(len(x) / step))
    return np.interp(np.arange(count) * step, np.arange(len(x)), x)


def _stretch(x: Floats, factor: float, rate: int) -> Floats:
    """WSOLA: ``factor`` times as long at the same pitch.

    30 ms Hann frames at 50% overlap are laid at a fixed output hop and read from the input at
    ``hop / factor``; each is nudged (within 8 ms) to line up with the natural continuation of
    the previous one, so periods join in phase instead of beating.
    """
    if len(x) == 0 or abs(factor - 1.0) < 1e-3:
        return x
    frame = max(8, int(rate * 0.030) // 2 * 2)
    hop = frame // 2
    tol = max(1, int(rate * 0.008))
    window = np.hanning(frame + 1)[:frame]  # periodic: overlapping halves sum to one
    ana = hop / factor
    n_out = round(len(x) * factor)
    count = n_out // hop + 2
    pad = frame + tol
    right = int(2 * ana) + 2 * frame + tol + 2
    padded = np.concatenate([np.zeros(pad), x, np.zeros(right)])
    out = np.zeros(count * hop + frame + hop)
    prev = pad - hop
    out[0:frame] += padded[prev : prev + frame] * window
    for k in range(1, count):
        natural = prev + hop
        target = round(k * ana) - hop + pad
        template = padded[natural : natural + hop]
        region = padded[target - tol : target + tol + hop]
        scores = np.correlate(region, template, mode="valid")
        start = target - tol + int(np.argmax(scores))
        out[k * hop : k * hop + frame] += padded[start : start + frame] * window
        prev = start
    return out[hop : hop + n_out]


def voiced(pcm: Pcm, voice: Voice) -> Pcm:
    """``pcm`` as ``voice`` speaks it: same rate, pitch times ``voice.pitch``, length divided by
    ``voice.pace``."""
    if (abs(voice.pitch - 1.0) < 1e-3 and abs(voice.pace - 1.0) < 1e-3) or pcm.frames < 2:
        return pcm
    x = to_float(pcm)
    shifted = resample(x, voice.pitch)  # pitch up by `pitch`, length / pitch
    paced = _stretch(shifted, voice.pitch / voice.pace, pcm.rate)  # length / pace overall
    return from_float(paced, pcm.rate)


# -- measuring ---------------------------------------------------------------------------------


def median_f0(pcm: Pcm, fmin: float = 40.0, fmax: float = 500.0) -> float:
    """The median fundamental frequency (Hz) over the voiced frames, by Praat's pitch tracker
    (through parselmouth); 0.0 when nothing is voiced. For tests and checks, not for tuning
    audio: Praat's path finder keeps a low voice from being read an octave off, which a plain
    autocorrelation peak does on real speech."""
    import parselmouth

    if pcm.frames < int(pcm.rate * 3 / fmin):
        return 0.0
    sound = parselmouth.Sound(to_float(pcm), sampling_frequency=pcm.rate)
    track = sound.to_pitch_ac(pitch_floor=fmin, pitch_ceiling=fmax).selected_array["frequency"]
    voiced_frames = track[track > 0]
    return float(np.median(voiced_frames)) if len(voiced_frames) else 0.0


# -- decoding ----------------------------------------------------------------------------------


def decode_mp3(data: bytes) -> Pcm:
    """Decode an MP3 (mono or not) to 16-bit mono PCM at its own rate with PyAV.

    Every sample the decoder gives is kept, including the encoder's leading delay, so lengths
    match what a player without gapless metadata plays.
    """
    import av

    chunks: list[Floats] = []
    rate = 0
    with av.open(io.BytesIO(data), mode="r", format="mp3") as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            rate = rate or int(frame.sample_rate)
            chunks.append(
                _mono(frame.to_ndarray(), str(frame.format.name), len(frame.layout.channels))
            )
    if not chunks:
        raise ValueError("no audio in the MP3")
    return from_float(np.concatenate(chunks), rate)


def _mono(array: Any, sample_format: str, channels: int) -> Floats:
    """One decoded frame's samples (planar or packed, float or int16) as mono floats."""
    samples = np.asarray(array)
    scale = 32768.0 if samples.dtype == np.int16 else 1.0
    values = samples.astype(np.float64) / scale
    if sample_format.endswith("p"):  # planar: one row per channel
        return np.asarray(values.mean(axis=0), dtype=np.float64)
    # packed: one row of interleaved channels
    return np.asarray(values.reshape(-1, max(1, channels)).mean(axis=1), dtype=np.float64)
