"""Every error the StoryMint reference names (400, 401, 403, 404, 429), in its envelope
``{"error": "...", "detail": "..."}``, and the promise that a refused request changes nothing:
no job, no quota spent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.runtime import Runtime
from tests.e2e.storymint_support import Account, StoryMint, assert_envelope, start_storymint

BOOKS = "storymint.books"


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoryMint]:
    family = start_storymint(
        tmp_path_factory.mktemp("storymint-errors"),
        {"max": "max"},
        {"dev": "developer", "other": "max", "limited": "max"},
    )
    yield family
    family.stop()


def _unchanged(sm: StoryMint, account: Account, before: tuple[Any, ...]) -> None:
    assert (sm.job_count(account), sm.wallet(account, BOOKS)) == before


def _snapshot(sm: StoryMint, account: Account) -> tuple[Any, ...]:
    return sm.job_count(account), sm.wallet(account, BOOKS)


def test_401_for_missing_wrong_revoked_or_foreign_keys(sm: StoryMint) -> None:
    owner = sm.accounts["max"]
    before = _snapshot(sm, owner)
    url = f"{sm.base}/api/ping"
    assert_envelope(httpx.get(url), 401)
    assert_envelope(httpx.get(url, headers={"X-API-Key": "sm_your_key_here"}), 401)
    assert_envelope(httpx.get(url, headers={"X-API-Key": "sm_" + "A" * 40}), 401)
    assert_envelope(httpx.get(url, headers={"Authorization": "Bearer sm_" + "B" * 40}), 401)
    assert httpx.get(url, headers={"Authorization": f"Bearer {owner.key}"}).status_code == 200

    # A key of another family, and a revoked key (issued and revoked as the CLI does it).
    async def keys(rt: Runtime) -> tuple[str, str, str]:
        foreign = await rt.accounts.create("cbk", {"childrenbooks": "pro"})
        cbk = await rt.keys.create(foreign.id, "childrenbooks")
        doomed = await rt.keys.create(owner.id, "storymint", label="to-revoke")
        return cbk.raw, doomed.info.id, doomed.raw

    cbk_key, key_id, raw = sm.core(keys)
    assert_envelope(httpx.get(url, headers={"X-API-Key": cbk_key}), 401)
    assert_envelope(httpx.get(url, headers={"Authorization": f"Bearer {cbk_key}"}), 401)
    assert httpx.get(url, headers={"X-API-Key": raw}).status_code == 200

    async def revoke(rt: Runtime) -> None:
        await rt.keys.revoke(key_id)

    sm.core(revoke)
    time.sleep(1.1)  # another process revoked it: the server's 1 s key cache must lapse
    assert_envelope(httpx.get(url, headers={"X-API-Key": raw}), 401)

    # Refused before anything is parsed or spent.
    body = {"prompt": "A fox", "num_pages": 2}
    assert_envelope(httpx.post(f"{sm.base}/api/generate", json=body), 401)
    assert_envelope(httpx.post(f"{sm.base}/api/generate", content=b"{nope"), 401)
    assert_envelope(httpx.get(f"{sm.base}/api/status/{'ab' * 20}"), 401)
    assert_envelope(httpx.get(f"{sm.base}/api/models", headers={"X-API-Key": raw}), 401)
    _unchanged(sm, owner, before)


BAD_BODIES: list[tuple[str, Any]] = [
    ("malformed JSON", b'{"prompt": "A fox",'),
    ("not an object", b'["A fox"]'),
    ("empty body", b""),
    ("missing prompt", {"book_format": "picture"}),
    ("empty prompt", {"prompt": ""}),
    ("blank prompt", {"prompt": "   \n "}),
    ("prompt over 600", {"prompt": "x" * 601}),
    ("prompt not a string", {"prompt": 42}),
    ("num_pages as text", {"prompt": "A fox", "num_pages": "12"}),
    ("num_pages as float", {"prompt": "A fox", "num_pages": 12.5}),
    ("num_pages zero", {"prompt": "A fox", "num_pages": 0}),
    ("num_pages bool", {"prompt": "A fox", "num_pages": True}),
    ("unknown format", {"prompt": "A fox", "book_format": "poster"}),
    ("unknown art style", {"prompt": "A fox", "art_style": "oil"}),
    ("unknown save mode", {"prompt": "A fox", "save_mode": "forever"}),
    ("author not a string", {"prompt": "A fox", "author": ["me"]}),
    ("NUL in prompt", {"prompt": "A fox\u0000"}),
]


def test_400_bad_generate_input_changes_nothing(sm: StoryMint) -> None:
    owner = sm.accounts["max"]
    before = _snapshot(sm, owner)
    with httpx.Client(base_url=sm.base, headers=owner.headers) as client:
        for name, body in BAD_BODIES:
            if isinstance(body, bytes):
                resp = client.post(
                    "/api/generate", content=body, headers={"Content-Type": "application/json"}
                )
            else:
                resp = client.post("/api/generate", json=body)
            assert resp.status_code == 400, (name, resp.text)
            assert_envelope(resp, 400)
        # 600 characters exactly is fine; the edge is documented.
        ok = client.post("/api/generate", json={"prompt": "y" * 600, "num_pages": 1})
        assert ok.status_code == 200, ok.text
    spendable, used = before[1]
    assert sm.job_count(owner) == before[0] + 1
    assert sm.wallet(owner, BOOKS) == (spendable - 1, used + 1)


def test_400_chat_bad_input(sm: StoryMint) -> None:
    owner = sm.accounts["max"]
    job_id = sm.generate(owner, num_pages=1)
    sm.wait(owner, job_id)
    url = f"{sm.base}/api/book/{job_id}/chat"
    for body in ({}, {"message": ""}, {"message": "  "}, {"message": 7}, {"msg": "hi"}):
        assert_envelope(httpx.post(url, headers=owner.headers, json=body), 400)
    assert_envelope(httpx.get(f"{sm.base}/api/book/{job_id}/image/x.png?expires=soon"), 400)


def test_403_format_not_on_the_plan_spends_nothing(sm: StoryMint) -> None:
    dev = sm.accounts["dev"]
    before = _snapshot(sm, dev)
    for fmt in ("comic", "chapter_comic", "novel"):
        resp = httpx.post(
            f"{sm.base}/api/generate", headers=dev.headers, json={"prompt": "A", "book_format": fmt}
        )
        body = assert_envelope(resp, 403)
        assert "Developer" in body["error"] and fmt in body["error"]
        assert "picture" in body["detail"]
    _unchanged(sm, dev, before)


ROUTES = [
    ("GET", "/api/status/{id}"),
    ("GET", "/api/book/{id}"),
    ("GET", "/api/download/{id}"),
    ("POST", "/api/audiobook/{id}"),
    ("POST", "/api/book/{id}/chat"),
    ("GET", "/api/book/{id}/image/page_01.png"),
    ("GET", "/api/stream/{id}"),
]


def test_404_for_unknown_and_foreign_jobs(sm: StoryMint) -> None:
    owner, other = sm.accounts["max"], sm.accounts["other"]
    job_id = sm.generate(owner, num_pages=1)
    assert sm.wait(owner, job_id)["status"] == "done"
    with httpx.Client(base_url=sm.base, headers=other.headers) as client:
        for method, template in ROUTES:
            for target in (job_id, "ab" * 20, "nope"):
                resp = client.request(
                    method, template.format(id=target), json={"message": "make it rhyme"}
                )
                assert resp.status_code == 404, (method, template, target, resp.text)
                assert_envelope(resp, 404)
    # The owner still sees it: the 404s were about ownership, not existence.
    status = httpx.get(f"{sm.base}/api/status/{job_id}", headers=owner.headers)
    assert status.json()["status"] == "done"
    # Unknown paths and methods under /api answer in the same envelope.
    assert_envelope(httpx.get(f"{sm.base}/api/no/such/thing", headers=owner.headers), 404)
    assert_envelope(httpx.get(f"{sm.base}/api"), 404)
    assert_envelope(httpx.delete(f"{sm.base}/api/generate", headers=owner.headers), 405)


def test_400_before_the_book_is_done(sm: StoryMint) -> None:
    owner = sm.accounts["max"]

    async def unstarted(rt: Runtime) -> tuple[str, str]:
        # Never submitted, so it stays queued; the second one failed.
        params = {"prompt": "A fox", "format": "picture", "units": 2}
        queued = await rt.jobs.create(owner.id, "storymint", "book", params)
        failed = await rt.jobs.create(owner.id, "storymint", "book", params)
        await rt.jobs.fail(failed.id, "upstream_error", "the illustrator went away")
        return queued.id, failed.id

    queued, failed = sm.core(unstarted)
    with httpx.Client(base_url=sm.base, headers=owner.headers) as client:
        status = client.get(f"/api/status/{queued}").json()
        assert (status["status"], status["pct"], status["can_download"]) == ("running", 0, False)
        status = client.get(f"/api/status/{failed}").json()
        assert (status["status"], status["msg"]) == ("error", "the illustrator went away")
        for job_id in (queued, failed):
            for method, path in [
                ("GET", f"/api/book/{job_id}"),
                ("GET", f"/api/download/{job_id}"),
                ("POST", f"/api/audiobook/{job_id}"),
                ("POST", f"/api/book/{job_id}/chat"),
            ]:
                resp = client.request(method, path, json={"message": "happier"})
                body = assert_envelope(resp, 400)
                assert "not available" in body["error"]
        assert client.get(f"/api/status/{queued}").json()["status"] == "running"


def _exhaust(client: httpx.Client) -> httpx.Response:
    for _ in range(250):  # 120 a minute: a minute boundary may pass once
        resp = client.get("/api/models")
        if resp.status_code == 429:
            return resp
        assert resp.status_code == 200
    raise AssertionError("no 429 after 250 requests")


def test_429_rate_limit_with_headers(sm: StoryMint) -> None:
    limited = sm.accounts["limited"]
    before = _snapshot(sm, limited)
    with httpx.Client(base_url=sm.base, headers=limited.headers) as client:
        first = client.get("/api/models")
        assert first.headers["X-RateLimit-Limit"] == "120"
        assert int(first.headers["X-RateLimit-Remaining"]) <= 119
        assert 1 <= int(first.headers["X-RateLimit-Reset"]) <= 60
        refused = _exhaust(client)
        assert_envelope(refused, 429)
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        # Refused before anything is parsed or spent (retried once should the minute turn).
        for _ in range(2):
            gen = client.post("/api/generate", json={"prompt": "A fox", "num_pages": 1})
            if gen.status_code == 429:
                break
            assert gen.status_code == 200
            before = (before[0] + 1, sm.wallet(limited, BOOKS))
            _exhaust(client)
        assert_envelope(gen, 429)
        assert "Retry-After" in gen.headers
    _unchanged(sm, limited, before)
    # Another key is counted on its own.
    other = httpx.get(f"{sm.base}/api/models", headers=sm.accounts["other"].headers)
    assert other.status_code == 200
