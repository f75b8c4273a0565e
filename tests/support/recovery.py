"""What "full service" means after an outage, checked the way clients see it, and the job table
read directly: shared by the fault tests and ``bench/faults.py``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from tests.support.cluster import Cluster
from tests.support.sse import events


def plain_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def jobs_by_status(pg_url: str, account_id: str) -> dict[str, str]:
    conn = await asyncpg.connect(plain_dsn(pg_url))
    try:
        rows = await conn.fetch("SELECT id, status FROM jobs WHERE account_id = $1", account_id)
    finally:
        await conn.close()
    return {r["id"]: r["status"] for r in rows}


async def until_served(send: Any) -> httpx.Response:
    """``send()`` again while it answers 503 (a replica that has not yet seen Redis return
    says so for up to a second); any other refusal fails the test."""
    while True:
        answer: httpx.Response = await send()
        if answer.status_code != 503:
            return answer
        assert isinstance(answer.json()["error"], str)
        await asyncio.sleep(0.1)


@dataclass
class Followed:
    """What a stream saw of one new job, and when it first saw the job being worked on."""

    seen: list[str] = field(default_factory=list)
    working_at: float = 0.0


async def storymint_book(client: httpx.AsyncClient, a: str, b: str) -> Followed:
    """A new book made on ``a``, followed to its end on a stream opened on ``b``."""
    made = await until_served(
        lambda: client.post(a + "/api/generate", json={"prompt": "a fox at dawn"})
    )
    assert made.status_code == 200, made.text
    job_id = made.json()["job_id"]
    followed = Followed()
    while True:
        async with client.stream("GET", f"{b}/api/stream/{job_id}") as answer:
            if answer.status_code == 503:
                await answer.aread()
                await asyncio.sleep(0.1)
                continue
            assert answer.status_code == 200, await answer.aread()
            async for event in events(answer):
                if event.event == ":":
                    continue
                followed.seen.append(event.json()["step"])
                if followed.seen[-1] != "queued" and not followed.working_at:
                    followed.working_at = time.monotonic()
                if followed.seen[-1] in ("done", "error"):
                    break
            return followed


async def storynote_image(client: httpx.AsyncClient, a: str, b: str) -> Followed:
    """Open the account stream on ``b``, make an image job on ``a``; the statuses it saw."""
    followed = Followed()
    async with contextlib.AsyncExitStack() as stack:
        while True:
            answer = await stack.enter_async_context(
                client.stream("GET", f"{b}/v1/jobs/events/stream")
            )
            if answer.status_code != 503:
                break
            await answer.aclose()
            await asyncio.sleep(0.1)
        assert answer.status_code == 200, await answer.aread()
        stream = aiter(events(answer))
        first = await anext(stream)
        assert (first.event, first.data) == (":", "connected")
        made = await until_served(
            lambda: client.post(f"{a}/v1/projects", json={"name": "after the outage"})
        )
        assert made.status_code == 201, made.text
        body = {"directPrompt": "a lighthouse at dusk", "modelId": "fal-ai/z-image/turbo"}
        path = f"{a}/v1/projects/{made.json()['id']}/image"
        image = await until_served(lambda: client.post(path, json=body))
        assert image.status_code == 202, image.text
        async for event in stream:
            if event.event == "job":
                followed.seen.append(event.json()["status"])
                if followed.seen[-1] != "queued" and not followed.working_at:
                    followed.working_at = time.monotonic()
                if followed.seen[-1] in ("completed", "failed"):
                    break
    return followed


async def check_recovery(
    c: Cluster, storymint: dict[str, str], storynote: dict[str, str], t_back: float
) -> float:
    """Seconds from Redis's return until a new StoryMint book and a new StoryNote image were
    accepted, taken up by the worker, and their events reached streams opened after the
    return on the other gateway; both must also run to their end."""
    a, b = (g.base_url for g in c.gateways)
    async with (
        httpx.AsyncClient(headers=storymint, timeout=10) as sm,
        httpx.AsyncClient(headers=storynote, timeout=10) as sn,
    ):
        book, image = await asyncio.gather(storymint_book(sm, a, b), storynote_image(sn, a, b))
    assert book.seen[-1] == "done", book
    assert image.seen[-1] == "completed", image
    return max(book.working_at, image.working_at) - t_back
