"""Resuming a FAILED story job or plan over real HTTP, on the instant backends.

A job is made to fail deterministically: the server runs one job at a time and the harness's
``HoldServer`` keeps that worker busy (``hold_worker``), so a job created meanwhile waits in the
queue, where the test fails it through the core (as a provider outage would). Its credits are
released; a resume reserves them again (once), and the job runs to ``READY``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.core.ledger import HELD
from gateway.runtime import Runtime
from tests.e2e.sleeperhit_harness import (
    UNIT,
    HoldServer,
    SleeperHitServer,
    Tenant,
    approved_plan,
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


@pytest.fixture(scope="module")
def hold() -> Iterator[HoldServer]:
    found = HoldServer()
    yield found
    found.close()


@pytest.fixture(scope="module")
def sh(tmp_path_factory: pytest.TempPathFactory, hold: HoldServer) -> Iterator[SleeperHitServer]:
    server = start(tmp_path_factory.mktemp("sh-resume"), hold.env)
    yield server
    server.server.stop()


@pytest.fixture(scope="module")
def owner(sh: SleeperHitServer) -> Tenant:
    return sh.tenant()


def _fail(sh: SleeperHitServer, job_id: str) -> None:
    async def fail(rt: Runtime) -> None:
        assert await rt.jobs.fail(job_id, "upstream_error", "the voice provider failed")

    sh.core(fail)


def _held(sh: SleeperHitServer, job_id: str) -> int:
    """Credits the job holds now."""

    async def read(rt: Runtime) -> int:
        holds = await rt.ledger.holds_of_job(job_id)
        return sum(h.amount for h in holds if h.state == HELD and h.unit == UNIT)

    return sh.core(read)


def _failed_job(sh: SleeperHitServer, c: httpx.Client, plan_id: str) -> dict[str, Any]:
    made = post(c, "/story-jobs", {"storyPlanId": plan_id})
    assert made.status_code == 200, made.text
    job = made.json()["job"]
    assert job["status"] == "RESERVED", job
    _fail(sh, job["id"])
    return wait_job(c, job["id"], ("FAILED",))


def test_a_failed_job_resumes_reserving_its_credits_once(
    sh: SleeperHitServer, owner: Tenant, hold: HoldServer
) -> None:
    with sh.client(owner) as c:
        plan = approved_plan(c, "resume job")
        start_balance = balance(c)
        let_go = hold_worker(c, plan["projectId"], hold)
        try:
            job = _failed_job(sh, c, plan["id"])
            total = job["quote"]["total"]
            assert total > 0
            # Failing released the credits.
            assert balance(c) == start_balance
            assert _held(sh, str(job["id"])) == 0
            path = f"/story-jobs/{job['id']}/resume"
            key = {"Idempotency-Key": str(uuid.uuid4())}
            resumed = c.post(path, headers=key)
            assert resumed.status_code == 200, resumed.text
            again = resumed.json()["job"]
            assert again["id"] == job["id"] and again["status"] == "RESERVED", again
            assert balance(c) == start_balance - total
            assert _held(sh, str(job["id"])) == total
            # The same key replays the answer and reserves nothing more.
            replay = c.post(path, headers=key)
            assert replay.status_code == 200, replay.text
            assert replay.headers.get("idempotency-replayed") == "true"
            assert replay.json() == resumed.json()
            # A job that is no longer FAILED cannot be resumed (a new key).
            error = expect_error(post(c, path), "story_job_state_invalid", 409)
            assert error["details"] == {"status": "RESERVED", "allowed": ["FAILED"]}
            assert balance(c) == start_balance - total
        finally:
            let_go()
        done = wait_job(c, str(job["id"]), ("READY", "FAILED"))
        assert done["status"] == "READY", done
        (artifact,) = done["artifacts"]
        assert artifact["status"] == "READY", artifact
        assert balance(c) == start_balance - total
        error = expect_error(post(c, path), "story_job_state_invalid", 409)
        assert error["details"] == {"status": "READY", "allowed": ["FAILED"]}
        assert balance(c) == start_balance - total


def test_resume_without_enough_credits_leaves_the_job_failed(
    sh: SleeperHitServer, hold: HoldServer
) -> None:
    tenant = sh.tenant(credits=500)
    with sh.client(tenant) as c:
        plan = approved_plan(c, "resume broke")
        let_go = hold_worker(c, plan["projectId"], hold)
        try:
            job = _failed_job(sh, c, plan["id"])
        finally:
            let_go()
        total = int(job["quote"]["total"])
        left = balance(c)
        assert left == 500

        async def drain(rt: Runtime) -> None:
            await rt.ledger.charge(tenant.account_id, UNIT, left - (total - 1))

        sh.core(drain)
        path = f"/story-jobs/{job['id']}/resume"
        for _ in range(2):
            error = expect_error(post(c, path), "insufficient_credits", 402)
            assert error["details"] == {"required": total, "available": total - 1}
        after = c.get(f"/story-jobs/{job['id']}").json()["job"]
        assert after["status"] == "FAILED", after
        assert balance(c) == total - 1
        assert _held(sh, str(job["id"])) == 0

        async def top_up(rt: Runtime) -> None:
            await rt.ledger.grant(tenant.account_id, UNIT, 1)

        sh.core(top_up)
        resumed = post(c, path)
        assert resumed.status_code == 200, resumed.text
        done = wait_job(c, str(job["id"]), ("READY", "FAILED"))
        assert done["status"] == "READY", done
        assert balance(c) == 0


def test_resume_of_unknown_or_foreign_jobs_and_plans(sh: SleeperHitServer, owner: Tenant) -> None:
    with sh.client(owner) as c:
        for job_id in ("0" * 40, "nope"):
            expect_error(post(c, f"/story-jobs/{job_id}/resume"), "story_job_not_found")
            expect_error(post(c, f"/story-plans/{job_id}/resume"), "project_not_found")
        plan = approved_plan(c, "mine")
        made = post(c, "/story-jobs", {"storyPlanId": plan["id"]})
        assert made.status_code == 200, made.text
        job_id = made.json()["job"]["id"]
        wait_job(c, job_id, ("READY", "FAILED"))
    with sh.client(sh.tenant()) as other:
        expect_error(post(other, f"/story-jobs/{job_id}/resume"), "story_job_not_found")
        expect_error(post(other, f"/story-plans/{plan['id']}/resume"), "project_not_found")
    with sh.client(owner) as c:
        # An APPROVED plan is not FAILED: refused as bad input.
        error = expect_error(post(c, f"/story-plans/{plan['id']}/resume"), "validation_failed")
        assert error["details"] == {"status": "APPROVED", "allowed": ["FAILED"]}


@pytest.mark.parametrize(("auto", "settled"), [(True, "APPROVED"), (False, "REQUIRES_APPROVAL")])
def test_a_failed_plan_resumes_its_planning(
    sh: SleeperHitServer, owner: Tenant, hold: HoldServer, auto: bool, settled: str
) -> None:
    with sh.client(owner) as c:
        project_id = new_project(c, "resume plan")
        source_id = text_source(c, project_id)
        poll(
            c,
            f"/story-projects/{project_id}/sources/{source_id}",
            lambda b: b["source"]["status"] == "READY",
        )
        start_balance = balance(c)
        let_go = hold_worker(c, project_id, hold)
        try:
            plan = new_plan(c, project_id, sources=[source_id], auto=auto, wait=None)
            assert plan["status"] == "PENDING", plan
            _fail(sh, plan["id"])
            failed = c.get(f"/story-plans/{plan['id']}").json()["plan"]
            assert failed["status"] == "FAILED" and failed["failureCode"], failed
            path = f"/story-plans/{plan['id']}/resume"
            resumed = post(c, path)
            assert resumed.status_code == 200, resumed.text
            again = resumed.json()["plan"]
            assert again["id"] == plan["id"] and again["status"] == "PENDING", again
            assert again["failureCode"] is None
            error = expect_error(post(c, path), "validation_failed", 422)
            assert error["details"] == {"status": "PENDING", "allowed": ["FAILED"]}
        finally:
            let_go()
        done = poll(
            c,
            f"/story-plans/{plan['id']}",
            lambda b: b["plan"]["status"] not in ("PENDING", "RUNNING"),
        )["plan"]
        assert done["status"] == settled, done
        assert done["plan"] is not None
        assert balance(c) == start_balance
        error = expect_error(post(c, path), "validation_failed", 422)
        assert error["details"] == {"status": settled, "allowed": ["FAILED"]}
