"""SleeperHit distributed: a gateway on PostgreSQL and Redis whose jobs run in a separate
``storygate worker`` process — a source digested, a plan written, a table read voiced and
finalized there — and a job canceled on the gateway that the worker then leaves alone."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REDIS_URL
from tests.e2e.conftest import REPO, start_server, storygate
from tests.e2e.sleeperhit_harness import SleeperHitServer, poll, post

SOURCE = (
    "Amara Osei keeps the lighthouse on Cape Lumen. Her brother Kofi Osei repairs the nets "
    'in the harbour. "The light must not go dark," Amara says.'
)


@pytest.fixture
def distributed(pg_url: str, redis_prefix: str, tmp_path: Path) -> Iterator[SleeperHitServer]:
    env = {
        "STORYGATE_DATABASE_URL": pg_url,
        "STORYGATE_REDIS_URL": REDIS_URL,
        "STORYGATE_REDIS_PREFIX": redis_prefix,
        "STORYGATE_SECRET": "sh-distributed-secret",
        "STORYGATE_BACKENDS": "instant",
        "STORYGATE_DEMO": "0",
    }
    data = tmp_path / "data"
    migrated = storygate(["migrate"], env)
    assert migrated.returncode == 0, migrated.stderr
    server = start_server(data, env, tag="shd")
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "worker"],
        cwd=REPO,
        env={**os.environ, **env, "STORYGATE_DATA_DIR": str(data)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield SleeperHitServer(server, data, "instant", core_env=env)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        server.stop()
        log.close()


def test_the_whole_flow_runs_on_a_worker(distributed: SleeperHitServer) -> None:
    tenant = distributed.tenant()
    c = distributed.client(tenant)
    ready = httpx.get(distributed.base + "/readyz").json()
    assert ready["checks"] == {"database": "ok", "redis": "ok"}
    project = post(c, "/story-projects", {"name": "Cape Lumen"}).json()["project"]["id"]
    source = post(c, f"/story-projects/{project}/sources", {"type": "text", "content": SOURCE})
    sid = source.json()["source"]["id"]
    found = poll(
        c,
        f"/story-projects/{project}/sources/{sid}",
        lambda b: b["source"]["digestStatus"] == "READY",
    )["source"]
    assert "Amara Osei" in found["digest"]["people"]
    body: dict[str, Any] = {
        "target": {"audience": "families", "objective": "the saved light", "outcome": "awe"},
        "artifactRequests": [{"type": "table_read", "durationSeconds": 15}],
        "sourceIds": [sid],
        "autoApprove": True,
    }
    plan = post(c, f"/story-projects/{project}/story-plans", body).json()["plan"]
    poll(c, f"/story-plans/{plan['id']}", lambda b: b["plan"]["status"] == "APPROVED")
    before = distributed.spendable(tenant)
    job = post(c, "/story-jobs", {"storyPlanId": plan["id"]}).json()["job"]
    done = poll(c, f"/story-jobs/{job['id']}", lambda b: b["job"]["status"] == "READY")["job"]
    artifact = done["artifacts"][0]
    assert distributed.spendable(tenant) == before - job["quote"]["total"]
    post(c, f"/artifacts/{artifact['id']}/finalize", {"mode": "audio"})
    final = poll(
        c,
        f"/artifacts/{artifact['id']}",
        lambda b: bool(b["artifact"]["manifest"]["audio"]["recordingUrl"]),
    )["artifact"]
    mp3 = httpx.get(final["manifest"]["audio"]["recordingUrl"], timeout=30)
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg"
    assert distributed.spendable(tenant) == before - job["quote"]["total"] - 6
    page = httpx.get(final["manifest"]["theaterUrl"], timeout=30)
    assert page.status_code == 200 and final["manifest"]["title"] in page.text
