"""The numpy building blocks the procedural synthesiser's effects and music are made of.

Everything works on whole arrays (spectral frames, impulse trains, FFT convolution) rather
than per sample, which is what lets a 30 s clip render in a few hundredths of a second.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from workers.backends.base import Pcm

__all__ = [
    "FREQS",
    "HOP",
    "PEAK",
    "RATE",
    "Rng",
    "Signal",
    "band",
    "burst",
    "clamp_seconds",
    "fft_convolve",
    "frame_times",
    "gate",
    "mix",
    "noise",
    "place",
    "pulses",
    "ring",
    "scatter",
    "tilt",
    "to_pcm",
    "wander",
]

Signal = npt.NDArray[np.float64]
Rng = np.random.Generator
RATE = 22050  # every narrator's rate, so clips join speech unresampled; LAME takes it as is
PEAK = 10 ** (-3 / 20)  # -3 dBFS: headroom for the MP3 encoder's overshoot
FRAME = 1024  # spectral frame of the shaped-noise generator
HOP = FRAME // 2
FREQS = np.fft.rfftfreq(FRAME, 1 / RATE)


def clamp_seconds(seconds: float, bounds: tuple[float, float]) -> float:
    value = float(seconds)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"seconds must be a positive finite number, not {seconds!r}")
    return min(bounds[1], max(bounds[0], value))


def fft_convolve(signal: Signal, kernel: Signal) -> Signal:
    """Linear convolution cut to the signal's length, by overlap-add.

    Blocks a few times the kernel's length keep every FFT small and cache-friendly: one FFT
    over a five-minute piece is several times slower than the same work in blocks.
    """
    fft_size = 1 << max(12, (4 * len(kernel)).bit_length())
    block = fft_size - len(kernel) + 1
    count = max(1, -(-len(signal) // block))
    padded = np.zeros(count * block)
    padded[: len(signal)] = signal
    spectra = np.fft.rfft(padded.reshape(count, block), fft_size) * np.fft.rfft(kernel, fft_size)
    pieces = np.fft.irfft(spectra, fft_size)
    out = np.zeros(count * block + fft_size)
    for i, piece in enumerate(pieces):
        out[i * block : i * block + fft_size] += piece
    return out[: len(signal)]


def to_pcm(signal: Signal, frames: int, fade_in_s: float, fade_out_s: float) -> Pcm:
    """Exactly ``frames`` samples, faded so neither end clicks, peaking at -3 dBFS."""
    out = np.zeros(frames)
    used = min(frames, len(signal))
    out[:used] = signal[:used]
    fade_in = min(frames // 2, int(fade_in_s * RATE))
    fade_out = min(frames // 2, int(fade_out_s * RATE))
    if fade_in:
        out[:fade_in] *= np.sin(np.linspace(0, np.pi / 2, fade_in)) ** 2
    if fade_out:
        out[-fade_out:] *= np.cos(np.linspace(0, np.pi / 2, fade_out)) ** 2
    peak = float(np.max(np.abs(out))) if frames else 0.0
    if peak > 0:
        out *= PEAK * 32767 / peak
    return Pcm(np.round(out).astype("<i2").tobytes(), RATE)


def frame_times(n: int) -> Signal:
    """The start of each spectral frame of :func:`noise`, as a column to broadcast over bins."""
    return np.arange(n // HOP + 2, dtype=np.float64)[:, None] * (HOP / RATE)


def noise(rng: Rng, n: int, gain: Signal) -> Signal:
    """Noise whose spectrum follows ``gain`` (one row per 23 ms frame, or one for all).

    Random spectra shaped and overlap-added under a sine window (whose square sums to one),
    so a band can sweep, swell or brighten over time without any per-sample loop.
    """
    count = n // HOP + 2
    gain = np.broadcast_to(gain, (count, len(FREQS)))
    spectra = (rng.standard_normal(gain.shape) + 1j * rng.standard_normal(gain.shape)) * gain
    frames = np.fft.irfft(spectra, FRAME) * np.sin(np.pi * (np.arange(FRAME) + 0.5) / FRAME)
    out = np.zeros((count + 1) * HOP)
    out.reshape(-1, HOP)[:count] += frames[:, :HOP]
    out.reshape(-1, HOP)[1:] += frames[:, HOP:]
    return out[HOP : HOP + n]


def band(centre: float | Signal, octaves: float) -> Signal:
    """A bell-shaped pass band on a log-frequency axis, centred where asked (per frame)."""
    return np.asarray(np.exp(-0.5 * (np.log2(np.maximum(FREQS, 1) / centre) / octaves) ** 2))


def tilt(power: float) -> Signal:
    """1 / f ** power in energy: 0 white, 1 pink, 2 brown; no DC."""
    return np.where(FREQS > 0, (np.maximum(FREQS, 20) / 1000) ** (-power / 2), 0.0)


def wander(rng: Rng, times: Signal, per_second: float, low: float, high: float) -> Signal:
    """A slow random curve (knots ``per_second`` apart, smoothly joined) between two values."""
    knots = rng.uniform(low, high, int(times.max() * per_second) + 3)
    position = times * per_second
    index = position.astype(int)
    ease = (1 - np.cos(np.pi * (position - index))) / 2
    return np.asarray(knots[index] + ease * (knots[index + 1] - knots[index]))


def ring(freqs: list[float], decays: list[float], amps: list[float], seconds: float) -> Signal:
    """Struck resonances (modal synthesis): what a knock, tick, drop or bell is made of."""
    t = np.arange(max(1, int(seconds * RATE))) / RATE
    out = np.zeros(len(t))
    for freq, decay, amp in zip(freqs, decays, amps, strict=True):
        if freq < 0.45 * RATE:
            out += amp * np.sin(2 * np.pi * freq * t) * np.exp(-t / decay)
    return out


def burst(rng: Rng, seconds: float, decay: float, centre: float, octaves: float) -> Signal:
    """A short filtered noise hit: the body of claps, crackles, thuds and scuffs."""
    n = max(2, int(seconds * RATE))
    spectrum = np.fft.rfft(rng.standard_normal(n) * np.exp(-np.arange(n) / (decay * RATE)))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    shape = np.exp(-0.5 * (np.log2(np.maximum(freqs, 1) / centre) / octaves) ** 2)
    return np.fft.irfft(spectrum * shape, n)


def mix(*parts: Signal) -> Signal:
    out = np.zeros(max(len(p) for p in parts))
    for part in parts:
        out[: len(part)] += part
    return out


def place(n: int, times: Signal, amps: Signal | float, kernel: Signal) -> Signal:
    """Every event's copy of ``kernel`` at once: an impulse train convolved with it."""
    train = np.zeros(n)
    at = np.asarray(np.round(np.asarray(times) * RATE), dtype=np.int64)
    ok = (at >= 0) & (at < n)
    np.add.at(train, at[ok], np.broadcast_to(amps, at.shape)[ok])
    return fft_convolve(train, kernel)


def scatter(rng: Rng, n: int, per_second: float, kernels: list[Signal], spread: float) -> Signal:
    """Poisson-timed events over several kernel variants, amplitudes varied by ``spread``."""
    out = np.zeros(n)
    for kernel in kernels:
        count = rng.poisson(per_second * n / RATE / len(kernels))
        amps = rng.uniform(0, 1, count) ** spread
        out += place(n, rng.uniform(0, n / RATE, count), amps, kernel)
    return out


def pulses(n: int, period: float, start: float = 0.1) -> Signal:
    return np.arange(start, n / RATE, period)


def gate(n: int, period: float, on: float, offset: float = 0.0) -> Signal:
    """On/off pattern with 3 ms ramps, so beeps neither click nor smear."""
    t = (np.arange(n) / RATE - offset) % period
    ramp = 0.003
    return np.clip(np.minimum(t / ramp, (on - t) / ramp), 0, 1)
