"""One key's per-minute limit holds across four gateway processes sharing one Redis.

The key's account is set to 300 requests a minute (`accounts set-rate`); 1,200 requests to a
cheap metered route (`GET /api/models`) are fired at once, spread over the four processes.
Windows are fixed minutes, so each admitted answer is assigned to its window by the time it
arrived plus its `X-RateLimit-Reset` (a burst may straddle two windows on a slow machine). No
window may admit more than the limit plus 1% (replicas over-admitting), and the window the
burst filled must admit at least 95% of it (the limiter refusing what it should let through),
so the test fails both ways. Every refusal is StoryMint's 429 with its rate headers.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.cluster import cluster

LIMIT = 300
REQUESTS = 1200
CONCURRENCY = 64


@dataclass(frozen=True, slots=True)
class Answer:
    gateway: int
    status: int
    headers: dict[str, str]
    arrived: float  # time.time()

    @property
    def window(self) -> int:
        """The minute window that counted it: the window ends ``Reset`` seconds (rounded up)
        after the gateway decided, which was before the answer arrived."""
        return int((self.arrived + int(self.headers["x-ratelimit-reset"])) // 60) - 1


async def burst(urls: list[str], headers: dict[str, str]) -> list[Answer]:
    """Every answer, the requests fired ``CONCURRENCY`` at a time."""
    todo = iter(range(REQUESTS))
    results: list[Answer] = []
    limits = httpx.Limits(max_connections=CONCURRENCY)

    async def worker(client: httpx.AsyncClient) -> None:
        for n in todo:
            gateway = n % len(urls)
            answer = await client.get(urls[gateway] + "/api/models")
            results.append(Answer(gateway, answer.status_code, dict(answer.headers), time.time()))

    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
    return results


async def test_four_replicas_admit_the_limit_within_one_percent(
    pg_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    env = {"STORYGATE_LOG_LEVEL": "WARNING"}
    with cluster(
        tmp_path, database_url=pg_url, redis_url=redis_url, prefix=redis_prefix, env=env
    ) as c:
        c.start(gateways=4, workers=0)
        account = c.create_account("hammer", {"storymint": "schools"}, rates={"storymint": LIMIT})
        urls = [g.base_url for g in c.gateways]

        began = time.time()
        results = await burst(urls, account.headers("storymint"))
        took = time.time() - began

    statuses = Counter(a.status for a in results)
    assert set(statuses) <= {200, 429}, statuses
    per_window = Counter(a.window for a in results if a.status == 200)
    assert all(n <= LIMIT * 1.01 for n in per_window.values()), per_window
    assert max(per_window.values()) >= 0.95 * LIMIT, per_window
    by_gateway = Counter(a.gateway for a in results if a.status == 200)
    assert len(by_gateway) == 4, by_gateway  # every replica admitted its share, none all
    for a in results:
        assert a.headers["x-ratelimit-limit"] == str(LIMIT), a.headers
        if a.status == 429:
            assert a.headers["x-ratelimit-remaining"] == "0", a.headers
            assert int(a.headers["retry-after"]) >= 1, a.headers
    print(f"admitted per window {dict(per_window)} of {REQUESTS} in {took:.2f} s; {by_gateway}")
