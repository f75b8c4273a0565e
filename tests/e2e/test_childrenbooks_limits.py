"""ChildrenBooks limits on a live server whose limiter and idempotency store are in Redis (the
database stays SQLite): idempotent creates under a burst, the per-minute limit, the daily book
cap and credits."""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from gateway.runtime import Runtime
from tests.conftest import REDIS_URL, _redis_available, need
from tests.e2e.childrenbooks_support import (
    BODY,
    UNIT,
    ChildrenBooks,
    Tenant,
    assert_error,
    assert_rate_headers,
    rid,
    start,
)


@pytest.fixture(scope="module")
def prefix() -> Iterator[str]:
    need(asyncio.run(_redis_available()))
    value = "sgtest:cb:" + secrets.token_hex(6)
    yield value

    async def clean() -> None:
        import redis.asyncio as aioredis

        client = aioredis.from_url(REDIS_URL)
        async for key in client.scan_iter(match=value + "*", count=500):
            await client.delete(key)
        await client.aclose()

    asyncio.run(clean())


@pytest.fixture(scope="module")
def cb(tmp_path_factory: pytest.TempPathFactory, prefix: str) -> Iterator[ChildrenBooks]:
    env = {"STORYGATE_REDIS_URL": REDIS_URL, "STORYGATE_REDIS_PREFIX": prefix}
    service = start(tmp_path_factory.mktemp("cb-limits"), env)
    yield service
    service.stop()


async def _burst(base: str, tenant: Tenant, key: str, n: int) -> list[httpx.Response]:
    headers = {**tenant.headers, "Idempotency-Key": key}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        return await asyncio.gather(
            *(http.post("/v1/stories", json=BODY, headers=headers) for _ in range(n))
        )


def test_fifty_concurrent_duplicates_make_one_book_and_one_charge(cb: ChildrenBooks) -> None:
    (tenant,) = cb.tenants("premium")
    key = f"burst-{secrets.token_hex(8)}"
    answers = asyncio.run(_burst(cb.base, tenant, key, 50))

    assert [a.status_code for a in answers] == [202] * 50, [a.text for a in answers]
    ids = {(a.json()["data"]["taskId"], a.json()["data"]["bookId"]) for a in answers}
    assert len(ids) == 1
    assert sum(a.headers.get("idempotent-replayed") != "true" for a in answers) == 1
    assert cb.book_count(tenant) == 1
    assert cb.spendable(tenant) == 2000 - BODY["pageCount"]

    # Later, the same key and body still give the original ids; another body is a conflict.
    with cb.client(tenant) as http:
        again = http.post("/v1/stories", json=BODY, headers={"Idempotency-Key": key})
        assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
        assert (again.json()["data"]["taskId"], again.json()["data"]["bookId"]) in ids
        # Key order and spacing are not a different body.
        reordered = json.dumps(dict(reversed(list(BODY.items()))), indent=3)
        same = http.post(
            "/v1/stories",
            content=reordered,
            headers={"Idempotency-Key": key, "content-type": "application/json"},
        )
        assert same.status_code == 202 and same.headers["idempotent-replayed"] == "true"
        request_id = rid()
        conflict = http.post(
            "/v1/stories",
            json={**BODY, "pageCount": 8},
            headers={"Idempotency-Key": key, "X-Request-Id": request_id},
        )
        assert_error(conflict, 409, "IDEMPOTENCY_CONFLICT", request_id)
        # Keys belong to their account: another tenant's identical key is a fresh create.
        (other,) = cb.tenants("pro")
        fresh = http.post(
            "/v1/stories", json=BODY, headers={**other.headers, "Idempotency-Key": key}
        )
        assert fresh.status_code == 202 and "idempotent-replayed" not in fresh.headers
        assert (fresh.json()["data"]["taskId"], fresh.json()["data"]["bookId"]) not in ids
    assert cb.book_count(tenant) == 1
    assert cb.spendable(tenant) == 2000 - BODY["pageCount"]


def _seconds_left_in_minute() -> float:
    return 60 - time.time() % 60


def test_sixty_first_request_in_a_minute_is_refused_on_pro(cb: ChildrenBooks) -> None:
    (tenant,) = cb.tenants("pro")
    if _seconds_left_in_minute() < 6:  # the window is aligned to the minute: start a fresh one
        time.sleep(_seconds_left_in_minute() + 0.2)
    with cb.client(tenant) as http:
        for i in range(1, 61):
            # Every request under /v1/stories counts, whatever it is and however it ends.
            if i == 1:
                resp = http.post("/v1/stories", json={**BODY, "pageCount": 5})
                assert resp.status_code == 202
            elif i % 10 == 0:
                resp = http.get("/v1/stories/no-such-thing/here")
                assert resp.status_code == 404
            else:
                resp = http.get("/v1/stories")
                assert resp.status_code == 200
            assert_rate_headers(resp)
            assert resp.headers["x-ratelimit-limit"] == "60"
            assert resp.headers["x-ratelimit-remaining"] == str(60 - i)
            assert "retry-after" not in resp.headers
        request_id = rid()
        refused = http.post("/v1/stories", json=BODY, headers={"X-Request-Id": request_id})
        expected_wait = math.ceil(_seconds_left_in_minute())
    error = assert_error(refused, 429, "RATE_LIMIT_EXCEEDED", request_id)
    assert error["meta"]["limit"] == 60
    assert refused.headers["x-ratelimit-limit"] == "60"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    retry_after = int(refused.headers["retry-after"])
    assert abs(retry_after - expected_wait) <= 1
    assert refused.headers["x-ratelimit-reset"] == refused.headers["retry-after"]
    assert cb.book_count(tenant) == 1
    assert cb.spendable(tenant) == 500 - 5


def test_daily_book_cap(cb: ChildrenBooks, prefix: str) -> None:
    (tenant,) = cb.tenants("pro")

    async def use_49_books(rt: Runtime) -> None:
        # The cap counts the account's books created today, durably, in the jobs table.
        for _ in range(49):
            await rt.jobs.create(tenant.account_id, "childrenbooks", "book", {}, runner="none")

    cb.core(use_49_books)
    with cb.client(tenant) as http:
        fiftieth = http.post("/v1/stories", json={**BODY, "pageCount": 5})
        assert fiftieth.status_code == 202, fiftieth.text
        request_id = rid()
        refused = http.post("/v1/stories", json=BODY, headers={"X-Request-Id": request_id})
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        until_midnight = (midnight + timedelta(days=1) - datetime.now(UTC)).total_seconds()
        # Reading is not creating: GETs still pass.
        assert http.get("/v1/stories").status_code == 200
    error = assert_error(refused, 429, "DAILY_CAP_EXCEEDED", request_id)
    assert error["meta"] == {"limit": 50, "window": "day"}
    assert refused.headers["x-ratelimit-limit"] == "50"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert abs(int(refused.headers["retry-after"]) - until_midnight) <= 2
    # The refused book was neither created nor charged.
    assert cb.book_count(tenant) == 50
    assert cb.spendable(tenant) == 500 - 5


def test_insufficient_credits(cb: ChildrenBooks) -> None:
    (tenant,) = cb.tenants("pro")

    async def spend(rt: Runtime) -> None:
        await rt.ledger.charge(tenant.account_id, UNIT, 495, note="test")

    cb.core(spend)
    with cb.client(tenant) as http:
        request_id = rid()
        short = http.post(
            "/v1/stories", json=BODY, headers={"X-Request-Id": request_id, "Idempotency-Key": "k1"}
        )
        error = assert_error(short, 402, "INSUFFICIENT_CREDITS", request_id)
        assert error["meta"] == {"required": 7, "available": 5}
        assert cb.held(tenant) == (5, 0)
        # Nothing was stored under the key: the same request goes through once it fits.
        exact = http.post("/v1/stories", json={**BODY, "pageCount": 5})
        assert exact.status_code == 202
        assert cb.held(tenant) == (0, 1)
        assert_error(
            http.post("/v1/stories", json={**BODY, "pageCount": 5}), 402, "INSUFFICIENT_CREDITS"
        )

        async def top_up(rt: Runtime) -> None:
            await rt.ledger.grant(tenant.account_id, UNIT, 7, note="test")

        cb.core(top_up)
        retried = http.post("/v1/stories", json=BODY, headers={"Idempotency-Key": "k1"})
        assert retried.status_code == 202 and "idempotent-replayed" not in retried.headers
    assert cb.held(tenant) == (0, 2)
