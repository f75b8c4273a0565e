"""Shared pieces of the ChildrenBooks end-to-end tests: one server per module, tenants made with
the CLI or straight through the server's database, and envelope assertions every test reuses."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from gateway.runtime import Runtime, open_runtime
from gateway.settings import load_settings
from tests.e2e.conftest import REPO, Server, start_server, storygate

T = TypeVar("T")

UNIT = "childrenbooks.credits"
REFERENCE = REPO.parent / "shared" / "seeds" / "childrenbooks-v1-api.txt"
# The reference's example body.
BODY: dict[str, Any] = {
    "storyIdea": "A little fox who learns to share carrots with forest friends.",
    "ageRange": "4-7",
    "style": "watercolor",
    "pageCount": 7,
    "tone": "heartwarming",
    "language": "english",
}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


@dataclass
class Tenant:
    account_id: str
    key: str
    plan: str

    @property
    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.key}


@dataclass
class ChildrenBooks:
    server: Server
    data_dir: Path

    @property
    def base(self) -> str:
        return self.server.base_url

    def client(self, tenant: Tenant | None = None, **kw: Any) -> httpx.Client:
        headers = tenant.headers if tenant else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30, **kw)

    def cli(self, *args: str) -> str:
        """The last line: the account id of `accounts create`, the raw key of `keys create`."""
        result = storygate(list(args), {"STORYGATE_DATA_DIR": str(self.data_dir)})
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]

    def cli_tenant(self, name: str, plan: str = "pro") -> Tenant:
        account_id = self.cli("accounts", "create", name, "--plan", f"childrenbooks={plan}")
        return Tenant(account_id, self.cli("keys", "create", account_id, "childrenbooks"), plan)

    def core(self, action: Callable[[Runtime], Awaitable[T]]) -> T:
        """Run ``action`` against the server's database from this process (role "cli")."""
        settings = load_settings(env={}, backends="instant", data_dir=self.data_dir, demo=False)

        async def main() -> T:
            async with open_runtime(settings, role="cli") as runtime:
                return await action(runtime)

        return asyncio.run(main())

    def tenants(self, *plans: str, **key_options: Any) -> list[Tenant]:
        """One account and key per plan, made in one runtime (much quicker than the CLI)."""

        async def make(rt: Runtime) -> list[Tenant]:
            made = []
            for plan in plans:
                account = await rt.accounts.create(
                    f"cb-{uuid.uuid4().hex[:8]}", {"childrenbooks": plan}
                )
                issued = await rt.keys.create(account.id, "childrenbooks", **key_options)
                made.append(Tenant(account.id, issued.raw, plan))
            return made

        return self.core(make)

    def stop(self, settle_seconds: float = 20) -> None:
        """Let running books finish first: a gateway stopped mid-book can take its full grace
        period to shut down, which would only slow the suite."""

        async def busy(rt: Runtime) -> int:
            return len(await rt.jobs.unfinished("inprocess"))

        deadline = time.monotonic() + settle_seconds
        while self.server.proc.poll() is None and time.monotonic() < deadline:
            if not self.core(busy):
                break
            time.sleep(0.1)
        self.server.stop()

    def spendable(self, tenant: Tenant) -> int:
        async def read(rt: Runtime) -> int:
            balance = await rt.ledger.balance(tenant.account_id, UNIT)
            assert balance.spendable is not None
            return balance.spendable

        return self.core(read)

    def book_count(self, tenant: Tenant) -> int:
        async def read(rt: Runtime) -> int:
            return len(await rt.jobs.list(tenant.account_id, family="childrenbooks", limit=1000))

        return self.core(read)

    def held(self, tenant: Tenant) -> tuple[int, int]:
        """(spendable credits, jobs of the family): what a failed request must leave as it was."""
        return self.spendable(tenant), self.book_count(tenant)


def start(tmp: Path, env: dict[str, str] | None = None) -> ChildrenBooks:
    data_dir = tmp / "data"
    server = start_server(data_dir, {"STORYGATE_DEMO": "0", **(env or {})}, tag="cb")
    return ChildrenBooks(server, data_dir)


def rid() -> str:
    return f"cb-test-{uuid.uuid4().hex}"


def assert_rate_headers(resp: httpx.Response) -> None:
    for name in RATE_HEADERS:
        assert resp.headers.get(name, "").isdigit(), (name, dict(resp.headers))
    assert int(resp.headers["x-ratelimit-remaining"]) <= int(resp.headers["x-ratelimit-limit"])
    assert 1 <= int(resp.headers["x-ratelimit-reset"]) <= 86_400
    if resp.status_code == 429:
        assert int(resp.headers["retry-after"]) >= 1


def assert_error(
    resp: httpx.Response,
    status: int,
    code: str,
    request_id: str | None = None,
    fields: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The error envelope, exactly: ok false, the echoed request id, code and message."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"ok", "requestId", "error"}, body
    assert body["ok"] is False
    assert body["requestId"] == resp.headers["x-request-id"]
    if request_id is not None:
        assert body["requestId"] == request_id
    error = body["error"]
    assert error["code"] == code, body
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) <= {"code", "message", "fields", "meta"}
    if fields is not None:
        assert sorted(error.get("fields", {})) == sorted(fields), error
    assert_rate_headers(resp)
    return error


def parallel(calls: Sequence[Callable[[], T]], workers: int = 50) -> list[T]:
    with ThreadPoolExecutor(max_workers=min(workers, len(calls))) as pool:
        return list(pool.map(lambda call: call(), calls))
