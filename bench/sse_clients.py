"""Many event streams held open from one process, for ``bench/replicas.py``; and the resident
memory of a server's process tree.

A stream here is a raw HTTP/1.1 connection read into a buffer (an httpx client per stream would
cost the bench more than the server): enough to see that a stream answered 200 and which events
arrived, which is all the memory figure needs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

OPENING_AT_ONCE = 100  # connections being opened at one time (the rest wait their turn)


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            pids += _tree(int(child))
    return pids


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass(frozen=True, slots=True)
class Rss:
    total_mb: float
    each_mb: list[float]  # the process, then its descendants


def rss_tree(pid: int) -> Rss:
    """VmRSS of ``pid`` and its descendants (granian's worker, any model process)."""
    each = [round(_rss_kb(p) / 1024, 1) for p in _tree(pid)]
    return Rss(round(sum(each), 1), each)


@dataclass(frozen=True, slots=True)
class StreamFigures:
    streams: int
    before: Rss
    during: Rss
    open_seconds: float
    first_events: int  # streams that answered 200 and sent their first event
    later_events: int  # streams that got their job's events once a worker ran the jobs

    @property
    def growth_mb(self) -> float:
        return self.during.total_mb - self.before.total_mb


class Stream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.buf = b""

    @classmethod
    async def open(cls, base: str, path: str, headers: dict[str, str]) -> Stream:
        url = urlsplit(base)
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        lines = [f"GET {path} HTTP/1.1", f"Host: {url.netloc}", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        return cls(reader, writer)

    async def until(self, marker: bytes, deadline: float) -> bool:
        """Read until ``marker`` arrived (True) or the deadline or the stream's end (False)."""
        while marker not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                chunk = await asyncio.wait_for(self.reader.read(65536), left)
            except TimeoutError:
                return False
            if not chunk:
                return False
            self.buf += chunk
        return self.buf.startswith(b"HTTP/1.1 200")

    def close(self) -> None:
        self.writer.close()


async def _all(jobs: Sequence[Awaitable[bool]]) -> int:
    return sum(await asyncio.gather(*jobs))


async def open_streams(
    base: str,
    keys: dict[str, str],
    n: int,
    rss: Callable[[], Rss],
    start_workers: Callable[[], None],
) -> StreamFigures:
    """Queue n/2 StoryMint books (no worker runs yet), open a job stream on each and n/2
    StoryNote account streams, and measure the server's RSS before and with them open; then
    start a worker and see each stream get its events."""
    mint = {"X-API-Key": keys["storymint"]}
    note = {"Authorization": f"Bearer {keys['storynote']}"}
    n_mint, n_note = n // 2, n - n // 2
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        gate = asyncio.Semaphore(16)

        async def book(i: int) -> str:
            async with gate:
                body = {"prompt": f"Stream story {i} about a patient owl", "num_pages": 4}
                resp = await client.post("/api/generate", json=body, headers=mint)
                return str(resp.raise_for_status().json()["job_id"])

        jobs = await asyncio.gather(*(book(i) for i in range(n_mint)))

        def mint_stream(job: str) -> Awaitable[Stream]:
            return Stream.open(base, f"/api/stream/{job}", mint)

        def note_stream() -> Awaitable[Stream]:
            return Stream.open(base, "/v1/jobs/events/stream", note)

        # Warm both routes (first use builds caches every later stream shares), then measure.
        warm = [await mint_stream(jobs[0]) for _ in range(5)] + [await note_stream()]
        deadline = time.monotonic() + 30
        markers = [b"data:"] * 5 + [b": connected"]
        warmed = await _all([s.until(m, deadline) for s, m in zip(warm, markers, strict=True)])
        if warmed < len(warm):
            raise SystemExit(f"only {warmed} of {len(warm)} warm-up streams answered")
        for s in warm:
            s.close()
        await asyncio.sleep(2)
        before = rss()

        opening = asyncio.Semaphore(OPENING_AT_ONCE)
        started = time.monotonic()
        deadline = started + 120

        async def first(make: Awaitable[Stream], marker: bytes) -> tuple[Stream, bool]:
            async with opening:
                stream = await make
                return stream, await stream.until(marker, deadline)

        opened = await asyncio.gather(
            *[first(mint_stream(job), b"data:") for job in jobs],
            *[first(note_stream(), b": connected") for _ in range(n_note)],
        )
        open_seconds = time.monotonic() - started
        await asyncio.sleep(2)
        during = rss()

        project = await client.post("/v1/projects", json={"name": "bench"}, headers=note)
        project_id = project.raise_for_status().json()["id"]
        image = {"directPrompt": "an owl reading by candlelight"}
        created = await client.post(f"/v1/projects/{project_id}/image", json=image, headers=note)
        created.raise_for_status()
        start_workers()
        deadline = time.monotonic() + 300
        streams = [s for s, _ in opened]
        done = await _all(
            [s.until(b'"step":"done"', deadline) for s in streams[:n_mint]]
            + [s.until(b"event: job", deadline) for s in streams[n_mint:]]
        )
        for s in streams:
            s.close()
    return StreamFigures(
        streams=n,
        before=before,
        during=during,
        open_seconds=open_seconds,
        first_events=sum(ok for _, ok in opened),
        later_events=done,
    )
