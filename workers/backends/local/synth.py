"""Sound effects and music with no model: procedural synthesis steered by the prompt's words.

Not a generative model, and its capabilities say so. Effects come from a vocabulary of sounds
(rain, storm, thunder, wind, water, river, waves, ocean, fire, footsteps, knock, creak, slam,
bell, chime, birds, whoosh, explosion, beep, alarm, siren, heartbeat, clock, applause), each a
small recipe of shaped noise, impulses ringing through resonances, envelopes and pitched
partials; the words a prompt names are layered, words like "heavy" or "distant" scale them, and
a prompt with none of them gets a texture of noise shaped by its seed. Music is in
:mod:`workers.backends.local.synth_music`. Every random choice is seeded from the prompt text
with :func:`stable_seed`, so one prompt always gives the same samples and two prompts differ.

Lengths: effects 0.5-30 s (the range ElevenLabs' sound-effect API accepts, so a client sees
the same limits on either backend), music 3-300 s; longer or shorter asks are clamped, and a
length that is not a positive finite number is a ``ValueError``. Output is mono 16-bit PCM at
22050 Hz, exactly round(seconds * 22050) frames, computed with numpy off the event loop.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from workers.backends.base import Capability, Pcm, stable_seed
from workers.backends.local.synth_dsp import (
    FREQS,
    HOP,
    RATE,
    Rng,
    Signal,
    band,
    burst,
    clamp_seconds,
    frame_times,
    gate,
    mix,
    noise,
    place,
    pulses,
    ring,
    scatter,
    tilt,
    to_pcm,
    wander,
)
from workers.backends.local.synth_music import render_music

__all__ = ["MUSIC_SECONDS", "SFX_SECONDS", "SFX_WORDS", "ProceduralSounds", "render_sound_effect"]

SFX_SECONDS = (0.5, 30.0)
MUSIC_SECONDS = (3.0, 300.0)


class _Cue(NamedTuple):
    """What the modifier words say, shared by every layer of one prompt."""

    k: float  # loudness and density: "heavy" 1.4, "distant" 0.7
    fast: bool
    single: bool
    size: float  # of a bell: "tiny" rings high, "church" low


# --- the vocabulary ----------------------------------------------------------------------------


def _rain(rng: Rng, n: int, cue: _Cue) -> Signal:
    hiss = noise(rng, n, band(4500, 1.3) * wander(rng, frame_times(n), 0.5, 0.7, 1.0))
    drops = [ring([rng.uniform(1500, 5000)], [rng.uniform(0.002, 0.006)], [1], 0.03)]
    drops = drops + [ring([rng.uniform(1500, 5000)], [0.004], [1], 0.03) for _ in range(3)]
    pattering = scatter(rng, n, 350 * cue.k, drops, 3.0)
    return hiss / np.std(hiss) * 0.25 * cue.k + pattering / (np.std(pattering) + 1e-9) * 0.2


def _thunder(rng: Rng, n: int, cue: _Cue) -> Signal:
    t = np.arange(n) / RATE
    strikes = [rng.uniform(0.05, 0.4) * min(1.0, n / RATE)]
    while strikes[-1] + 9 < n / RATE:
        strikes.append(strikes[-1] + rng.uniform(6, 12))
    rumble_env = np.zeros(n)
    crack_env = np.zeros(n)
    for at in strikes:
        since = np.maximum(t - at, 0) * (t >= at)
        tau = rng.uniform(1.5, 3.0) * cue.k
        rumble_env += np.minimum(since / 0.15, 1) * np.exp(-since / tau) * (t >= at)
        crack_env += np.exp(-since / 0.06) * (t >= at) * rng.uniform(0.5, 1.0)
    rumble = noise(rng, n, tilt(2) * (FREQS < 300))
    wobble = np.interp(t, frame_times(n)[:, 0], wander(rng, frame_times(n)[:, 0], 4, 0.3, 1))
    crack = noise(rng, n, band(1500, 1.5))
    return rumble / np.std(rumble) * rumble_env * wobble + 0.5 * crack / np.std(crack) * crack_env


def _wind(rng: Rng, n: int, cue: _Cue) -> Signal:
    times = frame_times(n)
    centre = 250 * 2 ** wander(rng, times, 0.4, 0, 1.8)
    gust = wander(rng, times, 0.3, 0.25, 1.0) ** (1 / cue.k)
    return noise(rng, n, gust * (band(centre, 0.7) + 0.35 * band(2 * centre, 0.06)))


def _water(rng: Rng, n: int, cue: _Cue) -> Signal:
    babble = rng.uniform(0.4, 1.0, (n // HOP + 2, 1))  # fast, frame-by-frame level changes
    flow = noise(rng, n, babble * band(1100, 1.2))
    bubbles = []
    for _ in range(6):
        t = np.arange(int(0.03 * RATE)) / RATE
        freq = rng.uniform(500, 1400) * (1 + 8 * t)  # a bubble's pitch rises as it closes
        bubbles.append(np.sin(2 * np.pi * np.cumsum(freq) / RATE) * np.exp(-t / 0.012))
    plops = scatter(rng, n, 25 * cue.k, bubbles, 2.0)
    return flow / np.std(flow) * 0.3 + plops / (np.std(plops) + 1e-9) * 0.12


def _waves(rng: Rng, n: int, cue: _Cue) -> Signal:
    times = frame_times(n)
    period = rng.uniform(6, 10)
    phase = (times / period + rng.uniform()) % 1
    surge = np.where(phase < 0.35, np.sin(np.pi * phase / 0.7) ** 2, np.exp(-(phase - 0.35) * 5))
    gain = (0.12 + surge * cue.k) * (tilt(1.2) * band(500 + 1500 * surge, 1.8))
    return noise(rng, n, gain)


def _fire(rng: Rng, n: int, cue: _Cue) -> Signal:
    roar = noise(rng, n, band(160, 1.2) * wander(rng, frame_times(n), 2, 0.5, 1.0))
    snaps = [burst(rng, rng.uniform(0.002, 0.008), 0.002, 3000, 1.5) for _ in range(5)]
    crackle = scatter(rng, n, 30 * cue.k, snaps, 4.0)
    pops = scatter(rng, n, 2, [ring([rng.uniform(300, 800)], [0.015], [1], 0.06)], 1.0)
    return roar / np.std(roar) * 0.2 + crackle / (np.max(np.abs(crackle)) + 1e-9) + 0.4 * pops


def _footsteps(rng: Rng, n: int, cue: _Cue) -> Signal:
    period = 0.32 if cue.fast else 0.55
    times = pulses(n, period, 0.15) + rng.normal(0, 0.012, len(pulses(n, period, 0.15)))
    heel = mix(burst(rng, 0.08, 0.02, 250, 1.2), 0.5 * ring([95], [0.03], [1], 0.1))
    scuff = np.concatenate([np.zeros(int(0.05 * RATE)), 0.3 * burst(rng, 0.06, 0.02, 2500, 1)])
    steps = np.resize([1.0, 0.8], len(times)) * rng.uniform(0.85, 1, len(times))
    return place(n, times, steps * cue.k, heel / np.max(np.abs(heel))) + place(
        n, times, steps, scuff
    )


def _knock(rng: Rng, n: int, cue: _Cue) -> Signal:
    body = rng.uniform(0.9, 1.1)
    modes = [170 * body, 390 * body, 740 * body, 1300 * body]
    wood = ring(modes, [0.04, 0.025, 0.015, 0.008], [1, 0.6, 0.35, 0.15], 0.25)
    knock = mix(wood, 0.3 * burst(rng, 0.004, 0.001, 1200, 1))
    times: list[float] = []
    at = 0.1
    while at < n / RATE:
        count = 1 if cue.single else int(rng.integers(2, 5))
        times += [at + i * rng.uniform(0.17, 0.22) for i in range(count)]
        if cue.single:
            break
        at += rng.uniform(2.5, 4.0)
    return place(n, np.array(times), cue.k * rng.uniform(0.8, 1, len(times)), knock)


def _creak(rng: Rng, n: int, cue: _Cue) -> Signal:
    """Stick-slip: a hinge's impulses at a wandering rate, ringing through the wood."""
    t = np.arange(n) / RATE
    knots = np.arange(0, n / RATE + 2, 0.1)
    rate = np.interp(t, knots, wander(rng, knots, 1.2, 25, 110))
    ticks = np.flatnonzero(np.diff(np.floor(np.cumsum(rate) / RATE)) > 0) / RATE
    level = np.zeros(len(ticks))
    at = 0.1
    while at < n / RATE:
        span = min(rng.uniform(0.8, 1.8), n / RATE - at)
        inside = (ticks >= at) & (ticks < at + span)
        level[inside] = np.sin(np.pi * (ticks[inside] - at) / span)
        at += span + rng.uniform(1.5, 3.0)
    wood = ring([420, 950, 1750, 2700], [0.01, 0.008, 0.006, 0.004], [1, 0.7, 0.5, 0.3], 0.04)
    return place(n, ticks, level * cue.k * rng.uniform(0.6, 1, len(ticks)), wood)


def _slam(rng: Rng, n: int, cue: _Cue) -> Signal:
    body = ring([90, 140, 310], [0.12, 0.08, 0.04], [1, 0.6, 0.3], 0.6)
    hit = mix(body, 0.5 * burst(rng, 0.15, 0.03, 600, 1.5))
    return place(n, np.array([max(0.05, n / RATE - 0.8)]), cue.k, hit)


_BELL_RATIOS = [0.5, 1, 1.19, 1.5, 2, 2.5, 2.67, 3, 4.07]  # hum, prime, tierce, quint, nominal...


def _bell(rng: Rng, n: int, cue: _Cue) -> Signal:
    base = rng.uniform(220, 500) / cue.size
    decays = [3.0 / (1 + 0.5 * i) for i in range(len(_BELL_RATIOS))]
    amps = [0.5, 1, 0.6, 0.3, 0.5, 0.25, 0.2, 0.15, 0.1]
    strike = ring([base * r for r in _BELL_RATIOS], decays, amps, min(4.0, n / RATE))
    return place(n, pulses(n, rng.uniform(1.6, 2.4)), cue.k, strike)


def _chime(rng: Rng, n: int, cue: _Cue) -> Signal:
    notes = rng.choice([0, 2, 4, 7, 9, 12, 14, 16], 5, replace=False)
    tubes = [
        ring([f, f * 2.76, f * 5.4], [1.5, 0.6, 0.3], [1, 0.4, 0.2], min(2.5, n / RATE))
        for f in 1046.5 * 2 ** (notes / 12)
    ]
    return scatter(rng, n, 3 * cue.k, tubes, 1.5)


def _birds(rng: Rng, n: int, cue: _Cue) -> Signal:
    out = np.zeros(n)
    for _ in range(int(rng.integers(1, 4))):  # a few species, each with its own call
        length = rng.uniform(0.04, 0.12)
        t = np.arange(int(length * RATE)) / RATE
        low, high = rng.uniform(2000, 4500), rng.uniform(3000, 6500)
        trill = rng.uniform(0, 250) * np.sin(2 * np.pi * rng.uniform(30, 60) * t)
        freq = low + (high - low) * t / length + trill
        chirp = np.sin(2 * np.pi * np.cumsum(freq) / RATE) * np.sin(np.pi * t / length) ** 2
        times: list[float] = []
        at = rng.uniform(0.05, 0.8)
        while at < n / RATE:
            gap = rng.uniform(0.06, 0.15) + length
            times += [at + i * gap for i in range(int(rng.integers(3, 9)))]
            at += rng.uniform(1.5, 4.0)
        out += place(n, np.array(times), cue.k * rng.uniform(0.5, 1, len(times)), chirp)
    return out


def _whoosh(rng: Rng, n: int, cue: _Cue) -> Signal:
    times = frame_times(n)
    swell = np.zeros_like(times)
    at, length = 0.0, n / RATE
    passes = [length / 2] if length < 3 else list(np.arange(rng.uniform(0.6, 1.2), length, 2.8))
    for at in passes:
        width = rng.uniform(0.15, 0.3)
        swell += np.exp(-0.5 * ((times - at) / width) ** 2)
    return noise(rng, n, swell * cue.k * band(300 + 2500 * np.minimum(swell, 1), 1.0))


def _explosion(rng: Rng, n: int, cue: _Cue) -> Signal:
    times = frame_times(n)
    at = 0.05
    since = np.maximum(times - at, 0)
    cutoff = 90 + 4000 * np.exp(-since / 0.25)  # the bright blast darkens into a rumble
    body = np.exp(-since / (rng.uniform(0.8, 1.5) * cue.k)) * (times >= at)
    roar = noise(rng, n, body * tilt(1.5) / (1 + (FREQS / cutoff) ** 4))
    t = np.arange(n) / RATE
    sub = np.sin(2 * np.pi * np.cumsum(30 + 40 * np.exp(-t / 0.3)) / RATE) * np.exp(-t / 0.6)
    return roar / np.max(np.abs(roar)) + 0.6 * sub


def _beep(rng: Rng, n: int, cue: _Cue) -> Signal:
    pitch = float(rng.choice([880.0, 1000.0, 1200.0, 1500.0]))
    return np.sin(2 * np.pi * pitch * np.arange(n) / RATE) * gate(n, 1.0, 0.15, 0.1)


def _alarm(rng: Rng, n: int, cue: _Cue) -> Signal:
    """Four quick beeps, a rest, again; a square-ish tone so it cuts through."""
    t = np.arange(n) / RATE
    pitch = float(rng.choice([880.0, 1000.0, 1200.0, 1500.0]))
    tone = np.sin(2 * np.pi * pitch * t) + np.sin(2 * np.pi * 3 * pitch * t) / 3
    return tone * gate(n, 0.2, 0.1, 0.05) * gate(n, 1.2, 0.8, 0.05)


def _siren(rng: Rng, n: int, cue: _Cue) -> Signal:
    t = np.arange(n) / RATE
    freq = rng.uniform(700, 1100) * (0.75 + 0.3 * np.sin(2 * np.pi * t / rng.uniform(2.5, 4)))
    return np.asarray(np.sin(2 * np.pi * np.cumsum(freq) / RATE))


def _heartbeat(rng: Rng, n: int, cue: _Cue) -> Signal:
    period = 60 / (rng.uniform(110, 130) if cue.fast else rng.uniform(60, 75))
    lub = ring([55, 110], [0.06, 0.03], [1, 0.3], 0.25)
    dub = ring([75, 150], [0.04, 0.02], [0.6, 0.2], 0.2)
    beats = pulses(n, period)
    return place(n, beats, cue.k, lub) + place(n, beats + 0.3 * min(1, period), cue.k, dub)


def _clock(rng: Rng, n: int, cue: _Cue) -> Signal:
    period = 0.5 if cue.fast else 1.0
    tick = ring([3200, 1800, 900], [0.006, 0.008, 0.02], [1, 0.6, 0.2], 0.06)
    tock = ring([2400, 1300, 800], [0.008, 0.01, 0.02], [1, 0.6, 0.2], 0.06)
    beats = pulses(n, period)
    return place(n, beats[::2], cue.k, tick) + place(n, beats[1::2], 0.8 * cue.k, tock)


def _applause(rng: Rng, n: int, cue: _Cue) -> Signal:
    claps = [
        burst(rng, 0.03, rng.uniform(0.005, 0.012), rng.uniform(900, 2200), 1.0) for _ in range(6)
    ]
    crowd = scatter(rng, n, 70 * cue.k, claps, 1.5)
    t = np.arange(n) / RATE
    end = n / RATE
    swell = np.minimum(t / 0.4, 1) * np.clip((end - t) / (0.3 * end), 0.15, 1)
    return crowd * swell


def _texture(rng: Rng, n: int, cue: _Cue) -> Signal:
    """An unknown word still gets a sound of its own: the seed picks band, tilt and motion."""
    times = frame_times(n)
    motion = wander(rng, times, rng.uniform(0.2, 6), 1 - rng.uniform(0, 0.8), 1)
    gain = band(rng.uniform(200, 4000), rng.uniform(0.5, 2)) * tilt(rng.uniform(0, 2))
    bed = noise(rng, n, motion * gain)
    grain = ring([rng.uniform(200, 3000)], [rng.uniform(0.005, 0.05)], [1], 0.2)
    grains = scatter(rng, n, rng.uniform(0, 15), [grain], 2.0)
    return bed / np.std(bed) * 0.3 + grains / (np.max(np.abs(grains)) + 1e-9) * 0.5


# --- reading the prompt ------------------------------------------------------------------------

Recipe = Callable[[Rng, int, _Cue], Signal]
_MATCH: list[tuple[str, str, Recipe]] = [
    ("rain", r"rain\w*|drizzl\w*|downpour\w*|storm\w*|showers?", _rain),
    ("thunder", r"thunder\w*|storm\w*|lightning", _thunder),
    ("wind", r"winds?|windy|breez\w+|gusts?|gusty|gale\w*|howling|storm\w*|blizzard", _wind),
    ("water", r"water\w*|rivers?|streams?|brook\w*|creek\w*|babbl\w*|bubbl\w*|splash\w*", _water),
    ("waves", r"waves?|ocean\w*|seas?|seaside|surf|shore\w*|beach\w*|tides?", _waves),
    ("fire", r"fires?|fireplace|campfire|crackl\w*|flames?|burning|embers?|bonfire", _fire),
    ("footsteps", r"foot\w*|steps?|walk\w*|running|marching|stomp\w*", _footsteps),
    ("knock", r"knock\w*", _knock),
    ("creak", r"creak\w*|squeak\w*|hinges?", _creak),
    ("slam", r"slam\w*|shut", _slam),
    ("bell", r"bells?|gong|ding\w*|doorbell|toll\w*", _bell),
    ("chime", r"chim\w*|tinkl\w*|jingl\w*", _chime),
    ("birds", r"birds?|birdsong|chirp\w*|tweet\w*|songbirds?|sparrows?|robins?", _birds),
    ("whoosh", r"whoosh\w*|swoosh\w*|swish\w*|woosh\w*|swoop\w*|zoom\w*", _whoosh),
    ("explosion", r"explo\w*|boom\w*|blast\w*|bang\w*|kaboom|detonat\w*", _explosion),
    ("beep", r"beep\w*|bleep\w*|buzzer", _beep),
    ("alarm", r"alarm\w*", _alarm),
    ("siren", r"sirens?", _siren),
    ("heartbeat", r"heart\w*|pulse|pulses|pulsing", _heartbeat),
    ("clock", r"clocks?|ticks?|ticking|tock\w*", _clock),
    ("applause", r"applau\w*|clap\w*|cheer\w*|audience|ovation", _applause),
]
_PATTERNS = [(name, re.compile(rf"\b(?:{words})\b"), recipe) for name, words, recipe in _MATCH]
SFX_WORDS = tuple(name for name, _, _ in _MATCH)
_LOUD = re.compile(r"\b(heavy|loud|strong|big|huge|violent|intense|pouring|roaring|massive)\b")
_QUIET = re.compile(r"\b(light|soft|gentle|faint|quiet|distant|slight|little|small|tiny)\b")
_FAST = re.compile(r"\b(fast|running|racing|quick|rapid|pounding|hurried)\b")
_BIG = re.compile(r"\b(church|big|large|huge|gong|toll\w*)\b")
_SMALL = re.compile(r"\b(small|tiny|little|door ?bell|bicycle)\b")
_WEIGHT = {"thunder": 1.0, "rain": 0.6, "wind": 0.5, "heartbeat": 1.0}


def _layers(text: str) -> tuple[_Cue, dict[str, Recipe]]:
    """The recipes a prompt names, and the modifiers ("heavy", "distant", "fast"...) for all."""
    low = text.lower()
    cue = _Cue(
        k=1.4 if _LOUD.search(low) else 0.7 if _QUIET.search(low) else 1.0,
        fast=bool(_FAST.search(low)),
        single=bool(re.search(r"\b(single|once|one)\b", low)),
        size=0.45 if _SMALL.search(low) else 2.0 if _BIG.search(low) else 1.0,
    )
    found = {name: recipe for name, pattern, recipe in _PATTERNS if pattern.search(low)}
    if re.search(r"\bdoors?\b", low) and not found.keys() & {"knock", "creak", "slam", "bell"}:
        found |= {"creak": _creak, "slam": _slam}  # a door on its own opens and closes
    return cue, found or {"texture": _texture}


def render_sound_effect(text: str, seconds: float) -> Pcm:
    """The finished effect: exactly round(seconds * RATE) frames, seconds already clamped.

    Each layer draws from its own generator (seeded by the prompt and the layer's name), so
    adding a word to a prompt adds a layer without reshuffling the others.
    """
    frames = round(seconds * RATE)
    cue, recipes = _layers(text)
    mix = np.zeros(frames)
    for name, recipe in recipes.items():
        layer = recipe(np.random.default_rng(stable_seed("sfx", text, name)), frames, cue)
        peak = float(np.max(np.abs(layer)))
        if peak > 0:
            mix[: len(layer)] += _WEIGHT.get(name, 0.8) * layer / peak
    return to_pcm(mix, frames, 0.005, min(0.05, seconds / 10))


class ProceduralSounds:
    """The offline :class:`~workers.backends.base.SoundMaker`: numpy recipes, no model files."""

    name = "storygate-synth"

    def capabilities(self) -> list[Capability]:
        return [
            Capability(
                kind="sfx",
                backend="local",
                model="storygate/synth-sfx",
                available=True,
                note="procedural synthesis steered by the prompt's words (rain, wind, fire, "
                "knock, bell, birds...), 0.5-30 s; not a generative model",
            ),
            Capability(
                kind="music",
                backend="local",
                model="storygate/synth-music",
                available=True,
                note="procedural chords, melody, bass and drums; tempo, mood and instruments "
                "from the prompt's words, 3-300 s; not a generative model",
            ),
        ]

    async def sound_effect(self, text: str, seconds: float) -> Pcm:
        length = clamp_seconds(seconds, SFX_SECONDS)
        return await asyncio.to_thread(render_sound_effect, text, length)

    async def music(self, prompt: str, seconds: float) -> Pcm:
        length = clamp_seconds(seconds, MUSIC_SECONDS)
        return await asyncio.to_thread(render_music, prompt, length)
