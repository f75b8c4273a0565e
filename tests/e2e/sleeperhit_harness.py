"""Shared pieces of the SleeperHit end-to-end tests: a real server process, tenants with scoped
keys made in its database, and the polling helpers a real client runs."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from gateway.core.keys import SCOPES
from gateway.runtime import Runtime, open_runtime
from gateway.settings import load_settings
from tests.e2e.conftest import Server, start_server

T = TypeVar("T")
UNIT = "sleeperhit.credits"
FAMILY = "sleeperhit"
ALL_SCOPES = SCOPES[FAMILY]


@dataclass
class Tenant:
    account_id: str
    key: str
    key_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class SleeperHitServer:
    server: Server
    data_dir: Path
    backends: str = "instant"
    # The settings' environment of the server, for the core calls below (distributed mode).
    core_env: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.server.base_url

    def client(self, tenant: Tenant | None = None, root: str = "/api/v1") -> httpx.Client:
        headers = tenant.headers if tenant else {}
        return httpx.Client(base_url=self.base + root, headers=headers, timeout=60)

    def core(self, action: Callable[[Runtime], Awaitable[T]]) -> T:
        settings = load_settings(
            env=self.core_env, backends=self.backends, data_dir=self.data_dir, demo=False
        )

        async def main() -> T:
            async with open_runtime(settings, role="cli") as runtime:
                return await action(runtime)

        return asyncio.run(main())

    def tenant(
        self,
        plan: str = "studio",
        *,
        scopes: Sequence[str] | None = ALL_SCOPES,
        credits: int | None = None,
        unmetered: bool = True,
        elevated: bool = False,
        ip_allowlist: Sequence[str] | None = None,
        expires_at: datetime | None = None,
    ) -> Tenant:
        """A new account with one key (all scopes unless told; ``None``: the default scopes);
        ``credits`` replaces the monthly bucket with exactly that many perpetual credits."""

        async def make(rt: Runtime) -> Tenant:
            account = await rt.accounts.create(f"sh-{uuid.uuid4().hex[:8]}", {FAMILY: plan})
            if credits is not None:
                await rt.accounts.allocate(account.id, UNIT, 0)
                if credits:
                    await rt.ledger.grant(account.id, UNIT, credits)
            if unmetered:
                await rt.accounts.set_rate(account.id, FAMILY, 0)
            issued = await rt.keys.create(
                account.id,
                FAMILY,
                scopes=scopes,
                elevated=elevated,
                ip_allowlist=ip_allowlist,
                expires_at=expires_at,
            )
            return Tenant(account.id, issued.raw, issued.info.id)

        return self.core(make)

    def spendable(self, tenant: Tenant) -> int:
        async def read(rt: Runtime) -> int:
            balance = await rt.ledger.balance(tenant.account_id, UNIT)
            assert balance.spendable is not None
            return balance.spendable

        return self.core(read)


def start(
    tmp: Path, env: dict[str, str] | None = None, backends: str = "instant"
) -> SleeperHitServer:
    data_dir = tmp / "data"
    server = start_server(
        data_dir, {"STORYGATE_DEMO": "0", "STORYGATE_BACKENDS": backends, **(env or {})}, tag="sh"
    )
    return SleeperHitServer(server, data_dir, backends)


def post(client: httpx.Client, path: str, body: Any = None, **kw: Any) -> httpx.Response:
    """A POST as real clients send it: a fresh Idempotency-Key every time."""
    headers = {"Idempotency-Key": str(uuid.uuid4()), **kw.pop("headers", {})}
    return client.post(path, json=body, headers=headers, **kw)


def poll(
    client: httpx.Client,
    path: str,
    done: Callable[[dict[str, Any]], bool],
    *,
    timeout: float = 120,
    every: float = 0.1,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(path)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        if done(found):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(every)


def error_code(answer: httpx.Response) -> str:
    body = answer.json()
    assert set(body) == {"error"}, body
    assert body["error"]["requestId"] == answer.headers["x-request-id"], body
    return str(body["error"]["code"])


# -- helpers the error, scope, page, concurrency and source suites share -------------------------

RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")
SOURCE_TEXT = (
    "Maya Okafor runs the night shift at the Lagos lighthouse. Her brother Tunde Okafor fixes "
    "the lamp. 'We keep the light for the ships,' Maya says. Tunde worries about the storm "
    "coming from Accra."
)
TARGET = {
    "audience": "families listening together",
    "objective": "tell the lighthouse story",
    "outcome": "listen to the end",
}
TABLE_READ = {"type": "table_read", "mode": "documentary", "durationSeconds": 10}


def extra_key(
    sh: SleeperHitServer, tenant: Tenant, scopes: Sequence[str] | None = ALL_SCOPES, **kw: Any
) -> Tenant:
    """Another key of the same account (``scopes=None``: the default scopes)."""

    async def make(rt: Runtime) -> Tenant:
        issued = await rt.keys.create(tenant.account_id, FAMILY, scopes=scopes, **kw)
        return Tenant(tenant.account_id, issued.raw, issued.info.id)

    return sh.core(make)


def expect_error(answer: httpx.Response, code: str, status: int | None = None) -> dict[str, Any]:
    """The reference's envelope with ``code`` at the status its table gives (or ``status``, for
    routing errors), the request id mirrored in ``X-Request-Id``; returns the error object."""
    from contracts.sleeperhit import ERROR_CODES

    assert answer.status_code == (status or ERROR_CODES[code]), (answer.status_code, answer.text)
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    body = answer.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, error
    assert set(error) <= {"code", "message", "requestId", "details"}, error
    assert {"code", "message", "requestId"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    assert error["requestId"] and error["requestId"] == answer.headers["x-request-id"], error
    if "details" in error:
        assert isinstance(error["details"], dict), error
    return dict(error)


def rate_headers(answer: httpx.Response) -> tuple[int, int, int]:
    """RateLimit-Limit, -Remaining, -Reset as integers (asserting all three are there)."""
    missing = [h for h in RATE_HEADERS if h not in answer.headers]
    assert not missing, (
        answer.request.method,
        answer.request.url.path,
        answer.status_code,
        missing,
    )
    limit, remaining, reset = (int(answer.headers[h]) for h in RATE_HEADERS)
    assert limit > 0 and 0 <= remaining <= limit and reset >= 0, (limit, remaining, reset)
    return limit, remaining, reset


def new_project(client: httpx.Client, name: str = "Cape Lumen") -> str:
    answer = post(client, "/story-projects", {"name": name})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["project"]["id"])


def text_source(client: httpx.Client, project_id: str, content: str = SOURCE_TEXT) -> str:
    answer = post(
        client, f"/story-projects/{project_id}/sources", {"type": "text", "content": content}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["source"]["id"])


def new_plan(
    client: httpx.Client,
    project_id: str,
    *,
    sources: Sequence[str] = (),
    auto: bool = True,
    wait: Sequence[str] | None = ("APPROVED", "REQUIRES_APPROVAL", "FAILED"),
    requests: Sequence[dict[str, Any]] = (TABLE_READ,),
) -> dict[str, Any]:
    """A plan (``auto``: approved on its own), polled until one of ``wait`` (None: as created)."""
    body = {
        "target": TARGET,
        "artifactRequests": list(requests),
        "sourceIds": list(sources),
        "autoApprove": auto,
    }
    answer = post(client, f"/story-projects/{project_id}/story-plans", body)
    assert answer.status_code == 200, answer.text
    plan: dict[str, Any] = answer.json()["plan"]
    if wait is None:
        return plan
    found = poll(client, f"/story-plans/{plan['id']}", lambda b: b["plan"]["status"] in wait)
    return dict(found["plan"])


def approved_plan(client: httpx.Client, name: str = "Cape Lumen") -> dict[str, Any]:
    """A new project with one text source and an auto-approved plan over it."""
    project_id = new_project(client, name)
    source_id = text_source(client, project_id)
    poll(
        client,
        f"/story-projects/{project_id}/sources/{source_id}",
        lambda b: b["source"]["status"] == "READY",
    )
    plan = new_plan(client, project_id, sources=[source_id])
    assert plan["status"] == "APPROVED", plan
    return plan


def wait_job(client: httpx.Client, job_id: str, statuses: Sequence[str]) -> dict[str, Any]:
    found = poll(client, f"/story-jobs/{job_id}", lambda b: b["job"]["status"] in statuses)
    return dict(found["job"])


def balance(client: httpx.Client) -> int:
    answer = client.get("/credits")
    assert answer.status_code == 200, answer.text
    return int(answer.json()["credits"]["balance"])


class HoldServer:
    """A loopback HTTP server (on ``127.0.0.2``, so a SleeperHit server allowed to fetch from
    that address alone still refuses 127.0.0.1) whose ``/hold/<name>`` answers a short text
    only once the test releases ``name``. A URL source pointing there keeps a worker busy for as
    long as the test wants: with ``STORYGATE_JOB_CONCURRENCY=1`` every job created meanwhile
    stays queued (RESERVED)."""

    HOST = "127.0.0.2"
    TEXT = b"Ruth Fielding returns to Cape Lumen with a warning about the cracked lens."

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self._lock = threading.Lock()
        self._gates: dict[str, tuple[threading.Event, threading.Event]] = {}
        hold = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                entered, release = hold.gate(self.path.rsplit("/", 1)[-1])
                entered.set()
                release.wait(30)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(hold.TEXT)))
                self.end_headers()
                self.wfile.write(hold.TEXT)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((self.HOST, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def env(self) -> dict[str, str]:
        """What a SleeperHit server needs to fetch from here, one job at a time."""
        return {
            "STORYGATE_JOB_CONCURRENCY": "1",
            "STORYGATE_FETCH_ALLOWED_NETWORKS": f"{self.HOST}/32",
        }

    def gate(self, name: str) -> tuple[Any, Any]:
        import threading

        with self._lock:
            if name not in self._gates:
                self._gates[name] = (threading.Event(), threading.Event())
            return self._gates[name]

    def url(self, name: str) -> str:
        return f"http://{self.HOST}:{self.port}/hold/{name}"

    def close(self) -> None:
        with self._lock:
            for _, release in self._gates.values():
                release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def hold_worker(client: httpx.Client, project_id: str, hold: HoldServer) -> Callable[[], str]:
    """Occupy the server's only worker with a URL source held at ``hold``; returns the function
    that lets it go (and gives the source's id). Always call it, in a ``finally``."""
    name = uuid.uuid4().hex
    entered, release = hold.gate(name)
    answer = post(
        client, f"/story-projects/{project_id}/sources", {"type": "url", "uri": hold.url(name)}
    )
    if answer.status_code != 200:
        release.set()
        raise AssertionError(answer.text)
    source_id = str(answer.json()["source"]["id"])

    def let_go() -> str:
        release.set()
        return source_id

    if not entered.wait(20):
        let_go()
        raise AssertionError("the held source never reached the hold server")
    return let_go
