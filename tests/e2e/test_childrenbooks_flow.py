"""ChildrenBooks v1 end to end: the reference's own cURL commands, run unchanged but for the host
and the key, create a book and poll it to ``completed``; its pages grow while it is written, its
images open, and it shows up in the library."""

from __future__ import annotations

import io
import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from adapters.childrenbooks.service import job_params
from adapters.childrenbooks.validation import validate_story
from adapters.childrenbooks.views import slugify
from gateway.runtime import Runtime
from tests.e2e.childrenbooks_support import (
    BODY,
    REFERENCE,
    UUID_RE,
    ChildrenBooks,
    assert_error,
    assert_rate_headers,
    parallel,
    rid,
    start,
)

# Copied from the reference, byte for byte.
CURL_CREATE = """curl -X POST https://api.childrenbooks.online/v1/stories \\
  -H "x-api-key: cbk_live_XXXXXXXXXXXX" \\
  -H "content-type: application/json" \\
  -d '{
    "storyIdea": "A little fox who learns to share carrots with forest friends.",
    "ageRange": "4-7",
    "style": "watercolor",
    "pageCount": 7,
    "tone": "heartwarming",
    "language": "english"
  }'"""
CURL_POLL = """curl https://api.childrenbooks.online/v1/stories/<bookId> \\
  -H "x-api-key: cbk_live_XXXXXXXXXXXX\""""
HOST = "https://api.childrenbooks.online"
KEY = "cbk_live_XXXXXXXXXXXX"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
STATUSES = {"pending", "processing", "completed", "failed"}


@pytest.fixture(scope="module")
def cb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChildrenBooks]:
    service = start(tmp_path_factory.mktemp("cb-flow"))
    yield service
    service.stop()


def curl(command: str, base: str, key: str, book_id: str = "") -> dict:
    line = command.replace(HOST, base).replace(KEY, key).replace("<bookId>", book_id)
    out = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_commands_are_the_references() -> None:
    # The seeds sit beside the repository (CI clones it next to ../shared); a missing reference
    # is a broken checkout, never a reason to pass without comparing.
    if not REFERENCE.is_file():
        pytest.fail(
            f"the ChildrenBooks reference {REFERENCE} is missing: the shared seeds must be "
            f"checked out next to the repository, in {REFERENCE.parent}"
        )
    text = REFERENCE.read_text()
    assert CURL_CREATE in text
    assert CURL_POLL in text


def test_reference_curl_create_then_poll_to_completed(cb: ChildrenBooks) -> None:
    tenant = cb.cli_tenant("curl-reader", "pro")
    assert cb.spendable(tenant) == 500

    created = curl(CURL_CREATE, cb.base, tenant.key)
    assert created["ok"] is True and isinstance(created["requestId"], str)
    data = created["data"]
    assert set(data) == {"taskId", "bookId", "status"}
    assert data["status"] == "pending"
    assert UUID_RE.match(data["taskId"]) and UUID_RE.match(data["bookId"])
    assert data["taskId"] != data["bookId"]

    seen: list[tuple[str, int, int]] = []
    deadline = time.monotonic() + 30
    while True:
        polled = curl(CURL_POLL, cb.base, tenant.key, data["bookId"])
        assert polled["ok"] is True
        story = polled["data"]
        seen.append((story["status"], story["progress"], len(story["pages"])))
        assert story["status"] in STATUSES
        if story["status"] in ("completed", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.03)

    assert story["status"] == "completed", story
    # Nothing ever goes backwards (growth page by page: see the next test, which can pace it).
    counts = [n for _, _, n in seen]
    progress = [p for _, p, _ in seen]
    assert counts == sorted(counts) and progress == sorted(progress)

    assert story["id"] == data["bookId"]
    assert story["progress"] == 100
    for field, value in BODY.items():
        assert story[field] == value
    assert story["source"] == "api" and story["storageProvider"] == "local"
    assert story["errorMessage"] is None
    assert isinstance(story["title"], str) and story["title"]
    assert story["slug"] == slugify(story["title"])
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", story["slug"])
    assert isinstance(story["summary"], str) and story["summary"]
    for stamp in ("createdAt", "updatedAt", "completedAt"):
        assert ISO.match(story[stamp]), story[stamp]
    assert story["createdAt"] <= story["completedAt"] <= story["updatedAt"]

    # pageCount includes the cover: 7 pages are the cover and six content pages.
    pages = story["pages"]
    assert [p["index"] for p in pages] == list(range(BODY["pageCount"] - 1))
    with cb.client() as http:  # no key: the signed links are enough
        for page in pages:
            assert set(page) == {"index", "title", "content", "imageUrl"}
            assert isinstance(page["content"], str) and len(page["content"]) > 20
            image = http.get(page["imageUrl"])
            assert image.status_code == 200, image.text
            assert Image.open(io.BytesIO(image.content)).size[0] > 0
        cover = http.get(story["coverImage"])
        assert cover.status_code == 200 and cover.headers["content-type"] == "image/jpeg"
        Image.open(io.BytesIO(cover.content)).verify()
        assert_rate_headers(cover)

    # One credit per page, cover included.
    assert cb.spendable(tenant) == 500 - BODY["pageCount"]

    with cb.client(tenant) as http:
        library = http.get("/v1/stories")
    assert library.status_code == 200
    books = library.json()["data"]["stories"]
    assert [b["id"] for b in books] == [data["bookId"]]
    assert books[0]["source"] == "api" and books[0]["status"] == "completed"
    assert "pages" not in books[0]


def test_pages_grow_while_the_book_is_written(cb: ChildrenBooks) -> None:
    """The pipeline is too quick to pace from outside, so this test plays the worker: it moves
    a book job through the core step by step and polls the server in between."""
    (tenant,) = cb.tenants("pro")
    book_id = str(uuid.uuid4())
    params = {**job_params(validate_story(BODY, None), str(uuid.uuid4()))}

    def page(n: int, image: bool) -> dict:
        found = {"page_num": n, "title": "", "text": f"Page {n} text."}
        return {**found, "image": f"jobs/{book_id}/pages/page_{n:02d}.png"} if image else found

    async def create(rt: Runtime) -> None:
        await rt.jobs.create(tenant.account_id, "childrenbooks", "book", params, job_id=book_id)

    async def step(rt: Runtime, pct: int, pages: list[dict]) -> None:
        if pct == 5:
            await rt.jobs.start(book_id)
            await rt.jobs.progress(book_id, pct=pct, data={"title": "Finn's Carrot Patch"})
            return
        await rt.jobs.progress(book_id, pct=pct, data={"pages": pages})

    def poll() -> dict:
        with cb.client(tenant) as http:
            resp = http.get(f"/v1/stories/{book_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()["data"]

    cb.core(create)
    assert (poll()["status"], poll()["progress"], poll()["pages"]) == ("pending", 0, [])
    cb.core(lambda rt: step(rt, 5, []))
    story = poll()
    assert (story["status"], story["title"], story["slug"]) == (
        "processing",
        "Finn's Carrot Patch",
        "finns-carrot-patch",
    )
    for written in (1, 2, 3):
        cb.core(lambda rt, n=written: step(rt, 10 * n, [page(i, False) for i in range(1, n + 1)]))
        story = poll()
        assert story["progress"] == 10 * written
        assert [p["index"] for p in story["pages"]] == list(range(written))
        assert [p["content"] for p in story["pages"]] == [
            f"Page {i} text." for i in range(1, written + 1)
        ]
        assert all(p["imageUrl"] is None and p["title"] is None for p in story["pages"])
    cb.core(lambda rt: step(rt, 60, [page(1, True), page(2, False), page(3, False)]))
    story = poll()
    assert story["pages"][0]["imageUrl"].startswith(f"/v1/stories/{book_id}/assets/page_01.png?")
    assert story["pages"][1]["imageUrl"] is None
    assert story["coverImage"] is None and story["completedAt"] is None

    # Once done, the pages come from the result.
    result = {
        "title": "Finn's Carrot Patch",
        "summary": "Finn shares.",
        "pages": [page(i, True) for i in (2, 1, 3)],
        "cover": f"jobs/{book_id}/cover.jpg",
    }
    cb.core(lambda rt: rt.jobs.succeed(book_id, result))
    story = poll()
    assert (story["status"], story["progress"], story["summary"]) == (
        "completed",
        100,
        "Finn shares.",
    )
    assert [p["index"] for p in story["pages"]] == [0, 1, 2]
    assert all(p["imageUrl"] for p in story["pages"]) and story["completedAt"]
    assert story["coverImage"].startswith(f"/v1/stories/{book_id}/assets/cover.jpg?expires=")


def test_create_and_get_over_httpx_with_bearer(cb: ChildrenBooks, tmp_path: Path) -> None:
    (tenant,) = cb.tenants("premium")
    bearer = {"Authorization": f"Bearer {tenant.key}"}
    request_id = rid()
    with cb.client() as http:
        resp = http.post("/v1/stories", json=BODY, headers={**bearer, "X-Request-Id": request_id})
        assert resp.status_code == 202, resp.text
        assert resp.headers["x-request-id"] == request_id
        data = resp.json()["data"]
        assert resp.json() == {
            "ok": True,
            "requestId": request_id,
            "data": {"taskId": data["taskId"], "bookId": data["bookId"], "status": "pending"},
        }
        assert_rate_headers(resp)
        assert resp.headers["x-ratelimit-limit"] == "200"
        assert resp.headers["x-ratelimit-remaining"] == "199"
        book_id = data["bookId"]

        got = http.get(f"/v1/stories/{book_id.upper()}", headers=bearer)
        assert got.status_code == 200 and got.json()["data"]["id"] == book_id
        assert got.headers["x-ratelimit-remaining"] == "198"
        # No X-Request-Id: the server makes one up and uses it in both places.
        assert got.json()["requestId"] == got.headers["x-request-id"]
        assert len(got.json()["requestId"]) >= 16

        # The key works on the asset route too; a tampered signature does not.
        deadline = time.monotonic() + 30
        while got.json()["data"]["status"] not in ("completed", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
            got = http.get(f"/v1/stories/{book_id}", headers=bearer)
        cover_url = got.json()["data"]["coverImage"]
        path = cover_url.split("?", 1)[0]
        assert http.get(path, headers=bearer).status_code == 200
        assert_error(http.get(path), 401, "UNAUTHORIZED")
        tampered = cover_url[:-4] + ("0000" if not cover_url.endswith("0000") else "1111")
        assert_error(http.get(tampered), 403, "FORBIDDEN")
        expired = re.sub(r"expires=\d+", "expires=1000", cover_url)
        assert_error(http.get(expired), 403, "FORBIDDEN")
        pdf = http.get(f"/v1/stories/{book_id}/assets/book.pdf", headers=bearer)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

        # Someone else's key sees nothing of it.
        (other,) = cb.tenants("pro")
        assert_error(http.get(f"/v1/stories/{book_id}", headers=other.headers), 404, "NOT_FOUND")
        assert_error(http.get(path, headers=other.headers), 404, "NOT_FOUND")
        assert http.get("/v1/stories", headers=other.headers).json()["data"]["stories"] == []


def test_library_pages_with_a_cursor(cb: ChildrenBooks) -> None:
    (tenant,) = cb.tenants("premium")
    with cb.client(tenant) as http:
        made = [http.post("/v1/stories", json={**BODY, "pageCount": 5}).json()["data"]["bookId"]]
        made.append(
            http.post("/v1/stories", json={**BODY, "pageCount": 5}).json()["data"]["bookId"]
        )
        made.append(
            http.post("/v1/stories", json={**BODY, "pageCount": 5}).json()["data"]["bookId"]
        )
        first = http.get("/v1/stories", params={"limit": 2}).json()["data"]
        assert [b["id"] for b in first["stories"]] == made[::-1][:2]
        assert first["nextCursor"]
        second = http.get("/v1/stories", params={"limit": 2, "cursor": first["nextCursor"]})
        rest = second.json()["data"]
        assert [b["id"] for b in rest["stories"]] == made[:1] and rest["nextCursor"] is None
        for book in first["stories"] + rest["stories"]:
            assert book["source"] == "api"
            datetime.fromisoformat(book["createdAt"].replace("Z", "+00:00"))


def test_concurrent_duplicates_make_one_book_on_the_embedded_store(cb: ChildrenBooks) -> None:
    (tenant,) = cb.tenants("premium")
    key = f"idem-{rid()}"
    with cb.client(tenant) as http:
        answers = parallel(
            [lambda: http.post("/v1/stories", json=BODY, headers={"Idempotency-Key": key})] * 20
        )
    assert {a.status_code for a in answers} == {202}, [
        a.text for a in answers if a.status_code != 202
    ]
    assert len({(a.json()["data"]["bookId"], a.json()["data"]["taskId"]) for a in answers}) == 1
    assert sum(a.headers.get("idempotent-replayed") != "true" for a in answers) == 1
    # Every answer carries its own request id, not the stored one.
    assert len({a.json()["requestId"] for a in answers}) == 20
    assert cb.book_count(tenant) == 1
    assert cb.spendable(tenant) == 2000 - BODY["pageCount"]
