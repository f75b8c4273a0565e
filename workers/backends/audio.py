"""PCM and MP3 plumbing shared by every narrator: encode, join, measure.

Every speech backend returns :class:`Pcm`; turning it into the MP3 that the APIs serve happens
here once, with lameenc (a compiled LAME binding, small enough to be a core dependency).
"""

from __future__ import annotations

import io
import wave
from collections.abc import Sequence

import lameenc

from workers.backends.base import Pcm

__all__ = [
    "concat_mp3",
    "concat_pcm",
    "mp3_duration",
    "mp3_frames",
    "pcm_to_mp3",
    "pcm_to_wav",
    "silence",
    "wav_to_pcm",
]

# MPEG audio header tables: (version, layer) -> bitrates in kbit/s by index.
_BITRATES = {
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {1: (44100, 48000, 32000), 2: (22050, 24000, 16000), 25: (11025, 12000, 8000)}


def silence(ms: int, rate: int) -> Pcm:
    return Pcm(b"\x00\x00" * max(0, rate * ms // 1000), rate)


def concat_pcm(parts: Sequence[Pcm], gap_ms: int = 400, *, rate: int | None = None) -> Pcm:
    """Join clips with a pause between them.

    Resampling is deliberately absent: every narrator speaks at one rate, so a mismatch means a
    wiring bug that should fail loudly rather than play at the wrong speed.
    """
    rates = {p.rate for p in parts}
    if rate is not None:
        rates.add(rate)
    if len(rates) > 1:
        raise ValueError(f"cannot join PCM clips of different rates: {sorted(rates)}")
    if not rates:
        raise ValueError("concat_pcm needs at least one part or an explicit rate")
    (common,) = rates
    gap = silence(gap_ms, common).samples
    return Pcm(gap.join(p.samples for p in parts), common)


def pcm_to_mp3(pcm: Pcm, bitrate: int = 64) -> bytes:
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(bitrate)
    encoder.set_in_sample_rate(pcm.rate)
    encoder.set_channels(1)
    encoder.set_quality(7)  # fast; narration needs no more
    samples = pcm.samples if pcm.samples else silence(50, pcm.rate).samples
    return bytes(encoder.encode(samples) + encoder.flush())


def pcm_to_wav(pcm: Pcm) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(pcm.rate)
        out.writeframes(pcm.samples)
    return buffer.getvalue()


def wav_to_pcm(data: bytes) -> Pcm:
    """Read a 16-bit mono WAV (what piper and most TTS engines write) into PCM."""
    with wave.open(io.BytesIO(data), "rb") as source:
        if source.getsampwidth() != 2 or source.getnchannels() != 1:
            raise ValueError("expected 16-bit mono WAV")
        return Pcm(source.readframes(source.getnframes()), source.getframerate())


def _skip_id3(data: bytes) -> int:
    if data[:3] == b"ID3" and len(data) >= 10:
        size = 0
        for b in data[6:10]:
            size = (size << 7) | (b & 0x7F)
        return 10 + size
    return 0


def _frame_at(data: bytes, pos: int) -> tuple[int, int, int] | None:
    """(frame length, samples per frame, sample rate) of a Layer III frame at ``pos``."""
    if pos + 4 > len(data) or data[pos] != 0xFF or (data[pos + 1] & 0xE0) != 0xE0:
        return None
    version_bits = (data[pos + 1] >> 3) & 0x3
    layer_bits = (data[pos + 1] >> 1) & 0x3
    if version_bits == 1 or layer_bits != 1:  # reserved version, or not Layer III
        return None
    version = {3: 1, 2: 2, 0: 25}[version_bits]
    bitrate_index = data[pos + 2] >> 4
    rate_index = (data[pos + 2] >> 2) & 0x3
    if bitrate_index in (0, 15) or rate_index == 3:
        return None
    bitrate = _BITRATES[(1 if version == 1 else 2, 3)][bitrate_index] * 1000
    rate = _RATES[version][rate_index]
    padding = (data[pos + 2] >> 1) & 0x1
    per_frame = 1152 if version == 1 else 576
    length = (per_frame // 8) * bitrate // rate + padding
    return length, per_frame, rate


def mp3_frames(data: bytes) -> list[tuple[int, int, int, int]]:
    """Every audio frame as (offset, length, samples, rate); stops at the first broken one."""
    frames = []
    pos = _skip_id3(data)
    while pos < len(data):
        frame = _frame_at(data, pos)
        if frame is None:
            break
        length, per_frame, rate = frame
        frames.append((pos, length, per_frame, rate))
        pos += length
    return frames


def _is_info_frame(data: bytes, offset: int, length: int) -> bool:
    body = data[offset : offset + length]
    return b"Xing" in body or b"Info" in body


def mp3_duration(data: bytes) -> float:
    return sum(
        samples / rate
        for offset, length, samples, rate in mp3_frames(data)
        if not _is_info_frame(data, offset, length)
    )


def concat_mp3(parts: Sequence[bytes]) -> bytes:
    """Join MP3 clips frame by frame.

    MP3 frames are self-contained, so clips of one encoder setting can be joined without
    re-encoding; ID3 tags and Xing/Info headers are dropped because they would describe only
    the first clip and make players report the wrong length.
    """
    out = bytearray()
    for part in parts:
        for offset, length, _samples, _rate in mp3_frames(part):
            if not _is_info_frame(part, offset, length):
                out += part[offset : offset + length]
    return bytes(out)
