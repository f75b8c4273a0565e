"""SleeperHit's voice effects on one voiced line: autotune, robot, radio and echo.

The signal work is done by maintained libraries, not by hand: Praat (through parselmouth) finds
the pitch and resynthesises it with PSOLA for autotune and the robot's monotone, and Spotify's
pedalboard filters, distorts, compresses, choruses and delays. What is ours is the musical
choice: which note a pitch snaps to, and each effect's settings. Every effect is deterministic
(the radio's hiss is seeded by the line itself), so a cached line and a fresh one sound alike.

The libraries are imported inside the functions: the gateway process imports the pipelines'
modules, and it never needs Praat or JUCE loaded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from workers.backends.base import Pcm
from workers.backends.voices import Floats, from_float, to_float

__all__ = [
    "EFFECTS",
    "SCALES",
    "apply_effect",
    "effect_params",
    "scale_classes",
    "snap_semitones",
]

EFFECTS = ("autotune", "robot", "radio", "echo")
NOTES = {
    "C": 0, "B#": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "Fb": 4, "F": 5,
    "E#": 5, "F#": 6, "Gb": 6, "G": 7, "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11,
    "Cb": 11,
}  # fmt: skip
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "chromatic": tuple(range(12)),
    "pentatonic": (0, 2, 4, 7, 9),
}
# Praat's pitch search range: below the deepest cast voice, above the brightest.
PITCH_FLOOR_HZ = 60.0
PITCH_CEILING_HZ = 600.0
# The radio's hiss, under the line's own loud level (well under the silence gate).
HISS_DB = 34.0
# Echo repeats are kept until they fall this far under the first.
ECHO_TAIL_DB = 40.0
MAX_ECHO_TAIL_S = 3.0


def _number(params: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = params.get(name, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = default
    if not np.isfinite(number):
        number = default
    return min(high, max(low, number))


def effect_params(effect: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The effect's full settings: the client's values, clamped to the documented ranges, with
    the defaults filled in. Also the effect's identity in the line cache, so the same sound
    always has the same settings spelled the same way."""
    p = params or {}
    if effect == "autotune":
        key = str(p.get("key") or "C").strip()
        key = key[:1].upper() + key[1:].replace("B", "b")[:1] if key else "C"
        scale = str(p.get("scale") or "major").strip().lower()
        return {
            "key": key if key in NOTES else "C",
            "scale": scale if scale in SCALES else "major",
            "strength": _number(p, "strength", 1.0, 0.0, 1.0),
        }
    if effect == "robot":
        return {"pitchHz": _number(p, "pitchHz", 110.0, 60.0, 400.0)}
    if effect == "radio":
        return {
            "lowHz": _number(p, "lowHz", 400.0, 200.0, 1000.0),
            "highHz": _number(p, "highHz", 3200.0, 2000.0, 5000.0),
        }
    if effect == "echo":
        return {
            "delayMs": _number(p, "delayMs", 260.0, 60.0, 1000.0),
            "feedback": _number(p, "feedback", 0.4, 0.0, 0.9),
            "mix": _number(p, "mix", 0.35, 0.0, 1.0),
        }
    raise ValueError(f"unknown voice effect {effect!r}")


def apply_effect(pcm: Pcm, effect: str, params: Mapping[str, Any]) -> Pcm:
    """``pcm`` with ``effect`` applied: mono 16-bit at the same rate. Echo lengthens the line by
    its audible repeats; every other effect keeps its length."""
    settings = effect_params(effect, params)
    x = to_float(pcm)
    if not len(x):
        return pcm
    if effect == "autotune":
        y = _autotune(x, pcm.rate, settings)
    elif effect == "robot":
        y = _robot(x, pcm.rate, float(settings["pitchHz"]))
    elif effect == "radio":
        y = _radio(x, pcm.rate, settings)
    else:
        y = _echo(x, pcm.rate, settings)
    return from_float(np.clip(y, -1.0, 1.0), pcm.rate)


# -- pitch: the notes of a key ------------------------------------------------------------------


def scale_classes(key: str, scale: str) -> tuple[int, ...]:
    """The pitch classes (0 = C) of ``scale`` built on ``key``."""
    root = NOTES.get(key, 0)
    return tuple(sorted((root + step) % 12 for step in SCALES.get(scale, SCALES["major"])))


def snap_semitones(midi: Floats, classes: tuple[int, ...]) -> Floats:
    """Each (fractional) MIDI note number moved to the nearest note whose pitch class is in
    ``classes``."""
    allowed = np.asarray(classes, dtype=np.float64)
    # Signed distance from each pitch to the nearest instance of each allowed class.
    offset = (midi[:, None] - allowed[None, :] + 6.0) % 12.0 - 6.0
    nearest = offset[np.arange(len(midi)), np.argmin(np.abs(offset), axis=1)]
    return np.asarray(midi - nearest, dtype=np.float64)


def _resynthesised(x: Floats, rate: int, retune: Any) -> Floats:
    """``x`` with its pitch contour replaced: Praat's manipulation holds the pulses it found,
    ``retune(times, hz) -> hz`` gives the new contour, and overlap-add (PSOLA) sings it."""
    import parselmouth
    from parselmouth.praat import call

    sound = parselmouth.Sound(x, sampling_frequency=rate)
    manipulation = call(sound, "To Manipulation", 0.01, PITCH_FLOOR_HZ, PITCH_CEILING_HZ)
    tier = call(manipulation, "Extract pitch tier")
    count = int(call(tier, "Get number of points"))
    if count == 0:
        return x  # nothing voiced: nothing to retune
    times = np.array([call(tier, "Get time from index", i) for i in range(1, count + 1)])
    hz = np.array([call(tier, "Get value at index", i) for i in range(1, count + 1)])
    target = retune(times, hz)
    tuned = call("Create PitchTier", "tuned", sound.xmin, sound.xmax)
    for t, f in zip(times, target, strict=True):
        call(tuned, "Add point", float(t), float(f))
    call([manipulation, tuned], "Replace pitch tier")
    out = call(manipulation, "Get resynthesis (overlap-add)")
    y = np.asarray(out.values[0], dtype=np.float64)
    return _fit(y, len(x))


def _fit(y: Floats, length: int) -> Floats:
    if len(y) >= length:
        return y[:length]
    return np.concatenate([y, np.zeros(length - len(y))])


def _autotune(x: Floats, rate: int, settings: Mapping[str, Any]) -> Floats:
    classes = scale_classes(str(settings["key"]), str(settings["scale"]))
    strength = float(settings["strength"])

    def retune(_times: Floats, hz: Floats) -> Floats:
        midi = 69.0 + 12.0 * np.log2(hz / 440.0)
        moved = midi + strength * (snap_semitones(midi, classes) - midi)
        return np.asarray(440.0 * 2.0 ** ((moved - 69.0) / 12.0), dtype=np.float64)

    return _resynthesised(x, rate, retune)


def _robot(x: Floats, rate: int, pitch_hz: float) -> Floats:
    """A flat monotone at ``pitch_hz`` through a fed-back delay of one pitch period: a comb
    that rings at the monotone's own harmonics (metal, not a second pitch), with a slow chorus
    for the machine's wobble."""
    import pedalboard

    flat = _resynthesised(x, rate, lambda _t, hz: np.full(len(hz), pitch_hz))
    board = pedalboard.Pedalboard(
        [
            pedalboard.Delay(delay_seconds=1.0 / pitch_hz, feedback=0.55, mix=0.5),
            pedalboard.Chorus(rate_hz=0.8, depth=0.2, centre_delay_ms=3.0, feedback=0.3, mix=0.4),
        ]
    )
    return _through(board, flat, rate)


def _radio(x: Floats, rate: int, settings: Mapping[str, Any]) -> Floats:
    """A small speaker on a broadcast: steep band limits, squashed dynamics, a little drive and
    a quiet hiss under it (added after the drive, so it stays quiet, and before the second band
    limit, so it is band-limited like the voice)."""
    import pedalboard

    mode = pedalboard.LadderFilter.Mode
    low, high = float(settings["lowHz"]), min(float(settings["highHz"]), rate * 0.45)

    def band() -> list[Any]:
        return [
            pedalboard.LadderFilter(mode=mode.HPF24, cutoff_hz=low),
            pedalboard.LadderFilter(mode=mode.LPF24, cutoff_hz=high),
        ]

    driven = _through(
        pedalboard.Pedalboard(
            [
                *band(),
                pedalboard.Compressor(threshold_db=-24.0, ratio=4.0, attack_ms=2.0, release_ms=80),
                pedalboard.Gain(gain_db=12.0),
                pedalboard.Distortion(drive_db=6.0),
            ]
        ),
        x,
        rate,
    )
    loud = float(np.percentile(np.abs(driven), 99)) or 1e-3
    seed = int.from_bytes(hashlib.blake2b(x.tobytes(), digest_size=8).digest(), "big")
    hiss = np.random.default_rng(seed).standard_normal(len(x)) * loud * 10 ** (-HISS_DB / 20)
    y = _through(pedalboard.Pedalboard(band()), driven + hiss, rate)
    peak, wanted = float(np.abs(y).max()), float(np.percentile(np.abs(x), 99))
    return y * (wanted / peak) if peak > 0 else y


def _echo(x: Floats, rate: int, settings: Mapping[str, Any]) -> Floats:
    """Repeats every ``delayMs``, each ``feedback`` as loud as the one before, mixed ``mix``
    wet; the line is lengthened until the repeats have died away."""
    import pedalboard

    delay = float(settings["delayMs"]) / 1000
    feedback = float(settings["feedback"])
    mix = float(settings["mix"])
    repeats = 1 if feedback <= 0 else int(np.ceil(-ECHO_TAIL_DB / (20 * np.log10(feedback))))
    tail = min(MAX_ECHO_TAIL_S, delay * max(1, repeats))
    padded = np.concatenate([x, np.zeros(int(rate * tail))])
    board = pedalboard.Pedalboard(
        [pedalboard.Delay(delay_seconds=delay, feedback=feedback, mix=mix)]
    )
    return _through(board, padded, rate)


def _through(board: Any, x: Floats, rate: int) -> Floats:
    """``x`` through a pedalboard chain (fresh plugins each call: no state carried between
    lines), back as float64 of the same length."""
    y = board(x.astype(np.float32)[None, :], float(rate), reset=True)
    return _fit(np.asarray(y[0], dtype=np.float64), len(x))
