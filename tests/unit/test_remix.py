"""``sleeperhit.remix`` on the instant backends: the recast character's lines are heard in the
new voice (median F0 moves), every other line sounds as before, and the timings still hold."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from tests.unit.test_table_read import (
    ACCOUNT,
    FakeScriptWriter,
    Jobs,
    Store,
    check_read,
    entries_of,
    envelope,
    services,
)
from workers.backends.voices import decode_mp3, from_float, median_f0, to_float
from workers.pipelines.remix import remix_task
from workers.pipelines.table_read import story_task
from workers.tasks import TaskContext, TaskError

ARTIFACT = {
    "id": "a",
    "type": "table_read",
    "mode": "podcast",
    "narrationPolicy": "include",
    "durationSeconds": 30,
}


async def run_story(writer: Any, artifacts: list[dict[str, Any]], jobs: Jobs, store: Store) -> Any:
    job = SimpleNamespace(
        id="job_story1",
        account_id=ACCOUNT,
        params={"plan": envelope(), "artifacts": artifacts, "seed": 5},
        progress={},
    )
    result = await story_task(TaskContext(job=job, services=services(writer, jobs, store)))  # type: ignore[arg-type]
    jobs.results[job.id] = result
    return result


def _pitches(audio: bytes, content: dict[str, Any]) -> list[float]:
    pcm = decode_mp3(audio)
    x = to_float(pcm)
    return [
        median_f0(
            from_float(
                x[int(e["startMs"] * pcm.rate / 1000) : int(e["endMs"] * pcm.rate / 1000)], pcm.rate
            )
        )
        for e in entries_of(content)
    ]


async def _remix(jobs: Jobs, store: Store, state: dict[str, Any], version: int) -> dict[str, Any]:
    job = SimpleNamespace(
        id=f"job_remix{version}",
        account_id=ACCOUNT,
        progress={},
        params={
            "artifact_id": "a",
            "story_job_id": "job_story1",
            "state": state,
            "state_version": version,
            "seed": 5,
        },
    )
    ctx = TaskContext(job=job, services=services(FakeScriptWriter(), jobs, store))  # type: ignore[arg-type]
    return await remix_task(ctx)


async def test_a_recast_character_changes_pitch_and_nobody_else_does() -> None:
    jobs, store = Jobs(), Store()
    content = (await run_story(FakeScriptWriter(), [dict(ARTIFACT)], jobs, store))["artifacts"]["a"]
    before_audio = store.files[(ACCOUNT, content["audio"]["path"])][0]
    before = _pitches(before_audio, content)
    speakers = [e["character"] for e in entries_of(content)]
    held = {c["name"]: c["voice"]["voiceId"] for c in content["cast"]}
    target = next(n for n in speakers if n != "NARRATOR")
    new_id = "storygate-bright" if held[target] != "storygate-bright" else "storygate-deep"
    state = {"voices": {target: {"voiceId": new_id, "voiceName": "New", "provider": "x"}}}

    result = await _remix(jobs, store, state, 3)

    assert result["stateVersion"] == 3 and result["artifactId"] == "a"
    assert result["audio"]["path"].endswith("read.mp3")
    audio = store.files[(ACCOUNT, result["audio"]["path"])][0]
    remixed = {**content, "scenes": result["scenes"], "audio": result["audio"]}
    check_read(remixed, audio, 30)  # counted, timed, every line where its entry says
    assert [e["entryIndex"] for e in entries_of(remixed)] == list(range(len(entries_of(content))))
    assert [e["text"] for e in entries_of(remixed)] == [e["text"] for e in entries_of(content)]
    after = _pitches(audio, remixed)
    for name, b, a in zip(speakers, before, after, strict=True):
        if name == target:
            assert abs(np.log(a / b)) > np.log(1.1), (name, b, a)
        else:
            assert abs(np.log(a / b)) < np.log(1.03), (name, b, a)
    cast = {c["name"]: c["voice"] for c in result["cast"]}
    assert cast[target] == {"voiceId": new_id, "voiceName": "New", "provider": "x"}
    assert all(cast[n]["voiceId"] == held[n] for n in held if n != target)


async def test_no_overrides_is_the_same_read_and_a_missing_story_fails() -> None:
    jobs, store = Jobs(), Store()
    content = (await run_story(FakeScriptWriter(), [dict(ARTIFACT)], jobs, store))["artifacts"]["a"]
    result = await _remix(jobs, store, {}, 1)
    assert [(e["startMs"], e["endMs"]) for e in entries_of(result)] == [
        (e["startMs"], e["endMs"]) for e in entries_of(content)
    ]
    assert result["audio"]["durationMs"] == content["audio"]["durationMs"]
    with pytest.raises(TaskError):
        await _remix(Jobs(), store, {}, 2)
