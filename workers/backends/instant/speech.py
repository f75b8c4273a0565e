"""The instant narrator: a speech-like signal, not speech.

Each syllable of the text becomes a short voiced sound built from the formants of its vowel,
with a burst of noise for a leading consonant and pauses at spaces and punctuation; pitch falls
through a sentence and rises at a question. It sounds like someone humming the text at about
13 characters a second, deterministically, with no model. Output: 22050 Hz, 16-bit mono.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import struct
import unicodedata
from dataclasses import dataclass

from workers.backends.base import Capability, Pcm, stable_seed

__all__ = ["RATE", "InstantNarrator"]

RATE = 22050
_FORMANTS = (
    (730, 1090, 2440),
    (530, 1840, 2480),
    (270, 2290, 3010),
    (570, 840, 2410),
    (300, 870, 2240),
)
_LEVELS = 8  # amplitude steps of a syllable's envelope
_PEAK = 9000
_LATIN_VOWELS = ("aáàâäãåæā", "eéèêëē", "iíìîïyýī", "oóòôöõøō", "uúùûüū")
_CYRILLIC_VOWELS = ("ая", "еэё", "иый", "\u043e", "ую")  # \u043e: Cyrillic o
_VOWELS = {
    ch: i
    for i, group in enumerate(zip(_LATIN_VOWELS, _CYRILLIC_VOWELS, strict=True))
    for ch in "".join(group)
}
_HISS = set("sfhzxcçšž") | set("шщсфхзжчц")
_STOP = set("ptkbdgq") | set("пткбдг")
_HUM = set("mnlrwvj") | set("мнлрвй")
_STOPS = ".!?\u3002\uff01\uff1f"  # with the ideographic full stop and full-width ! and ?
_BREATHS = ",;:\u3001\uff0c\uff1b\uff1a"  # with the ideographic and full-width comma, ; and :
_TOKEN = re.compile(rf"\n\s*\n|[{_STOPS}]+|[{_BREATHS}]+|\s+|[^\s{_STOPS}{_BREATHS}]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


@dataclass(frozen=True, slots=True)
class _Syllable:
    vowel: int
    onset: str  # "" | hiss | stop | hum
    question: bool
    position: float  # 0..1 through its sentence


def _hangul_vowel(ch: str) -> int:
    medial = ((ord(ch) - 0xAC00) % 588) // 28
    return (0, 0, 0, 0, 1, 1, 1, 1, 3, 0, 0, 1, 3, 4, 4, 1, 2, 4, 2, 2, 2)[medial]


def _syllables(word: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    if _CJK.search(word):
        for ch in word:
            if "\uac00" <= ch <= "\ud7af":
                vowel = _hangul_vowel(ch)
                onset = ("stop", "hum", "hiss", "")[((ord(ch) - 0xAC00) // 588) % 4]
            elif _CJK.match(ch):
                vowel = ord(ch) % 5
                onset = ("", "stop", "hum", "hiss")[(ord(ch) // 5) % 4]
            else:
                continue
            out.append((vowel, onset))
        return out
    plain = unicodedata.normalize("NFC", word.lower())
    onset = ""
    in_vowel = False
    for ch in plain:
        if ch in _VOWELS:
            if not in_vowel:
                out.append((_VOWELS[ch], onset))
                onset = ""
            in_vowel = True
        else:
            in_vowel = False
            if not onset:
                onset = (
                    "hiss"
                    if ch in _HISS
                    else "stop"
                    if ch in _STOP
                    else "hum"
                    if ch in _HUM
                    else ""
                )
    if not out and any(ch.isalnum() for ch in plain):
        out.append((0, onset))  # "hmm", "Ш", digits: still a beat
    return out


class InstantNarrator:
    """Reads text aloud as a deterministic hum; the same text and seed give the same samples."""

    name = "instant"

    def __init__(self) -> None:
        self._periods: dict[tuple[int, int], list[bytes]] = {}

    def capability(self) -> Capability:
        return Capability(
            kind="speech",
            backend="instant",
            model="instant-formant-v1",
            available=True,
            note="speech-like formant signal at 22050 Hz; not intelligible speech",
        )

    async def speak(self, text: str, *, language: str = "english", seed: int = 0) -> Pcm:
        return await asyncio.to_thread(self.synthesize, text, language, seed)

    def _period(self, vowel: int, length: int) -> list[bytes]:
        """One pitch period of a vowel at every envelope level, as int16 bytes.

        Each harmonic is a whole number of cycles per period, so periods of any pitch join
        without clicks; they are cached on the instance, per (vowel, length).
        """
        key = (vowel, length)
        if key not in self._periods:
            f0 = RATE / length
            weights = []
            for k in range(1, int(3800 / f0) + 1):
                f = k * f0
                gain = sum(1 / (1 + ((f - fm) / (60 + fm * 0.08)) ** 2) for fm in _FORMANTS[vowel])
                weights.append(gain / k**0.5)
            wave = [
                sum(
                    wk * math.sin(2 * math.pi * (k + 1) * n / length)
                    for k, wk in enumerate(weights)
                )
                for n in range(length)
            ]
            top = max(abs(v) for v in wave) or 1.0
            levels = []
            for level in range(1, _LEVELS + 1):
                scale = _PEAK * (level / _LEVELS) ** 1.5 / top
                levels.append(struct.pack(f"<{length}h", *(round(v * scale) for v in wave)))
            self._periods[key] = levels
        return self._periods[key]

    def _noise(self, rng: random.Random, ms: int, amplitude: int) -> bytes:
        count = RATE * ms // 1000
        samples = []
        for i in range(count):
            fade = min(1.0, i / (count * 0.2 + 1), (count - i) / (count * 0.5 + 1))
            samples.append(round((rng.random() - 0.5) * 2 * amplitude * fade))
        return struct.pack(f"<{count}h", *samples)

    def synthesize(self, text: str, language: str = "english", seed: int = 0) -> Pcm:
        rng = random.Random(stable_seed("instant-voice", seed, language))
        base_f0 = 150 + rng.random() * 80
        cjk = bool(_CJK.search(text))
        per_second = 6.5 if cjk and language in ("chinese", "japanese") else 13.5
        hiss = [self._noise(rng, 55, 2600) for _ in range(3)]
        stop = [self._noise(rng, 14, 5200) for _ in range(3)]
        events: list[_Syllable | int] = []  # syllables, or pauses in milliseconds
        for sentence in re.split(rf"(?<=[{_STOPS}])\s+", text.strip()):
            question = sentence.rstrip().endswith(("?", "\uff1f"))
            tokens = _TOKEN.findall(sentence)
            sounds = [s for t in tokens if not t.isspace() for s in _syllables(t)]
            count, seen = max(1, len(sounds)), 0
            for token in tokens:
                if token.startswith("\n"):
                    events.append(600)
                elif token[0] in _STOPS:
                    events.append(380)
                elif token[0] in _BREATHS:
                    events.append(180)
                elif token.isspace():
                    events.append(45)
                else:
                    for vowel, onset in _syllables(token):
                        events.append(_Syllable(vowel, onset, question, seen / count))
                        seen += 1
        syllables = sum(1 for e in events if isinstance(e, _Syllable))
        pauses = sum(e for e in events if isinstance(e, int)) / 1000
        target = max(0.3, len(text.strip()) / per_second)
        each = min(0.32, max(0.09, (target - pauses) / max(1, syllables)))
        out: list[bytes] = []
        for event in events:
            if isinstance(event, int):
                out.append(b"\x00\x00" * (RATE * event // 1000))
                continue
            voiced = each
            if event.onset == "hiss":
                out.append(hiss[rng.randrange(3)])
                voiced -= 0.055
            elif event.onset == "stop":
                out.append(b"\x00\x00" * (RATE * 12 // 1000) + stop[rng.randrange(3)])
                voiced -= 0.026
            drift = 1.12 - 0.25 * event.position
            if event.question and event.position > 0.7:
                drift += 0.45 * (event.position - 0.7) / 0.3
            f0 = base_f0 * drift * (1 + 0.04 * rng.uniform(-1, 1))
            glide = rng.uniform(-0.08, 0.05)
            periods = max(3, round(max(0.04, voiced) * f0))
            for n in range(periods):
                pitch = f0 * (1 + glide * n / periods)
                length = 4 * round(RATE / pitch / 4)  # a coarse pitch grid keeps the cache small
                level = min(
                    n + 2, periods - n, _LEVELS - (1 if event.onset == "hum" and n < 3 else 0)
                )
                out.append(self._period(event.vowel, length)[max(0, min(_LEVELS, level) - 1)])
        if not out:
            out.append(b"\x00\x00" * (RATE // 5))
        return Pcm(b"".join(out), RATE)
