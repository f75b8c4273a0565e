"""The audio half of a table read: level and tidy each voiced line, join the lines with pauses,
time them, and tell lines apart again by their silences.

A read is judged by the silences between its lines: a listener (and the theater page, and the
tests) hears a new line after a pause, so every pause *inside* a line is kept shorter than
:data:`MIN_GAP_MS` and every pause *between* lines longer. The same loudness gate decides what
counts as silence here and in the finalize mix, whose music bed is kept under that gate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workers.backends.audio import mp3_duration, pcm_to_mp3
from workers.backends.base import Pcm
from workers.backends.voices import Floats, Voice, from_float, to_float, voiced

__all__ = [
    "BETWEEN_SPEAKERS_MS",
    "GATE_DB",
    "MAX_INNER_PAUSE_MS",
    "MIN_GAP_MS",
    "MP3_DELAY_SAMPLES",
    "SAME_SPEAKER_MS",
    "EncodedRead",
    "Joined",
    "count_voiced_segments",
    "encode_read",
    "frame_rms",
    "join_lines",
    "prepare_line",
    "speak_line",
    "voiced_segments",
]

# lameenc (LAME) puts 1105 samples before the first input sample at every rate we use (576 of
# encoder delay plus the decoder's 529) and writes no gapless tag, so every decoder plays them.
# Measured by encoding a tone burst at 16, 22.05, 24 and 44.1 kHz and locating it in PyAV's
# decode (tests/unit/test_table_read.py checks it). Entry times are shifted by it.
MP3_DELAY_SAMPLES = 1105

# Pauses between lines: a breath when the same voice goes on, longer when another answers.
SAME_SPEAKER_MS = 750
BETWEEN_SPEAKERS_MS = 950
# Silence detection: a 20 ms frame is quiet when it is GATE_DB under the loud speech of the
# clip (its 95th-percentile frame); a new line starts after at least MIN_GAP_MS of quiet.
FRAME_MS = 20
GATE_DB = 16.0
MIN_GAP_MS = 600
# No pause inside a line is left longer than this (sentences read by piper can sit 0.5 s apart).
MAX_INNER_PAUSE_MS = 380
# Every line is levelled to this 95th-percentile frame RMS, so voices sound equally loud.
LINE_LEVEL_DBFS = -16.0
PEAK_LIMIT = 0.93
# Tails below this (relative to the loud speech) are trimmed from both ends of a line.
TRIM_DB = 42.0
EDGE_MS = 15


def frame_rms(x: Floats, rate: int, frame_ms: int = FRAME_MS) -> Floats:
    """RMS of consecutive ``frame_ms`` frames (the last partial frame dropped)."""
    size = max(1, rate * frame_ms // 1000)
    count = len(x) // size
    if count == 0:
        return np.zeros(0)
    frames = x[: count * size].reshape(count, size)
    return np.asarray(np.sqrt((frames**2).mean(axis=1)), dtype=np.float64)


def _loud_level(rms: Floats) -> float:
    """The level of the clip's loud speech: the 95th percentile of its non-silent frames."""
    active = rms[rms > 1e-5]
    return float(np.percentile(active, 95)) if len(active) else 0.0


def _runs(mask: Sequence[bool] | np.ndarray) -> list[tuple[int, int]]:
    """(start, end) frame index pairs of the runs of True in ``mask``."""
    flags = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(flags.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def voiced_segments(
    pcm: Pcm, min_gap_ms: int = MIN_GAP_MS, *, gate_db: float = GATE_DB, min_voice_ms: int = 80
) -> list[tuple[int, int]]:
    """(start ms, end ms) of each stretch of sound separated from the next by at least
    ``min_gap_ms`` of quiet; bursts shorter than ``min_voice_ms`` are ignored."""
    x = to_float(pcm)
    rms = frame_rms(x, pcm.rate)
    loud = _loud_level(rms)
    if loud <= 0:
        return []
    sounding = rms > loud * 10 ** (-gate_db / 20)
    segments: list[list[int]] = []
    for start, end in _runs(sounding):
        if segments and (start - segments[-1][1]) * FRAME_MS < min_gap_ms:
            segments[-1][1] = end
        else:
            segments.append([start, end])
    return [(a * FRAME_MS, b * FRAME_MS) for a, b in segments if (b - a) * FRAME_MS >= min_voice_ms]


def count_voiced_segments(pcm: Pcm, min_gap_ms: int = MIN_GAP_MS) -> int:
    """How many lines a listener hears: the stretches of sound between pauses of ``min_gap_ms``
    or more (the measure the tests hold a read and its final mix to)."""
    return len(voiced_segments(pcm, min_gap_ms))


def _cap_pauses(x: Floats, rate: int, quiet: np.ndarray, cap_ms: int) -> Floats:
    """Shorten every inner quiet run longer than ``cap_ms`` by cutting out its middle (with a
    5 ms fade on each side of the cut), keeping its edges, where soft consonants live."""
    size = rate * FRAME_MS // 1000
    keep = max(2, cap_ms // FRAME_MS)
    cuts = [
        ((start + keep // 2) * size, (end - (keep - keep // 2)) * size)
        for start, end in _runs(quiet)
        if end - start > keep and start > 0 and end < len(quiet)
    ]
    if not cuts:
        return x
    fade = max(1, rate * 5 // 1000)
    down, up = np.linspace(1.0, 0.0, fade), np.linspace(0.0, 1.0, fade)
    pieces: list[Floats] = []
    cursor = 0
    for cut_from, cut_to in [*cuts, (len(x), len(x))]:
        piece = x[cursor:cut_from].copy()
        if cursor and len(piece) >= fade:
            piece[:fade] *= up
        if cut_from < len(x) and len(piece) >= fade:
            piece[-fade:] *= down
        pieces.append(piece)
        cursor = cut_to
    return np.concatenate(pieces)


def prepare_line(pcm: Pcm) -> Pcm:
    """One voiced line, ready to join: levelled, trimmed to its sound (plus a 15 ms edge) and
    with no inner pause longer than :data:`MAX_INNER_PAUSE_MS`."""
    x = to_float(pcm)
    rms = frame_rms(x, pcm.rate)
    loud = _loud_level(rms)
    if loud <= 0:
        return Pcm(b"", pcm.rate)
    gain = min(10 ** (LINE_LEVEL_DBFS / 20) / loud, PEAK_LIMIT / max(1e-9, float(np.abs(x).max())))
    x = x * gain
    rms = rms * gain
    loud = loud * gain
    size = pcm.rate * FRAME_MS // 1000
    heard = np.flatnonzero(rms > loud * 10 ** (-TRIM_DB / 20))
    edge = pcm.rate * EDGE_MS // 1000
    first = max(0, int(heard[0]) * size - edge)
    last = min(len(x), (int(heard[-1]) + 1) * size + edge)
    x, rms = x[first:last], frame_rms(x[first:last], pcm.rate)
    quiet = rms <= loud * 10 ** (-GATE_DB / 20)
    x = _cap_pauses(x, pcm.rate, quiet, MAX_INNER_PAUSE_MS)
    return from_float(x, pcm.rate)


@dataclass(frozen=True, slots=True)
class Joined:
    pcm: Pcm
    # (start ms, end ms) of each line as heard in the MP3 encoded from ``pcm`` (delay included).
    spans: tuple[tuple[int, int], ...]


def gaps_for(speakers: Sequence[str], same_ms: int, between_ms: int) -> list[int]:
    """The pause before each line after the first."""
    return [
        same_ms if speakers[i] == speakers[i - 1] else between_ms for i in range(1, len(speakers))
    ]


def join_lines(
    lines: Sequence[Pcm],
    speakers: Sequence[str],
    *,
    same_ms: int = SAME_SPEAKER_MS,
    between_ms: int = BETWEEN_SPEAKERS_MS,
    lead_ms: int = 300,
    tail_ms: int = 500,
) -> Joined:
    """Lay the prepared lines end to end with pauses; return the PCM and each line's span."""
    if not lines:
        raise ValueError("a read needs at least one line")
    rate = lines[0].rate
    if any(p.rate != rate for p in lines):
        raise ValueError("every line of a read must share one rate")
    gaps = [0, *gaps_for(speakers, same_ms, between_ms)]
    parts: list[bytes] = [b"\x00\x00" * (rate * lead_ms // 1000)]
    cursor = rate * lead_ms // 1000
    spans: list[tuple[int, int]] = []
    for line, gap in zip(lines, gaps, strict=True):
        pause = rate * gap // 1000
        parts.append(b"\x00\x00" * pause)
        cursor += pause
        start = cursor
        parts.append(line.samples)
        cursor += line.frames
        spans.append((_ms(start, rate), _ms(cursor, rate)))
    parts.append(b"\x00\x00" * (rate * tail_ms // 1000))
    return Joined(Pcm(b"".join(parts), rate), tuple(spans))


def read_length_s(lines: Sequence[Pcm], speakers: Sequence[str]) -> float:
    """How long :func:`join_lines` would make these lines (without the MP3's own padding)."""
    if not lines:
        return 0.0
    rate = lines[0].rate
    gaps = sum(gaps_for(speakers, SAME_SPEAKER_MS, BETWEEN_SPEAKERS_MS)) / 1000
    return sum(p.frames for p in lines) / rate + gaps + 0.8


def _ms(sample: int, rate: int) -> int:
    return round((sample + MP3_DELAY_SAMPLES) * 1000 / rate)


async def speak_line(narrator: Any, text: str, voice: Voice, *, seed: int) -> Pcm:
    """One line as ``voice`` says it, ready to join: the narrator speaks ``text`` (with the
    read's ``seed``, so the same text and seed always sound the same), the voice transforms it
    and :func:`prepare_line` levels and trims it."""
    raw = await narrator.speak(text, seed=seed)
    return await asyncio.to_thread(lambda: prepare_line(voiced(raw, voice)))


@dataclass(frozen=True, slots=True)
class EncodedRead:
    data: bytes  # the MP3
    duration_ms: int
    # (start ms, end ms) of each line in the MP3, as :attr:`Joined.spans`.
    spans: tuple[tuple[int, int], ...]


async def encode_read(lines: Sequence[Pcm], speakers: Sequence[str]) -> EncodedRead:
    """Join the prepared lines with the read's pauses and encode the MP3 a table read stores."""
    joined = join_lines(lines, speakers)
    data = await asyncio.to_thread(pcm_to_mp3, joined.pcm)
    return EncodedRead(data, round(mp3_duration(data) * 1000), joined.spans)
