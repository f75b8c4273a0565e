"""StoryMint behaviour that needs the server's insides steered, in-process over ASGI with the
lifespan: a queue that refuses the job (admission undone), and chat edits and audiobooks that
run as jobs — two edits of one book at once both apply or one is refused, never lost."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gateway.core.errors import Unavailable
from tests.e2e.storymint_support import key_of, served

BOOKS = "storymint.books"


async def finished_book(client: Any, headers: dict[str, str]) -> str:
    resp = await client.post(
        "/api/generate",
        json={"prompt": "A dragon who is afraid of the dark", "num_pages": 2},
        headers=headers,
    )
    assert resp.status_code == 200, resp.text
    job_id = str(resp.json()["job_id"])
    for _ in range(600):
        status = (await client.get(f"/api/status/{job_id}", headers=headers)).json()
        if status["status"] != "running":
            break
        await asyncio.sleep(0.02)
    assert status["status"] == "done", status
    return job_id


async def test_a_job_the_queue_refuses_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with served(tmp_path) as (client, rt):
        account_id, headers = await key_of(rt)
        before = await rt.ledger.balance(account_id, BOOKS)

        async def refuse(job_id: str) -> None:
            raise Unavailable("queue down")

        monkeypatch.setattr(rt, "submit", refuse)
        resp = await client.post("/api/generate", json={"prompt": "a fox"}, headers=headers)
        assert resp.status_code == 503 and "error" in resp.json()
        assert await rt.jobs.list(account_id) == []
        after = await rt.ledger.balance(account_id, BOOKS)
        assert after == before  # no hold, and the month's book count untouched
        tier = (await client.get("/api/tier", headers=headers)).json()
        assert tier["books_this_month"] == 0


async def test_chat_edits_run_as_jobs_and_concurrent_ones_never_lose_an_update(
    tmp_path: Path,
) -> None:
    async with served(tmp_path) as (client, rt):
        account_id, headers = await key_of(rt)
        job_id = await finished_book(client, headers)

        async def chat(message: str) -> Any:
            return await client.post(
                f"/api/book/{job_id}/chat", json={"message": message}, headers=headers
            )

        answers = await asyncio.gather(
            chat("Change the main character's name to Zorblat"),
            chat("Add more humor to page 2"),
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses in ([200, 200], [200, 409]), [a.text for a in answers]
        for refused in (a for a in answers if a.status_code == 409):
            assert set(refused.json()) <= {"error", "detail"} and refused.json()["error"]
        book = await rt.jobs.get(job_id)
        # Every applied edit is one revision: none was overwritten by the other.
        assert book.revision == statuses.count(200)
        edits = [j for j in await rt.jobs.list(account_id) if j.kind == "book_edit"]
        assert len(edits) == 2 and all(e.subject_id == job_id for e in edits)
        final = (await client.get(f"/api/book/{job_id}", headers=headers)).json()
        applied = [a.json() for a in answers if a.status_code == 200]
        assert [p["text"] for p in final["pages"]] in [
            [p["text"] for p in a["pages"]] for a in applied
        ]

        # Sequential edits always both apply.
        first = await chat("Change the main character's name to Quilliam")
        second = await chat("Add more humor to page 1")
        assert (first.status_code, second.status_code) == (200, 200)
        assert (await rt.jobs.get(job_id)).revision == book.revision + 2
        text = " ".join(p["text"] for p in second.json()["pages"])
        assert "Quilliam" in text


async def test_the_audiobook_is_made_by_a_job_once_per_revision(tmp_path: Path) -> None:
    async with served(tmp_path) as (client, rt):
        account_id, headers = await key_of(rt)
        job_id = await finished_book(client, headers)
        first = await client.post(f"/api/audiobook/{job_id}", headers=headers)
        again = await client.post(f"/api/audiobook/{job_id}", headers=headers)
        assert first.status_code == again.status_code == 200
        assert first.headers["content-type"] == "audio/mpeg"
        assert first.content == again.content and first.content[:2] in (
            b"ID",
            b"\xff\xf3",
            b"\xff\xfb",
        )
        narrations = [j for j in await rt.jobs.list(account_id) if j.kind == "audiobook"]
        assert len(narrations) == 2 and all(j.subject_id == job_id for j in narrations)
        stored = await rt.storage.list(account_id, f"jobs/{job_id}/audiobook")
        assert [f.path.rsplit("/", 1)[1] for f in stored] == ["audiobook-r0.mp3"]


async def test_an_operator_sets_one_accounts_per_minute_limit(tmp_path: Path) -> None:
    async with served(tmp_path) as (client, rt):
        account_id, headers = await key_of(rt)
        await rt.accounts.set_rate(account_id, "storymint", 2)
        answers = [await client.get("/api/tier", headers=headers) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[0].headers["X-RateLimit-Limit"] == "2"
        assert int(answers[2].headers["Retry-After"]) >= 1
        await rt.accounts.set_rate(account_id, "storymint", 0)  # lifted: never refused
        lifted = [await client.get("/api/tier", headers=headers) for _ in range(5)]
        assert {a.status_code for a in lifted} == {200}
        assert lifted[-1].headers["X-RateLimit-Limit"] == "1000000000"
        _, other = await key_of(rt)  # another account keeps the plan's figure
        assert (await client.get("/api/tier", headers=other)).headers["X-RateLimit-Limit"] == "120"
