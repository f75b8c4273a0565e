"""ChildrenBooks errors that need the server's insides steered: a request still holding its
Idempotency-Key (ALREADY_EXISTS), a crash (INTERNAL_ERROR), an unreachable Redis (dedup skipped,
or EXTERNAL_SERVICE_ERROR when the limiter must refuse), a queue that will not take the job, and
a generation that failed upstream. The whole app runs in-process over ASGI, lifespan included."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from adapters.childrenbooks.service import job_params
from adapters.childrenbooks.validation import canonical_body, validate_story
from gateway.app import create_app
from gateway.core.errors import Unavailable
from gateway.core.idempotency import Acquired, Idempotency, fingerprint
from gateway.runtime import Runtime
from gateway.settings import load_settings
from tests.e2e.childrenbooks_support import BODY, UNIT, Tenant, assert_error, rid

DEAD_REDIS = "redis://127.0.0.1:1/0"


@asynccontextmanager
async def served(tmp_path: Path, **overrides: Any) -> AsyncIterator[tuple[Any, Runtime]]:
    settings = load_settings(
        env={}, backends="instant", data_dir=tmp_path / "data", demo=False, **overrides
    )
    app = create_app(settings)
    async with AsyncTestClient(app=app, timeout=30) as client:
        yield client, app.state.runtime


async def tenant_of(rt: Runtime, plan: str = "premium") -> Tenant:
    account = await rt.accounts.create(f"cb-{uuid.uuid4().hex[:8]}", {"childrenbooks": plan})
    issued = await rt.keys.create(account.id, "childrenbooks")
    return Tenant(account.id, issued.raw, plan)


async def held(rt: Runtime, tenant: Tenant) -> tuple[int | None, int]:
    balance = await rt.ledger.balance(tenant.account_id, UNIT)
    jobs = await rt.jobs.list(tenant.account_id, family="childrenbooks")
    return balance.spendable, len(jobs)


async def test_already_exists_while_the_first_request_holds_the_key(tmp_path: Path) -> None:
    async with served(tmp_path) as (client, rt):
        tenant = await tenant_of(rt)
        rt.idempotency = Idempotency(rt.idempotency.store, wait_seconds=0.3)
        key = "still-running"
        fp = fingerprint("POST", "/v1/stories", canonical_body(BODY))
        lease = await rt.idempotency.store.begin(tenant.account_id, "childrenbooks", key, fp)
        assert isinstance(lease, Acquired)

        request_id = rid()
        headers = {**tenant.headers, "Idempotency-Key": key, "X-Request-Id": request_id}
        resp = await client.post("/v1/stories", json=BODY, headers=headers)
        assert_error(resp, 409, "ALREADY_EXISTS", request_id)
        assert await held(rt, tenant) == (2000, 0)

        # A different body under the same key is still a conflict of another kind.
        other = await client.post("/v1/stories", json={**BODY, "pageCount": 9}, headers=headers)
        assert_error(other, 409, "IDEMPOTENCY_CONFLICT", request_id)

        await rt.idempotency.store.abandon(lease)  # the first request gave up
        resp = await client.post("/v1/stories", json=BODY, headers=headers)
        assert resp.status_code == 202
        assert await held(rt, tenant) == (2000 - 7, 1)


async def test_unexpected_exceptions_are_internal_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with served(tmp_path) as (client, rt):
        tenant = await tenant_of(rt)

        async def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(rt.jobs, "create", broken)
        monkeypatch.setattr(rt.jobs, "get", broken)
        request_id = rid()
        resp = await client.post(
            "/v1/stories", json=BODY, headers={**tenant.headers, "X-Request-Id": request_id}
        )
        error = assert_error(resp, 500, "INTERNAL_ERROR", request_id)
        assert "disk" not in json.dumps(error)  # no internals leak
        # The hold taken before the crash was given back.
        assert (await rt.ledger.balance(tenant.account_id, UNIT)).spendable == 2000
        resp = await client.get(f"/v1/stories/{uuid.uuid4()}", headers=tenant.headers)
        assert_error(resp, 500, "INTERNAL_ERROR")


async def test_a_job_the_queue_refuses_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with served(tmp_path) as (client, rt):
        tenant = await tenant_of(rt)

        async def refuse(job_id: str) -> None:
            raise Unavailable("queue down")

        monkeypatch.setattr(rt, "submit", refuse)
        resp = await client.post("/v1/stories", json=BODY, headers=tenant.headers)
        assert_error(resp, 503, "EXTERNAL_SERVICE_ERROR")
        assert (await rt.ledger.balance(tenant.account_id, UNIT)).spendable == 2000
        library = await client.get("/v1/stories", headers=tenant.headers)
        assert library.json()["data"]["stories"] == []
        # No hold left behind, and the day's book count (the daily cap) is untouched.
        assert await rt.jobs.count_today(tenant.account_id, "childrenbooks", "book") == 0
        balance = await rt.ledger.balance(tenant.account_id, UNIT)
        assert balance.spendable == 2000 and balance.monthly_used == 0


async def test_redis_down_skips_dedup_but_creates(tmp_path: Path) -> None:
    """The reference: "Requires API-side Redis; if Redis is down, deduplication is skipped."
    The limiter is told to allow when Redis is unreachable, so only dedup is lost."""
    async with served(tmp_path, redis_url=DEAD_REDIS, ratelimit_on_redis_error="allow") as (
        client,
        rt,
    ):
        tenant = await tenant_of(rt)
        headers = {**tenant.headers, "Idempotency-Key": "same-key"}
        first = await client.post("/v1/stories", json=BODY, headers=headers)
        second = await client.post("/v1/stories", json=BODY, headers=headers)
        for resp in (first, second):
            assert resp.status_code == 202, resp.text
            assert resp.headers["x-ratelimit-limit"] == "200"
        assert first.json()["data"]["bookId"] != second.json()["data"]["bookId"]
        assert await held(rt, tenant) == (2000 - 14, 2)


async def test_limiter_down_with_deny_is_external_service_error(tmp_path: Path) -> None:
    async with served(tmp_path, redis_url=DEAD_REDIS, ratelimit_on_redis_error="deny") as (
        client,
        rt,
    ):
        tenant = await tenant_of(rt)
        for method, path in (
            ("POST", "/v1/stories"),
            ("GET", "/v1/stories"),
            ("GET", f"/v1/stories/{uuid.uuid4()}"),
            ("GET", "/v1/stories/x/y/z"),
        ):
            request_id = rid()
            headers = {**tenant.headers, "X-Request-Id": request_id}
            resp = await client.request(method, path, json=BODY, headers=headers)
            assert_error(resp, 503, "EXTERNAL_SERVICE_ERROR", request_id)
            assert resp.headers["x-ratelimit-remaining"] == "0"
            assert 1 <= int(resp.headers["retry-after"]) <= 60
        assert await held(rt, tenant) == (2000, 0)


async def test_a_generation_that_failed_upstream_is_reported_failed(tmp_path: Path) -> None:
    async with served(tmp_path) as (client, rt):
        tenant = await tenant_of(rt)
        story = validate_story(BODY, None)
        failed, canceled = str(uuid.uuid4()), str(uuid.uuid4())
        for book_id in (failed, canceled):
            params = job_params(story, str(uuid.uuid4()))
            await rt.jobs.create(tenant.account_id, "childrenbooks", "book", params, job_id=book_id)
        await rt.jobs.start(failed)
        await rt.jobs.progress(failed, pct=40, data={"title": "Finn's Carrot Patch"})
        await rt.jobs.fail(failed, "upstream_error", "The illustration provider timed out.")
        await rt.jobs.cancel(canceled)

        resp = await client.get(f"/v1/stories/{failed}", headers=tenant.headers)
        assert resp.status_code == 200
        data = resp.json()["data"]
        assert data["status"] == "failed"
        assert data["errorMessage"] == "The illustration provider timed out."
        assert data["completedAt"] is None and data["coverImage"] is None
        assert data["progress"] == 40 and data["title"] == "Finn's Carrot Patch"

        resp = await client.get(f"/v1/stories/{canceled}", headers=tenant.headers)
        assert resp.json()["data"]["status"] == "failed"
        assert resp.json()["data"]["errorMessage"] == "Generation was canceled."
