"""Redis goes away under load, and comes back: two gateways and a worker on a private
``redis-server``, three clients creating and following StoryMint books over both and one
polling.

* killed and started again empty (its queue lost), with ``STORYGATE_RATELIMIT_ON_REDIS_ERROR=
  deny``: every metered request is StoryMint's 503 envelope — no 500, no hang;
* paused (SIGSTOP: connections hang rather than fail, as in a partition) with ``=allow``: polls
  (the database serves them) still succeed, unmetered; creates, which need Redis to queue the
  job (and to hold an Idempotency-Key), are 503 and leave no job behind. No answer takes more
  than a few seconds.

Either way, within 5 s of Redis returning a new book and a new StoryNote image are accepted,
taken up by the worker, and their events reach streams opened after the return on the *other*
gateway (StoryNote's account stream is fed only by pub/sub); both run to their end. Every job
admitted before the outage finishes too, and a refused create left no job behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import RedisServer, cluster
from tests.support.load import Sample, StoryMintLoad
from tests.support.recovery import check_recovery, jobs_by_status

OUTAGE_SECONDS = 6.0
# A request must be answered within this, outage or not ("never a hang").
ANSWER_WITHIN = 6.0
# Redis calls time out after 2 s; requests that began this close to the return may see it.
SETTLE = 2.5
RECOVERY_WITHIN = 5.0


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


def problems(samples: list[Sample]) -> list[Sample]:
    """Answers no client should ever get: a 500, no answer at all, or a slow one."""
    return [s for s in samples if s.status in (0, 500) or s.seconds > ANSWER_WITHIN]


@pytest.mark.parametrize("mode,fault", [("deny", "kill"), ("allow", "pause")])
async def test_redis_outage_under_load(
    mode: str, fault: str, private_redis: RedisServer, pg_url: str, tmp_path: Path
) -> None:
    # A Redis that restarts empty loses arq's queue: the gateways queue open jobs again every
    # six heartbeats (30 s by default; 6 s here, to keep the test short).
    env = {"STORYGATE_RATELIMIT_ON_REDIS_ERROR": mode, "STORYGATE_JOB_HEARTBEAT_SECONDS": "1"}
    with cluster(
        tmp_path, database_url=pg_url, redis_url=private_redis.url, prefix="sg", env=env
    ) as c:
        c.start(gateways=2, workers=1)
        # Metered (deny must have something to deny), but never by the limit itself.
        rates = {"storymint": 100_000, "storynote": 100_000}
        account = c.create_account(
            "tenant", {"storymint": "schools", "storynote": "studio"}, rates=rates
        )
        urls = [g.base_url for g in c.gateways]
        async with StoryMintLoad(urls, account.headers("storymint")) as load:
            await asyncio.sleep(2)
            t_out = time.monotonic()
            if fault == "pause":
                private_redis.pause()
            else:
                private_redis.kill()
            await asyncio.sleep(OUTAGE_SECONDS)
            if fault == "pause":
                private_redis.resume()
            else:
                private_redis.start()
            t_back = time.monotonic()
            try:
                took = await asyncio.wait_for(
                    check_recovery(
                        c, account.headers("storymint"), account.headers("storynote"), t_back
                    ),
                    30,
                )
            except BaseException:
                print(c.report())
                raise
            await asyncio.sleep(1)
        report = f"{load.tally(load.samples)}\n{c.report()}"

        before = [s for s in load.samples if s.ended < t_out]
        during = load.started_between(t_out + 0.2, t_back - SETTLE)
        assert {s.status for s in before} == {200}, report
        assert not problems(load.samples), (problems(load.samples), report)
        assert len(during) >= 5, report
        creates = [s for s in during if s.kind == "create"]
        polls = [s for s in during if s.kind == "poll"]
        assert creates, report
        assert {s.status for s in creates} == {503}, report
        if mode == "deny":
            assert {s.status for s in polls} <= {503}, report
            assert {s.error for s in during} == {"Rate limiter (Redis) is unreachable"}, report
        else:
            assert polls and {s.status for s in polls} == {200}, report
        assert took <= RECOVERY_WITHIN, (took, report)

        # Every admitted job exists once and ends; a refused create left nothing behind.
        deadline = time.monotonic() + 15
        while True:
            jobs = await jobs_by_status(pg_url, account.id)
            if all(status in ("succeeded", "failed") for status in jobs.values()):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"jobs never finished: {jobs}\n{report}")
            await asyncio.sleep(0.2)
        storymint_jobs = set(load.jobs) | {s.job_id for s in load.samples if s.job_id}
        assert storymint_jobs <= set(jobs), report
        # The load's creates, the recovery's book, StoryNote's image: nothing else.
        assert len(jobs) == len(storymint_jobs) + 2, (sorted(jobs), sorted(storymint_jobs))
        assert set(jobs.values()) == {"succeeded"}, jobs
