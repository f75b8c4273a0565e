"""Bounded edges of the event stream, on a real server whose events and limits are in Redis:
keyless streams are metered per client address, open streams are capped per account, and a
thousand connects cost no Redis connection each (one subscription per process)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.runtime import Runtime, open_runtime
from gateway.settings import load_settings
from tests.conftest import REDIS_URL, _redis_available, need
from tests.e2e.conftest import Server, start_server


class Streams:
    def __init__(self, server: Server, data_dir: Path, client_name: str) -> None:
        self.server = server
        self.data_dir = data_dir
        self.client_name = client_name

    def core(self, action):  # type: ignore[no-untyped-def]
        settings = load_settings(env={}, backends="instant", data_dir=self.data_dir, demo=False)

        async def main():  # type: ignore[no-untyped-def]
            async with open_runtime(settings, role="cli") as runtime:
                return await action(runtime)

        return asyncio.run(main())

    def redis_connections(self) -> int:
        """Connections the server holds to Redis (they carry its client name)."""

        async def count() -> int:
            import redis.asyncio as aioredis

            client = aioredis.from_url(REDIS_URL)
            try:
                listed = await client.client_list()
            finally:
                await client.aclose()
            return sum(1 for c in listed if c.get("name") == self.client_name)

        return asyncio.run(count())


@pytest.fixture(scope="module")
def streams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Streams]:
    need(asyncio.run(_redis_available()))
    tmp = tmp_path_factory.mktemp("streams")
    name = "sgstreams" + secrets.token_hex(4)
    separator = "&" if "?" in REDIS_URL else "?"
    env = {
        "STORYGATE_DEMO": "false",
        "STORYGATE_REDIS_URL": f"{REDIS_URL}{separator}client_name={name}",
        "STORYGATE_REDIS_PREFIX": "sgtest:" + secrets.token_hex(6),
        "STORYGATE_STREAMS_PER_ACCOUNT": "3",
        "STORYGATE_ANONYMOUS_PER_MINUTE": "100",
    }
    server = start_server(tmp / "data", env, tag="streams")
    try:
        yield Streams(server, tmp / "data", name)
    finally:
        server.stop()


def _book(streams: Streams, *, finished: bool) -> tuple[str, str]:
    """A StoryMint book that stays queued (no runner takes it) or is already done, and its
    owner's key."""

    async def make(rt: Runtime) -> tuple[str, str]:
        account = await rt.accounts.create("s", {"storymint": "max"})
        key = await rt.keys.create(account.id, "storymint")
        job = await rt.jobs.create(account.id, "storymint", "book", {}, runner="none")
        if finished:
            await rt.jobs.start(job.id)
            await rt.jobs.succeed(job.id, {"title": "done"})
        return job.id, key.raw

    return streams.core(make)


def test_a_thousand_keyless_connects_are_refused_past_the_cap_without_redis_connections(
    streams: Streams,
) -> None:
    job_id, _key = _book(streams, finished=True)
    before = streams.redis_connections()
    statuses: list[int] = []
    with httpx.Client(base_url=streams.server.base_url, timeout=10) as http:
        for _ in range(1000):
            # An accepted connect gets the final event, and the stream ends.
            with http.stream("GET", f"/api/stream/{job_id}") as resp:
                statuses.append(resp.status_code)
                if resp.status_code == 200:
                    next(resp.iter_lines())
                else:
                    resp.read()
                    assert "error" in resp.json()
                    assert int(resp.headers["Retry-After"]) >= 1
    assert statuses.count(200) == 100
    assert statuses.count(429) == 900
    # One subscription for the whole process: no new Redis connection per stream (the pool
    # may keep one or two more for the limiter's scripts).
    assert streams.redis_connections() <= before + 2


def test_open_streams_are_capped_per_account(streams: Streams) -> None:
    job_id, key = _book(streams, finished=False)
    headers = {"X-API-Key": key}
    with httpx.Client(base_url=streams.server.base_url, timeout=10) as http:
        opened = [http.stream("GET", f"/api/stream/{job_id}", headers=headers) for _ in range(3)]
        responses = [s.__enter__() for s in opened]
        # The line iterators are kept: dropping one would close its connection.
        lines = [resp.iter_lines() for resp in responses]
        try:
            for resp, read in zip(responses, lines, strict=True):
                assert resp.status_code == 200
                assert next(read).startswith("data: ")
            refused = http.get(f"/api/stream/{job_id}", headers=headers)
            assert refused.status_code == 429 and "error" in refused.json()
        finally:
            for stream in opened:
                stream.__exit__(None, None, None)

        # Closed streams give their slots back.
        def reopened() -> bool:
            with http.stream("GET", f"/api/stream/{job_id}", headers=headers) as resp:
                return resp.status_code == 200

        for _ in range(100):
            if reopened():
                break
        else:
            pytest.fail("slots were not given back after the streams closed")
