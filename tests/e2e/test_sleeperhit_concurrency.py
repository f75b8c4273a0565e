"""SleeperHit under concurrent clients, over real HTTP: one Idempotency-Key sent twenty times at
once makes one job and one reservation (nineteen answers are replays); twenty different keys
against credits for exactly five jobs make exactly five; a cancel releases its reservation once
however often it is sent; a finalize raced twenty times is charged once.

The server runs one job at a time and may fetch from the harness's ``HoldServer`` only, so a
test can keep a job RESERVED (see ``hold_worker``) while it cancels it."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
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

N = 20


@pytest.fixture(scope="module")
def hold() -> Iterator[HoldServer]:
    found = HoldServer()
    yield found
    found.close()


@pytest.fixture(scope="module")
def sh(tmp_path_factory: pytest.TempPathFactory, hold: HoldServer) -> Iterator[SleeperHitServer]:
    server = start(tmp_path_factory.mktemp("sh-concurrency"), hold.env)
    yield server
    server.server.stop()


def at_once(
    sh: SleeperHitServer, tenant: Tenant, send: Callable[[httpx.Client, int], httpx.Response]
) -> list[httpx.Response]:
    """``send`` from N threads, each with its own connection, released together."""
    clients = [sh.client(tenant) for _ in range(N)]
    for c in clients:  # connect first, so the requests themselves start together
        assert c.get("/credits").status_code == 200
    barrier = threading.Barrier(N)

    def run(i: int) -> httpx.Response:
        barrier.wait(10)
        return send(clients[i], i)

    try:
        with ThreadPoolExecutor(N) as pool:
            return list(pool.map(run, range(N)))
    finally:
        for c in clients:
            c.close()


def test_one_idempotency_key_twenty_times_makes_one_job(sh: SleeperHitServer) -> None:
    tenant = sh.tenant()
    with sh.client(tenant) as c:
        plan = approved_plan(c)
        before = balance(c)
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        body = {"storyPlanId": plan["id"]}
        answers = at_once(
            sh, tenant, lambda client, _: client.post("/story-jobs", json=body, headers=headers)
        )
        assert [a.status_code for a in answers] == [200] * N, [a.text for a in answers]
        ids = {a.json()["job"]["id"] for a in answers}
        assert len(ids) == 1, ids
        replayed = [a.headers.get("idempotency-replayed") for a in answers]
        assert replayed.count("true") == N - 1, replayed
        assert len({a.json()["job"]["creditReservationId"] for a in answers}) == 1
        total = plan["quote"]["total"]
        assert total > 0
        assert balance(c) == before - total
        (job_id,) = ids
        assert [j["id"] for j in c.get("/story-jobs").json()["jobs"]] == [job_id]
        assert wait_job(c, job_id, ("READY", "FAILED"))["status"] == "READY"
        # Done and charged: still exactly one quote's worth.
        assert balance(c) == before - total == sh.spendable(tenant)
        # The key still answers with the first job, without another reservation.
        again = c.post("/story-jobs", json=body, headers=headers)
        assert again.headers["idempotency-replayed"] == "true"
        assert again.json()["job"]["id"] == job_id
        assert balance(c) == before - total


def test_twenty_keys_against_credits_for_five_jobs(sh: SleeperHitServer) -> None:
    probe = sh.tenant()
    with sh.client(probe) as c:
        total = approved_plan(c)["quote"]["total"]
    tenant = sh.tenant(credits=5 * total)  # perpetual credits only; the monthly bucket is 0
    with sh.client(tenant) as c:
        plan = approved_plan(c)
        assert plan["quote"]["total"] == total
        credits = c.get("/credits").json()["credits"]
        assert credits["balance"] == credits["perpetualBalance"] == 5 * total
        assert credits["monthlyBucketRemaining"] == 0
        body = {"storyPlanId": plan["id"]}
        answers = at_once(sh, tenant, lambda client, _: post(client, "/story-jobs", body))
        made = [a for a in answers if a.status_code == 200]
        refused = [a for a in answers if a.status_code != 200]
        assert len(made) == 5, [a.text for a in answers]
        assert len(refused) == N - 5
        for answer in refused:
            error = expect_error(answer, "insufficient_credits")
            assert error["details"] == {"required": total, "available": 0}, error
        ids = {a.json()["job"]["id"] for a in made}
        assert len(ids) == 5
        assert balance(c) == 0 == sh.spendable(tenant)
        assert {j["id"] for j in c.get("/story-jobs").json()["jobs"]} == ids
        for job_id in ids:
            assert wait_job(c, job_id, ("READY", "FAILED"))["status"] == "READY"
        assert balance(c) == 0
        expect_error(post(c, "/story-jobs", body), "insufficient_credits")


def test_twenty_projects_with_one_key_make_one(sh: SleeperHitServer) -> None:
    tenant = sh.tenant()
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    answers = at_once(
        sh,
        tenant,
        lambda client, _: client.post("/story-projects", json={"name": "once"}, headers=headers),
    )
    assert [a.status_code for a in answers] == [200] * N
    assert len({a.json()["project"]["id"] for a in answers}) == 1
    with sh.client(tenant) as c:
        assert len(c.get("/story-projects").json()["projects"]) == 1


def test_cancel_releases_credits_once(sh: SleeperHitServer, hold: HoldServer) -> None:
    tenant = sh.tenant()
    with sh.client(tenant) as c:
        plan = approved_plan(c)
        total = plan["quote"]["total"]
        before = balance(c)
        let_go = hold_worker(c, plan["projectId"], hold)
        try:
            jobs = []
            for _ in range(2):
                made = post(c, "/story-jobs", {"storyPlanId": plan["id"]})
                assert made.json()["job"]["status"] == "RESERVED", made.text
                jobs.append(made.json()["job"])
            assert balance(c) == before - 2 * total
            # One cancel, then the same cancel again: CANCELED both times, released once.
            first, second = jobs
            canceled = post(c, f"/story-jobs/{first['id']}/cancel")
            assert canceled.status_code == 200, canceled.text
            assert canceled.json()["job"]["status"] == "CANCELED"
            assert balance(c) == before - total
            again = post(c, f"/story-jobs/{first['id']}/cancel")
            assert again.status_code == 200, again.text
            assert again.json()["job"]["status"] == "CANCELED"
            assert balance(c) == before - total
            # Twenty cancels at once: all CANCELED, the reservation released once.
            answers = at_once(
                sh, tenant, lambda client, _: post(client, f"/story-jobs/{second['id']}/cancel")
            )
            assert [a.status_code for a in answers] == [200] * N, [a.text for a in answers]
            assert {a.json()["job"]["status"] for a in answers} == {"CANCELED"}
            assert balance(c) == before == sh.spendable(tenant)
        finally:
            held = let_go()
        poll(
            c,
            f"/story-projects/{plan['projectId']}/sources/{held}",
            lambda b: b["source"]["status"] == "READY",
        )
        # The canceled jobs never run, and never charge.
        for job in jobs:
            assert c.get(f"/story-jobs/{job['id']}").json()["job"]["status"] == "CANCELED"
        assert balance(c) == before


def test_a_raced_finalize_is_charged_once(sh: SleeperHitServer) -> None:
    tenant = sh.tenant()
    with sh.client(tenant) as c:
        plan = approved_plan(c)
        made = post(c, "/story-jobs", {"storyPlanId": plan["id"]})
        job = wait_job(c, made.json()["job"]["id"], ("READY", "FAILED"))
        assert job["status"] == "READY", job
        (artifact,) = job["artifacts"]
        before = balance(c)
        path = f"/artifacts/{artifact['id']}/finalize"
        answers = at_once(sh, tenant, lambda client, _: post(client, path, {"mode": "audio"}))
        assert [a.status_code for a in answers] == [200] * N, [a.text for a in answers]
        statuses = {a.json()["finalize"]["status"] for a in answers}
        assert statuses <= {"queued", "rendering", "uploading", "complete"}, statuses
        found: dict[str, Any] = poll(
            c,
            f"/artifacts/{artifact['id']}",
            lambda b: (
                b["artifact"]["manifest"]["audio"]["finalize"]["status"] in ("complete", "failed")
            ),
        )
        assert found["artifact"]["manifest"]["audio"]["finalize"]["status"] == "complete"
        assert balance(c) == before - 6
        # Finalizing a finished recording answers its state, free.
        again = post(c, path, {"mode": "audio"})
        assert again.json()["finalize"]["status"] == "complete", again.text
        assert balance(c) == before - 6
