"""Shared pieces of the StoryMint end-to-end tests: one server per module, accounts made with the
``storygate`` CLI, and a door into the server's own database for what a client cannot see
(wallets, job rows).

A CLI run costs about two seconds of interpreter start on a small machine, so each module makes
its main account through the CLI, as an operator would, and the extra accounts its checks need
(another tenant, a plan to compare) in one batch through the same core services the CLI calls.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from gateway.runtime import Runtime, open_runtime
from gateway.settings import load_settings
from tests.e2e.conftest import Server, start_server, storygate

T = TypeVar("T")


@dataclass
class Account:
    id: str
    key: str
    plan: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


@dataclass
class StoryMint:
    server: Server
    data_dir: Path
    accounts: dict[str, Account] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.server.base_url

    def cli_lines(self, *args: str) -> list[str]:
        result = storygate(list(args), {"STORYGATE_DATA_DIR": str(self.data_dir)})
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()

    def cli(self, *args: str) -> str:
        """The last line: the account id of `accounts create`, the raw key of `keys create`."""
        return self.cli_lines(*args)[-1]

    def make_account(self, name: str, plan: str) -> Account:
        account_id = self.cli("accounts", "create", name, "--plan", f"storymint={plan}")
        key = self.cli("keys", "create", account_id, "storymint", "--label", name)
        return Account(account_id, key, plan)

    def make_accounts(self, wanted: dict[str, str]) -> dict[str, Account]:
        """name -> plan, through the CLI; concurrently (SQLite's busy timeout serialises the
        writers)."""
        if not wanted:
            return {}
        with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
            futures = {name: pool.submit(self.make_account, name, p) for name, p in wanted.items()}
            made = {name: future.result() for name, future in futures.items()}
        self.accounts.update(made)
        return made

    def make_core_accounts(self, wanted: dict[str, str]) -> dict[str, Account]:
        """name -> plan, in one batch through the services `storygate accounts/keys create` use."""

        async def create(rt: Runtime) -> dict[str, Account]:
            made = {}
            for name, plan in wanted.items():
                account = await rt.accounts.create(name, {"storymint": plan})
                issued = await rt.keys.create(account.id, "storymint", label=name)
                made[name] = Account(account.id, issued.raw, plan)
            return made

        made = self.core(create) if wanted else {}
        self.accounts.update(made)
        return made

    def core(self, action: Callable[[Runtime], Awaitable[T]]) -> T:
        """Run ``action`` against the server's database from this process (role "cli")."""
        settings = load_settings(env={}, backends="instant", data_dir=self.data_dir, demo=False)

        async def main() -> T:
            async with open_runtime(settings, role="cli") as runtime:
                return await action(runtime)

        return asyncio.run(main())

    def wallet(self, account: Account, unit: str) -> tuple[int | None, int]:
        """(spendable, held or spent since the cycle began) of one wallet."""

        async def read(rt: Runtime) -> tuple[int | None, int]:
            balance = await rt.ledger.balance(account.id, unit)
            since = time_of(balance.cycle_start)
            return balance.spendable, await rt.ledger.usage(account.id, unit, since)

        return self.core(read)

    def job_count(self, account: Account) -> int:
        async def count(rt: Runtime) -> int:
            return len(await rt.jobs.list(account.id, limit=1000))

        return self.core(count)

    def generate(self, account: Account, **body: Any) -> str:
        body.setdefault("prompt", "A brave little raccoon who learns to share")
        resp = httpx.post(f"{self.base}/api/generate", headers=account.headers, json=body)
        assert resp.status_code == 200, resp.text
        return str(resp.json()["job_id"])

    def wait(self, account: Account, job_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            resp = httpx.get(f"{self.base}/api/status/{job_id}", headers=account.headers)
            assert resp.status_code == 200, resp.text
            info: dict[str, Any] = resp.json()
            if info["status"] != "running":
                return info
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not finish in {timeout} s")

    def stop(self) -> None:
        self.server.stop()


def time_of(day: Any) -> Any:
    from datetime import UTC, datetime

    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def start_storymint(
    tmp: Path,
    cli: dict[str, str],
    extra: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> StoryMint:
    data_dir = tmp / "data"
    server = start_server(data_dir, {"STORYGATE_DEMO": "false", **(env or {})}, tag="storymint")
    family = StoryMint(server, data_dir)
    try:
        family.make_accounts(cli)
        family.make_core_accounts(extra or {})
    except BaseException:
        server.stop()
        raise
    return family


def assert_envelope(resp: httpx.Response | Any, status: int) -> dict[str, Any]:
    """The documented error shape: {"error": "...", "detail": "..." (optional)}."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = resp.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert set(body) <= {"error", "detail"}, body
    if "detail" in body:
        assert isinstance(body["detail"], str)
    return body


@asynccontextmanager
async def served(tmp_path: Path) -> AsyncIterator[tuple[Any, Runtime]]:
    """The whole app in-process over ASGI, lifespan included, on instant backends."""
    from litestar.testing import AsyncTestClient

    from gateway.app import create_app

    settings = load_settings(env={}, backends="instant", data_dir=tmp_path / "data", demo=False)
    app = create_app(settings)
    async with AsyncTestClient(app=app, timeout=60) as client:
        yield client, app.state.runtime


async def key_of(rt: Runtime, plan: str = "max") -> tuple[str, dict[str, str]]:
    """A new account on ``plan`` and the headers of a StoryMint key of it."""
    account = await rt.accounts.create(f"sm-{uuid.uuid4().hex[:8]}", {"storymint": plan})
    issued = await rt.keys.create(account.id, "storymint")
    return account.id, {"X-API-Key": issued.raw}
