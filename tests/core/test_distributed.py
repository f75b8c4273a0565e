"""Two gateway replicas and a worker process sharing PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.core.errors import Conflict
from gateway.core.idempotency import StoredResponse, fingerprint
from gateway.db.models import Job
from gateway.runtime import Runtime, open_runtime
from gateway.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def distributed_settings(pg_url: str, redis_url: str, prefix: str, tmp: Path) -> Settings:
    return Settings(
        database_url=pg_url,
        redis_url=redis_url,
        redis_prefix=prefix,
        secret="test-secret",
        data_dir=tmp,
        task_modules=("tests.support.tasks",),
        backends="instant",
        log_json=False,
    )


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a `storygate worker` process joining these replicas."""
    return {
        **os.environ,
        "STORYGATE_DATABASE_URL": settings.database_url,
        "STORYGATE_REDIS_URL": settings.redis_url,
        "STORYGATE_REDIS_PREFIX": settings.redis_prefix,
        "STORYGATE_SECRET": settings.secret,
        "STORYGATE_TASK_MODULES": "tests.support.tasks",
        "STORYGATE_DATA_DIR": str(settings.data_dir),
        **extra,
    }


@pytest.fixture
async def replicas(
    pg_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> AsyncIterator[tuple[Runtime, Runtime, Settings]]:
    settings = distributed_settings(pg_url, redis_url, redis_prefix, tmp_path)
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(open_runtime(settings, role="gateway"))
        b = await stack.enter_async_context(open_runtime(settings, role="gateway"))
        yield a, b, settings


async def test_one_job_for_one_idempotency_key_across_replicas(replicas) -> None:
    a, b, _ = replicas
    account = await a.accounts.create("tenant", {"storymint": "schools"})
    body = b'{"prompt":"a raccoon"}'
    fp = fingerprint("POST", "/api/generate", body)

    async def create(rt: Runtime) -> StoredResponse:
        job = await rt.jobs.create(account.id, "storymint", "test.walk", {}, runner="arq")
        await asyncio.sleep(0.05)  # widen the race window
        return StoredResponse(
            202, {"content-type": "application/json"}, json.dumps({"job_id": job.id}).encode()
        )

    async def attempt(i: int) -> tuple[str, bytes | None]:
        rt = a if i % 2 else b
        try:
            response, _replayed = await rt.idempotency.run(
                account.id, "storymint", "same-key", fp, lambda: create(rt)
            )
            return "ok", response.body
        except Conflict:
            return "conflict", None

    results = await asyncio.gather(*(attempt(i) for i in range(100)))
    bodies = {body for kind, body in results if kind == "ok"}
    assert len(bodies) == 1, bodies
    async with a.db.read() as conn:
        count = (await conn.execute(select(func.count()).select_from(Job))).scalar_one()
    assert count == 1
    job_id = json.loads(next(iter(bodies)))["job_id"]
    assert (await b.jobs.get(job_id, account.id)).id == job_id


async def test_worker_process_runs_enqueued_job_and_events_reach_gateway(replicas) -> None:
    gateway, _, settings = replicas
    env = worker_env(settings)
    worker = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "worker"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        account = await gateway.accounts.create("tenant", {"storymint": "schools"})
        job = await gateway.jobs.create(
            account.id, "storymint", "test.walk", {"steps": 4, "echo": "hi"}, runner="arq"
        )
        seen: list[dict] = []

        async def listen() -> None:
            async with gateway.events.subscribe(f"job:{job.id}") as events:
                listening.set()
                async for event in events:
                    seen.append(event)
                    if event.get("final"):
                        return

        listening = asyncio.Event()
        listener = asyncio.create_task(listen())
        await listening.wait()
        await gateway.submit(job.id)
        await asyncio.wait_for(listener, 30)
    finally:
        worker.terminate()
        output = worker.communicate(timeout=15)[0].decode(errors="replace")
    messages = [e["message"] for e in seen if e["status"] == "running"]
    assert [m for m in messages if m.startswith("step")] == [f"step {i}" for i in range(1, 5)], (
        output
    )
    assert seen[-1]["status"] == "succeeded"
    done = await gateway.jobs.get(job.id)
    assert done.result == {"echo": "hi", "steps": 4}
    assert done.attempts == 1
