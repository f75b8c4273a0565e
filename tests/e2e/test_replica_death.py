"""A gateway replica dies (SIGKILL, with everything it forked) in the middle of StoryMint creates;
clients retry against the other replica with the same Idempotency-Key and body, and every key
still makes exactly one book.

Thirty clients each create books one after another on gateway A, every book under a key of its
own, so that at the moment of the kill requests stand at every step of admission: before the
key is taken, with the key taken and the job not yet made, with the job made and not yet
queued, with the answer not yet stored. A client whose request to A failed sends the same
request to B until the answer is not 409 (B waits out the dead holder's lock,
``STORYGATE_IDEMPOTENCY_LOCK_SECONDS`` = 3 here). Then, per key: every answer names the same job,
the database holds exactly one job for it, and a last replay on B names that job too. Every job
runs to its end.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from tests.support.cluster import cluster

CLIENTS = 30
# Kill A once this many books have been made through it.
KILL_AFTER = 45


@dataclass
class Record:
    # key -> job ids named by every 200 answer for it, in order.
    answers: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    # key -> what went wrong on A (exception name or status), for keys that had to move to B.
    moved: dict[str, str] = field(default_factory=dict)
    made_on_a: int = 0


def body_of(key: str) -> dict[str, str]:
    return {"prompt": f"A book for {key}"}


async def retry_on_b(client: httpx.AsyncClient, b: str, key: str, record: Record) -> None:
    deadline = time.monotonic() + 30
    while True:
        answer = await client.post(
            b + "/api/generate", json=body_of(key), headers={"Idempotency-Key": key}
        )
        if answer.status_code == 200:
            record.answers[key].append(answer.json()["job_id"])
            return
        assert answer.status_code in (409, 503), (key, answer.status_code, answer.text)
        assert time.monotonic() < deadline, f"{key}: B still says {answer.status_code}"
        await asyncio.sleep(0.2)


async def client_loop(
    index: int, a: str, b: str, headers: dict[str, str], record: Record, dead: asyncio.Event
) -> None:
    async with httpx.AsyncClient(headers=headers, timeout=20) as client:
        n = 0
        while not dead.is_set():
            key = f"death-{index}-{n}"
            n += 1
            try:
                answer = await client.post(
                    a + "/api/generate", json=body_of(key), headers={"Idempotency-Key": key}
                )
            except httpx.HTTPError as exc:
                record.moved[key] = type(exc).__name__
            else:
                if answer.status_code == 200:
                    record.answers[key].append(answer.json()["job_id"])
                    record.made_on_a += 1
                    continue
                record.moved[key] = str(answer.status_code)
            await retry_on_b(client, b, key, record)
            return


async def jobs_of(pg_url: str, account_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        return await conn.fetch(
            "SELECT id, status, params->>'prompt' AS prompt, created_at FROM jobs "
            "WHERE account_id = $1",
            account_id,
        )
    finally:
        await conn.close()


async def test_retries_after_a_replica_dies_make_one_book_per_key(
    pg_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    env = {
        "STORYGATE_IDEMPOTENCY_LOCK_SECONDS": "3",
        "STORYGATE_JOB_HEARTBEAT_SECONDS": "1",
        "STORYGATE_LOG_LEVEL": "WARNING",
    }
    with cluster(
        tmp_path, database_url=pg_url, redis_url=redis_url, prefix=redis_prefix, env=env
    ) as c:
        c.start(gateways=2, workers=1)
        account = c.create_account("retrier", {"storymint": "schools"}, rates={"storymint": 0})
        headers = account.headers("storymint")
        a, b = (g.base_url for g in c.gateways)
        record, dead = Record(), asyncio.Event()
        clients = [
            asyncio.create_task(client_loop(i, a, b, headers, record, dead)) for i in range(CLIENTS)
        ]
        deadline = time.monotonic() + 30
        while record.made_on_a < KILL_AFTER:
            assert time.monotonic() < deadline, f"A made only {record.made_on_a} books"
            await asyncio.sleep(0.01)
        c.gateways[0].proc.kill()
        killed_at = time.time()
        dead.set()
        await asyncio.wait_for(asyncio.gather(*clients), 60)

        # One job per key, named by every answer, and a replay on B names it too.
        async with httpx.AsyncClient(headers=headers, timeout=20) as client:
            for key, ids in record.answers.items():
                assert len(set(ids)) == 1, (key, ids)
                replay = await client.post(
                    b + "/api/generate", json=body_of(key), headers={"Idempotency-Key": key}
                )
                assert replay.status_code == 200, (key, replay.text)
                assert replay.json()["job_id"] == ids[0], (key, ids, replay.text)

        deadline = time.monotonic() + 30
        while True:
            rows = await jobs_of(pg_url, account.id)
            if all(r["status"] in ("succeeded", "failed") for r in rows):
                break
            open_jobs = [dict(r) for r in rows if r["status"] not in ("succeeded", "failed")]
            assert time.monotonic() < deadline, (open_jobs, record.moved, c.report())
            await asyncio.sleep(0.25)
        report = c.report()

    per_prompt = defaultdict(list)
    for row in rows:
        per_prompt[row["prompt"]].append(row["id"])
    keys = set(record.answers)
    assert record.moved, "the kill interrupted no request: nothing was proven"
    duplicated = {p: ids for p, ids in per_prompt.items() if len(ids) > 1}
    assert not duplicated, (duplicated, record.moved)
    assert len(rows) == len(keys), (len(rows), len(keys))
    assert {r["id"] for r in rows} == {ids[0] for ids in record.answers.values()}
    assert {r["status"] for r in rows} == {"succeeded"}, (
        [dict(r) for r in rows if r["status"] != "succeeded"],
        report,
    )
    # Keys whose job the dead replica had made before it died: B's retry had to find it.
    taken_over = [
        r["prompt"]
        for r in rows
        if r["prompt"].removeprefix("A book for ") in record.moved
        and r["created_at"].timestamp() < killed_at
    ]
    print(
        f"{len(keys)} keys, {len(record.moved)} moved to B after the kill, "
        f"{len(taken_over)} of them with a job A had made"
    )
