"""A model process that dies fails only its job: real `storygate worker` and `storygate serve`
processes, whose test backend (tests.support.crashy) kills its own model process with SIGSEGV
or SIGILL, as llama.cpp built for another CPU does. The job fails with its credits released
once, the server keeps serving, and the next model job gets a fresh model process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.core.admission import Charge
from gateway.core.jobs import JobInfo, JobStatus
from gateway.runtime import Runtime, open_runtime
from gateway.settings import Settings
from tests.core.test_distributed import REPO, distributed_settings, worker_env
from tests.core.test_leases import _entries as entries
from tests.e2e.conftest import start_server
from tests.unit.test_model_process import ended

PLUGINS = ("tests.support.tasks", "tests.support.crashy")
GRANT = 10
PRICE = 3
SIGNALS = {"segv": "SIGSEGV", "ill": "SIGILL"}


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def descends_from(pid: int, ancestor: int) -> bool:
    """Whether ``ancestor`` started ``pid``, or started the process that did (``storygate
    serve`` runs the app in a server worker process of its own)."""
    while pid > 1:
        pid = parent_of(pid)
        if pid == ancestor:
            return True
    return False


async def until_final(rt: Runtime, job_id: str, seconds: float = 45) -> JobInfo:
    """The job once it is final and its holds are settled (the runner records the outcome,
    then settles: a reader can see the one before the other)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = await rt.jobs.get(job_id)
        if job.final and all(h.state != "held" for h in await rt.ledger.holds_of_job(job_id)):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish within {seconds} s")


async def assert_released_once(rt: Runtime, job: JobInfo) -> None:
    assert [h.state for h in await rt.ledger.holds_of_job(job.id)] == ["released"]
    assert await entries(rt, job.id) == ["reserve", "release"]


async def assert_captured(rt: Runtime, job: JobInfo) -> None:
    assert [h.state for h in await rt.ledger.holds_of_job(job.id)] == ["captured"]
    assert await entries(rt, job.id) == ["reserve", "capture"]


async def spendable(rt: Runtime, account: str) -> int | None:
    return (await rt.ledger.balance(account, "credits")).spendable


def assert_crashed(job: JobInfo, signal_name: str) -> None:
    assert job.status is JobStatus.FAILED, (job.status, job.result)
    assert job.error_code == "model_crashed", (job.error_code, job.error_message)
    assert f"stopped with {signal_name}" in (job.error_message or ""), job.error_message


@pytest.mark.services
async def test_a_worker_survives_its_model_process_dying_by_sigsegv_and_sigill(
    pg_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    settings = distributed_settings(pg_url, redis_url, redis_prefix, tmp_path)
    settings = settings.with_overrides(task_modules=PLUGINS)
    log_path = tmp_path / "worker.log"
    env = worker_env(settings, STORYGATE_TASK_MODULES=",".join(PLUGINS))
    async with open_runtime(settings, role="gateway") as rt:
        account = (await rt.accounts.create("tenant", {"storymint": "schools"})).id
        await rt.ledger.grant(account, "credits", GRANT)

        async def run(action: str) -> JobInfo:
            job = await rt.admission.admit(
                account,
                "storymint",
                "test.model",
                {"action": action},
                charges=[Charge("credits", PRICE)],
            )
            return await until_final(rt, job.id)

        with log_path.open("wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "worker"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        model_pids: list[int] = []
        try:
            balance = GRANT
            for action, signal_name in SIGNALS.items():
                crashed = await run(action)
                assert_crashed(crashed, signal_name)
                await assert_released_once(rt, crashed)
                assert await spendable(rt, account) == balance  # nothing charged for it
                assert worker.poll() is None, log_path.read_text()

                after = await run("answer")  # the same lane, a fresh model process
                assert after.status is JobStatus.SUCCEEDED, (after.error_code, after.error_message)
                assert after.result is not None
                pid = int(after.result["pid"])
                assert pid != worker.pid and parent_of(pid) == worker.pid
                assert pid not in model_pids
                model_pids.append(pid)
                await assert_captured(rt, after)
                balance -= PRICE
                assert await spendable(rt, account) == balance
            assert await rt.ledger.audit(account, "credits")
        finally:
            worker.terminate()
            worker.wait(timeout=20)
        output = log_path.read_text(errors="replace")
        for signal_name in SIGNALS.values():
            assert f"local model process stopped with {signal_name}" in output, output[-3000:]
        # The worker's model process does not outlive it.
        deadline = time.monotonic() + 10
        while not ended(model_pids[-1]) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert ended(model_pids[-1])


async def test_an_embedded_gateway_keeps_answering_while_its_model_process_dies(
    tmp_path: Path,
) -> None:
    """Jobs queued before the gateway starts run at its start, in order on its one lane: a
    model that hangs past STORYGATE_MODEL_CALL_SECONDS, then one that segfaults, then one that
    answers; /healthz and a family route answer throughout."""
    data = tmp_path / "data"
    settings = Settings(data_dir=data, backends="instant", task_modules=PLUGINS, log_json=False)
    async with open_runtime(settings, role="cli") as rt:
        account = (await rt.accounts.create("tenant", {"storymint": "schools"})).id
        await rt.ledger.grant(account, "credits", GRANT)
        ids: list[str] = []
        for action in ("hang", "segv", "answer"):
            params: dict[str, Any] = {"action": action, "after": list(ids)}
            job_id = f"job_{action}_{len(ids)}"
            await rt.ledger.reserve(account, "credits", PRICE, job_id=job_id)
            await rt.jobs.create(account, "storymint", "test.model", params, job_id=job_id)
            ids.append(job_id)

    server = start_server(
        data,
        {
            "STORYGATE_TASK_MODULES": ",".join(PLUGINS),
            "STORYGATE_MODEL_CALL_SECONDS": "3",
            "STORYGATE_LOG_JSON": "0",
        },
        tag="embedded",
    )
    try:
        async with open_runtime(settings, role="cli") as rt, httpx.AsyncClient() as http:
            answered = 0
            slowest = 0.0
            deadline = time.monotonic() + 45
            while not all([(await rt.jobs.get(i)).final for i in ids]):
                assert time.monotonic() < deadline, server.stderr[-3000:]
                started = time.monotonic()
                health = await http.get(server.base_url + "/healthz", timeout=5)
                assert health.status_code == 200
                slowest = max(slowest, time.monotonic() - started)
                answered += 1
                await asyncio.sleep(0.1)
            assert answered >= 20 and slowest < 2.0, (answered, slowest)
            assert server.proc.poll() is None
            ready = await http.get(server.base_url + "/readyz", timeout=5)
            assert ready.status_code == 200, ready.text

            hung, crashed, answer = [await until_final(rt, i) for i in ids]
            assert hung.error_code == "model_crashed"
            assert "did not answer within 3 s" in (hung.error_message or "")
            assert_crashed(crashed, "SIGSEGV")
            assert answer.status is JobStatus.SUCCEEDED, (answer.error_code, answer.error_message)
            assert answer.result is not None
            assert descends_from(int(answer.result["pid"]), server.proc.pid)
            for job in (hung, crashed):
                await assert_released_once(rt, job)
            await assert_captured(rt, answer)
            assert await spendable(rt, account) == GRANT - PRICE
    finally:
        server.stop()
