"""The cast's voices: who reads each part, as pitch and pace relative to the narrator.

Apart from the signal processing in ``voices`` (numpy) so that the backend registry, which every
gateway imports, can list the voices without loading numpy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

NARRATOR = "NARRATOR"
# Pitch bands (relative to the narrator) behind ``Voice.gender``.
MASCULINE_BELOW = 0.95
FEMININE_FROM = 1.18


@dataclass(frozen=True, slots=True)
class Voice:
    id: str
    name: str
    description: str
    # Fundamental frequency (and formants) relative to the narrator's own voice.
    pitch: float
    # Speaking speed relative to the narrator's own (> 1 speaks faster).
    pace: float

    def wire(self) -> dict[str, str]:
        """The ``voice`` object of a cast member on the SleeperHit wire."""
        return {"voiceId": self.id, "voiceName": self.name}

    @property
    def gender(self) -> str:
        """How the voice reads to a listener, by its pitch band: "masculine" well below the
        narrator's own pitch, "feminine" well above it, "neutral" around it. A label for
        catalogues (SleeperHit's ``gender``), relative to the installed narrator's voice."""
        if self.pitch < MASCULINE_BELOW:
            return "masculine"
        if self.pitch >= FEMININE_FROM:
            return "feminine"
        return "neutral"


# The narrator's voice first (neutral, untouched); the characters' voices follow in the order
# they are handed out. That order alternates low and high so the first four characters and the
# narrator are all at least 12% apart in pitch; later ones sit between (about 6% from their
# nearest neighbour) and differ in pace as well.
VOICES: tuple[Voice, ...] = (
    Voice("storygate-narrator", "Storygate Narrator", "even, neutral storyteller", 1.0, 1.0),
    Voice("storygate-deep", "Storygate Deep", "deep, unhurried bass", 0.76, 0.93),
    Voice("storygate-bright", "Storygate Bright", "bright, quick high voice", 1.30, 1.07),
    Voice("storygate-warm", "Storygate Warm", "warm, relaxed baritone", 0.88, 0.97),
    Voice("storygate-light", "Storygate Light", "light, lively tenor", 1.15, 1.04),
    Voice("storygate-gravel", "Storygate Gravel", "low, deliberate voice", 0.83, 0.90),
    Voice("storygate-crisp", "Storygate Crisp", "crisp, brisk alto", 1.22, 1.10),
    Voice("storygate-clear", "Storygate Clear", "clear, steady mid voice", 1.07, 0.95),
)


def voice_by_id(voice_id: str) -> Voice | None:
    return next((v for v in VOICES if v.id == voice_id), None)


def assign_voices(
    names: Iterable[str], fixed: Mapping[str, Voice] | None = None
) -> dict[str, Voice]:
    """A voice per distinct name, in the order given; the same names always get the same voices.

    NARRATOR (any case) always reads with the neutral voice. Names in ``fixed`` keep the voice
    given there (a plan's cast as the client left it); every other name gets the next character
    voice nobody holds yet, so two characters share a voice only when there are more of them
    than voices. Each name's voice depends only on the names before it, so appending a name
    (a speaker the script added) never changes anyone else's.
    """
    out: dict[str, Voice] = {}
    taken = {v.id for v in (fixed or {}).values()}
    order = VOICES[1:]
    handed = 0
    for name in names:
        if name in out:
            continue
        if fixed and name in fixed:
            out[name] = fixed[name]
            continue
        if name.strip().upper() == NARRATOR:
            out[name] = VOICES[0]
            continue
        free = [v for v in order if v.id not in taken]
        voice = free[0] if free else order[handed % len(order)]
        handed += 1
        taken.add(voice.id)
        out[name] = voice
    return out
