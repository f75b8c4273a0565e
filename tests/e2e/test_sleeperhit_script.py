"""The read-only views real SleeperHit clients call around a recast, over real HTTP on the
instant backends: the voice catalogue (``GET /voices``), an artifact's cast and its script
(whole, or one character's lines), each agreeing with the artifact's manifest; bad queries,
another account's artifact, one not yet READY and a key without the scope are refused."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.sleeperhit_harness import (
    ALL_SCOPES,
    TABLE_READ,
    HoldServer,
    SleeperHitServer,
    Tenant,
    expect_error,
    extra_key,
    hold_worker,
    new_plan,
    new_project,
    poll,
    post,
    start,
    text_source,
    wait_job,
)

LONGER = {**TABLE_READ, "mode": "drama", "narrationPolicy": "include", "durationSeconds": 30}


@dataclass
class World:
    sh: SleeperHitServer
    hold: HoldServer
    owner: Tenant
    artifact: dict[str, Any]


def _ready_artifact(c: httpx.Client, name: str) -> dict[str, Any]:
    project_id = new_project(c, name)
    source_id = text_source(c, project_id)
    poll(
        c,
        f"/story-projects/{project_id}/sources/{source_id}",
        lambda b: b["source"]["status"] == "READY",
    )
    plan = new_plan(c, project_id, sources=[source_id], requests=[LONGER])
    assert plan["status"] == "APPROVED", plan
    made = post(c, "/story-jobs", {"storyPlanId": plan["id"]})
    assert made.status_code == 200, made.text
    job = wait_job(c, made.json()["job"]["id"], ("READY", "FAILED"))
    assert job["status"] == "READY", job
    (artifact,) = job["artifacts"]
    found = c.get(f"/artifacts/{artifact['id']}")
    assert found.status_code == 200, found.text
    return dict(found.json()["artifact"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    hold = HoldServer()
    sh = start(tmp_path_factory.mktemp("sh-script"), env=hold.env)
    try:
        owner = sh.tenant()
        with sh.client(owner) as c:
            artifact = _ready_artifact(c, "Script")
        yield World(sh, hold, owner, artifact)
    finally:
        hold.close()
        sh.server.stop()


def _manifest_entries(artifact: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {**e, "sceneIndex": s["index"]}
        for s in artifact["manifest"]["screenplay"]["scenes"]
        for e in s["entries"]
    ]


def test_the_voice_catalogue(world: World) -> None:
    with world.sh.client(world.owner) as c:
        answer = c.get("/voices")
    assert answer.status_code == 200, answer.text
    voices = answer.json()["voices"]
    local = [v for v in voices if v["local"]]
    assert len(local) == 8 and len(voices) == 8, voices  # instant speech: nothing hosted
    assert len({v["id"] for v in voices}) == len(voices)
    for voice in voices:
        assert set(voice) == {"id", "name", "gender", "provider", "local", "description"}
        assert voice["provider"] == "storygate-local"
        assert voice["gender"] in ("feminine", "masculine", "neutral")
        assert voice["name"] and voice["description"]
    # Labelled by pitch band: the catalogue offers more than one kind of voice.
    assert {v["gender"] for v in voices} == {"feminine", "masculine", "neutral"}
    # The same ids /capabilities names.
    with world.sh.client(world.owner) as c:
        caps = c.get("/capabilities").json()
    listed = caps["artifacts"]["table_read"]["voices"]["voices"]
    assert [v["voiceId"] for v in listed] == [v["id"] for v in voices]


def test_the_cast_is_the_manifest_s_voice_map(world: World) -> None:
    artifact = world.artifact
    with world.sh.client(world.owner) as c:
        answer = c.get(f"/artifacts/{artifact['id']}/cast")
        catalogue = {v["id"]: v for v in c.get("/voices").json()["voices"]}
    assert answer.status_code == 200, answer.text
    cast = answer.json()["cast"]
    voice_map = artifact["manifest"]["audio"]["voiceMap"]
    assert len(cast) >= 2, cast
    assert {
        e["character"]: {"voiceId": e["voiceId"], "voiceName": e["voiceName"]} for e in cast
    } == voice_map
    for entry in cast:
        assert set(entry) == {"character", "voiceId", "voiceName", "gender", "provider"}
        listed = catalogue[entry["voiceId"]]
        assert (entry["gender"], entry["provider"]) == (listed["gender"], listed["provider"])


def test_the_script_is_the_manifest_s_screenplay(world: World) -> None:
    artifact = world.artifact
    with world.sh.client(world.owner) as c:
        answer = c.get(f"/artifacts/{artifact['id']}/script")
        explicit = c.get(f"/artifacts/{artifact['id']}/script", params={"scope": "all"})
    assert answer.status_code == 200, answer.text
    script = answer.json()["script"]
    assert explicit.json()["script"] == script
    assert set(script) == {"scenes", "entries"}
    assert script["scenes"] == [
        {"index": s["index"], "title": s["title"], "entries": s["entries"]}
        for s in artifact["manifest"]["screenplay"]["scenes"]
    ]
    assert script["entries"] == _manifest_entries(artifact)
    assert [e["entryIndex"] for e in script["entries"]] == list(range(len(script["entries"])))
    assert len(script["entries"]) >= 3, script


def test_one_character_s_lines(world: World) -> None:
    artifact = world.artifact
    entries = _manifest_entries(artifact)
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["character"]] = counts.get(e["character"], 0) + 1
    name = max(counts, key=lambda n: counts[n])
    theirs = [
        {"entryIndex": e["entryIndex"], "character": e["character"], "text": e["text"]}
        for e in entries
        if e["character"] == name
    ]
    path = f"/artifacts/{artifact['id']}/script"
    with world.sh.client(world.owner) as c:
        whole = c.get(path, params={"scope": "character", "character": name.swapcase()})
        limited = c.get(path, params={"scope": "character", "character": name, "limit": "1"})
        implied = c.get(path, params={"character": f"  {name.lower()} "})
        nobody = c.get(path, params={"scope": "character", "character": "Nobody Here"})
    assert whole.status_code == 200, whole.text
    assert whole.json() == {
        "script": {"selection": {"character": name, "total": len(theirs), "entries": theirs}}
    }
    assert limited.json()["script"]["selection"]["entries"] == theirs[:1]
    assert limited.json()["script"]["selection"]["total"] == len(theirs)
    assert implied.json() == whole.json()
    assert nobody.status_code == 200, nobody.text
    assert nobody.json()["script"]["selection"]["entries"] == []


def test_bad_script_queries_name_the_field(world: World) -> None:
    path = f"/artifacts/{world.artifact['id']}/script"
    cases = [
        ({"scope": "scenes"}, "scope"),
        ({"scope": "character"}, "character"),
        ({"scope": "character", "character": "  "}, "character"),
        ({"scope": "character", "character": "X", "limit": "0"}, "limit"),
        ({"scope": "character", "character": "X", "limit": "501"}, "limit"),
        ({"scope": "character", "character": "X", "limit": "ten"}, "limit"),
    ]
    with world.sh.client(world.owner) as c:
        for params, field in cases:
            error = expect_error(c.get(path, params=params), "validation_failed")
            assert error["details"]["field"] == field, (params, error)
        ok = c.get(path, params={"scope": "character", "character": "X", "limit": "500"})
        assert ok.status_code == 200, ok.text


def test_another_account_s_or_an_unknown_artifact_is_not_found(world: World) -> None:
    stranger = world.sh.tenant()
    with world.sh.client(stranger) as c:
        for artifact_id in (world.artifact["id"], "art_" + "0" * 24):
            for view in ("cast", "script"):
                expect_error(c.get(f"/artifacts/{artifact_id}/{view}"), "artifact_not_found")
        assert c.get("/voices").status_code == 200


def test_an_artifact_not_ready_yet(world: World) -> None:
    with world.sh.client(world.owner) as c:
        project_id = new_project(c, "Waiting")
        source_id = text_source(c, project_id)
        poll(
            c,
            f"/story-projects/{project_id}/sources/{source_id}",
            lambda b: b["source"]["status"] == "READY",
        )
        plan = new_plan(c, project_id, sources=[source_id])
        let_go = hold_worker(c, project_id, world.hold)
        try:
            made = post(c, "/story-jobs", {"storyPlanId": plan["id"]})
            assert made.status_code == 200, made.text
            (artifact,) = made.json()["job"]["artifacts"]
            assert artifact["status"] == "PENDING", artifact
            for view in ("cast", "script"):
                error = expect_error(
                    c.get(f"/artifacts/{artifact['id']}/{view}"), "artifact_not_ready"
                )
                assert error["details"] == {"status": "PENDING"}, error
        finally:
            let_go()
        wait_job(c, made.json()["job"]["id"], ("READY", "FAILED"))
        assert c.get(f"/artifacts/{artifact['id']}/script").status_code == 200


def test_scopes(world: World) -> None:
    artifact_id = world.artifact["id"]
    no_read = extra_key(world.sh, world.owner, [s for s in ALL_SCOPES if s != "artifact:read"])
    no_story = extra_key(world.sh, world.owner, ["artifact:read"])
    with world.sh.client(no_read) as c:
        for view in ("cast", "script"):
            expect_error(c.get(f"/artifacts/{artifact_id}/{view}"), "insufficient_scope")
        assert c.get("/voices").status_code == 200
    with world.sh.client(no_story) as c:
        expect_error(c.get("/voices"), "insufficient_scope")
        for view in ("cast", "script"):
            assert c.get(f"/artifacts/{artifact_id}/{view}").status_code == 200
    with world.sh.client() as c:
        for path in ("/voices", f"/artifacts/{artifact_id}/cast"):
            expect_error(c.get(path), "authentication_required")
