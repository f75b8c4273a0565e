"""Refining a table read over real HTTP on a real server (instant backends).

``POST /artifacts/{id}/refine`` answers a story job that reserves 8 credits, is polled at
``/story-jobs/{id}`` and, on READY, makes the artifact's next revision: the rename is in the
script, ``currentVersion``/``refineCount`` go up, every earlier revision stays readable with
``?revision=N``, the share token and player URLs stay, and a finalize made before is stale. A
replay answers the same body and makes no second job or charge; a canceled refine releases its
credits; errors are the reference's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.sleeperhit_harness import (
    HoldServer,
    SleeperHitServer,
    Tenant,
    balance,
    expect_error,
    hold_worker,
    new_plan,
    new_project,
    poll,
    post,
    start,
    text_source,
    wait_job,
)

REFINE_KIND = "sleeperhit.refine"
PODCAST = {"type": "table_read", "mode": "podcast", "durationSeconds": 12}
URLS = ("shareToken", "theaterUrl", "theaterFullscreenUrl")


@pytest.fixture(scope="module")
def hold() -> Iterator[HoldServer]:
    found = HoldServer()
    yield found
    found.close()


@pytest.fixture(scope="module")
def sh(tmp_path_factory: pytest.TempPathFactory, hold: HoldServer) -> Iterator[SleeperHitServer]:
    server = start(tmp_path_factory.mktemp("sh-refine"), hold.env)
    yield server
    server.server.stop()


@pytest.fixture(scope="module")
def owner(sh: SleeperHitServer) -> Tenant:
    return sh.tenant(credits=300)


def podcast_plan(c: httpx.Client, name: str) -> dict[str, Any]:
    """An approved plan for a podcast read (a HOST asks the questions)."""
    project_id = new_project(c, name)
    source_id = text_source(c, project_id)
    poll(
        c,
        f"/story-projects/{project_id}/sources/{source_id}",
        lambda b: b["source"]["status"] == "READY",
    )
    plan = new_plan(c, project_id, sources=[source_id], requests=[PODCAST])
    assert plan["status"] == "APPROVED", plan
    return plan


def ready_podcast(c: httpx.Client, name: str) -> dict[str, Any]:
    made = post(c, "/story-jobs", {"storyPlanId": podcast_plan(c, name)["id"]})
    assert made.status_code == 200, made.text
    job = wait_job(c, made.json()["job"]["id"], ("READY", "FAILED"))
    assert job["status"] == "READY", job
    (artifact,) = job["artifacts"]
    return dict(artifact)


def refines(sh: SleeperHitServer, tenant: Tenant, artifact_id: str) -> int:
    async def count(rt: Any) -> int:
        jobs = await rt.jobs.of_subject(tenant.account_id, artifact_id, family="sleeperhit")
        return sum(1 for j in jobs if j.kind == REFINE_KIND)

    return int(sh.core(count))


def script(c: httpx.Client, path: str) -> list[dict[str, Any]]:
    answer = c.get(f"{path}/script")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["script"]["entries"])


def refined(c: httpx.Client, path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
    """Refine and wait: the READY job."""
    answer = c.post(f"{path}/refine", json=body, headers={"Idempotency-Key": key})
    assert answer.status_code == 200, answer.text
    job = wait_job(c, answer.json()["storyJob"]["id"], ("READY", "FAILED", "CANCELED"))
    assert job["status"] == "READY", job
    return job


def test_refine_makes_a_new_revision(sh: SleeperHitServer, owner: Tenant) -> None:
    with sh.client(owner) as c:
        artifact = ready_podcast(c, "refine")
        path = f"/artifacts/{artifact['id']}"
        assert (artifact["currentVersion"], artifact["refineCount"]) == (1, 0)
        first = c.get(path).json()["artifact"]
        before = script(c, path)
        speakers = {e["character"] for e in before}
        assert "HOST" in speakers, speakers
        final = post(c, f"{path}/finalize", {"mode": "audio"})
        assert final.status_code == 200, final.text
        poll(
            c,
            path,
            lambda b: b["artifact"]["manifest"]["audio"]["finalize"]["status"] == "complete",
        )
        first = c.get(path).json()["artifact"]
        assert first["manifest"]["audio"]["finalize"]["stale"] is False

        live_before = httpx.get(first["manifest"]["audio"]["liveUrl"], timeout=60).content
        spent = balance(c)
        body = {"instruction": "rename the host to Dana and make the skeptic warmer"}
        key = {"Idempotency-Key": "refine-1"}
        answer = c.post(f"{path}/refine", json=body, headers=key)
        assert answer.status_code == 200, answer.text
        job = answer.json()["storyJob"]
        assert set(answer.json()) == {"storyJob"}
        assert job["status"] in ("RESERVED", "RUNNING", "READY"), job
        assert job["currentVersion"] == 2 and job["creditReservationId"]
        assert job["quote"]["total"] == 8 and job["storyPlanId"] and job["projectId"]
        assert [a["id"] for a in job["artifacts"]] == [artifact["id"]]
        assert balance(c) == spent - 8
        replay = c.post(f"{path}/refine", json=body, headers=key)
        assert replay.status_code == 200 and replay.headers.get("idempotency-replayed") == "true"
        assert replay.content == answer.content
        conflict = c.post(f"{path}/refine", json={"instruction": "shorter"}, headers=key)
        expect_error(conflict, "idempotency_conflict")
        assert refines(sh, owner, artifact["id"]) == 1

        done = wait_job(c, job["id"], ("READY", "FAILED"))
        assert done["status"] == "READY", done
        assert done["modelUsed"] and done["completedAt"] and done["currentVersion"] == 2
        (view,) = done["artifacts"]
        assert (view["currentVersion"], view["refineCount"]) == (2, 1)
        assert balance(c) == spent - 8
        listed = c.get("/story-jobs", params={"storyPlanId": job["storyPlanId"]})
        assert job["id"] in {j["id"] for j in listed.json()["jobs"]}
        assert (
            c.get(f"/story-jobs/{job['id']}/artifacts").json()["artifacts"][0]["id"] == view["id"]
        )

        # The latest revision: the rename in the script, same links, the finalize stale.
        now = c.get(path).json()["artifact"]
        assert (now["id"], now["currentVersion"], now["refineCount"]) == (artifact["id"], 2, 1)
        manifest = now["manifest"]
        for key_ in URLS:
            assert manifest[key_] == first["manifest"][key_]
        assert manifest["audio"]["liveUrl"] == first["manifest"]["audio"]["liveUrl"]
        assert manifest["audio"]["finalize"]["stale"] is True
        after = script(c, path)
        names = {e["character"] for e in after}
        assert "DANA" in names and "HOST" not in names, names
        assert [e["entryIndex"] for e in after] == list(range(len(after)))
        assert [e["text"] for e in after] != [e["text"] for e in before]
        assert {m["name"] for m in manifest["cast"]} >= {"DANA"}
        assert "DANA" in manifest["audio"]["voiceMap"]
        old_host = first["manifest"]["audio"]["voiceMap"]["HOST"]
        assert manifest["audio"]["voiceMap"]["DANA"] == old_host  # the same voice, renamed
        live = httpx.get(manifest["audio"]["liveUrl"], timeout=60)
        assert live.status_code == 200 and live.content != live_before
        theater = httpx.get(manifest["theaterUrl"], timeout=60)
        assert theater.status_code == 200 and "DANA" in theater.text

        # Revision 1 is still there, as it was; currentVersion stays the latest.
        old = c.get(path, params={"revision": 1}).json()["artifact"]
        assert (old["currentVersion"], old["refineCount"]) == (2, 1)
        assert old["manifest"]["cast"] == first["manifest"]["cast"]
        assert old["manifest"]["screenplay"] == first["manifest"]["screenplay"]
        assert old["manifest"]["audio"]["durationMs"] == first["manifest"]["audio"]["durationMs"]
        assert c.get(path, params={"revision": 2}).json()["artifact"] == now
        error = expect_error(c.get(path, params={"revision": 3}), "validation_failed")
        assert error["details"] == {"field": "revision", "currentVersion": 2}, error
        for wrong in (0, -1, "two"):
            error = expect_error(c.get(path, params={"revision": wrong}), "validation_failed")
            assert "revision" in error["message"], error

        # A second refine builds on the first: revision 3, revision 2 still readable.
        third = refined(c, path, {"instruction": "call Dana Robin", "scope": "screenplay"}, "r2")
        assert third["currentVersion"] == 3
        assert {e["character"] for e in script(c, path)} >= {"ROBIN"}
        two = c.get(path, params={"revision": 2}).json()["artifact"]
        assert (two["currentVersion"], two["refineCount"]) == (3, 2)
        assert two["manifest"]["screenplay"] == manifest["screenplay"]
        assert balance(c) == spent - 16
        done_cancel = post(c, f"/story-jobs/{job['id']}/cancel")
        expect_error(done_cancel, "story_job_state_invalid")


def test_refine_after_a_recast_keeps_the_voices(sh: SleeperHitServer, owner: Tenant) -> None:
    with sh.client(owner) as c:
        artifact = ready_podcast(c, "refine-recast")
        path = f"/artifacts/{artifact['id']}"
        recast = post(
            c,
            f"{path}/voice",
            {"character": "HOST", "voiceId": "storygate-deep", "voiceName": "Deep"},
        )
        assert recast.status_code == 200, recast.text
        job = refined(c, path, {"instruction": "rename the host to Dana", "scope": "auto"}, "rr")
        assert job["currentVersion"] == 2
        manifest = c.get(path).json()["artifact"]["manifest"]
        assert manifest["audio"]["voiceMap"]["DANA"]["voiceId"] == "storygate-deep"
        assert manifest["audio"]["remix"]["status"] == "complete", manifest["audio"]["remix"]
        # A recast after the refine is made over the new revision.
        again = post(
            c,
            f"{path}/voice",
            {"character": "dana", "voiceId": "storygate-bright", "voiceName": "Bright"},
        )
        assert again.status_code == 200, again.text
        done = poll(
            c,
            path,
            lambda b: (
                b["artifact"]["manifest"]["audio"]["remix"]["status"] in ("complete", "failed")
            ),
        )["artifact"]
        assert done["manifest"]["audio"]["remix"]["status"] == "complete"
        assert done["manifest"]["audio"]["voiceMap"]["DANA"]["voiceId"] == "storygate-bright"
        assert "DANA" in {e["character"] for e in script(c, path)}
        assert done["currentVersion"] == 2


def test_a_recast_while_a_refine_runs_is_remixed_over_the_new_revision(
    sh: SleeperHitServer, owner: Tenant, hold: HoldServer
) -> None:
    with sh.client(owner) as c:
        plan = podcast_plan(c, "refine-race")
        made = post(c, "/story-jobs", {"storyPlanId": plan["id"]})
        assert made.status_code == 200, made.text
        (artifact,) = wait_job(c, made.json()["job"]["id"], ("READY",))["artifacts"]
        path = f"/artifacts/{artifact['id']}"
        let_go = hold_worker(c, plan["projectId"], hold)
        try:
            answer = post(c, f"{path}/refine", {"instruction": "rename the host to Dana"})
            assert answer.status_code == 200, answer.text
            recast = post(
                c,
                f"{path}/voice",
                {"character": "MAYA", "voiceId": "storygate-deep", "voiceName": "Deep"},
            )
            assert recast.status_code == 200, recast.text
        finally:
            let_go()
        job = wait_job(c, answer.json()["storyJob"]["id"], ("READY", "FAILED"))
        assert job["status"] == "READY", job

        def caught_up(b: dict[str, Any]) -> bool:
            remix = b["artifact"]["manifest"]["audio"]["remix"]
            assert remix["status"] != "failed", remix
            return bool(remix["status"] == "complete" and remix["liveStateVersion"] == 1)

        got = poll(c, path, caught_up, timeout=120)["artifact"]
        assert got["currentVersion"] == 2
        voices = got["manifest"]["audio"]["voiceMap"]
        assert voices["MAYA"]["voiceId"] == "storygate-deep" and "DANA" in voices

        async def made_over(rt: Any) -> list[int]:
            jobs = await rt.jobs.of_subject(owner.account_id, artifact["id"], family="sleeperhit")
            return sorted(int(j.params["revision"]) for j in jobs if j.kind == "sleeperhit.remix")

        # The recast's own remix (over revision 1) and the one over the refine's revision.
        assert sh.core(made_over) == [1, 2]


def test_refine_errors_cancel_and_credits(
    sh: SleeperHitServer, owner: Tenant, hold: HoldServer
) -> None:
    stranger = sh.tenant(credits=50)
    with sh.client(owner) as c:
        plan = podcast_plan(c, "refine-early")
        let_go = hold_worker(c, plan["projectId"], hold)
        try:
            made = post(c, "/story-jobs", {"storyPlanId": plan["id"]})
            assert made.status_code == 200, made.text
            (artifact,) = made.json()["job"]["artifacts"]
            path = f"/artifacts/{artifact['id']}"
            error = expect_error(
                post(c, f"{path}/refine", {"instruction": "x"}), "artifact_not_ready"
            )
            assert error["details"]["status"] == "PENDING", error
        finally:
            let_go()
        wait_job(c, made.json()["job"]["id"], ("READY", "FAILED"))
        ok = {"instruction": "rename the host to Dana"}
        expect_error(c.post(f"{path}/refine", json=ok), "idempotency_key_required")
        for bad in (
            {},
            {"instruction": ""},
            {"instruction": "   "},
            {"instruction": 7},
            {"instruction": "x" * 4001},
            {"instruction": "shorter", "scope": "everything"},
        ):
            expect_error(post(c, f"{path}/refine", bad), "validation_failed")
        with sh.client(stranger) as s:
            expect_error(post(s, f"{path}/refine", ok), "artifact_not_found")
            expect_error(post(s, "/artifacts/art_missing/refine", ok), "artifact_not_found")
        assert refines(sh, owner, artifact["id"]) == 0

        # One refine at a time; a canceled one releases its credits and makes no revision.
        spent = balance(c)
        let_go = hold_worker(c, plan["projectId"], hold)
        try:
            first = post(c, f"{path}/refine", {"instruction": "make it shorter", "scope": "plan"})
            assert first.status_code == 200, first.text
            job = first.json()["storyJob"]
            assert job["status"] == "RESERVED" and balance(c) == spent - 8
            error = expect_error(post(c, f"{path}/refine", ok), "artifact_not_ready")
            assert error["details"]["status"] == "REFINING", error
            canceled = post(c, f"/story-jobs/{job['id']}/cancel")
            assert canceled.status_code == 200, canceled.text
            assert canceled.json()["job"]["status"] == "CANCELED"
        finally:
            let_go()
        assert balance(c) == spent
        got = c.get(path).json()["artifact"]
        assert (got["currentVersion"], got["refineCount"]) == (1, 0)
        again = post(c, f"/story-jobs/{job['id']}/cancel")  # idempotent
        assert again.status_code == 200 and again.json()["job"]["status"] == "CANCELED"
        assert c.get(f"/story-jobs/{job['id']}").json()["job"]["status"] == "CANCELED"

    # Too few credits: insufficient_credits and nothing reserved or queued.
    poor = sh.tenant(credits=11 + 5)
    with sh.client(poor) as c:
        artifact = ready_podcast(c, "refine-poor")
        path = f"/artifacts/{artifact['id']}"
        assert balance(c) == 5
        expect_error(post(c, f"{path}/refine", ok), "insufficient_credits")
        assert balance(c) == 5 and refines(sh, poor, artifact["id"]) == 0
