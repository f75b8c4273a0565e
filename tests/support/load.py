"""A steady light StoryMint load for fault tests and ``bench/faults.py``: a few clients, each
creating a book (every other one under an Idempotency-Key) and polling it to its end, spread
over the gateways; every answer is kept with its start and end time, so a test can ask what
happened while something was broken and after it was mended."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

PROMPT = "A brave little raccoon who learns to share"


@dataclass(frozen=True, slots=True)
class Sample:
    kind: str  # "create" or "poll"
    gateway: int
    started: float  # time.monotonic()
    ended: float
    status: int  # 0: no HTTP answer (refused, reset, timed out)
    error: str  # the envelope's "error", or the transport exception's name
    job_id: str = ""

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass
class StoryMintLoad:
    urls: Sequence[str]
    headers: dict[str, str]
    clients: int = 3
    # Clients that only poll the book made last, whoever made it: status reads go on while
    # creates are refused.
    pollers: int = 1
    poll_every: float = 0.2
    # A client follows its book at most this long, then starts another (the record of
    # truth, the jobs table, says later whether it ended).
    follow_seconds: float = 3.0
    timeout: float = 20.0
    samples: list[Sample] = field(default_factory=list)
    # Job id -> the Idempotency-Key it was made under ("" for none).
    jobs: dict[str, str] = field(default_factory=dict)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _keys: Any = field(default_factory=itertools.count)

    async def __aenter__(self) -> StoryMintLoad:
        self._tasks = [asyncio.create_task(self._client(i)) for i in range(self.clients)]
        self._tasks += [asyncio.create_task(self._poller(i)) for i in range(self.pollers)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _request(
        self, client: httpx.AsyncClient, gateway: int, kind: str, method: str, path: str, **kw: Any
    ) -> tuple[Sample, Any]:
        started = time.monotonic()
        try:
            answer = await client.request(method, self.urls[gateway] + path, **kw)
        except httpx.HTTPError as exc:
            sample = Sample(kind, gateway, started, time.monotonic(), 0, type(exc).__name__)
            self.samples.append(sample)
            return sample, None
        ended = time.monotonic()
        body: Any = None
        with contextlib.suppress(ValueError):
            body = answer.json()
        error = str(body.get("error", "")) if isinstance(body, dict) else ""
        job_id = str(body.get("job_id", "")) if isinstance(body, dict) else ""
        sample = Sample(kind, gateway, started, ended, answer.status_code, error, job_id)
        self.samples.append(sample)
        return sample, body

    async def _client(self, index: int) -> None:
        async with httpx.AsyncClient(headers=self.headers, timeout=self.timeout) as client:
            for n in itertools.count():
                if self._stop.is_set():
                    return
                gateway = (index + n) % len(self.urls)
                key = f"load-{index}-{next(self._keys)}" if n % 2 else ""
                headers = {"Idempotency-Key": key} if key else {}
                made, _ = await self._request(
                    client,
                    gateway,
                    "create",
                    "POST",
                    "/api/generate",
                    json={"prompt": PROMPT},
                    headers=headers,
                )
                if made.status != 200:
                    await asyncio.sleep(self.poll_every)
                    continue
                self.jobs[made.job_id] = key
                await self._follow(client, gateway, made.job_id)

    async def _poller(self, index: int) -> None:
        async with httpx.AsyncClient(headers=self.headers, timeout=self.timeout) as client:
            for n in itertools.count():
                if self._stop.is_set():
                    return
                if self.jobs:
                    job_id = next(reversed(self.jobs))
                    gateway = (index + n) % len(self.urls)
                    await self._request(client, gateway, "poll", "GET", f"/api/status/{job_id}")
                await asyncio.sleep(self.poll_every)

    async def _follow(self, client: httpx.AsyncClient, gateway: int, job_id: str) -> None:
        """Poll the job until it ends, ``follow_seconds`` pass or the load stops."""
        until = time.monotonic() + self.follow_seconds
        while not self._stop.is_set() and time.monotonic() < until:
            polled, body = await self._request(
                client, gateway, "poll", "GET", f"/api/status/{job_id}"
            )
            if polled.status == 200 and isinstance(body, dict) and body["status"] != "running":
                return
            await asyncio.sleep(self.poll_every)

    # -- reading the record ---------------------------------------------------------------

    def started_between(self, t0: float, t1: float, kind: str | None = None) -> list[Sample]:
        return [
            s for s in self.samples if t0 <= s.started < t1 and (kind is None or s.kind == kind)
        ]

    @staticmethod
    def tally(samples: Sequence[Sample]) -> dict[str, int]:
        """ "create 200": 12, "poll 503": 40, "create 0 ReadTimeout": 1, ..."""
        return dict(
            sorted(
                Counter(
                    f"{s.kind} {s.status}" + (f" {s.error}" if s.status == 0 else "")
                    for s in samples
                ).items()
            )
        )
