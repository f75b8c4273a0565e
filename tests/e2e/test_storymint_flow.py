"""StoryMint end to end, as its reference's own examples use it: the code blocks below are copied
from the "Full example — Python", "Generate a book" and "Polling example" sections with only
API_KEY and BASE changed (and the 3 s poll sleep shortened), run with ``requests`` against a
real server process."""

from __future__ import annotations

import http.client
import io
import json
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pypdf
import pytest

from gateway.core.storage import LocalBlobStore, Storage
from gateway.runtime import Runtime
from tests.e2e.storymint_support import StoryMint, assert_envelope, start_storymint

POLL = 0.2  # the reference polls every 3 s


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoryMint]:
    family = start_storymint(
        tmp_path_factory.mktemp("storymint-flow"),
        {"max": "max"},
        {"schools": "schools", "other": "max"},
    )
    yield family
    family.stop()


def reference_full_example(API_KEY: str, BASE: str) -> None:
    import time

    import requests

    HEADERS = {"X-API-Key": API_KEY, "Content-Type": "application/json"}

    # 1. Generate
    gen = requests.post(
        f"{BASE}/api/generate",
        headers=HEADERS,
        json={
            "prompt": "A cat astronaut discovers a candy planet",
            "book_format": "comic",
            "author": "Starlight Studios",
            "art_style": "cartoon",
            "num_pages": 30,
        },
    ).json()
    job_id = gen["job_id"]
    print(f"Job: {job_id}")

    # 2. Poll until done
    while True:
        status = requests.get(f"{BASE}/api/status/{job_id}", headers=HEADERS).json()
        print(f"  [{status.get('pct', 0):3d}%] {status.get('msg', '')}")
        if status["status"] in ("done", "error"):
            break
        time.sleep(POLL)

    if status["status"] == "error":
        print("Generation failed:", status.get("msg"))
        exit(1)

    # 3. Get book data
    book = requests.get(f"{BASE}/api/book/{job_id}", headers=HEADERS).json()
    print(f"\nTitle: {book['title']}")
    print(f"Pages: {len(book.get('pages', []))}")

    # 4. AI edit
    edit = requests.post(
        f"{BASE}/api/book/{job_id}/chat",
        headers=HEADERS,
        json={"message": "Add more humor to page 3"},
    ).json()
    print(f"Edit: {edit.get('assistant_message')}")

    # 5. Download ZIP
    dl = requests.get(f"{BASE}/api/download/{job_id}", headers=HEADERS)
    if dl.status_code == 200:
        with open(f"{book['title']}.zip", "wb") as f:
            f.write(dl.content)
        print("Downloaded!")
    else:
        print("Download error:", dl.json())


def reference_generate_picture_book(API_KEY: str, BASE: str) -> str:
    import requests

    resp = requests.post(
        f"{BASE}/api/generate",
        headers={"X-API-Key": API_KEY},
        json={
            "prompt": "A brave little raccoon who learns to share",
            "book_format": "picture",
            "author": "My Brand Publishing",
            "series": "Forest Friends",
            "art_style": "watercolor",
            "num_pages": 12,
        },
    )
    data = resp.json()
    print(f"Job started: {data['job_id']}")
    return str(data["job_id"])


def reference_polling_example(API_KEY: str, BASE: str, job_id: str) -> None:
    import time

    import requests

    while True:
        r = requests.get(f"{BASE}/api/status/{job_id}", headers={"X-API-Key": API_KEY})
        info = r.json()
        print(f"[{info.get('pct', 0)}%] {info.get('msg', '')}")
        if info["status"] == "done":
            print(f"Book ready! Title: {info.get('title')}")
            break
        elif info["status"] == "error":
            print(f"Error: {info.get('msg')}")
            break
        time.sleep(POLL)  # poll every 3 seconds


def test_reference_full_python_example(
    sm: StoryMint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    reference_full_example(sm.accounts["max"].key, sm.base)
    out = capsys.readouterr().out
    assert "Downloaded!" in out, out
    assert "Pages: 30" in out
    assert "Edit: " in out and "Edit: None" not in out
    title = out.split("Title: ", 1)[1].splitlines()[0]
    with zipfile.ZipFile(tmp_path / f"{title}.zip") as archive:
        names = set(archive.namelist())
        assert {"book.pdf", "cover.jpg", "metadata.json"} <= names
        assert len([n for n in names if n.startswith("pages/page_")]) == 30
        meta = json.loads(archive.read("metadata.json"))
        reader = pypdf.PdfReader(io.BytesIO(archive.read("book.pdf")))
    assert meta["title"] == title and meta["format"] == "comic" and meta["total_pages"] == 30
    assert meta["author"] == "Starlight Studios"
    # The comic's 30 pages plus its cover and title page.
    assert len(reader.pages) == 30 + 2


def test_reference_generate_and_polling_examples(
    sm: StoryMint, capsys: pytest.CaptureFixture
) -> None:
    key = sm.accounts["max"].key
    job_id = reference_generate_picture_book(key, sm.base)
    reference_polling_example(key, sm.base, job_id)
    out = capsys.readouterr().out
    assert f"Job started: {job_id}" in out
    assert "Book ready! Title: " in out, out
    book = httpx.get(f"{sm.base}/api/book/{job_id}", headers=sm.accounts["max"].headers).json()
    assert (book["author"], book["series"], book["format"]) == (
        "My Brand Publishing",
        "Forest Friends",
        "picture",
    )
    assert book["metadata"]["art_style"] == "watercolor"
    assert book["metadata"]["total_pages"] == len(book["pages"]) == 12
    assert book["can_download"] is True
    assert [p["page_num"] for p in book["pages"]] == list(range(1, 13))
    assert book["pages"][0]["image_url"].startswith(f"/api/book/{job_id}/image/page_01.png?")
    assert book["cover_url"].startswith(f"/api/book/{job_id}/image/cover.jpg?")


def _sse_events(base: str, path: str, timeout: float = 60) -> tuple[int, dict[str, str], list]:
    """A bare http.client request, no key, no Accept header: what a browser EventSource sends
    minus the cookies; returns (status, headers, [event dicts | ':comment'])."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    conn.request("GET", path)
    resp = conn.getresponse()
    headers = {k.lower(): v for k, v in resp.getheaders()}
    events: list[Any] = []
    if resp.status != 200:
        events.append(json.loads(resp.read()))
        conn.close()
        return resp.status, headers, events
    while True:
        line = resp.readline()
        if not line:
            break
        text = line.decode().rstrip("\r\n")
        if text.startswith("data: "):
            events.append(json.loads(text[len("data: ") :]))
        elif text.startswith(":"):
            events.append(text)
    conn.close()
    return resp.status, headers, events


def test_sse_stream_without_a_key(sm: StoryMint) -> None:
    schools = sm.accounts["schools"]
    job_id = sm.generate(schools, book_format="picture", num_pages=40)
    status, headers, events = _sse_events(sm.base, f"/api/stream/{job_id}")
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    data = [e for e in events if isinstance(e, dict)]
    assert all(set(e) == {"step", "msg", "pct"} for e in data), data
    assert data[-1] == {"step": "done", "msg": "Book complete!", "pct": 100}
    assert sum(e["step"] in ("done", "error") for e in data) == 1
    assert len(data) > 2, data  # the stream carried progress, not just the verdict
    pcts = [e["pct"] for e in data]
    assert pcts == sorted(pcts)
    steps = {e["step"] for e in data}
    assert steps & {"writing", "generating", "illustrating", "planning", "assembling"}, steps

    # A finished job: the current state is the verdict, and the stream ends at once.
    started = time.monotonic()
    status, _, events = _sse_events(sm.base, f"/api/stream/{job_id}")
    assert status == 200 and events == [{"step": "done", "msg": "Book complete!", "pct": 100}]
    assert time.monotonic() - started < 5
    # The key is honoured when given: as a query parameter, and it must own the job.
    status, _, events = _sse_events(sm.base, f"/api/stream/{job_id}?api_key={schools.key}")
    assert status == 200 and events[-1]["step"] == "done"
    status, _, events = _sse_events(
        sm.base, f"/api/stream/{job_id}?api_key={sm.accounts['other'].key}"
    )
    assert status == 404 and set(events[0]) <= {"error", "detail"}
    status, _, events = _sse_events(sm.base, f"/api/stream/{job_id}?api_key=sm_wrong")
    assert status == 401
    assert_envelope(httpx.get(f"{sm.base}/api/stream/{'ab' * 20}"), 404)


def test_book_images_load_without_a_key(sm: StoryMint) -> None:
    owner, other = sm.accounts["max"], sm.accounts["other"]
    job_id = sm.generate(owner, num_pages=3)
    assert sm.wait(owner, job_id)["status"] == "done"
    book = httpx.get(f"{sm.base}/api/book/{job_id}", headers=owner.headers).json()
    page = httpx.get(sm.base + book["pages"][0]["image_url"])  # what an <img> does: no key
    assert page.status_code == 200 and page.headers["content-type"] == "image/png"
    assert page.content.startswith(b"\x89PNG\r\n\x1a\n")
    cover = httpx.get(sm.base + book["cover_url"])
    assert cover.status_code == 200 and cover.headers["content-type"] == "image/jpeg"
    assert cover.content.startswith(b"\xff\xd8")

    plain = f"{sm.base}/api/book/{job_id}/image/page_01.png"
    assert httpx.get(plain, headers=owner.headers).content == page.content  # the key also works
    assert_envelope(httpx.get(plain), 401)
    forged = book["pages"][0]["image_url"].replace("sig=", "sig=0")
    assert_envelope(httpx.get(sm.base + forged), 403)
    other_page = book["pages"][1]["image_url"].split("?", 1)[1]  # page 2's signature
    assert_envelope(httpx.get(f"{plain}?{other_page}"), 403)
    assert_envelope(httpx.get(plain, headers=other.headers), 404)
    assert_envelope(httpx.get(plain.replace("page_01", "page_99"), headers=owner.headers), 404)

    async def expired_link(rt: Runtime) -> str:
        past = Storage(
            rt.db,
            LocalBlobStore(rt.settings.files_dir),
            secret=rt.settings.secret,
            clock=lambda: datetime(2020, 1, 1, tzinfo=UTC),
        )
        return past.signed_query(owner.id, f"jobs/{job_id}/pages/page_01.png", expires_in=60)

    expired = httpx.get(f"{plain}?{sm.core(expired_link)}")
    assert "expired" in assert_envelope(expired, 403)["error"]


def test_audiobook_is_an_mp3(sm: StoryMint) -> None:
    owner = sm.accounts["schools"]
    job_id = sm.generate(owner, num_pages=2)
    assert sm.wait(owner, job_id)["status"] == "done"
    resp = httpx.post(f"{sm.base}/api/audiobook/{job_id}", headers=owner.headers, timeout=60)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "audio/mpeg"
    assert resp.content[:3] == b"ID3" or (resp.content[0] == 0xFF and resp.content[1] >> 5 == 7)
    assert len(resp.content) > 1000


def test_chat_edit_returns_every_page(sm: StoryMint) -> None:
    owner = sm.accounts["max"]
    job_id = sm.generate(owner, num_pages=4)
    sm.wait(owner, job_id)
    before = httpx.get(f"{sm.base}/api/book/{job_id}", headers=owner.headers).json()
    resp = httpx.post(
        f"{sm.base}/api/book/{job_id}/chat",
        headers=owner.headers,
        json={"message": "Change the main character's name to Bartholomew"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    edit = resp.json()
    assert edit["assistant_message"]
    assert [p["page_num"] for p in edit["pages"]] == [1, 2, 3, 4]
    after = httpx.get(f"{sm.base}/api/book/{job_id}", headers=owner.headers).json()
    assert [p["text"] for p in after["pages"]] == [p["text"] for p in edit["pages"]]
    assert [p["text"] for p in after["pages"]] != [p["text"] for p in before["pages"]]
    assert any("Bartholomew" in p["text"] for p in after["pages"])


async def test_stream_keeps_alive_and_survives_lost_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """In process, with the clock shrunk: comments while the bus is quiet, stale events dropped,
    and a finish whose event was lost still ends the stream (the row is re-read)."""
    from dataclasses import replace

    from litestar.response import ServerSentEventMessage

    from adapters.storymint import stream
    from gateway.core.events import MemoryEventBus
    from gateway.core.jobs import JobInfo, JobStatus, channel_of

    monkeypatch.setattr(stream, "RECHECK_SECONDS", 0.05)
    monkeypatch.setattr(stream, "KEEPALIVE_SECONDS", 0.12)
    now = datetime.now(UTC)
    row = JobInfo(
        "j" * 40, "acc_1", "storymint", "book", JobStatus.RUNNING, "inprocess", 10,
        "Writing story", "Writing page 1 of 4...", {}, {}, None, None, None, 1,
        now, now, now, None,
    )  # fmt: skip

    class Jobs:
        current = row

        async def get(self, job_id: str, account_id: str | None = None) -> JobInfo:
            return self.current

    class FakeRuntime:
        jobs = Jobs()
        events = MemoryEventBus()

    rt: Any = FakeRuntime()
    events = stream.progress_events(rt, row.id, None)
    first = await anext(events)
    assert json.loads(str(first)) == {
        "step": "generating",
        "msg": "Writing page 1 of 4...",
        "pct": 10,
    }
    comment = await anext(events)
    assert isinstance(comment, ServerSentEventMessage) and comment.comment == "keep-alive"
    channel = channel_of(row.id)
    await rt.events.publish(channel, {"status": "running", "pct": 5, "step": "Planning story"})
    await rt.events.publish(
        channel,
        {"status": "running", "pct": 60, "step": "Generating illustrations", "message": "Drawing"},
    )
    assert json.loads(str(await anext(events))) == {
        "step": "illustrating",
        "msg": "Drawing",
        "pct": 60,
    }
    Jobs.current = replace(row, status=JobStatus.SUCCEEDED, pct=100)  # its event never came
    rest = [item async for item in events]
    data = [json.loads(str(item)) for item in rest if isinstance(item, str)]
    assert data == [{"step": "done", "msg": "Book complete!", "pct": 100}]
