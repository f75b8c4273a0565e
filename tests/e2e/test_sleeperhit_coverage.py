"""Script coverage over real HTTP on a real server (instant backends): a READY table read gets a
report that follows its focus prompt, the artifact is not changed, and the route answers the
reference's errors (a required Idempotency-Key, another account's artifact) and replays."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.sleeperhit_harness import (
    SleeperHitServer,
    Tenant,
    approved_plan,
    expect_error,
    extra_key,
    poll,
    post,
    start,
    wait_job,
)

FOCUS = "Focus on whether the midpoint turn is earned."
SCORES = ("premise", "character", "dialogue", "structure")


@pytest.fixture(scope="module")
def sh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SleeperHitServer]:
    server = start(tmp_path_factory.mktemp("sh-coverage"))
    yield server
    server.server.stop()


@pytest.fixture(scope="module")
def owner(sh: SleeperHitServer) -> Tenant:
    return sh.tenant()


@pytest.fixture(scope="module")
def artifact(sh: SleeperHitServer, owner: Tenant) -> dict[str, Any]:
    """A READY table read of the owner's."""
    with sh.client(owner) as c:
        plan = approved_plan(c, "Coverage")
        made = post(c, "/story-jobs", {"storyPlanId": plan["id"]})
        assert made.status_code == 200, made.text
        job = wait_job(c, made.json()["job"]["id"], ("READY", "FAILED"))
        assert job["status"] == "READY", job
        (found,) = job["artifacts"]
        assert found["status"] == "READY"
        return dict(found)


def _path(artifact: dict[str, Any]) -> str:
    return f"/artifacts/{artifact['id']}/coverage"


def test_coverage_follows_its_focus_and_leaves_the_artifact(
    sh: SleeperHitServer, owner: Tenant, artifact: dict[str, Any]
) -> None:
    with sh.client(owner) as c:
        before = c.get(f"/artifacts/{artifact['id']}").json()["artifact"]
        empty = c.get(_path(artifact))
        assert empty.status_code == 200, empty.text
        assert empty.json() == {"coverage": None}

        asked = post(c, _path(artifact), {"focusPrompt": FOCUS})
        assert asked.status_code == 200, asked.text
        accepted = asked.json()
        assert set(accepted) == {"reportId", "status"} and accepted["status"] == "generating"
        report_id = accepted["reportId"]

        done = poll(
            c,
            f"{_path(artifact)}?reportId={report_id}",
            lambda b: b["coverage"]["status"] in ("complete", "failed"),
        )["coverage"]
        assert done["status"] == "complete", done
        assert done["reportId"] == report_id and done["artifactId"] == artifact["id"]
        assert done["focusPrompt"] == FOCUS and done["error"] is None
        assert done["createdAt"] and done["completedAt"]
        report = done["report"]
        assert report["focusPrompt"] == FOCUS
        assert "midpoint" in report["focusNotes"].lower()
        assert set(report["scores"]) == set(SCORES)
        assert all(1 <= report["scores"][k] <= 10 for k in SCORES)
        assert report["verdict"] in ("recommend", "consider", "pass")
        assert report["logline"] and report["synopsis"]
        assert report["strengths"] and report["weaknesses"]

        # The latest report is the one just made; the artifact is as it was.
        latest = c.get(_path(artifact)).json()["coverage"]
        assert latest["reportId"] == report_id
        after = c.get(f"/artifacts/{artifact['id']}").json()["artifact"]
        assert after["currentVersion"] == before["currentVersion"] == 1
        assert after["refineCount"] == before["refineCount"]
        assert after["manifest"]["shareToken"] == before["manifest"]["shareToken"]
        assert after["manifest"]["screenplay"] == before["manifest"]["screenplay"]

        # Without a focus prompt (no body at all): general coverage, now the latest.
        plain = c.post(_path(artifact), headers={"Idempotency-Key": "plain-coverage"})
        assert plain.status_code == 200, plain.text
        general = poll(
            c, _path(artifact), lambda b: b["coverage"]["status"] in ("complete", "failed")
        )["coverage"]
        assert general["reportId"] == plain.json()["reportId"] != report_id
        assert general["focusPrompt"] is None and general["report"]["focusPrompt"] is None
        # The first report is still there by its id.
        again = c.get(_path(artifact), params={"reportId": report_id}).json()["coverage"]
        assert again["report"] == report


def test_coverage_replays_with_its_key(
    sh: SleeperHitServer, owner: Tenant, artifact: dict[str, Any]
) -> None:
    with sh.client(owner) as c:
        headers = {"Idempotency-Key": "coverage-replay"}
        first = c.post(_path(artifact), json={"focusPrompt": FOCUS}, headers=headers)
        assert first.status_code == 200, first.text
        second = c.post(_path(artifact), json={"focusPrompt": FOCUS}, headers=headers)
        assert second.status_code == 200, second.text
        assert second.json()["reportId"] == first.json()["reportId"]
        assert second.headers.get("idempotency-replayed") == "true"
        assert "idempotency-replayed" not in first.headers
        other = c.post(_path(artifact), json={"focusPrompt": "Pacing?"}, headers=headers)
        expect_error(other, "idempotency_conflict")


def test_coverage_errors(sh: SleeperHitServer, owner: Tenant, artifact: dict[str, Any]) -> None:
    with sh.client(owner) as c:
        expect_error(
            c.post(_path(artifact), json={"focusPrompt": FOCUS}), "idempotency_key_required"
        )
        expect_error(c.post(_path(artifact)), "idempotency_key_required")
        expect_error(post(c, _path(artifact), {"focusPrompt": 7}), "validation_failed")
        expect_error(post(c, _path(artifact), {"focusPrompt": "x" * 2001}), "validation_failed")
        expect_error(post(c, "/artifacts/nope/coverage", {}), "artifact_not_found")
        expect_error(c.get("/artifacts/nope/coverage"), "artifact_not_found")
        wrong = expect_error(
            c.get(_path(artifact), params={"reportId": "0" * 40}), "validation_failed"
        )
        assert wrong["details"]["field"] == "reportId"
    stranger = sh.tenant()
    with sh.client(stranger) as c:
        expect_error(post(c, _path(artifact), {"focusPrompt": FOCUS}), "artifact_not_found")
        expect_error(c.get(_path(artifact)), "artifact_not_found")


def test_coverage_scopes(sh: SleeperHitServer, owner: Tenant, artifact: dict[str, Any]) -> None:
    reader = extra_key(sh, owner, scopes=["artifact:read"])
    with sh.client(reader) as c:
        expect_error(post(c, _path(artifact), {}), "insufficient_scope")
        assert c.get(_path(artifact)).status_code == 200
    writer = extra_key(sh, owner, scopes=["story:write"])
    with sh.client(writer) as c:
        assert post(c, _path(artifact), {}).status_code == 200
        expect_error(c.get(_path(artifact)), "insufficient_scope")
