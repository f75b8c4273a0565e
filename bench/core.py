"""Core throughput: credit reservations/s and idempotent job creates/s, embedded (SQLite) and
distributed (PostgreSQL + Redis), through the same runtime the gateway builds.

    .venv/bin/python bench/core.py [--n 2000] [--concurrency 50]

Prints one line per figure. A benchmark, not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.core.idempotency import StoredResponse, fingerprint
from gateway.runtime import Runtime, open_runtime
from gateway.settings import Settings, test_service_urls


async def _bounded(n: int, concurrency: int, fn) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await fn(i)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - started


async def bench_runtime(label: str, rt: Runtime, n: int, concurrency: int) -> None:
    account = await rt.accounts.create("bench", {"sleeperhit": "starter"})
    await rt.ledger.grant(account.id, "sleeperhit.credits", n)

    async def reserve(_: int) -> None:
        await rt.ledger.reserve(account.id, "sleeperhit.credits", 1)

    elapsed = await _bounded(n, concurrency, reserve)
    print(f"{label:<28} reservations/s      {n / elapsed:10.0f}   ({n} in {elapsed:.2f} s)")
    assert await rt.ledger.audit(account.id, "sleeperhit.credits")

    async def create(i: int) -> None:
        body = json.dumps({"prompt": f"story {i}"}).encode()

        async def handler() -> StoredResponse:
            job = await rt.jobs.create(account.id, "storymint", "bench", {"i": i})
            return StoredResponse(200, {}, json.dumps({"job_id": job.id}).encode())

        await rt.idempotency.run(
            account.id, "storymint", f"key-{i}", fingerprint("POST", "/api/generate", body), handler
        )

    elapsed = await _bounded(n, concurrency, create)
    print(f"{label:<28} idempotent creates/s {n / elapsed:10.0f}   ({n} in {elapsed:.2f} s)")

    elapsed = await _bounded(n, concurrency, create)
    print(f"{label:<28} idempotent replays/s {n / elapsed:10.0f}   ({n} in {elapsed:.2f} s)")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), log_level="WARNING")
        async with open_runtime(settings, role="cli") as rt:
            await bench_runtime("embedded (SQLite)", rt, args.n, args.concurrency)

    pg_admin, redis_url = test_service_urls()
    try:
        import asyncpg

        conn = await asyncpg.connect(pg_admin)
    except Exception as exc:
        print(f"distributed: skipped ({exc})")
        return
    name = "sg_bench_" + secrets.token_hex(4)
    await conn.execute(f'CREATE DATABASE "{name}"')
    url = "postgresql+asyncpg://" + pg_admin.split("://", 1)[1].rsplit("/", 1)[0] + "/" + name
    try:
        from gateway.db.engine import Database
        from gateway.db.migrate import upgrade

        db = Database(url)
        await upgrade(db.writer)
        await db.close()
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                data_dir=Path(tmp),
                database_url=url,
                redis_url=redis_url,
                redis_prefix="sgbench:" + secrets.token_hex(4),
                secret="bench",
                log_level="WARNING",
            )
            async with open_runtime(settings, role="cli") as rt:
                await bench_runtime("distributed (PG + Redis)", rt, args.n, args.concurrency)
                async for key in rt.redis.scan_iter(match=settings.redis_prefix + "*"):
                    await rt.redis.delete(key)
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
