"""``internal_error``: a server failure is the reference's 500 envelope, with the request id and
nothing of the failure's insides, and it is logged under that id. The failure is made real: a
plan's stored request is damaged behind the server's back, so the plan can no longer be shown
in its documented shape — the server must call that its own fault, never the client's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import update

from gateway.db.models import Job
from gateway.runtime import Runtime
from tests.e2e.sleeperhit_harness import (
    SleeperHitServer,
    expect_error,
    new_plan,
    new_project,
    start,
)


@pytest.fixture(scope="module")
def sh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SleeperHitServer]:
    server = start(tmp_path_factory.mktemp("sh-internal"))
    yield server
    server.server.stop()


def test_a_record_the_server_cannot_show_is_internal_error(sh: SleeperHitServer) -> None:
    tenant = sh.tenant()
    c = sh.client(tenant)
    plan = new_plan(c, new_project(c))

    async def damage(rt: Runtime) -> None:
        async with rt.db.write() as conn:
            await conn.execute(
                update(Job).where(Job.id == plan["id"]).values(params={"target": "not an object"})
            )

    sh.core(damage)
    answer = c.get(f"/story-plans/{plan['id']}", headers={"X-Request-Id": "trace-internal-1"})
    error = expect_error(answer, "internal_error")
    assert error["requestId"] == "trace-internal-1"
    assert error["message"] == "Unexpected server failure"
    assert "Traceback" not in answer.text and "target" not in answer.text
    assert "trace-internal-1" in sh.server.stderr
