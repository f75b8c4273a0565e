"""Voice effects, adaptive music and sound cues over real HTTP on a real server (instant backends).

Each accepted POST is one state change and one ``sleeperhit.remix`` job, charges nothing, marks
a completed finalize stale, and its items move to ready once the remix is done; a replay with
the same Idempotency-Key answers the same body and queues nothing; bad input changes nothing;
another account's artifact is not found.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.sleeperhit_harness import (
    SleeperHitServer,
    Tenant,
    balance,
    expect_error,
    new_plan,
    new_project,
    poll,
    post,
    start,
    text_source,
    wait_job,
)
from workers.backends.voices import decode_mp3

REMIX_KIND = "sleeperhit.remix"
# Long enough for a few scenes, still a short read.
READ = {"type": "table_read", "mode": "drama", "durationSeconds": 60}


@pytest.fixture(scope="module")
def sh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SleeperHitServer]:
    server = start(tmp_path_factory.mktemp("sh-edits"))
    yield server
    server.server.stop()


@pytest.fixture(scope="module")
def owner(sh: SleeperHitServer) -> Tenant:
    return sh.tenant(credits=200)


def ready_artifact(c: httpx.Client, name: str) -> str:
    project = new_project(c, name)
    source = text_source(c, project)
    poll(
        c, f"/story-projects/{project}/sources/{source}", lambda b: b["source"]["status"] == "READY"
    )
    plan = new_plan(c, project, sources=[source], requests=[READ])
    made = post(c, "/story-jobs", {"storyPlanId": plan["id"]})
    assert made.status_code == 200, made.text
    job = wait_job(c, made.json()["job"]["id"], ("READY", "FAILED"))
    assert job["status"] == "READY", job
    return f"/artifacts/{job['artifacts'][0]['id']}"


def remixes(sh: SleeperHitServer, tenant: Tenant, path: str) -> int:
    async def count(rt: Any) -> int:
        jobs = await rt.jobs.of_subject(tenant.account_id, path.split("/")[-1], family="sleeperhit")
        return sum(1 for j in jobs if j.kind == REMIX_KIND)

    return int(sh.core(count))


def audio(c: httpx.Client, path: str) -> dict[str, Any]:
    return dict(c.get(path).json()["artifact"]["manifest"]["audio"])


def refused(c: httpx.Client, path: str, body: Any, field: str | None = None) -> dict[str, Any]:
    """``validation_failed``, naming ``field`` (in ``details.field`` or the message) if given."""
    error = expect_error(post(c, path, body), "validation_failed")
    named = (error.get("details") or {}).get("field")
    assert field is None or named == field or f"body: {field} " in error["message"], error
    return error


def finalized(c: httpx.Client, path: str) -> None:
    assert post(c, f"{path}/finalize", {"mode": "audio"}).status_code == 200
    poll(c, path, lambda b: b["artifact"]["manifest"]["audio"]["finalize"]["status"] == "complete")


def test_voice_effects(sh: SleeperHitServer, owner: Tenant) -> None:
    with sh.client(owner) as c:
        path = ready_artifact(c, "effects")
        entries = c.get(f"{path}/script").json()["script"]["entries"]
        last = entries[-1]["entryIndex"]
        assert last >= 2
        finalized(c, path)
        assert audio(c, path)["finalize"]["stale"] is False
        spent = balance(c)
        mods = f"{path}/voice-modification"
        assert c.get(mods).json() == {"artifactId": path.split("/")[-1], "modifications": []}

        body = {"startEntryIndex": 1, "endEntryIndex": 2, "effect": "autotune"}
        key = {"Idempotency-Key": "effect-1"}
        first = c.post(mods, json={**body, "params": {"key": "A", "scale": "minor"}}, headers=key)
        assert first.status_code == 200, first.text
        answer = first.json()
        assert set(answer) == {"modificationId", "status"} and answer["status"] == "processing"
        assert answer["modificationId"].startswith("mod_")
        again = c.post(mods, json={**body, "params": {"scale": "minor", "key": "A"}}, headers=key)
        assert again.headers.get("idempotency-replayed") == "true"
        assert again.content == first.content
        assert remixes(sh, owner, path) == 1 and balance(c) == spent
        assert audio(c, path)["finalize"]["stale"] is True

        echo = post(c, mods, {"startEntryIndex": 0, "endEntryIndex": 0, "effect": "echo"})
        assert echo.status_code == 200, echo.text
        assert remixes(sh, owner, path) == 2
        listed = c.get(mods).json()["modifications"]
        assert [m["modificationId"] for m in listed] == [
            answer["modificationId"],
            echo.json()["modificationId"],
        ]
        assert listed[0]["params"] == {"key": "A", "scale": "minor", "strength": 1.0}
        assert listed[1]["params"] == {"delayMs": 260.0, "feedback": 0.4, "mix": 0.35}
        assert (listed[0]["startEntryIndex"], listed[0]["endEntryIndex"]) == (1, 2)
        assert all(m["status"] in ("processing", "ready") and m["createdAt"] for m in listed)

        done = poll(c, mods, lambda b: all(m["status"] != "processing" for m in b["modifications"]))
        assert [m["status"] for m in done["modifications"]] == ["ready", "ready"], done
        one = c.get(mods, params={"modificationId": answer["modificationId"]}).json()
        assert [m["modificationId"] for m in one["modifications"]] == [answer["modificationId"]]
        error = expect_error(c.get(mods, params={"modificationId": "mod_x"}), "validation_failed")
        assert error["details"]["field"] == "modificationId"

        version = audio(c, path)["remix"]["stateVersion"]
        refused(c, mods, {**body, "effect": "chorus"}, "effect")
        refused(c, mods, {**body, "startEntryIndex": 2, "endEntryIndex": 1}, "endEntryIndex")
        refused(c, mods, {**body, "endEntryIndex": last + 1}, "endEntryIndex")
        refused(c, mods, {**body, "startEntryIndex": -1}, "startEntryIndex")
        refused(c, mods, {**body, "params": {"key": "H"}}, "params.key")
        refused(c, mods, {**body, "params": {"strength": 2}}, "params.strength")
        refused(c, mods, {**body, "effect": "robot", "params": {"pitchHz": 20}}, "params.pitchHz")
        refused(c, mods, {**body, "effect": "radio", "params": {"wet": 1}}, "params.wet")
        refused(c, mods, {**body, "effect": "echo", "params": {"mix": True}}, "params.mix")
        refused(c, mods, {"effect": "robot"})
        assert remixes(sh, owner, path) == 2
        assert audio(c, path)["remix"]["stateVersion"] == version
        assert balance(c) == spent


def test_music(sh: SleeperHitServer, owner: Tenant) -> None:
    with sh.client(owner) as c:
        path = ready_artifact(c, "music")
        music = f"{path}/music"
        scenes = c.get(f"{path}/script").json()["script"]["scenes"]
        total = len(scenes)
        assert total >= 3, scenes
        none = c.get(music).json()["music"]
        assert none["status"] == "none" and none["musicMode"] is None
        assert none["definedClips"] == [] and none["totalScenes"] == total
        finalized(c, path)
        spent = balance(c)

        # No body: the default share, the first and the last scene among them.
        key = {"Idempotency-Key": "music-1"}
        first = c.post(music, headers=key)
        assert first.status_code == 200, first.text
        answer = first.json()
        assert answer == {
            "artifactId": path.split("/")[-1],
            "status": "generating",
            "coveragePercent": 0.35,
            "totalScenes": total,
            "sceneIndex": None,
            "adaptiveSceneDirection": None,
        }
        replay = c.post(music, headers=key)
        assert replay.headers.get("idempotency-replayed") == "true"
        assert replay.content == first.content
        assert remixes(sh, owner, path) == 1 and balance(c) == spent
        assert audio(c, path)["finalize"]["stale"] is True
        got = c.get(music).json()["music"]
        assert got["status"] in ("generating", "ready") and got["musicMode"] == "adaptive"
        picked = [clip["sceneIndex"] for clip in got["definedClips"]]
        assert len(picked) == max(1, round(0.35 * total)) and picked[0] == 0
        if len(picked) > 1:
            assert picked[-1] == total - 1

        # A whole percent: every scene; each clip prompted from its scene.
        every = post(c, music, {"musicCoveragePercent": 100})
        assert every.json()["coveragePercent"] == 1.0
        clips = c.get(music).json()["music"]["definedClips"]
        assert [clip["sceneIndex"] for clip in clips] == list(range(total))
        assert all(clip["weight"] == 0.6 and not clip["disabled"] for clip in clips)
        assert all(scenes[i]["title"] in clips[i]["prompt"] for i in range(total))

        # Scene edits answer at once.
        muted = post(c, music, {"sceneIndex": 1, "clip": {"disabled": True}})
        assert muted.status_code == 200, muted.text
        assert muted.json()["status"] == "ready" and muted.json()["sceneIndex"] == 1
        assert muted.json()["adaptiveSceneDirection"]["enabled"] is False
        tuned = post(c, music, {"sceneIndex": 0, "prompt": "heavier bass pulse", "weight": 0.85})
        assert tuned.json()["adaptiveSceneDirection"] == {
            "sceneIndex": 0,
            "prompt": "heavier bass pulse",
            "weight": 0.85,
            "enabled": True,
        }
        again = post(c, music, {"regenerateScenes": [total - 1, 0]})
        assert again.json()["status"] == "generating"
        assert remixes(sh, owner, path) == 5

        ready = poll(c, music, lambda b: b["music"]["status"] == "ready")["music"]
        clips = {clip["sceneIndex"]: clip for clip in ready["definedClips"]}
        assert all(clip["status"] == "ready" for clip in clips.values()), clips
        assert clips[1]["disabled"] and clips[0]["prompt"] == "heavier bass pulse"
        assert clips[0]["weight"] == 0.85

        version = audio(c, path)["remix"]["stateVersion"]
        refused(c, music, {"sceneIndex": total, "weight": 0.5}, "sceneIndex")
        refused(c, music, {"sceneIndex": 0, "weight": 1.5}, "weight")
        refused(c, music, {"sceneIndex": 0}, "sceneIndex")
        refused(c, music, {"weight": 0.5}, "sceneIndex")
        refused(c, music, {"sceneIndex": 0, "enabled": False, "clip": {"disabled": False}})
        refused(c, music, {"sceneIndex": 0, "weight": 0.5, "musicCoveragePercent": 50})
        refused(c, music, {"regenerateScenes": [0], "musicCoveragePercent": 50})
        refused(c, music, {"regenerateScenes": []}, "regenerateScenes")
        refused(c, music, {"regenerateScenes": [0, total]}, "regenerateScenes[1]")
        refused(c, music, {"musicCoveragePercent": "lots"}, "musicCoveragePercent")
        assert remixes(sh, owner, path) == 5
        assert audio(c, path)["remix"]["stateVersion"] == version
        assert balance(c) == spent


def test_sound_cues(sh: SleeperHitServer, owner: Tenant) -> None:
    with sh.client(owner) as c:
        path = ready_artifact(c, "sfx")
        sfx = f"{path}/sfx"
        entries = c.get(f"{path}/script").json()["script"]["entries"]
        artifact_id = path.split("/")[-1]
        assert c.get(sfx).json() == {"sfx": {"artifactId": artifact_id, "cues": []}}
        spent = balance(c)
        add = {"op": "add", "entryIndex": 1, "label": "door knock", "triggerOffset": "before"}
        expect_error(c.post(sfx, json=add), "idempotency_key_required")
        assert remixes(sh, owner, path) == 0

        key = {"Idempotency-Key": "cue-1"}
        first = c.post(sfx, json=add, headers=key)
        assert first.status_code == 200, first.text
        cue = first.json()["cue"]
        assert first.json()["artifactId"] == artifact_id and first.json()["removedId"] is None
        assert cue["id"].startswith("sfx_")
        assert {k: v for k, v in cue.items() if k != "id"} == {
            "label": "door knock",
            "entryIndex": 1,
            "prompt": "door knock",
            "volume": 0.6,
            "triggerOffset": "before",
            "soundUrl": None,
            "isDraft": True,
        }
        replay = c.post(sfx, json=add, headers=key)
        assert replay.headers.get("idempotency-replayed") == "true"
        assert replay.content == first.content
        assert remixes(sh, owner, path) == 1 and balance(c) == spent

        other = post(c, sfx, {"op": "add", "entryIndex": 0, "label": "thunder", "volume": 0.3})
        assert other.status_code == 200, other.text
        gone = other.json()["cue"]["id"]
        changed = post(
            c,
            sfx,
            {"op": "update", "id": cue["id"], "prompt": "three heavy knocks", "regenerate": True},
        )
        assert changed.json()["cue"]["prompt"] == "three heavy knocks"
        assert changed.json()["cue"]["label"] == "door knock"
        removed = post(c, sfx, {"op": "remove", "id": gone})
        assert removed.json() == {"artifactId": artifact_id, "cue": None, "removedId": gone}
        assert remixes(sh, owner, path) == 4

        cues = poll(c, sfx, lambda b: all(not q["isDraft"] for q in b["sfx"]["cues"]))
        (heard,) = cues["sfx"]["cues"]
        assert heard["id"] == cue["id"] and heard["prompt"] == "three heavy knocks"
        assert heard["soundUrl"], heard
        sound = httpx.get(heard["soundUrl"], timeout=60)
        assert sound.status_code == 200 and decode_mp3(sound.content).duration_s > 0.05
        assert sound.headers["content-type"].startswith("audio/")
        token = c.get(path).json()["artifact"]["manifest"]["shareToken"]
        assert token in heard["soundUrl"]
        wrong = heard["soundUrl"].replace(cue["id"], gone)
        assert httpx.get(wrong, timeout=60).status_code == 404

        version = audio(c, path)["remix"]["stateVersion"]
        refused(c, sfx, {"op": "update", "id": "sfx_nope", "volume": 0.5}, "id")
        refused(c, sfx, {"op": "remove", "id": gone}, "id")
        refused(c, sfx, {"op": "update", "id": cue["id"]}, "op")
        refused(c, sfx, {"op": "update", "id": cue["id"], "volume": 1.2}, "volume")
        refused(c, sfx, {**add, "entryIndex": entries[-1]["entryIndex"] + 1}, "entryIndex")
        refused(c, sfx, {"op": "add", "entryIndex": 1}, "label")
        refused(c, sfx, {"op": "remove"}, "id")
        refused(c, sfx, {"op": "mute", "id": cue["id"]}, "op")
        refused(c, sfx, {**add, "triggerOffset": "during"}, "triggerOffset")
        assert remixes(sh, owner, path) == 4
        assert audio(c, path)["remix"]["stateVersion"] == version
        assert balance(c) == spent


def test_another_accounts_artifact_is_not_found(sh: SleeperHitServer, owner: Tenant) -> None:
    stranger = sh.tenant(credits=10)
    with sh.client(owner) as c:
        path = ready_artifact(c, "private")
    writes = [
        ("voice-modification", {"startEntryIndex": 0, "endEntryIndex": 0, "effect": "robot"}),
        ("music", {"musicCoveragePercent": 0.5}),
        ("sfx", {"op": "add", "entryIndex": 0, "label": "bell"}),
    ]
    with sh.client(stranger) as s:
        for name, body in writes:
            expect_error(post(s, f"{path}/{name}", body), "artifact_not_found")
            expect_error(s.get(f"{path}/{name}"), "artifact_not_found")
            expect_error(post(s, f"/artifacts/art_missing/{name}", body), "artifact_not_found")
    assert remixes(sh, owner, path) == 0
