"""Recasting a table read in place over real HTTP on a real server (instant backends).

``POST /artifacts/{id}/voice`` puts the new voice on ``manifest.audio.voiceMap`` at once, a
remix voices the read again (``manifest.audio.remix``), the live read changes, a finalize made
before the change is ``stale`` and the next one speaks the recast character's lines at the new
voice's pitch (measured on the final MP3 by the entries' timings) while everyone else keeps
theirs. ``POST /cast`` recasts two characters as one change. A replay answers the same body
with ``Idempotency-Replayed`` and queues no second remix; errors are the reference's.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import httpx
import numpy as np
import pytest

from tests.e2e.sleeperhit_harness import (
    HoldServer,
    SleeperHitServer,
    Tenant,
    approved_plan,
    balance,
    expect_error,
    hold_worker,
    poll,
    post,
    start,
    wait_job,
)
from workers.backends.voices import decode_mp3, from_float, median_f0, to_float

REMIX_KIND = "sleeperhit.remix"


@pytest.fixture(scope="module")
def hold() -> Iterator[HoldServer]:
    found = HoldServer()
    yield found
    found.close()


@pytest.fixture(scope="module")
def sh(tmp_path_factory: pytest.TempPathFactory, hold: HoldServer) -> Iterator[SleeperHitServer]:
    server = start(tmp_path_factory.mktemp("sh-recast"), hold.env)
    yield server
    server.server.stop()


@pytest.fixture(scope="module")
def owner(sh: SleeperHitServer) -> Tenant:
    return sh.tenant(credits=200)


def ready_artifact(c: httpx.Client, name: str) -> dict[str, Any]:
    plan = approved_plan(c, name)
    made = post(c, "/story-jobs", {"storyPlanId": plan["id"]})
    assert made.status_code == 200, made.text
    job = wait_job(c, made.json()["job"]["id"], ("READY", "FAILED"))
    assert job["status"] == "READY", job
    (artifact,) = job["artifacts"]
    return dict(artifact)


def finalized(c: httpx.Client, path: str) -> dict[str, Any]:
    answer = post(c, f"{path}/finalize", {"mode": "audio"})
    assert answer.status_code == 200, answer.text
    audio = poll(
        c,
        path,
        lambda b: (
            b["artifact"]["manifest"]["audio"]["finalize"]["status"] in ("complete", "failed")
        ),
    )["artifact"]["manifest"]["audio"]
    assert audio["finalize"]["status"] == "complete", audio
    return dict(audio)


def pitches(mp3: bytes, entries: list[dict[str, Any]]) -> dict[str, float]:
    """Each character's median F0 over its lines (cut by the entries' timings)."""
    pcm = decode_mp3(mp3)
    x = to_float(pcm)
    found: dict[str, list[float]] = {}
    for e in entries:
        clip = x[int(e["startMs"] * pcm.rate / 1000) : int(e["endMs"] * pcm.rate / 1000)]
        found.setdefault(e["character"], []).append(median_f0(from_float(clip, pcm.rate)))
    return {name: float(np.median(v)) for name, v in found.items()}


def remixes(sh: SleeperHitServer, tenant: Tenant, artifact_id: str) -> int:
    async def count(rt: Any) -> int:
        jobs = await rt.jobs.of_subject(tenant.account_id, artifact_id, family="sleeperhit")
        return sum(1 for j in jobs if j.kind == REMIX_KIND)

    return int(sh.core(count))


def remixed(c: httpx.Client, path: str, version: int) -> dict[str, Any]:
    def done(b: dict[str, Any]) -> bool:
        remix = b["artifact"]["manifest"]["audio"]["remix"]
        assert remix["status"] != "failed", remix
        return bool(remix["status"] == "complete" and remix["liveStateVersion"] >= version)

    return dict(poll(c, path, done, timeout=180)["artifact"]["manifest"])


def test_recast_one_character_then_two(sh: SleeperHitServer, owner: Tenant) -> None:
    with sh.client(owner) as c:
        artifact = ready_artifact(c, "recast")
        path = f"/artifacts/{artifact['id']}"
        manifest = artifact["manifest"]
        assert manifest["audio"]["remix"]["status"] == "idle"
        entries = c.get(f"{path}/script").json()["script"]["entries"]
        speakers = {e["character"] for e in entries}
        assert len(speakers) >= 2, speakers
        held = {k: v["voiceId"] for k, v in manifest["audio"]["voiceMap"].items()}
        first_final = finalized(c, path)
        assert first_final["finalize"]["stale"] is False
        before_mp3 = httpx.get(first_final["recordingUrl"], timeout=60).content
        before = pitches(before_mp3, entries)
        live_before = httpx.get(manifest["audio"]["liveUrl"], timeout=60).content

        target = sorted(speakers - {"NARRATOR"} or speakers)[0]
        new_voice = "storygate-bright" if held[target] != "storygate-bright" else "storygate-deep"
        spent = balance(c)
        key = {"Idempotency-Key": "recast-voice-1"}
        body = {"character": target.lower(), "voiceId": new_voice, "voiceName": "Bright Host"}
        first = c.post(f"{path}/voice", json=body, headers=key)
        assert first.status_code == 200, first.text
        answer = first.json()
        assert answer["artifactId"] == artifact["id"] and answer["character"] == target
        assert answer["voiceMap"][target] == {"voiceId": new_voice, "voiceName": "Bright Host"}
        assert {k: v["voiceId"] for k, v in answer["voiceMap"].items() if k != target} == {
            k: v for k, v in held.items() if k != target
        }
        replay = c.post(f"{path}/voice", json=body, headers=key)
        assert replay.status_code == 200 and replay.headers.get("idempotency-replayed") == "true"
        assert replay.content == first.content
        assert remixes(sh, owner, artifact["id"]) == 1
        assert balance(c) == spent

        # At once: the voiceMap and the cast; the finalize is stale.
        got = c.get(path).json()["artifact"]
        audio = got["manifest"]["audio"]
        assert audio["voiceMap"][target]["voiceId"] == new_voice
        assert audio["finalize"]["stale"] is True
        assert audio["remix"]["stateVersion"] == 1
        assert (got["currentVersion"], got["refineCount"]) == (1, 0)
        cast = {m["character"]: m for m in c.get(f"{path}/cast").json()["cast"]}
        assert cast[target]["voiceId"] == new_voice and cast[target]["voiceName"] == "Bright Host"

        # The live read follows once the remix is done.
        manifest = remixed(c, path, 1)
        assert manifest["shareToken"] == artifact["manifest"]["shareToken"]
        live_after = httpx.get(manifest["audio"]["liveUrl"], timeout=60).content
        assert live_after != live_before
        new_entries = c.get(f"{path}/script").json()["script"]["entries"]
        assert [(e["character"], e["text"]) for e in new_entries] == [
            (e["character"], e["text"]) for e in entries
        ]
        assert all(a["endMs"] <= b["startMs"] for a, b in pairwise(new_entries))
        assert new_entries[-1]["endMs"] <= manifest["audio"]["durationMs"]

        # Finalize again: a new mix (charged), no longer stale, the new voice in it.
        spent = balance(c)
        second_final = finalized(c, path)
        assert second_final["finalize"]["stale"] is False
        assert second_final["recordingUrl"] and balance(c) < spent
        after = pitches(httpx.get(second_final["recordingUrl"], timeout=60).content, new_entries)
        for name in speakers:
            ratio = after[name] / before[name]
            if name == target:
                assert abs(np.log(ratio)) > np.log(1.1), (name, before, after)
            else:
                assert abs(np.log(ratio)) < np.log(1.04), (name, before, after)

        # Two characters at once: one change, one remix, stale again.
        names = sorted(speakers)[:2]
        entries_body = [
            {"character": names[0], "voiceId": "storygate-warm", "voiceName": "Warm"},
            {
                "character": names[1],
                "voiceId": "storygate-light",
                "voiceName": "Light",
                "gender": "neutral",
                "provider": "storygate-local",
            },
        ]
        both = post(c, f"{path}/cast", {"entries": entries_body})
        assert both.status_code == 200, both.text
        voice_map = both.json()["voiceMap"]
        assert set(both.json()) == {"voiceMap"}
        assert voice_map[names[0]] == {"voiceId": "storygate-warm", "voiceName": "Warm"}
        assert voice_map[names[1]] == {"voiceId": "storygate-light", "voiceName": "Light"}
        assert remixes(sh, owner, artifact["id"]) == 2
        audio = c.get(path).json()["artifact"]["manifest"]["audio"]
        assert audio["finalize"]["stale"] is True and audio["remix"]["stateVersion"] == 2
        remixed(c, path, 2)


def test_recast_errors(sh: SleeperHitServer, owner: Tenant, hold: HoldServer) -> None:
    stranger = sh.tenant(credits=50)
    with sh.client(owner) as c:
        plan = approved_plan(c, "recast-early")
        let_go = hold_worker(c, plan["projectId"], hold)
        try:
            made = post(c, "/story-jobs", {"storyPlanId": plan["id"]})
            assert made.status_code == 200, made.text
            (artifact,) = made.json()["job"]["artifacts"]
            path = f"/artifacts/{artifact['id']}"
            body = {"character": "NARRATOR", "voiceId": "storygate-deep", "voiceName": "Deep"}
            error = expect_error(post(c, f"{path}/voice", body), "artifact_not_ready")
            assert error["details"]["status"] == "PENDING", error
            expect_error(post(c, f"{path}/cast", {"entries": [body]}), "artifact_not_ready")
        finally:
            let_go()
        wait_job(c, made.json()["job"]["id"], ("READY", "FAILED"))
        entries = c.get(f"{path}/script").json()["script"]["entries"]
        someone = entries[0]["character"]
        good = {"character": someone, "voiceId": "storygate-deep", "voiceName": "Deep"}
        missing_key = c.post(f"{path}/voice", json=good)
        expect_error(missing_key, "idempotency_key_required")
        expect_error(c.post(f"{path}/cast", json={"entries": [good]}), "idempotency_key_required")
        error = expect_error(
            post(c, f"{path}/voice", {**good, "character": "NOBODY HERE"}), "validation_failed"
        )
        assert error["details"]["field"] == "character", error
        error = expect_error(
            post(c, f"{path}/voice", {**good, "voiceId": "voice_123"}), "validation_failed"
        )
        assert error["details"]["field"] == "voiceId", error
        error = expect_error(
            post(c, f"{path}/cast", {"entries": [good, {**good, "voiceId": "nope"}]}),
            "validation_failed",
        )
        assert error["details"]["field"] == "entries[1].voiceId", error
        expect_error(post(c, f"{path}/cast", {"entries": []}), "validation_failed")
        expect_error(post(c, f"{path}/voice", {"character": someone}), "validation_failed")
        assert remixes(sh, owner, artifact["id"]) == 0
        with sh.client(stranger) as s:
            expect_error(post(s, f"{path}/voice", good), "artifact_not_found")
            expect_error(post(s, f"{path}/cast", {"entries": [good]}), "artifact_not_found")
            expect_error(post(s, "/artifacts/art_missing/voice", good), "artifact_not_found")
        got = c.get(path).json()["artifact"]["manifest"]["audio"]
        assert got["remix"]["status"] == "idle"
