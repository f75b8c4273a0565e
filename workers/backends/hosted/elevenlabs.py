"""ElevenLabs speech (``ElevenLabsNarrator``), sound effects and music (``ElevenLabsAudio``).

Every call asks for raw 16-bit PCM at 22050 Hz, the shape every narrator in storygate returns,
so nothing has to decode MP3 and clips from different calls join without resampling. The SDK
streams its answer as a lazy async iterator of byte chunks: nothing is sent until it is
iterated, so each call consumes it fully inside the provider's time limit.
"""

from __future__ import annotations

import inspect
import logging
import re
from typing import Any

from workers.backends.audio import concat_pcm
from workers.backends.base import Capability, Pcm
from workers.backends.hosted import MISSING_EXTRA, provider_call

__all__ = [
    "DEFAULT_SPEECH_MODEL",
    "DEFAULT_VOICE",
    "OUTPUT_FORMAT",
    "RATE",
    "ElevenLabsAudio",
    "ElevenLabsNarrator",
]

log = logging.getLogger("storygate.backends.elevenlabs")

PROVIDER = "ElevenLabs"
DEFAULT_VOICE = "21m00Tcm4TlvDq8ikWAM"
DEFAULT_SPEECH_MODEL = "eleven_multilingual_v2"
RATE = 22050
OUTPUT_FORMAT = f"pcm_{RATE}"
# One request's text stays well under the provider's per-request character limit.
MAX_CHARS = 4000
# The provider's accepted ranges for generated sound and music.
SOUND_SECONDS = (0.5, 30.0)
MUSIC_MS = (3_000, 600_000)
_SEED_RANGE = 2**32
_SENTENCE = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+|\n+")


def _pcm(data: bytes) -> Pcm:
    # A stream cut mid-sample would shift every later sample by a byte: drop the stray one.
    return Pcm(data[: len(data) - len(data) % 2], RATE)


async def _collect(stream: Any) -> bytes:
    """Drain the SDK's answer, whether it is handed over directly or behind an awaitable."""
    if inspect.isawaitable(stream):
        stream = await stream
    if isinstance(stream, bytes | bytearray):
        return bytes(stream)
    chunks: list[bytes] = []
    async for chunk in stream:
        chunks.append(bytes(chunk))
    return b"".join(chunks)


def split_text(text: str, limit: int = MAX_CHARS) -> list[str]:
    """Pieces of at most ``limit`` characters, cut between sentences where possible."""
    pieces: list[str] = []
    current = ""
    for sentence in (s.strip() for s in _SENTENCE.split(text)):
        if not sentence:
            continue
        while len(sentence) > limit:
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > limit:
            pieces.append(current)
            current = ""
        current = f"{current} {sentence}" if current else sentence
    if current:
        pieces.append(current)
    return pieces


class _ElevenLabsBase:
    def __init__(self, key: str, *, timeout: float, client: Any | None) -> None:
        self._key = key
        self.timeout = timeout
        self._client = client

    def __repr__(self) -> str:
        # Never the key, whatever prints this object.
        return f"{type(self).__name__}()"

    def _sdk(self) -> Any:
        if self._client is None:
            from elevenlabs.client import AsyncElevenLabs

            self._client = AsyncElevenLabs(api_key=self._key)
        return self._client

    def _unavailable_note(self) -> str:
        if not self._key:
            return "no ElevenLabs key configured (STORYGATE_ELEVENLABS_KEY)"
        if self._client is None:
            import importlib.util

            if importlib.util.find_spec("elevenlabs") is None:
                return f"ElevenLabs {MISSING_EXTRA}"
        return ""

    async def _stream(self, what: str, call: Any, **arguments: Any) -> Pcm:
        async with provider_call(PROVIDER, what, seconds=self.timeout, secrets=(self._key,)):
            data = await _collect(call(**arguments))
        return _pcm(data)


class ElevenLabsNarrator(_ElevenLabsBase):
    """Narration in one configured voice; the multilingual model reads every book language."""

    name = "elevenlabs"

    def __init__(
        self,
        key: str,
        *,
        voice: str = DEFAULT_VOICE,
        model: str = DEFAULT_SPEECH_MODEL,
        timeout: float = 120.0,
        client: Any | None = None,
    ) -> None:
        super().__init__(key, timeout=timeout, client=client)
        self.voice = voice
        self.model = model

    def __repr__(self) -> str:
        return f"ElevenLabsNarrator(voice={self.voice!r}, model={self.model!r})"

    def capability(self) -> Capability:
        note = self._unavailable_note()
        return Capability(
            kind="speech",
            backend="elevenlabs",
            model=f"{self.model} (voice {self.voice})",
            available=not note,
            note=note or f"hosted text-to-speech on ElevenLabs, {RATE} Hz",
        )

    async def speak(self, text: str, *, language: str = "english", seed: int = 0) -> Pcm:
        # The multilingual model detects the language from the text itself; ``language`` only
        # matters to narrators that pick a voice per language.
        pieces = split_text(text)
        if not pieces:
            return Pcm(b"", RATE)
        convert = self._sdk().text_to_speech.convert
        clips = [
            await self._stream(
                "speech",
                convert,
                voice_id=self.voice,
                text=piece,
                model_id=self.model,
                output_format=OUTPUT_FORMAT,
                seed=seed % _SEED_RANGE,
            )
            for piece in pieces
        ]
        return clips[0] if len(clips) == 1 else concat_pcm(clips, gap_ms=250)


class ElevenLabsAudio(_ElevenLabsBase):
    """Sound effects and music from a text description, for the families that score scenes."""

    name = "elevenlabs-audio"

    def __init__(self, key: str, *, timeout: float = 180.0, client: Any | None = None) -> None:
        super().__init__(key, timeout=timeout, client=client)

    def capabilities(self) -> list[Capability]:
        note = self._unavailable_note()
        return [
            Capability(
                kind="sfx",
                backend="elevenlabs",
                model="text-to-sound-effects",
                available=not note,
                note=note or "0.5-30 s effects from a description",
            ),
            Capability(
                kind="music",
                backend="elevenlabs",
                model="music",
                available=not note,
                note=note or "3 s-10 min pieces from a description",
            ),
        ]

    async def sound_effect(self, text: str, seconds: float) -> Pcm:
        low, high = SOUND_SECONDS
        return await self._stream(
            "sound effect",
            self._sdk().text_to_sound_effects.convert,
            text=text,
            duration_seconds=min(high, max(low, seconds)),
            output_format=OUTPUT_FORMAT,
        )

    async def music(self, prompt: str, seconds: float) -> Pcm:
        low, high = MUSIC_MS
        return await self._stream(
            "music",
            self._sdk().music.compose,
            prompt=prompt,
            music_length_ms=min(high, max(low, round(seconds * 1000))),
            output_format=OUTPUT_FORMAT,
        )
