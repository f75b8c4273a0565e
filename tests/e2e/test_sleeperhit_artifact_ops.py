"""Every artifact operation, held to the same three rules (instant backends, real server):

- replaying a mutating POST with its Idempotency-Key answers the same body with
  ``Idempotency-Replayed: true``, charges nothing more and queues no second job;
- another account's artifact is ``artifact_not_found`` (404), for reads and writes alike;
- an artifact whose story job has not finished is ``artifact_not_ready``, and nothing is queued.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

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
    wait_job,
)
from tests.e2e.sleeperhit_harness import start as start_server

Body = Callable[[dict[str, Any]], Any]


def _speaker(read: dict[str, Any]) -> str:
    return str(read["entries"][0]["character"])


# (operation, body made from the read) for every mutating POST on an artifact.
MUTATING: list[tuple[str, Body]] = [
    ("refine", lambda r: {"instruction": "make every line warmer", "scope": "screenplay"}),
    (
        "voice",
        lambda r: {"character": _speaker(r), "voiceId": "storygate-deep", "voiceName": "Deep"},
    ),
    (
        "cast",
        lambda r: {
            "entries": [
                {"character": _speaker(r), "voiceId": "storygate-bright", "voiceName": "Bright"}
            ]
        },
    ),
    ("voice-modification", lambda r: {"startEntryIndex": 0, "endEntryIndex": 1, "effect": "echo"}),
    ("music", lambda r: {"musicCoveragePercent": 50}),
    ("sfx", lambda r: {"op": "add", "entryIndex": 1, "label": "door knock"}),
    ("coverage", lambda r: {"focusPrompt": "Is the ending earned?"}),
    ("finalize", lambda r: {"mode": "audio"}),
    ("render-video", lambda r: None),
]
READS = ["", "/cast", "/script", "/coverage", "/music", "/sfx", "/voice-modification"]


@pytest.fixture(scope="module")
def hold() -> Iterator[HoldServer]:
    found = HoldServer()
    yield found
    found.close()


@pytest.fixture(scope="module")
def sh(tmp_path_factory: pytest.TempPathFactory, hold: HoldServer) -> Iterator[SleeperHitServer]:
    server = start_server(tmp_path_factory.mktemp("sh-ops"), hold.env)
    yield server
    server.server.stop()


@pytest.fixture(scope="module")
def owner(sh: SleeperHitServer) -> Tenant:
    return sh.tenant(credits=500)


@pytest.fixture(scope="module")
def read(sh: SleeperHitServer, owner: Tenant) -> dict[str, Any]:
    """A READY table read of the owner's, with its script's entries."""
    with sh.client(owner) as c:
        plan = approved_plan(c, "ops")
        made = post(c, "/story-jobs", {"storyPlanId": plan["id"]})
        assert made.status_code == 200, made.text
        job = wait_job(c, made.json()["job"]["id"], ("READY", "FAILED"))
        assert job["status"] == "READY", job
        (artifact,) = job["artifacts"]
        path = f"/artifacts/{artifact['id']}"
        entries = c.get(f"{path}/script").json()["script"]["entries"]
        assert len(entries) >= 2, entries
        return {"id": artifact["id"], "path": path, "entries": entries}


def _remixed(body: dict[str, Any]) -> bool:
    remix = body["artifact"]["manifest"]["audio"]["remix"]
    return bool(remix["liveStateVersion"] >= remix["stateVersion"])


def _jobs(sh: SleeperHitServer, tenant: Tenant, subject: str | None = None) -> int:
    """How many jobs the tenant has (about ``subject``, an artifact, when given)."""

    async def count(rt: Any) -> int:
        if subject is not None:
            return len(await rt.jobs.of_subject(tenant.account_id, subject, family="sleeperhit"))
        return len(await rt.jobs.list(tenant.account_id, family="sleeperhit", limit=100))

    return int(sh.core(count))


@pytest.mark.parametrize("operation,body", MUTATING, ids=[op for op, _ in MUTATING])
def test_a_replay_answers_the_same_and_charges_nothing(
    sh: SleeperHitServer, owner: Tenant, read: dict[str, Any], operation: str, body: Body
) -> None:
    with sh.client(owner) as c:
        if operation in ("finalize", "render-video"):
            # A mix waits for the live read of the edits made before it.
            poll(c, read["path"], _remixed, timeout=120)
        key = {"Idempotency-Key": f"replay-{operation}"}
        url = f"{read['path']}/{operation}"
        first = c.post(url, json=body(read), headers=key)
        assert first.status_code == 200, first.text
        assert first.headers.get("idempotency-replayed") in (None, "false")
        spent, jobs = balance(c), _jobs(sh, owner, read["id"])
        again = c.post(url, json=body(read), headers=key)
        assert again.status_code == 200, again.text
        assert again.headers.get("idempotency-replayed") == "true"
        assert again.content == first.content
        assert balance(c) == spent
        assert _jobs(sh, owner, read["id"]) == jobs


@pytest.mark.parametrize("operation,body", MUTATING, ids=[op for op, _ in MUTATING])
def test_another_accounts_artifact_is_not_found(
    sh: SleeperHitServer, read: dict[str, Any], operation: str, body: Body
) -> None:
    stranger = sh.tenant(credits=100)
    with sh.client(stranger) as s:
        expect_error(post(s, f"{read['path']}/{operation}", body(read)), "artifact_not_found")
        expect_error(
            post(s, f"/artifacts/art_missing/{operation}", body(read)), "artifact_not_found"
        )
        assert balance(s) == 100
    assert _jobs(sh, stranger) == 0


@pytest.mark.parametrize("suffix", READS)
def test_another_accounts_artifact_is_not_found_when_read(
    sh: SleeperHitServer, read: dict[str, Any], suffix: str
) -> None:
    stranger = sh.tenant(credits=0)
    with sh.client(stranger) as s:
        expect_error(s.get(f"{read['path']}{suffix}"), "artifact_not_found")


def test_an_artifact_not_yet_ready_refuses_every_operation(
    sh: SleeperHitServer, owner: Tenant, read: dict[str, Any], hold: HoldServer
) -> None:
    with sh.client(owner) as c:
        plan = approved_plan(c, "ops-early")
        let_go = hold_worker(c, plan["projectId"], hold)
        try:
            made = post(c, "/story-jobs", {"storyPlanId": plan["id"]})
            assert made.status_code == 200, made.text
            (artifact,) = made.json()["job"]["artifacts"]
            spent, jobs = balance(c), _jobs(sh, owner, artifact["id"])
            for operation, body in MUTATING:
                answer = post(c, f"/artifacts/{artifact['id']}/{operation}", body(read))
                expect_error(answer, "artifact_not_ready")
            assert balance(c) == spent
            assert _jobs(sh, owner, artifact["id"]) == jobs
        finally:
            let_go()
        wait_job(c, made.json()["job"]["id"], ("READY", "FAILED"))
