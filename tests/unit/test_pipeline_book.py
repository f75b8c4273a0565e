"""The book task end to end on the instant backends: a real runtime (SQLite file, local blob
store), jobs created and run through ``execute_job``, and every produced file opened."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image
from pypdf import PdfReader

from gateway.core.jobs import JobInfo, JobStatus, channel_of
from gateway.runtime import Runtime, open_runtime
from gateway.settings import Settings
from workers.pipelines import pace
from workers.pipelines.package import METADATA_FIELDS
from workers.pipelines.spec import page_file
from workers.pipelines.text import LATIN1, Fonts, fold, legible
from workers.runner import execute_job

PROMPT = "A brave little raccoon who learns to share with forest friends"


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(data_dir=tmp_path, backends="instant", log_json=False)
    async with open_runtime(settings, role="cli") as runtime:
        yield runtime


@pytest.fixture
async def account(rt: Runtime) -> str:
    return (await rt.accounts.create("books")).id


async def make_book(rt: Runtime, account: str, **params: Any) -> JobInfo:
    job = await rt.jobs.create(account, "storymint", "book", {"prompt": PROMPT, **params})
    await execute_job(rt, rt.registry, job.id)
    done = await rt.jobs.get(job.id)
    assert done.status is JobStatus.SUCCEEDED, (done.error_code, done.error_message)
    assert done.result is not None
    return done


async def read(rt: Runtime, account: str, path: str) -> bytes:
    return (await rt.storage.get(account, path))[1]


def pdf_of(data: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(data))


async def check_common(rt: Runtime, job: JobInfo, size: tuple[int, int]) -> dict[str, Any]:
    """Files every format shares: pages, cover, PDF metadata, the ZIP and its metadata."""
    result = job.result
    assert result is not None
    prefix = f"jobs/{job.id}/"
    assert result["cover"] == prefix + "cover.jpg"
    assert result["pdf"] == prefix + "book.pdf"
    assert result["zip"] == prefix + "book.zip"
    pages = result["pages"]
    names = []
    for n, page in enumerate(pages, start=1):
        assert page["page_num"] == n
        name = f"pages/page_{n:02d}.png"
        names.append(name)
        assert page["image"] == prefix + name
        picture = Image.open(io.BytesIO(await read(rt, job.account_id, page["image"])))
        assert picture.format == "PNG" and picture.size == size
    cover = Image.open(io.BytesIO(await read(rt, job.account_id, result["cover"])))
    assert cover.format == "JPEG" and cover.size == size

    reader = pdf_of(await read(rt, job.account_id, result["pdf"]))
    assert reader.metadata is not None
    assert reader.metadata.title == result["title"]
    # An empty author or series is left out of the PDF's metadata rather than written blank.
    assert (reader.metadata.author or "") == result["author"]
    assert (reader.metadata.subject or "") == result["series"]

    archive = zipfile.ZipFile(io.BytesIO(await read(rt, job.account_id, result["zip"])))
    assert archive.namelist() == ["cover.jpg", "book.pdf", *names, "metadata.json"]
    assert archive.read("book.pdf") == await read(rt, job.account_id, result["pdf"])
    assert archive.read("cover.jpg") == await read(rt, job.account_id, result["cover"])
    meta = json.loads(archive.read("metadata.json"))
    assert set(METADATA_FIELDS) <= set(meta)
    assert meta["total_pages"] == len(pages)
    for key in ("title", "author", "series", "format", "art_style", "language", "characters"):
        assert meta[key] == result[key]
    assert meta["model_used"] == result["model_used"] == rt.backends.writer.capability().model
    assert meta["image_model"] == result["image_model"]
    assert result["image_model"] == rt.backends.illustrator.capability().model
    assert job.id not in archive.read("metadata.json").decode()
    return result


async def test_picture_book(rt: Runtime, account: str) -> None:
    job = await make_book(
        rt, account, format="picture", units=3, author="Maple Leaf", series="Tiny Explorers"
    )
    result = await check_common(rt, job, (768, 768))
    assert len(result["pages"]) == 3
    assert all(p["text"] and p["title"] == "" for p in result["pages"])
    assert (result["format"], result["author"], result["series"]) == (
        "picture",
        "Maple Leaf",
        "Tiny Explorers",
    )
    assert result["characters"] and set(result["characters"][0]) == {
        "name",
        "species",
        "colors",
        "clothing",
    }
    assert result["request"]["units"] == 3 and result["plan"]["title"] == result["title"]
    reader = pdf_of(await read(rt, account, result["pdf"]))
    assert len(reader.pages) == 3 + 2  # cover, title page, pages
    title_page = reader.pages[1].extract_text()
    assert "Maple Leaf" in title_page and "Tiny Explorers" in title_page


async def test_comic(rt: Runtime, account: str) -> None:
    job = await make_book(rt, account, format="comic", units=3, art_style="western")
    result = await check_common(rt, job, (768, 1024))
    assert len(result["pages"]) == 3
    for entry in result["layout"]:
        assert entry["kind"] == "comic"
        assert 2 <= entry["panels"] <= 4
        assert 1 <= len(entry["dialogue"]) <= entry["panels"]
    assert len(pdf_of(await read(rt, account, result["pdf"])).pages) == 5


async def test_chapter_comic(rt: Runtime, account: str) -> None:
    job = await make_book(rt, account, format="chapter_comic", units=2, art_style="manga")
    result = await check_common(rt, job, (768, 1024))
    layout = result["layout"]
    covers = [e for e in layout if e["kind"] == "chapter_cover"]
    assert [c["unit"] for c in covers] == [0, 1]
    chapter_titles = [o["title"] for o in result["plan"]["outline"]]
    for cover in covers:
        page = result["pages"][cover["page_num"] - 1]
        assert page["title"] == chapter_titles[cover["unit"]]
        comics = [e for e in layout if e["unit"] == cover["unit"] and e["kind"] == "comic"]
        assert 2 <= len(comics) <= 3
        assert comics[0]["page_num"] == cover["page_num"] + 1
        joined = " ".join(c["text"] for c in comics)
        assert joined.split() == cover["chapter_text"].split()
    assert len(result["pages"]) == len(layout) == 2 + sum(e["kind"] == "comic" for e in layout)
    assert len(pdf_of(await read(rt, account, result["pdf"])).pages) == len(layout) + 2


async def test_novel(rt: Runtime, account: str) -> None:
    job = await make_book(
        rt, account, format="novel", units=3, author="Quill House", series="Night Reads"
    )
    result = await check_common(rt, job, (768, 1024))
    pages = result["pages"]
    assert len(pages) == 3
    titles = [o["title"] for o in result["plan"]["outline"]]
    assert [p["title"] for p in pages] == titles
    assert all(len(p["text"]) > 200 for p in pages)
    reader = pdf_of(await read(rt, account, result["pdf"]))
    texts = [page.extract_text() for page in reader.pages]
    assert "Quill House" in texts[1] and "Night Reads" in texts[1]
    body = "\n".join(texts[2:])
    for n, title in enumerate(titles, start=1):
        assert f"CHAPTER {n}" in body
        assert fold(title, LATIN1) in body
    # Every typeset page ends with its number in the footer; cover and title page have none.
    for number, text in enumerate(texts[2:], start=3):
        assert text.strip().splitlines()[-1].strip() == str(number)
    assert not texts[1].strip().endswith("2")


async def test_storybook_has_cover_plus_content_pages(rt: Runtime, account: str) -> None:
    job = await make_book(
        rt, account, format="storybook", units=4, art_style="crayon", tone="animal"
    )
    result = await check_common(rt, job, (768, 768))
    assert len(result["pages"]) == 4
    assert all(e["kind"] == "art" for e in result["layout"])
    reader = pdf_of(await read(rt, account, result["pdf"]))
    assert len(reader.pages) == 4 + 2
    assert "raccoon" in reader.pages[2].extract_text().lower()


async def test_same_request_same_bytes(rt: Runtime, account: str) -> None:
    params = {"format": "picture", "units": 2, "author": "A", "series": "S"}
    first = await make_book(rt, account, **params)
    second = await make_book(rt, account, **params)
    other = await make_book(rt, account, **{**params, "prompt": "A shy turtle finds a song"})
    assert first.result is not None and second.result is not None and other.result is not None
    for key in ("pdf", "zip", "cover"):
        a = await read(rt, account, first.result[key])
        assert a == await read(rt, account, second.result[key])
        assert a != await read(rt, account, other.result[key])
    for p1, p2 in zip(first.result["pages"], second.result["pages"], strict=True):
        assert await read(rt, account, p1["image"]) == await read(rt, account, p2["image"])
    assert first.result["request"]["seed"] == second.result["request"]["seed"]


async def _events(rt: Runtime, account: str, units: int) -> list[dict[str, Any]]:
    job = await rt.jobs.create(
        account, "storymint", "book", {"prompt": PROMPT, "format": "picture", "units": units}
    )
    events: list[dict[str, Any]] = []
    async with rt.events.subscribe(channel_of(job.id)) as stream:
        runner = asyncio.create_task(execute_job(rt, rt.registry, job.id))
        async for event in stream:
            events.append(event)
            if event["final"]:
                break
        await runner
    assert events[-1]["status"] == "succeeded"
    running = [e for e in events if e["status"] == "running"]
    pcts = [e["pct"] for e in running]
    assert pcts == sorted(pcts) and max(pcts) < 100
    return running


async def test_progress_reports_every_page_when_pages_are_slow(
    rt: Runtime, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if every page took longer than the reporting interval, as a model's pages do.
    monkeypatch.setattr(pace, "REPORT_EVERY_S", 0.0)
    running = await _events(rt, account, 3)
    steps = list(dict.fromkeys(e["step"] for e in running if e["step"]))
    assert steps[:3] == ["Planning story", "Writing story", "Generating illustrations"]
    assert steps[-1] == "Assembling book" and set(steps[3:-1]) <= {"Designing cover"}
    messages = [e["message"] for e in running]
    assert "Writing page 2 of 3..." in messages and "Drawing page 3 of 3..." in messages
    title_seen = [e for e in running if e["progress"].get("title")]
    assert title_seen and title_seen[0]["step"] == "Writing story"
    counts = [len(e["progress"].get("pages", [])) for e in running]
    assert counts == sorted(counts) and {1, 2, 3} <= set(counts)
    images = [sum("image" in p for p in e["progress"].get("pages", [])) for e in running]
    assert images == sorted(images) and {0, 1, 2, 3} <= set(images)


async def test_fast_pages_are_reported_together_and_only_once_stored(
    rt: Runtime, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if every page came well within the reporting interval: only each step's last one is.
    monkeypatch.setattr(pace, "REPORT_EVERY_S", 3600.0)
    running = await _events(rt, account, 12)
    writing = [e["message"] for e in running if e["step"] == "Writing story"]
    assert writing == ["Writing page 1 of 12...", "Story written"]
    drawing = [e["message"] for e in running if e["step"] == "Generating illustrations"]
    assert drawing == ["Drawing page 1 of 12...", "Pages done"]
    final_pages = running[-1]["progress"]["pages"]
    assert [p["page_num"] for p in final_pages] == list(range(1, 13))
    assert all("image" in p for p in final_pages)
    # Every picture a report lists was already stored when the report went out.
    stored = {f.path for f in await rt.storage.list(account)}
    for event in running:
        for page in event["progress"].get("pages", []):
            assert "image" not in page or page["image"] in stored


def test_pace_reports_after_the_interval_and_always_the_last() -> None:
    now = [0.0]
    rhythm = pace.Pace(0.1, clock=lambda: now[0])
    now[0] = 0.05
    assert not rhythm.due()
    assert rhythm.due(last=True)
    now[0] = 0.1
    assert not rhythm.due()
    now[0] = 0.16
    assert rhythm.due()
    assert pace.Pace(0.0, clock=lambda: now[0]).due()


async def test_bad_params_fail_cleanly(rt: Runtime, account: str) -> None:
    job = await rt.jobs.create(account, "storymint", "book", {"prompt": "x", "format": "poem"})
    await execute_job(rt, rt.registry, job.id)
    done = await rt.jobs.get(job.id)
    assert done.status is JobStatus.FAILED and done.error_code == "invalid_params"


async def test_unicode_branding_reaches_pdf_and_cover(rt: Runtime, account: str) -> None:
    job = await make_book(
        rt,
        account,
        format="picture",
        units=1,
        language="french",
        author="Élodie Müller",
        series="Contes — Tome 1",
    )
    result = await check_common(rt, job, (768, 768))
    reader = pdf_of(await read(rt, account, result["pdf"]))
    assert reader.metadata is not None and reader.metadata.author == "Élodie Müller"
    assert "Élodie Müller" in reader.pages[1].extract_text()


def test_folding_and_fitting() -> None:
    assert fold("“Привет” — ça va…", LATIN1) == '"Privet" - ça va...'
    assert legible("Ça va — très bien") == "Ca va - tres bien"
    assert legible("你好\uff0c世界。今天天气很好") == ""
    fonts = Fonts()
    small = fonts.fit("short words", 400, 100, largest=30, smallest=12)
    assert small.size == 30 and small.lines == ("short words",)
    long_text = " ".join(["word"] * 400)
    cut = fonts.fit(long_text, 300, 120, largest=30, smallest=12)
    assert cut.size == 12 and cut.lines[-1].endswith("...")
    assert cut.height <= 120
    assert page_file(7, 12) == "pages/page_07.png"
    assert page_file(7, 120) == "pages/page_007.png"


class GatedIllustrator:
    """The instant illustrator, counting the drawings in progress. The cover and the first page
    are drawn at once; every later page waits until the test opens the gate, so the job is
    certainly still drawing when it is canceled, however fast or slow the machine is."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.active = 0
        self.calls = 0
        self.pages = 0
        self.gate = asyncio.Event()

    def capability(self) -> Any:
        return self.inner.capability()

    async def draw(self, prompts: Any) -> list[Any]:
        self.active += 1
        self.calls += 1
        try:
            if all(p.kind != "cover" for p in prompts):
                self.pages += 1
                if self.pages > 1:
                    await self.gate.wait()
            return await self.inner.draw(prompts)
        finally:
            self.active -= 1


async def test_cancel_while_drawing_stops_cleanly(
    rt: Runtime, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every page is reported as it lands, so the first page's report goes out while the
    # following pages are held at the gate.
    monkeypatch.setattr(pace, "REPORT_EVERY_S", 0.0)
    slow = GatedIllustrator(rt.backends.illustrator)
    backends = SimpleNamespace(
        writer=rt.backends.writer, illustrator=slow, narrator=rt.backends.narrator
    )
    services = SimpleNamespace(jobs=rt.jobs, storage=rt.storage, backends=backends)
    job = await rt.jobs.create(
        account, "storymint", "book", {"prompt": PROMPT, "format": "picture", "units": 12}
    )
    async with asyncio.timeout(60), rt.events.subscribe(channel_of(job.id)) as stream:
        runner = asyncio.create_task(execute_job(services, rt.registry, job.id))
        async for event in stream:
            assert not event["final"], event
            if any("image" in p for p in event["progress"].get("pages", [])):
                break
        assert slow.active >= 1  # later pages are being drawn
        await rt.jobs.cancel(job.id)
        slow.gate.set()  # they land after the cancel, and the next report finds it
        await runner
    done = await rt.jobs.get(job.id)
    assert done.status is JobStatus.CANCELED and done.result is None
    # Pages drawn ahead and the cover were abandoned with the job, not left running.
    assert slow.active == 0 and slow.calls < 12
    files = [f.path for f in await rt.storage.list(account, f"jobs/{job.id}/")]
    assert f"jobs/{job.id}/book.zip" not in files
