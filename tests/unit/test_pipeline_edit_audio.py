"""Chat edits and audiobooks of finished books, on a real runtime with the instant backends."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from gateway.core.errors import InvalidState, NotFound
from gateway.core.jobs import JobInfo, JobStatus
from gateway.runtime import Runtime, open_runtime
from gateway.settings import Settings
from workers.backends.audio import mp3_duration, mp3_frames
from workers.backends.base import Pcm
from workers.pipelines.audiobook import make_audiobook, narration
from workers.pipelines.edit import edit_book, edit_task
from workers.runner import execute_job
from workers.tasks import TaskContext

PROMPT = "A brave little raccoon who learns to share with forest friends"


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(data_dir=tmp_path, backends="instant", log_json=False)
    async with open_runtime(settings, role="cli") as runtime:
        yield runtime


@pytest.fixture
async def account(rt: Runtime) -> str:
    return (await rt.accounts.create("edits")).id


async def make_book(rt: Runtime, account: str, **params: Any) -> JobInfo:
    job = await rt.jobs.create(account, "storymint", "book", {"prompt": PROMPT, **params})
    await execute_job(rt, rt.registry, job.id)
    done = await rt.jobs.get(job.id)
    assert done.status is JobStatus.SUCCEEDED, (done.error_code, done.error_message)
    return done


async def edit(services: Any, job: JobInfo, message: str) -> tuple[str, list[int]]:
    """A chat edit as the gateway runs it: a ``book_edit`` job whose task claims the book,
    edits it and commits the new result."""
    edit_job = await services.jobs.create(
        job.account_id,
        "storymint",
        "book_edit",
        {"book_id": job.id, "message": message},
        subject_id=job.id,
    )
    running = await services.jobs.start(edit_job.id)
    result = await edit_task(TaskContext(job=running, services=services))
    return str(result["assistant_message"]), list(result["changed"])


async def audiobook(services: Any, job: JobInfo) -> bytes:
    path, size = await make_audiobook(services, job)
    data = (await services.storage.get(job.account_id, path))[1]
    assert len(data) == size
    return data


async def files(rt: Runtime, job: JobInfo) -> dict[str, bytes]:
    listed = await rt.storage.list(job.account_id, f"jobs/{job.id}/")
    return {
        f.path.split("/", 2)[2]: (await rt.storage.get(job.account_id, f.path))[1] for f in listed
    }


async def test_edit_rewrites_only_the_named_page(rt: Runtime, account: str) -> None:
    job = await make_book(rt, account, format="picture", units=4, author="A", series="S")
    before = await files(rt, job)
    assert job.result is not None
    old_texts = [p["text"] for p in job.result["pages"]]

    reply, changed = await edit(rt, job, "Add more humor to page 3")

    assert changed == [3] and reply
    after_job = await rt.jobs.get(job.id)
    assert after_job.result is not None
    new_texts = [p["text"] for p in after_job.result["pages"]]
    assert new_texts[2] != old_texts[2]
    assert [t for i, t in enumerate(new_texts) if i != 2] == old_texts[:2] + old_texts[3:]
    after = await files(rt, after_job)
    assert set(after) == set(before)
    assert after["pages/page_03.png"] != before["pages/page_03.png"]
    for name in ("pages/page_01.png", "pages/page_02.png", "pages/page_04.png", "cover.jpg"):
        assert after[name] == before[name]
    assert after["book.pdf"] != before["book.pdf"]
    assert len(PdfReader(io.BytesIO(after["book.pdf"])).pages) == 4 + 2
    archive = zipfile.ZipFile(io.BytesIO(after["book.zip"]))
    assert archive.read("pages/page_03.png") == after["pages/page_03.png"]
    assert archive.read("book.pdf") == after["book.pdf"]
    meta = json.loads(archive.read("metadata.json"))
    assert meta["pages"][2]["text"] == new_texts[2]
    # The stored layout follows the edit, so a second edit starts from the new words.
    assert after_job.result["layout"][2]["text"] == new_texts[2]


async def test_rename_touches_every_page_naming_the_hero(rt: Runtime, account: str) -> None:
    job = await make_book(rt, account, format="comic", units=3)
    assert job.result is not None
    hero = job.result["characters"][0]["name"]
    naming = [p["page_num"] for p in job.result["pages"] if hero in p["text"]]
    assert naming

    reply, changed = await edit(rt, job, "Change the main character's name to Zorblat")

    assert "Zorblat" in reply
    assert changed == naming
    result = (await rt.jobs.get(job.id)).result
    assert result is not None
    for page in result["pages"]:
        assert hero not in page["text"]
        assert ("Zorblat" in page["text"]) == (page["page_num"] in naming)


async def test_chapter_comic_edit_redraws_only_that_chapters_pages(
    rt: Runtime, account: str
) -> None:
    job = await make_book(rt, account, format="chapter_comic", units=2)
    assert job.result is not None
    layout = job.result["layout"]
    first_chapter = [e["page_num"] for e in layout if e["unit"] == 0 and e["kind"] == "comic"]
    before = await files(rt, job)

    _reply, changed = await edit(rt, job, "Make page 1 longer, with more detail")

    assert changed and set(changed) <= set(first_chapter)
    after_job = await rt.jobs.get(job.id)
    after = await files(rt, after_job)
    assert after_job.result is not None
    for entry in after_job.result["layout"]:
        name = f"pages/page_{entry['page_num']:02d}.png"
        assert (after[name] != before[name]) == (entry["page_num"] in changed)
    cover = after_job.result["layout"][0]
    comics = [
        e["text"] for e in after_job.result["layout"] if e["unit"] == 0 and e["kind"] == "comic"
    ]
    assert " ".join(comics).split() == cover["chapter_text"].split()


async def test_edit_that_changes_nothing_rebuilds_nothing(rt: Runtime, account: str) -> None:
    job = await make_book(rt, account, format="picture", units=2)
    before = await files(rt, job)
    reply, changed = await edit(rt, job, "Rename the dragon to Bob")
    assert changed == [] and reply
    assert await files(rt, job) == before


async def test_unfinished_jobs_cannot_be_edited_or_read_aloud(rt: Runtime, account: str) -> None:
    job = await rt.jobs.create(account, "storymint", "book", {"prompt": PROMPT})
    with pytest.raises(InvalidState):
        await edit_book(rt, job, "make it happier")
    with pytest.raises(InvalidState):
        await make_audiobook(rt, job)


class CountingNarrator:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.texts: list[str] = []

    def capability(self) -> Any:
        return self.inner.capability()

    async def speak(self, text: str, *, language: str = "english", seed: int = 0) -> Pcm:
        self.texts.append(text)
        return await self.inner.speak(text, language=language, seed=seed)


class Services:
    """The runtime's services with a narrator that counts what it is asked to say."""

    def __init__(self, rt: Runtime, narrator: CountingNarrator) -> None:
        self.jobs = rt.jobs
        self.storage = rt.storage
        backends = rt.backends
        self.backends = type(
            "B",
            (),
            {
                "writer": backends.writer,
                "illustrator": backends.illustrator,
                "narrator": narrator,
            },
        )()


async def test_audiobook_is_valid_cached_and_dropped_by_an_edit(rt: Runtime, account: str) -> None:
    job = await make_book(rt, account, format="picture", units=3, language="spanish")
    narrator = CountingNarrator(rt.backends.narrator)
    services = Services(rt, narrator)
    assert job.result is not None

    mp3 = await audiobook(services, job)

    assert mp3_frames(mp3) and mp3_duration(mp3) > 1.0
    assert narrator.texts == narration(job.result)
    assert narrator.texts[0] == job.result["title"] and len(narrator.texts) == 4
    stored = (await rt.storage.get(account, f"jobs/{job.id}/audiobook-r0.mp3"))[1]
    assert stored == mp3

    assert await audiobook(services, job) == mp3
    assert len(narrator.texts) == 4  # served from storage, not narrated again

    _reply, changed = await edit(services, job, "Make the ending happier")
    assert changed
    with pytest.raises(NotFound):
        await rt.storage.get(account, f"jobs/{job.id}/audiobook-r0.mp3")
    edited = await rt.jobs.get(job.id)
    assert edited.revision == 1
    fresh = await audiobook(services, edited)
    assert len(narrator.texts) == 8 and mp3_frames(fresh)
    assert narrator.texts[4:] == narration(edited.result or {})
