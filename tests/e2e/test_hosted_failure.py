"""A provider failure releases credits.

Two levels: a real runtime (SQLite, role "gateway", so the in-process runner runs the job)
whose illustrator is ``FalIllustrator`` over a failing fake client; and a real ``storygate
serve`` process with ``STORYGATE_IMAGE_BACKEND=hosted`` and the real fal client, pointed (by
fal-client's own ``FAL_RUN_HOST`` / ``FAL_QUEUE_RUN_HOST``) at a closed loopback port, so every
request is refused at once without leaving the machine. In both the book job ends in an
upstream error, the reservation is released, and the provider key is in no log or response.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from gateway.core.ids import new_job_id
from gateway.core.jobs import JobInfo, JobStatus
from gateway.runtime import Runtime, open_runtime
from gateway.settings import Settings
from tests.conftest import need
from tests.e2e.conftest import free_port, start_server
from tests.e2e.storymint_support import StoryMint
from workers.backends.hosted.fal import FalIllustrator

KEY = "fal-e2e-secret-key-5f0c1a2b3d4e"
BOOKS = "storymint.books"
PARAMS = {"prompt": "A fox who lights the lanterns", "format": "picture", "units": 3}


class RefusingFal:
    """fal_client.AsyncClient's surface, answering every request as a dead provider would."""

    def __init__(self) -> None:
        self.calls = 0

    async def subscribe(
        self, application: str, arguments: dict[str, Any], *, client_timeout: float | None = None
    ) -> dict[str, Any]:
        self.calls += 1
        await asyncio.sleep(0.01)
        raise ConnectionRefusedError(f"[Errno 111] refused (Authorization: Key {KEY})")

    async def upload(self, data: bytes, content_type: str, file_name: str | None = None) -> str:
        raise AssertionError("a picture needs no upload")


async def wait_final(rt: Runtime, job_id: str, timeout: float = 20) -> JobInfo:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = await rt.jobs.get(job_id)
        if job.final:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


async def spendable_once_settled(rt: Runtime, account: str, want: int) -> int:
    """The job turns final and its hold is released in two steps; give the second a moment."""
    deadline = time.monotonic() + 5
    while True:
        spendable = (await rt.ledger.balance(account, BOOKS)).spendable
        if spendable == want or time.monotonic() > deadline:
            return spendable or 0
        await asyncio.sleep(0.02)


async def test_provider_failure_releases_the_reservation(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, backends="instant", log_json=False, demo=False)
    async with open_runtime(settings, role="gateway") as rt:
        fal = RefusingFal()
        rt.backends = replace(rt.backends, illustrator=FalIllustrator(KEY, timeout=10, client=fal))
        account = (await rt.accounts.create("hosted", {"storymint": "max"})).id
        full = (await rt.ledger.balance(account, BOOKS)).spendable
        assert full

        # What StoryMint's POST /api/generate does: hold one book, create the job, submit it.
        job_id = new_job_id()
        hold = await rt.ledger.reserve(account, BOOKS, 1, job_id=job_id)
        assert (await rt.ledger.balance(account, BOOKS)).spendable == full - 1
        await rt.jobs.create(
            account, "storymint", "book", PARAMS, runner="inprocess", job_id=job_id
        )
        await rt.submit(job_id)

        job = await wait_final(rt, job_id)
        assert job.status is JobStatus.FAILED
        assert job.error_code == "upstream_error"
        assert "fal.ai" in (job.error_message or "") and KEY not in (job.error_message or "")
        assert fal.calls >= 1
        assert await spendable_once_settled(rt, account, full) == full
        (settled,) = await rt.ledger.holds_of_job(job_id)
        assert settled.id == hold.id and settled.state == "released"


def test_real_fal_client_failure_through_the_server(tmp_path: Path) -> None:
    need(None if importlib.util.find_spec("fal_client") else "fal-client is not installed")
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there: connections are refused
    env = {
        "STORYGATE_DEMO": "false",
        "STORYGATE_LOG_LEVEL": "DEBUG",
        "STORYGATE_IMAGE_BACKEND": "hosted",
        "STORYGATE_FAL_KEY": KEY,
        "STORYGATE_PROVIDER_TIMEOUT_SECONDS": "3",
        "FAL_RUN_HOST": dead,
        "FAL_QUEUE_RUN_HOST": dead,
    }
    data_dir = tmp_path / "data"
    server = start_server(data_dir, env, tag="hosted")
    try:
        sm = StoryMint(server, data_dir)
        (owner,) = sm.make_core_accounts({"owner": "max"}).values()
        with httpx.Client(base_url=sm.base, headers=owner.headers, timeout=10) as client:
            models = client.get("/api/models")
            assert models.status_code == 200 and KEY not in models.text
            before = client.get("/api/tier").json()["books_this_month"]
            job_id = sm.generate(owner, num_pages=3)
            assert client.get("/api/tier").json()["books_this_month"] == before + 1

            # The wait's deadline is the only bound on how soon the book fails: how long it
            # took is a speed figure, not something to assert.
            status = sm.wait(owner, job_id, timeout=30)
            assert status["status"] == "error", status
            assert "fal.ai" in status["msg"] and KEY not in str(status)
            deadline = time.monotonic() + 5
            while (used := client.get("/api/tier").json()["books_this_month"]) != before:
                assert time.monotonic() < deadline, (used, before)
                time.sleep(0.05)
    finally:
        server.stop()
    assert KEY not in server.stdout and KEY not in server.stderr
