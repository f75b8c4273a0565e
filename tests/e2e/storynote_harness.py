"""Shared pieces of the StoryNote end-to-end tests: a server, tenants made in its database, and
the helpers that poll, download and decode what it makes."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np

from gateway.runtime import Runtime, open_runtime
from gateway.settings import load_settings
from tests.e2e.conftest import Server, start_server

T = TypeVar("T")
UNIT = "storynote.credits"
FAMILY = "storynote"


@dataclass
class Tenant:
    account_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class StoryNoteServer:
    server: Server
    data_dir: Path

    @property
    def base(self) -> str:
        return self.server.base_url

    def client(self, tenant: Tenant | None = None, root: str = "/v1") -> httpx.Client:
        headers = tenant.headers if tenant else {}
        return httpx.Client(base_url=self.base + root, headers=headers, timeout=60)

    def core(self, action: Callable[[Runtime], Awaitable[T]]) -> T:
        settings = load_settings(env={}, backends="instant", data_dir=self.data_dir, demo=False)

        async def main() -> T:
            async with open_runtime(settings, role="cli") as runtime:
                return await action(runtime)

        return asyncio.run(main())

    def tenant(
        self, plan: str = "pro", *, credits: int | None = None, unmetered: bool = False
    ) -> Tenant:
        """A new account with a key; ``credits`` replaces its allowance with exactly that many."""

        async def make(rt: Runtime) -> Tenant:
            account = await rt.accounts.create(f"sn-{uuid.uuid4().hex[:8]}", {FAMILY: plan})
            if credits is not None:
                await rt.accounts.allocate(account.id, UNIT, 0)
                if credits:
                    await rt.ledger.grant(account.id, UNIT, credits)
            if unmetered:
                await rt.accounts.set_rate(account.id, FAMILY, 0)
            issued = await rt.keys.create(account.id, FAMILY)
            return Tenant(account.id, issued.raw)

        return self.core(make)

    def spendable(self, tenant: Tenant) -> int:
        async def read(rt: Runtime) -> int:
            balance = await rt.ledger.balance(tenant.account_id, UNIT)
            assert balance.spendable is not None
            return balance.spendable

        return self.core(read)

    def jobs(self, tenant: Tenant) -> int:
        async def read(rt: Runtime) -> int:
            return len(await rt.jobs.list(tenant.account_id, family=FAMILY, limit=1000))

        return self.core(read)

    def settled(self, tenant: Tenant, timeout: float = 60) -> None:
        """Wait until none of the tenant's jobs is open, so every hold is settled."""

        async def open_jobs(rt: Runtime) -> int:
            jobs = await rt.jobs.list(tenant.account_id, family=FAMILY, limit=1000)
            return sum(1 for j in jobs if not j.final)

        deadline = time.monotonic() + timeout
        while self.core(open_jobs):
            assert time.monotonic() < deadline, "jobs did not finish"
            time.sleep(0.1)


def start(tmp: Path, env: dict[str, str] | None = None) -> StoryNoteServer:
    data_dir = tmp / "data"
    server = start_server(data_dir, {"STORYGATE_DEMO": "0", **(env or {})}, tag="sn")
    return StoryNoteServer(server, data_dir)


def project(client: httpx.Client, name: str = "My First Project") -> str:
    answer = client.post("/projects", json={"name": name})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def wait_job(client: httpx.Client, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed"):
            return dict(job)
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def download(url: str) -> bytes:
    """A result link works with no key at all."""
    answer = httpx.get(url, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.content


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        rate = stream.rate
        chunks = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
    samples = np.concatenate(chunks).astype(float)
    if np.abs(samples).max() > 2:
        samples /= 32768
    return samples, rate


def assert_error(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error", "code"} and body["code"] == status, body
    assert isinstance(body["error"], str) and body["error"]
    return dict(body)
