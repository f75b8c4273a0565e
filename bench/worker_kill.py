"""A worker killed with SIGKILL under load: how long until every job has ended?

The operator's test from the scale-out issue: 2 ``storygate serve`` + 2 ``storygate worker`` on
PostgreSQL and Redis (a fresh database and Redis prefix, removed at the end), ``--books`` StoryMint
books spread over both gateways, one worker killed ``--kill-after`` seconds in. Prints, as a table
and a JSON line: seconds from the kill until the last job ended, how the jobs ended (succeeded,
run twice, failed), and credit holds still open afterwards (must be 0). With the default
heartbeat (``STORYGATE_JOB_HEARTBEAT_SECONDS=5``) a dead worker's jobs are taken from it after
four missed beats.

    .venv/bin/python bench/worker_kill.py [--books 40] [--pages 12] [--backends instant]
        [--kill-after 1] [--heartbeat 5]

Processes come from ``tests/support/cluster.py`` and the database from ``bench/faults.py``, as in
the fault benchmarks. A benchmark, not a test: figures depend on the host.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import signal
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.faults import SHARED_REDIS, fresh_database  # noqa: E402
from tests.support.cluster import Cluster  # noqa: E402
from tests.support.recovery import plain_dsn  # noqa: E402

ENDED = ("succeeded", "failed", "canceled")


async def job_rows(db_url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(plain_dsn(db_url))
    try:
        return list(await conn.fetch("SELECT status, attempts, error_code FROM jobs"))
    finally:
        await conn.close()


async def open_holds(db_url: str) -> int:
    conn = await asyncpg.connect(plain_dsn(db_url))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM reservations WHERE state = 'held'"))
    finally:
        await conn.close()


async def run(args: argparse.Namespace, db_url: str, tmp: Path) -> dict[str, object]:
    cluster = Cluster(
        tmp,
        database_url=db_url,
        redis_url=SHARED_REDIS,
        prefix=f"sgbench{secrets.token_hex(4)}",
        env={
            "STORYGATE_BACKENDS": args.backends,
            "STORYGATE_LOG_LEVEL": "WARNING",
            "STORYGATE_JOB_HEARTBEAT_SECONDS": str(args.heartbeat),
        },
    )
    try:
        cluster.start(gateways=2, workers=2)
        account = cluster.create_account("bench", {"storymint": "schools"}, rates={"storymint": 0})
        bases = [g.base_url for g in cluster.gateways]
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=30, headers=account.headers("storymint")) as http:
            for i in range(args.books):
                answer = await http.post(
                    f"{bases[i % 2]}/api/generate",
                    json={
                        "prompt": f"A fox who learns to share, tale {i}",
                        "num_pages": args.pages,
                    },
                    headers={"Idempotency-Key": f"bench-{i}"},
                )
                if answer.status_code >= 300:
                    raise SystemExit(f"create {i}: {answer.status_code} {answer.text[:200]}")
        await asyncio.sleep(max(0.0, args.kill_after - (time.monotonic() - started)))
        running = sum(r["status"] == "running" for r in await job_rows(db_url))
        cluster.workers[0].signal(signal.SIGKILL)
        killed = time.monotonic()
        rows = await job_rows(db_url)
        while time.monotonic() - killed < args.give_up and any(
            r["status"] not in ENDED for r in rows
        ):
            await asyncio.sleep(0.25)
            rows = await job_rows(db_url)
        ended = time.monotonic() - killed
        # A job's outcome commits just before its holds are settled, and a settle its dead
        # worker never made waits for the sweeper (one hold lease): wait for them to drain.
        holds_at_end = holds = await open_holds(db_url)
        while holds and time.monotonic() - killed < args.give_up:
            await asyncio.sleep(1.0)
            holds = await open_holds(db_url)
        drained = time.monotonic() - killed
    finally:
        cluster.stop()
    unfinished = sum(r["status"] not in ENDED for r in rows)
    failed = [r for r in rows if r["status"] == "failed"]
    return {
        "books": args.books,
        "pages": args.pages,
        "backends": args.backends,
        "heartbeat_s": args.heartbeat,
        "running_at_kill": running,
        "all_ended_after_kill_s": round(ended, 1) if not unfinished else None,
        "unfinished": unfinished,
        "succeeded": sum(r["status"] == "succeeded" for r in rows),
        "succeeded_on_second_run": sum(
            r["status"] == "succeeded" and r["attempts"] == 2 for r in rows
        ),
        "failed": len(failed),
        "failed_codes": sorted({r["error_code"] or "" for r in failed}),
        "holds_open_when_all_ended": holds_at_end,
        "holds_drained_after_kill_s": round(drained, 1) if not holds else None,
        "holds_left": holds,
    }


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    async with fresh_database() as db_url:
        with tempfile.TemporaryDirectory() as tmp:
            return await run(args, db_url, Path(tmp))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=40)
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--backends", default="instant", choices=["instant", "local"])
    parser.add_argument("--kill-after", type=float, default=1.0)
    parser.add_argument("--heartbeat", type=float, default=5.0)
    parser.add_argument("--give-up", type=float, default=180.0)
    figures = asyncio.run(main_async(parser.parse_args()))
    width = max(len(k) for k in figures)
    for k, v in figures.items():
        print(f"{k:<{width}}  {v}")
    print("JSON " + json.dumps(figures))


if __name__ == "__main__":
    main()
