"""The live read on the instant backends, measured on its MP3: effects change exactly the lines
in their range, muted and clip-less scenes are silent under the voices while the others carry a
bed under the gate, a cue is heard at its line, and unchanged lines come from the line cache."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pyloudnorm
import pytest

from tests.unit.test_table_read import ACCOUNT, FakeScriptWriter, Jobs, Store, services
from tests.unit.test_voice_effects import cents_off, pitch_midi
from workers.backends.base import Pcm
from workers.backends.voices import VOICES, decode_mp3, from_float, to_float
from workers.pipelines.live_mix import entries_of, render_live
from workers.pipelines.mixdown import finalize_task
from workers.pipelines.read_audio import voiced_segments
from workers.pipelines.scene_beds import BEFORE_GAP_MS, CUE_SECONDS, scene_spans
from workers.tasks import TaskContext

TEXTS = (
    "The harbor wall went up in one summer.",
    "I said the money belonged to the school.",
    "Every tide since then has stopped at the stones.",
    "We poured the footings after midnight.",
    "Nobody believed it would hold in a storm.",
    "The first storm came in November.",
    "The whole town stood on the hill to watch.",
    "And the wall held.",
)
NAMES = ("NARRATOR", "ADA", "OWEN")


def content() -> dict[str, Any]:
    """Three scenes (entries 0-2, 3-5, 6-7), three voices."""
    cast = [{"name": n, "voice": VOICES[i].wire()} for i, n in enumerate(NAMES)]
    entries = [{"entryIndex": i, "character": NAMES[i % 3], "text": t} for i, t in enumerate(TEXTS)]
    scenes = [entries[0:3], entries[3:6], entries[6:8]]
    return {
        "cast": cast,
        "scenes": [{"index": i, "title": f"S{i}", "entries": s} for i, s in enumerate(scenes)],
    }


class CountingNarrator:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.spoken: list[str] = []

    def capability(self) -> Any:
        return self.inner.capability()

    async def speak(self, text: str, **kw: Any) -> Pcm:
        self.spoken.append(text)
        return await self.inner.speak(text, **kw)


def context(store: Store, job_id: str) -> tuple[TaskContext, CountingNarrator]:
    svc = services(FakeScriptWriter(), Jobs(), store)
    narrator = CountingNarrator(svc.backends.narrator)
    svc.backends.narrator = narrator
    job = SimpleNamespace(id=job_id, account_id=ACCOUNT, params={}, progress={})
    return TaskContext(job=job, services=svc), narrator  # type: ignore[arg-type]


async def render(
    store: Store, state: dict[str, Any], job_id: str = "job_remix1"
) -> tuple[dict[str, Any], Pcm, CountingNarrator]:
    ctx, narrator = context(store, job_id)
    result = await render_live(ctx, content(), state, seed=5, cache_job_id="job_story1")
    assert result["audio"]["path"] == f"jobs/{job_id}/read.mp3"
    return result, decode_mp3(store.files[(ACCOUNT, result["audio"]["path"])][0]), narrator


def clip(pcm: Pcm, start_ms: float, end_ms: float) -> Any:
    x = to_float(pcm)
    return x[int(start_ms * pcm.rate / 1000) : int(end_ms * pcm.rate / 1000)]


def rms(x: Any) -> float:
    return float(np.sqrt(np.mean(np.asarray(x) ** 2))) if len(x) else 0.0


def pauses(result: dict[str, Any], scene: int) -> list[tuple[float, float]]:
    """The pauses after each of a scene's lines (inside the next line's lead-in margin)."""
    entries = entries_of(result)
    out = []
    for e in result["scenes"][scene]["entries"]:
        following = [n for n in entries if n["entryIndex"] == e["entryIndex"] + 1]
        if following:
            out.append((e["endMs"] + 120, following[0]["startMs"] - 120))
    return out


async def test_plain_render_matches_the_script_and_is_cached() -> None:
    store = Store()
    first, pcm, narrator = await render(store, {})
    assert len(narrator.spoken) == len(TEXTS)
    assert [(a, b) for a, b in voiced_segments(pcm)] and len(voiced_segments(pcm)) == len(TEXTS)
    assert first["music"] == {"clips": {}} and first["sfx"] == {} and first["effects"] == {}
    assert first["hasMusic"] is False
    assert [c["voice"]["voiceId"] for c in first["cast"]] == [v.id for v in VOICES[:3]]
    cached = [p for (_a, p) in store.files if p.startswith("jobs/job_story1/cache/lines/")]
    assert len(cached) == len(TEXTS)

    # A recast: only ADA's lines are voiced again; the rest come from the cache.
    state = {"voices": {"ADA": {"voiceId": VOICES[4].id, "voiceName": "Light"}}}
    again, _pcm, narrator = await render(store, state, "job_remix2")
    assert sorted(narrator.spoken) == sorted(t for i, t in enumerate(TEXTS) if i % 3 == 1)
    assert [e["startMs"] for e in entries_of(again)][:2] == [
        e["startMs"] for e in entries_of(first)
    ][:2]

    # A damaged cache entry is made again, not trusted.
    for key in cached:
        store.files[(ACCOUNT, key)] = (b"not a wav", "audio/wav")
    _r, _pcm, narrator = await render(store, {}, "job_remix3")
    assert len(narrator.spoken) == len(TEXTS)


async def test_autotune_changes_exactly_its_lines() -> None:
    store = Store()
    plain, plain_pcm, _ = await render(store, {})
    effect = {
        "id": "mod_" + "a" * 24,
        "startEntryIndex": 2,
        "endEntryIndex": 4,
        "effect": "autotune",
        "params": {"key": "C", "scale": "major"},
        "version": 4,
    }
    tuned, tuned_pcm, narrator = await render(store, {"effects": [effect]}, "job_remix2")
    assert narrator.spoken == []  # the plain lines came from the cache; only the effect ran
    assert tuned["effects"] == {effect["id"]: {"status": "ready", "version": 4}}
    assert len(voiced_segments(tuned_pcm)) == len(TEXTS)
    for before, after in zip(entries_of(plain), entries_of(tuned), strict=True):
        b = cents_off(
            pitch_midi(
                from_float(clip(plain_pcm, before["startMs"], before["endMs"]), plain_pcm.rate)
            ),
            "C",
            "major",
        )
        a = cents_off(
            pitch_midi(
                from_float(clip(tuned_pcm, after["startMs"], after["endMs"]), tuned_pcm.rate)
            ),
            "C",
            "major",
        )
        if 2 <= before["entryIndex"] <= 4:
            assert a < 0.5 * b and a < 12, (before["entryIndex"], b, a)
        else:
            assert abs(a - b) < 3, (before["entryIndex"], b, a)


@pytest.mark.parametrize("effect", ["robot", "radio", "echo"])
async def test_other_effects_render(effect: str) -> None:
    store = Store()
    item = {"id": "mod_1", "startEntryIndex": 0, "endEntryIndex": 0, "effect": effect, "version": 2}
    result, pcm, _ = await render(
        store, {"effects": [item, {**item, "id": "mod_2", "effect": "x"}]}
    )
    assert result["effects"]["mod_1"] == {"status": "ready", "version": 2}
    assert result["effects"]["mod_2"]["status"] == "failed"
    assert len(voiced_segments(pcm)) == len(TEXTS)


async def test_scene_beds_only_where_enabled() -> None:
    store = Store()
    music = {
        "mode": "adaptive",
        "version": 3,
        "clips": {
            "0": {"prompt": "warm strings, slow", "weight": 1.0, "disabled": False, "version": 3},
            "1": {"prompt": "tense drums", "weight": 1.0, "disabled": True, "version": 3},
            "2": {"prompt": "gentle piano outro", "weight": 0.6, "disabled": False, "version": 3},
        },
    }
    result, pcm, _ = await render(store, {"music": music})
    assert result["hasMusic"] is True
    clips = result["music"]["clips"]
    assert set(clips) == {"0", "1", "2"}
    assert clips["1"]["path"] is None and clips["1"]["status"] == "ready"
    for key in ("0", "2"):
        assert clips[key]["status"] == "ready" and clips[key]["version"] == 3
        assert store.files[(ACCOUNT, clips[key]["path"])][1] == "audio/mpeg"
    scenes = result["scenes"]
    assert clips["0"]["endMs"] == clips["1"]["startMs"] == scenes[1]["entries"][0]["startMs"]
    assert clips["2"]["startMs"] == scenes[2]["entries"][0]["startMs"]
    # The pauses of scenes 0 and 2 carry a bed; scene 1's are silent.
    speaking = rms(clip(pcm, *next(iter(pauses(result, 0)))))
    assert speaking > 1e-3
    assert all(rms(clip(pcm, *gap)) < 2e-4 for gap in pauses(result, 1))
    assert all(rms(clip(pcm, *gap)) > 5e-4 for gap in pauses(result, 2))
    # Every bed stays under the gate: each line is still heard on its own.
    assert len(voiced_segments(pcm)) == len(TEXTS)


async def test_a_cue_is_heard_at_its_line() -> None:
    store = Store()
    plain, plain_pcm, _ = await render(store, {})
    cues = [
        {"id": "sfx_" + "b" * 24, "label": "knock", "entryIndex": 4, "prompt": "door knock",
         "volume": 0.6, "triggerOffset": "before", "version": 5},
        {"id": "sfx_" + "c" * 24, "label": "bell", "entryIndex": 1, "prompt": "bell",
         "volume": 1.0, "triggerOffset": "after", "version": 5},
        {"id": "sfx_" + "d" * 24, "label": "gone", "entryIndex": 99, "prompt": "bell",
         "volume": 1.0, "triggerOffset": "with", "version": 5},
    ]  # fmt: skip
    result, pcm, _ = await render(store, {"sfx": cues}, "job_remix2")
    assert set(result["sfx"]) == {cues[0]["id"], cues[1]["id"]}
    line = entries_of(result)[4]
    knock = result["sfx"][cues[0]["id"]]
    assert knock["durationMs"] == round(CUE_SECONDS * 1000)
    assert abs(knock["atMs"] + knock["durationMs"] + BEFORE_GAP_MS - line["startMs"]) <= 2
    assert store.files[(ACCOUNT, knock["path"])][1] == "audio/mpeg"
    bell = result["sfx"][cues[1]["id"]]
    assert abs(bell["atMs"] - entries_of(result)[1]["endMs"]) <= 2
    # In the pause before the line, the cue is as loud as speech times its volume.
    speech = rms(clip(plain_pcm, line["startMs"], line["endMs"]))
    heard = rms(clip(pcm, line["startMs"] - 700, line["startMs"] - BEFORE_GAP_MS))
    silent = rms(clip(plain_pcm, line["startMs"] - 700, line["startMs"] - BEFORE_GAP_MS))
    assert heard > 0.5 * speech * 0.6 and heard > 30 * silent, (heard, speech, silent)
    assert [e["startMs"] for e in entries_of(result)] == [e["startMs"] for e in entries_of(plain)]


def test_scene_spans() -> None:
    assert scene_spans([10, None, 50, 80], 100) == [(10, 50), (50, 50), (50, 80), (80, 100)]


async def test_finalize_of_a_live_read_lays_no_bed_and_is_loudness_normalised() -> None:
    store = Store()
    result, _pcm, _ = await render(store, {})
    job = SimpleNamespace(
        id="job_final1",
        account_id=ACCOUNT,
        params={"artifact_id": "a", "story_job_id": "gone", "read_path": result["audio"]["path"],
                "bed": False},
    )  # fmt: skip
    ctx = TaskContext(job=job, services=services(FakeScriptWriter(), Jobs(), store))  # type: ignore[arg-type]
    final = await finalize_task(ctx)
    mixed = decode_mp3(store.files[(ACCOUNT, final["path"])][0])
    assert final["entries"] == len(TEXTS)  # heard: the story job is gone
    x = to_float(mixed)
    lufs = pyloudnorm.Meter(mixed.rate).integrated_loudness(x)
    assert abs(lufs + 16) <= 1.0 or np.abs(x).max() > 0.8
    assert np.abs(x).max() <= 0.96
    for gap in pauses(result, 1):
        assert rms(clip(mixed, *gap)) < 2e-4  # no bed: the pauses stay silent
