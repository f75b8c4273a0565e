"""Offline background music: the prompt's words pick tempo, mode, instruments and groove.

This is not a generative model. The prompt is read for a few kinds of words (tempo: "slow",
"fast", "upbeat", "calm", an explicit "120 bpm"; mood: "happy" and "bright" give major, "sad",
"dark", "melancholy" and "spooky" minor, "mysterious" dorian or phrygian; instruments: piano,
strings, flute, bells, guitar, synth, organ, drums; "lullaby" and "waltz" give 3/4), and every
choice the words leave open (key, progression, melody, humanisation) comes from a seed of the
prompt text, so one prompt always yields the same piece, sample for sample. A small arranger
writes a four-bar progression, a melody in A A B A form over it, a bass line and, when asked,
drums; voices are additive or FM synthesis under ADSR envelopes, with a short noise reverb.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from workers.backends.base import Pcm, stable_seed
from workers.backends.local.synth_dsp import RATE, Signal, fft_convolve, to_pcm

__all__ = ["Arrangement", "arrange", "compose", "render_music"]

_WORD = re.compile(r"[a-z]+|\d+")
_TABLE = 4096  # samples in one wavetable cycle


# --- reading the prompt ------------------------------------------------------------------------

_SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
}
# Scale degrees (0 = tonic), one chord a bar; triads are built inside the mode, so each mode
# gets its own chord qualities for free.
_PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 3, 4, 3), (0, 5, 3, 4), (0, 3, 0, 4), (5, 3, 0, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 5, 4), (0, 5, 3, 4)),
    "dorian": ((0, 3, 0, 6), (0, 3, 6, 0), (0, 1, 0, 3)),
    "phrygian": ((0, 1, 0, 6), (0, 1, 6, 0), (0, 6, 5, 1)),
}
_INSTRUMENTS = {
    **dict.fromkeys(("piano", "pianos", "keys", "keyboard"), "piano"),
    **dict.fromkeys(
        ("strings", "string", "violin", "violins", "cello", "orchestra", "orchestral"), "strings"
    ),
    **dict.fromkeys(("flute", "flutes", "woodwind", "woodwinds", "recorder", "pipe"), "flute"),
    **dict.fromkeys(
        ("bells", "bell", "glockenspiel", "celesta", "chimes", "xylophone", "marimba"), "bells"
    ),
    **dict.fromkeys(("guitar", "guitars", "harp", "ukulele", "lute", "acoustic"), "guitar"),
    **dict.fromkeys(("synth", "synths", "synthesizer", "electronic", "chiptune", "retro"), "synth"),
    **dict.fromkeys(("organ", "organs", "church"), "organ"),
}
_SLOW = {"slow", "calm", "gentle", "peaceful", "relaxing", "relaxed", "sleepy", "lullaby"}
_SLOW |= {"ambient", "dreamy", "quiet", "tranquil", "serene", "soothing", "soft"}
_FAST = {"fast", "upbeat", "energetic", "lively", "exciting", "action", "dance", "quick"}
_FAST |= {"rapid", "chase", "racing", "bouncy"}
_MAJOR = {"happy", "bright", "cheerful", "joyful", "joyous", "playful", "uplifting", "sunny"}
_MAJOR |= {"hopeful", "triumphant", "heroic", "fun", "silly", "upbeat"}
_MINOR = {"sad", "dark", "melancholy", "melancholic", "spooky", "scary", "eerie", "gloomy"}
_MINOR |= {"tense", "tragic", "sorrowful", "haunting", "creepy", "lonely", "somber", "sombre"}
_MYSTERY = {"mysterious", "mystery", "mystical", "mystic", "enigmatic", "strange", "secret"}
_DRUMS = {"drums", "drum", "percussion", "beat", "beats", "groove", "rock", "march"}
_SOFT = {"lullaby", "soft", "gentle", "sleepy", "quiet", "calm", "soothing", "tender"}


@dataclass(frozen=True, slots=True)
class Arrangement:
    """What the words decided, and what the seed decided where they were silent."""

    bpm: float
    meter: int  # beats a bar
    mode: str
    tonic: int  # MIDI note of the chords' tonic; melody an octave up, bass an octave down
    lead: str
    pad: str
    drums: bool
    soft: bool


def arrange(prompt: str, rng: np.random.Generator) -> Arrangement:
    text = prompt.lower()
    words = _WORD.findall(text)
    found = set(words)
    explicit = re.search(r"(\d{2,3}(?:\.\d+)?)\s*(?:bpm|beats per minute)", text)
    slow, fast = len(found & _SLOW), len(found & _FAST)
    if explicit:
        bpm = min(220.0, max(40.0, float(explicit.group(1))))
    elif fast > slow:
        bpm = float(rng.uniform(128, 150))
    elif slow > fast:
        bpm = float(rng.uniform(60, 76))
    else:
        bpm = float(rng.uniform(92, 112))
    major, minor = len(found & _MAJOR), len(found & _MINOR)
    if found & _MYSTERY and major <= minor:
        mode = ("dorian", "phrygian")[int(rng.integers(2))]
    elif major != minor:
        mode = "major" if major > minor else "minor"
    else:
        mode = "major" if rng.random() < 0.6 else "minor"
    named = [_INSTRUMENTS[w] for w in words if w in _INSTRUMENTS]
    if "music box" in text:
        named.insert(0, "bells")
    lullaby = "lullaby" in found
    if not named:
        named = ["bells"] if lullaby else [str(rng.choice(["piano", "guitar", "flute", "strings"]))]
    lead = named[0]
    others = [n for n in named if n != lead]
    if others:
        pad = others[0]
    elif lead in ("strings", "organ", "synth", "piano", "guitar"):
        pad = lead
    else:
        pad = "strings" if lullaby or mode != "major" else "guitar"
    return Arrangement(
        bpm=bpm,
        meter=3 if lullaby or "waltz" in found else 4,
        mode=mode,
        tonic=48 + int(rng.integers(12)),
        lead=lead,
        pad=pad,
        drums=bool(found & _DRUMS),
        soft=bool(found & _SOFT),
    )


# --- voices ------------------------------------------------------------------------------------


def _envelope(n_hold: int, attack: float, decay: float, sustain: float, release: float) -> Signal:
    """ADSR over the held part, then a release that reaches exactly zero (no click)."""
    n_release = max(1, int(release * RATE))
    t = np.arange(n_hold + n_release) / RATE
    env = np.minimum(t / attack, 1.0) * (
        sustain + (1 - sustain) * np.exp(-np.maximum(t - attack, 0) / decay)
    )
    env[n_hold:] = env[n_hold - 1] * np.linspace(1, 0, n_release) ** 2
    return env


def _partials(
    freq: float, phase: Signal, ratios: Signal, amps: Signal, taus: Signal | None = None
) -> Signal:
    """Additive synthesis over one shared phase track (so vibrato bends every partial).

    Steady tones (no per-partial decay, whole-number ratios) read one band-limited cycle from
    a table instead, which costs one lookup a sample however many partials there are.
    """
    keep = freq * ratios < 0.45 * RATE
    ratios, amps = ratios[keep], amps[keep]
    if taus is None:
        cycle = amps @ np.sin(np.outer(ratios, np.arange(_TABLE) * (2 * np.pi / _TABLE)))
        position = np.mod(phase * (_TABLE / (2 * np.pi)), _TABLE)
        index = position.astype(np.int64)
        after = cycle[(index + 1) % _TABLE]
        return np.asarray(cycle[index] + (position - index) * (after - cycle[index]))
    waves = np.sin(np.outer(ratios, phase))
    waves *= np.exp(-np.outer(1 / taus[keep], np.arange(len(phase)) / RATE))
    return np.asarray(amps @ waves)


def _vibrato(freq: float, n: int, depth: float, rate_hz: float, delay: float) -> Signal:
    t = np.arange(n) / RATE
    ramp = np.minimum(t / delay, 1.0)
    wobble = ramp * depth * np.sin(2 * np.pi * rate_hz * t) / (2 * np.pi * rate_hz)
    return 2 * np.pi * freq * (t + wobble)  # frequency swings by +-depth, as a fraction


_K = np.arange(1.0, 13.0)


def _piano(freq: float, n: int, soft: bool) -> Signal:
    env = _envelope(n, 0.004, 100, 1.0, 0.15)
    tau = float(np.clip(1.6 * (262 / freq) ** 0.5, 0.4, 3.0))
    ratios = _K[:10] * np.sqrt(1 + 0.0004 * _K[:10] ** 2)  # a real string's stretched partials
    amps = 1 / _K[:10] ** (1.9 if soft else 1.4)
    phase = 2 * np.pi * freq * np.arange(len(env)) / RATE
    return env * _partials(freq, phase, ratios, amps, tau / (1 + 0.5 * (_K[:10] - 1)))


def _guitar(freq: float, n: int, soft: bool) -> Signal:
    env = _envelope(n, 0.002, 100, 1.0, 0.1)
    amps = np.abs(np.sin(np.pi * _K * 0.18)) / _K ** (1.6 if soft else 1.1)  # plucked near a bridge
    phase = 2 * np.pi * freq * np.arange(len(env)) / RATE
    return env * _partials(freq, phase, _K, amps, 1.1 / (1 + 0.6 * (_K - 1)))


def _strings(freq: float, n: int, soft: bool) -> Signal:
    """A bowed string is close to a sawtooth; one voice only, because two detuned copies beat
    against each other at a steady rate that sounds like a wobble, not an ensemble."""
    env = _envelope(n, 0.35 if soft else 0.15, 0.5, 0.85, 0.35)
    phase = _vibrato(freq, len(env), 0.004, 5.3, 0.25)
    return env * _partials(freq, phase, _K, 1 / _K ** (1.5 if soft else 1.0))


def _flute(freq: float, n: int, soft: bool) -> Signal:
    env = _envelope(n, 0.07, 0.3, 0.9, 0.12)
    phase = _vibrato(freq, len(env), 0.003, 5.0, 0.2)
    tone = _partials(freq, phase, _K[:4], np.array([1, 0.35, 0.12, 0.05]))
    breath = np.diff(np.random.default_rng(int(freq)).standard_normal(len(env) + 1))
    return env * (tone + (0.02 if soft else 0.04) * breath)


def _bells(freq: float, n: int, soft: bool) -> Signal:
    """FM: a modulator at an inharmonic ratio whose depth dies away, as a struck bar's does."""
    env = _envelope(n, 0.002, 0.9, 0.0, 0.3)
    t = np.arange(len(env)) / RATE
    index = (1.2 if soft else 2.2) * np.exp(-t / 0.2)
    return env * np.sin(2 * np.pi * freq * t + index * np.sin(2 * np.pi * 3.5 * freq * t))


def _synth(freq: float, n: int, soft: bool) -> Signal:
    """FM brass-like lead: the modulation index follows the envelope, so attacks are brighter."""
    env = _envelope(n, 0.01, 0.3, 0.6, 0.15)
    t = np.arange(len(env)) / RATE
    index = (1.0 if soft else 2.5) * env
    return env * np.sin(2 * np.pi * freq * t + index * np.sin(2 * np.pi * freq * t))


def _organ(freq: float, n: int, soft: bool) -> Signal:
    env = _envelope(n, 0.01, 1.0, 1.0, 0.06)
    ratios = np.array([1.0, 2, 4, 6, 8, 12, 16])  # drawbars 16' to 1', over the 16' pitch
    amps = np.array([0.5, 1, 0.7, 0.4, 0.3, 0.15, 0.1]) * (0.6 if soft else 1.0) ** np.arange(7)
    t = np.arange(len(env)) / RATE
    tremolo = 1 + 0.08 * np.sin(2 * np.pi * 6 * t)
    return env * tremolo * _partials(freq / 2, np.pi * freq * t, ratios, amps)


def _bass(freq: float, n: int, soft: bool) -> Signal:
    env = _envelope(n, 0.005, 0.4, 0.5, 0.08)
    phase = 2 * np.pi * freq * np.arange(len(env)) / RATE
    return env * _partials(freq, phase, _K[:3], np.array([1, 0.5, 0.15 if soft else 0.3]))


def _drum(kind: str) -> Signal:
    noise = np.random.default_rng(len(kind)).standard_normal(int(0.4 * RATE))
    t = np.arange(len(noise)) / RATE
    if kind == "kick":
        sweep = 45 + 75 * np.exp(-t / 0.04)
        return np.sin(2 * np.pi * np.cumsum(sweep) / RATE) * np.exp(-t / 0.18)
    if kind == "snare":
        body = np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.05)
        return 0.6 * body + 0.5 * np.diff(noise, prepend=0) * np.exp(-t / 0.08)
    return 0.4 * np.diff(noise, n=2, prepend=(0, 0)) * np.exp(-t / 0.025)  # hat


_VOICES: dict[str, Callable[[float, int, bool], Signal]] = {
    "piano": _piano,
    "guitar": _guitar,
    "strings": _strings,
    "flute": _flute,
    "bells": _bells,
    "synth": _synth,
    "organ": _organ,
    "bass": _bass,
}
_SUSTAINED = {"strings", "organ", "synth", "flute"}


# --- composing ---------------------------------------------------------------------------------

# Rhythms of one bar as (onset, length) in beats, sparsest first.
_RHYTHMS = {
    4: (
        ((0, 4),),
        ((0, 2), (2, 2)),
        ((0, 2), (2, 1), (3, 1)),
        ((0, 1.5), (1.5, 0.5), (2, 2)),
        ((0, 1), (1, 1), (2, 1), (3, 1)),
        ((0, 1), (1, 0.5), (1.5, 0.5), (2, 1), (3, 1)),
        ((0, 0.5), (0.5, 0.5), (1, 1), (2, 0.5), (2.5, 0.5), (3, 1)),
    ),
    3: (
        ((0, 3),),
        ((0, 2), (2, 1)),
        ((0, 1.5), (1.5, 0.5), (2, 1)),
        ((0, 1), (1, 1), (2, 1)),
        ((0, 1), (1, 0.5), (1.5, 0.5), (2, 1)),
    ),
}

Note = tuple[float, str, int, float, float]  # start s, voice, MIDI, held s, velocity


def _melody(
    rng: np.random.Generator, progression: tuple[int, ...], meter: int, bpm: float
) -> list[tuple[float, float, int]]:
    """One four-bar phrase as (beat, beats, scale degree): chord tones on strong beats and
    steps between them, so the line both moves and fits the harmony. It stays above the
    chords (degrees 8-17, the chords keep within one octave), because a sustained lead in
    unison with a pad note beats against it at the vibrato's rate."""
    rhythms = _RHYTHMS[meter]
    half = len(rhythms) // 2
    choices = rhythms[half:] if bpm >= 110 else rhythms[: half + 1]
    degree = 9 + int(rng.integers(0, 5))
    phrase = []
    for bar, chord in enumerate(progression):
        for onset, length in choices[int(rng.integers(len(choices)))]:
            if onset in (0, 2) or rng.random() < 0.25:
                tones = [chord + s + 7 * o for o in (0, 1, 2) for s in (0, 2, 4)]
                tones = [d for d in tones if 8 <= d <= 17]
                degree = min(tones, key=lambda d: (abs(d - degree), rng.random()))
            else:
                degree += int(rng.choice([-2, -1, -1, 1, 1, 2]))
                degree = 34 - degree if degree > 17 else 16 - degree if degree < 8 else degree
            phrase.append((bar * meter + onset, length, degree))
    return phrase


def compose(a: Arrangement, rng: np.random.Generator, seconds: float) -> list[Note]:
    beat = 60 / a.bpm
    bar = beat * a.meter
    scale = _SCALES[a.mode]

    def pitch(degree: int, base: int) -> int:
        return base + 12 * (degree // 7) + scale[degree % 7]

    options = _PROGRESSIONS[a.mode]
    progression = options[int(rng.integers(len(options)))]
    phrases = [_melody(rng, progression, a.meter, a.bpm) for _ in range(2)]
    lead_base = a.tonic + (12 if a.lead == "bells" else 0)
    step = beat / 2 if a.bpm < 100 and not a.soft else beat
    level = 0.75 if a.soft else 1.0
    notes: list[Note] = []
    for phrase_index in range(int(seconds / (4 * bar)) + 1):
        start = phrase_index * 4 * bar
        for onset, length, degree in phrases[(0, 0, 1, 0)[phrase_index % 4]]:
            held = length * beat * (0.95 if a.lead in _SUSTAINED else 1.2)
            notes.append((start + onset * beat, a.lead, pitch(degree, lead_base), held, level))
        for bar_index, chord in enumerate(progression):
            at = start + bar_index * bar
            triad = sorted(a.tonic + (pitch(chord + s, a.tonic) - a.tonic) % 12 for s in (0, 2, 4))
            if a.pad in _SUSTAINED:
                notes += [(at, a.pad, p, bar * 0.98, 0.3 * level) for p in triad]
            else:
                order = [*triad, triad[1]]
                for i in range(round(bar / step)):
                    notes.append((at + i * step, a.pad, order[i % 4], step * 1.5, 0.3 * level))
            root, fifth = pitch(chord, a.tonic - 12), pitch(chord + 4, a.tonic - 12)
            if a.bpm >= 120 and not a.soft:
                line = [(i, 1.0, (root, root, fifth, root)[i % 4]) for i in range(a.meter)]
            elif a.meter == 4:
                line = [(0, 2.0, root), (2, 2.0, fifth)]
            else:
                line = [(0, 3.0, root)]
            notes += [(at + b * beat, "bass", p, n * beat * 0.95, 0.55) for b, n, p in line]
            if a.drums:
                for i in range(a.meter * 2):
                    kind = "kick" if i % 4 == 0 else "snare" if i % 4 == 2 else "hat"
                    if a.meter == 3:
                        kind = "kick" if i == 0 else "hat"
                    notes.append((at + i * beat / 2, kind, 0, 0.0, 0.5 if kind == "hat" else 0.7))
    jitter = rng.normal(0, 0.006, len(notes))  # a player is never exactly on the grid
    swell = rng.uniform(0.88, 1.0, len(notes))
    return [
        (max(0.0, s + float(j)), v, p, h, vel * float(w))
        for (s, v, p, h, vel), j, w in zip(notes, jitter, swell, strict=True)
        if s < seconds
    ]


def _reverb(dry: Signal, seconds: float, wet: float, rng: np.random.Generator) -> Signal:
    """A decaying-noise impulse response: a cheap room that glues the voices together."""
    t = np.arange(int(seconds * RATE)) / RATE
    response = rng.standard_normal(len(t)) * np.exp(-6.9 * t / seconds)
    response = np.convolve(response, np.exp(-np.arange(6) / 1.5), mode="same")  # darker tail
    response[: int(0.02 * RATE)] = 0  # pre-delay
    response /= np.sqrt(np.sum(response**2))
    return dry + wet * fft_convolve(dry, response)


def render_music(prompt: str, seconds: float) -> Pcm:
    """The finished piece: exactly round(seconds * RATE) frames, seconds already clamped.

    Notes are rendered once per (voice, pitch, length) and reused: phrases repeat, so a
    five-minute piece synthesises little more than its first minute.
    """
    frames = round(seconds * RATE)
    rng = np.random.default_rng(stable_seed("music", prompt))
    a = arrange(prompt, rng)
    out = np.zeros(frames + 4 * RATE)
    cache: dict[tuple[str, int, int], Signal] = {}
    for start, voice, midi, held, velocity in compose(a, rng, seconds):
        key = (voice, midi, max(1, round(held * RATE)))
        if key not in cache:
            if voice in _VOICES:
                cache[key] = _VOICES[voice](440.0 * 2 ** ((midi - 69) / 12), key[2], a.soft)
            else:
                cache[key] = _drum(voice)
        at = round(start * RATE)
        piece = cache[key][: len(out) - at]
        out[at : at + len(piece)] += velocity * piece
    out = _reverb(out, 1.8 if a.soft else 1.2, 0.3 if a.soft else 0.18, rng)
    return to_pcm(out[:frames], frames, min(0.3, seconds / 10), min(2.0, seconds * 0.15))
