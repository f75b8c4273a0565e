"""Two hundred event streams on one distributed gateway, each receiving its own events to the end.

150 clients follow StoryMint books (``/api/stream/{job_id}``, several streams per book) and 50
hold StoryNote's account stream (``/v1/jobs/events/stream``). Every stream is open and has said
its first word before the worker process starts, so what arrives afterwards can only come
through Redis pub/sub and the gateway's one subscription fanned out in memory: each book stream
must see its book leave the queue and finish ("done"), and each StoryNote stream every status
(queued, processing, completed) of every one of the account's image jobs, in order.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from tests.support.cluster import cluster
from tests.support.sse import Event, events

BOOKS, PER_BOOK = 6, 25  # 150 StoryMint streams
ACCOUNT_STREAMS = 50
IMAGES = 3
DEADLINE = 60.0


def raise_open_files(wanted: int = 4096) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


@asynccontextmanager
async def opened(client: httpx.AsyncClient, url: str) -> AsyncIterator[AsyncIterator[Event]]:
    async with client.stream("GET", url) as answer:
        assert answer.status_code == 200, await answer.aread()
        yield aiter(events(answer))


async def follow_book(client: httpx.AsyncClient, url: str, ready: list[int]) -> list[str]:
    steps: list[str] = []
    async with opened(client, url) as stream:
        async for event in stream:
            if event.event == ":":
                continue
            steps.append(event.json()["step"])
            if len(steps) == 1:
                ready.append(1)
            if steps[-1] in ("done", "error"):
                break
    return steps


async def follow_account(
    client: httpx.AsyncClient, url: str, jobs: asyncio.Future[list[str]], ready: list[int]
) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    async with opened(client, url) as stream:
        first = await anext(stream)
        assert (first.event, first.data) == (":", "connected")
        ready.append(1)
        wanted = set(await jobs)
        async for event in stream:
            if event.event != "job":
                continue
            job = event.json()
            seen.setdefault(job["id"], []).append(job["status"])
            finished = {j for j, s in seen.items() if s[-1] in ("completed", "failed")}
            if wanted <= finished:
                break
    return seen


async def wait_for(count: list[int], n: int, what: str) -> None:
    deadline = time.monotonic() + 30
    while len(count) < n:
        assert time.monotonic() < deadline, f"{what}: {len(count)} of {n}"
        await asyncio.sleep(0.05)


async def test_two_hundred_streams_each_get_their_events(
    pg_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    raise_open_files()
    env = {"STORYGATE_STREAMS_PER_ACCOUNT": "500", "STORYGATE_LOG_LEVEL": "WARNING"}
    with cluster(
        tmp_path, database_url=pg_url, redis_url=redis_url, prefix=redis_prefix, env=env
    ) as c:
        c.start(gateways=1, workers=0)
        account = c.create_account(
            "listener",
            {"storymint": "schools", "storynote": "studio"},
            rates={"storymint": 0, "storynote": 0},
        )
        base = c.gateways[0].base_url
        sm_headers, sn_headers = account.headers("storymint"), account.headers("storynote")
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        timeout = httpx.Timeout(DEADLINE, connect=10)
        async with (
            httpx.AsyncClient(headers=sm_headers, limits=limits, timeout=timeout) as sm,
            httpx.AsyncClient(headers=sn_headers, limits=limits, timeout=timeout) as sn,
        ):
            books = []
            for i in range(BOOKS):
                made = await sm.post(f"{base}/api/generate", json={"prompt": f"a fox, book {i}"})
                assert made.status_code == 200, made.text
                books.append(made.json()["job_id"])

            ready: list[int] = []
            image_jobs: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
            book_streams = [
                asyncio.create_task(follow_book(sm, f"{base}/api/stream/{job}", ready))
                for job in books
                for _ in range(PER_BOOK)
            ]
            account_streams = [
                asyncio.create_task(
                    follow_account(sn, f"{base}/v1/jobs/events/stream", image_jobs, ready)
                )
                for _ in range(ACCOUNT_STREAMS)
            ]
            await wait_for(ready, len(book_streams) + len(account_streams), "streams open")

            project = await sn.post(f"{base}/v1/projects", json={"name": "many listeners"})
            assert project.status_code == 201, project.text
            ids = []
            for i in range(IMAGES):
                image = await sn.post(
                    f"{base}/v1/projects/{project.json()['id']}/image",
                    json={"directPrompt": f"lighthouse {i}", "modelId": "fal-ai/z-image/turbo"},
                )
                assert image.status_code == 202, image.text
                ids.append(image.json()["jobIds"][0])
            image_jobs.set_result(ids)

            c.start_worker()  # only now can anything run: every stream is already listening
            try:
                async with asyncio.timeout(DEADLINE):
                    book_steps = await asyncio.gather(*book_streams)
                    account_seen = await asyncio.gather(*account_streams)
            except TimeoutError:
                print(c.report())
                raise

    for steps in book_steps:
        assert steps[0] == "queued" and steps[-1] == "done", steps
        assert len(steps) >= 3, steps  # progress arrived between the two
    for seen in account_seen:
        for job_id in ids:
            assert seen[job_id] == ["queued", "processing", "completed"], (job_id, seen)
