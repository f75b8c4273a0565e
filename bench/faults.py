"""Faults, measured: what clients of a distributed storygate see while Redis or PostgreSQL is away
and when a gateway replica dies, with the figures ``docs/operations.md`` quotes.

Each scenario starts its own processes with ``tests/support/cluster.py`` (real ``storygate
serve`` and ``storygate worker`` processes, a fresh PostgreSQL database, instant backends) and a
light StoryMint load (``tests/support/load.py``: three clients creating books and following
them, one polling):

* ``redis-stop``: the gateways' private ``redis-server`` is killed and started again empty after
  ``--outage`` seconds (``STORYGATE_RATELIMIT_ON_REDIS_ERROR=deny``, the default);
* ``redis-pause``: the same Redis paused (SIGSTOP: a hung or partitioned Redis) with ``=allow``;
* ``postgres``: the gateway's database connections go through a TCP proxy that is cut (every
  connection closed, new ones refused, as while PostgreSQL restarts) for ``--outage`` seconds;
* ``replica``: 30 clients create books under their own Idempotency-Keys on gateway A, A is
  killed with SIGKILL mid-stream, and the clients retry on B with the same key and body.

Printed per scenario: answers by status before, during and after the fault, the slowest answer
during it, and the recovery times; for ``replica`` the retries and the jobs per key.

    .venv/bin/python bench/faults.py [--outage 10] [--only redis-stop,redis-pause,postgres,replica]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres), Redis on 127.0.0.1:6379 (the postgres and
replica scenarios) and ``redis-server`` on the PATH. A benchmark, not a test: figures depend on
the host; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.cluster import (  # noqa: E402
    RedisServer,
    TcpProxy,
    cluster,
    pg_target,
    proxied_url,
)
from tests.support.load import Sample, StoryMintLoad  # noqa: E402
from tests.support.recovery import check_recovery, jobs_by_status, plain_dsn  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SHARED_REDIS = "redis://127.0.0.1:6379/0"
SCENARIOS = ("redis-stop", "redis-pause", "postgres", "replica")


@asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    name = "sg_faults_" + secrets.token_hex(4)
    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def line(label: str, samples: list[Sample]) -> str:
    tally = StoryMintLoad.tally(samples)
    slowest = max((s.seconds for s in samples), default=0.0)
    shown = ", ".join(f"{k}: {v}" for k, v in tally.items()) or "none"
    return f"  {label:<8} {shown}  (slowest {slowest:.2f} s)"


def phases(load: StoryMintLoad, t_out: float, t_back: float) -> list[str]:
    return [
        line("before", [s for s in load.samples if s.ended < t_out]),
        line("during", load.started_between(t_out, t_back)),
        line("after", load.started_between(t_back, float("inf"))),
    ]


def first_create_after(load: StoryMintLoad, t: float) -> float | None:
    made = [s.ended for s in load.samples if s.kind == "create" and s.status == 200]
    later = [e for e in made if e >= t]
    return min(later) - t if later else None


async def all_jobs_end(pg_url: str, account_id: str, since: float, limit: float = 120) -> float:
    """Seconds from ``since`` until every job of the account is finished."""
    while time.monotonic() - since < limit:
        statuses = await jobs_by_status(pg_url, account_id)
        if all(s in ("succeeded", "failed") for s in statuses.values()):
            return time.monotonic() - since
        await asyncio.sleep(0.25)
    return float("inf")


async def redis_outage(tmp: Path, outage: float, fault: str) -> list[str]:
    mode = "deny" if fault == "stop" else "allow"
    redis = RedisServer(tmp).start()
    try:
        async with fresh_database() as pg_url:
            env = {"STORYGATE_RATELIMIT_ON_REDIS_ERROR": mode}
            with cluster(tmp, database_url=pg_url, redis_url=redis.url, prefix="sg", env=env) as c:
                c.start(gateways=2, workers=1)
                account = c.create_account(
                    "load",
                    {"storymint": "schools", "storynote": "studio"},
                    rates={"storymint": 100_000, "storynote": 100_000},
                )
                urls = [g.base_url for g in c.gateways]
                async with StoryMintLoad(urls, account.headers("storymint")) as load:
                    await asyncio.sleep(3)
                    t_out = time.monotonic()
                    if fault == "stop":
                        redis.kill()
                    else:
                        redis.pause()
                    await asyncio.sleep(outage)
                    if fault == "stop":
                        redis.start()
                    else:
                        redis.resume()
                    t_back = time.monotonic()
                    try:
                        served = await asyncio.wait_for(
                            check_recovery(
                                c,
                                account.headers("storymint"),
                                account.headers("storynote"),
                                t_back,
                            ),
                            60,
                        )
                    except Exception as exc:
                        gone = [p.name for p in c.procs if not p.alive]
                        raise RuntimeError(
                            f"no full service after Redis returned ({type(exc).__name__}); "
                            f"processes that exited: {', '.join(gone) or 'none'}"
                        ) from exc
                    await asyncio.sleep(3)
                ended = await all_jobs_end(pg_url, account.id, t_back)
    finally:
        redis.stop()
    first = first_create_after(load, t_back)
    how = "killed, restarted empty" if fault == "stop" else "paused (SIGSTOP), resumed"
    return [
        f"Redis {how} after {outage:g} s; ON_REDIS_ERROR={mode}; 2 gateways, 1 worker",
        *phases(load, t_out, t_back),
        f"  first load create accepted {first:.2f} s after Redis returned"
        if first is not None
        else "  no load create accepted after Redis returned",
        f"  full service (new book and StoryNote image taken up, events on streams opened "
        f"after the return, other gateway) {served:.2f} s after Redis returned",
        f"  every job admitted before or after finished {ended:.1f} s after Redis returned",
    ]


async def readyz_watch(base: str, stop: asyncio.Event, seen: list[tuple[float, int]]) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        while not stop.is_set():
            try:
                status = (await client.get(base + "/readyz")).status_code
            except httpx.HTTPError:
                status = 0
            seen.append((time.monotonic(), status))
            await asyncio.sleep(0.1)


def first_after(seen: list[tuple[float, int]], t: float, test: Callable[[int], bool]) -> float:
    return next((at - t for at, status in seen if at >= t and test(status)), float("inf"))


async def postgres_cut(tmp: Path, outage: float) -> list[str]:
    async with fresh_database() as pg_url:
        prefix = "sgfaults:" + secrets.token_hex(4)
        with (
            TcpProxy(*pg_target(pg_url)) as proxy,
            cluster(tmp, database_url=pg_url, redis_url=SHARED_REDIS, prefix=prefix) as c,
        ):
            c.migrate()
            gateway = c.start_gateway(database_url=proxied_url(pg_url, proxy.port), wait=False)
            c.start_worker()
            gateway.wait_ready()
            account = c.create_account("load", {"storymint": "schools"}, rates={"storymint": 0})
            seen: list[tuple[float, int]] = []
            stop = asyncio.Event()
            watch = asyncio.create_task(readyz_watch(gateway.base_url, stop, seen))
            async with StoryMintLoad([gateway.base_url], account.headers("storymint")) as load:
                await asyncio.sleep(3)
                t_out = time.monotonic()
                proxy.cut()
                await asyncio.sleep(outage)
                proxy.restore()
                t_back = time.monotonic()
                await asyncio.sleep(5)
            stop.set()
            await watch
            restarted = gateway.proc.starts > 1 or not gateway.proc.alive
        await clear_prefix(prefix)
    noticed = first_after(seen, t_out, lambda s: s == 503)
    ready = first_after(seen, t_back, lambda s: s == 200)
    unready = sum(1 for at, s in seen if t_out <= at < t_back and s != 200)
    polled = sum(1 for at, _ in seen if t_out <= at < t_back)
    first = first_create_after(load, t_back)
    return [
        f"PostgreSQL cut (connections closed, new ones refused) for {outage:g} s; 1 gateway",
        *phases(load, t_out, t_back),
        f"  /readyz 503 {noticed:.2f} s after the cut; {unready} of {polled} readiness polls "
        "during the cut were 503",
        f"  /readyz 200 again {ready:.2f} s after the restore; first load create accepted "
        + (f"{first:.2f} s after" if first is not None else "never")
        + f"; gateway restarted: {'yes' if restarted else 'no'}",
    ]


async def clear_prefix(prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(SHARED_REDIS)
    async for key in client.scan_iter(match=prefix + "*", count=500):
        await client.delete(key)
    await client.aclose()


async def replica_death(tmp: Path) -> list[str]:
    clients, kill_after = 30, 45
    answers: dict[str, list[str]] = defaultdict(list)
    moved: dict[str, int] = {}  # key -> refusals from B before its answer
    made_on_a = 0
    dead = asyncio.Event()
    done_at: list[float] = []

    def body(key: str) -> dict[str, str]:
        return {"prompt": f"A book for {key}"}

    async def client(i: int, a: str, b: str, headers: dict[str, str]) -> None:
        nonlocal made_on_a
        async with httpx.AsyncClient(headers=headers, timeout=20) as http:
            n = 0
            while not dead.is_set():
                key = f"k-{i}-{n}"
                n += 1
                try:
                    got = await http.post(
                        a + "/api/generate", json=body(key), headers={"Idempotency-Key": key}
                    )
                    if got.status_code == 200:
                        answers[key].append(got.json()["job_id"])
                        made_on_a += 1
                        continue
                except httpx.HTTPError:
                    pass
                moved[key] = 0
                while True:
                    got = await http.post(
                        b + "/api/generate", json=body(key), headers={"Idempotency-Key": key}
                    )
                    if got.status_code == 200:
                        answers[key].append(got.json()["job_id"])
                        done_at.append(time.monotonic())
                        return
                    moved[key] += 1
                    await asyncio.sleep(0.2)

    async with fresh_database() as pg_url:
        prefix = "sgfaults:" + secrets.token_hex(4)
        env = {"STORYGATE_IDEMPOTENCY_LOCK_SECONDS": "3", "STORYGATE_LOG_LEVEL": "WARNING"}
        with cluster(tmp, database_url=pg_url, redis_url=SHARED_REDIS, prefix=prefix, env=env) as c:
            c.start(gateways=2, workers=1)
            account = c.create_account("load", {"storymint": "schools"}, rates={"storymint": 0})
            a, b = (g.base_url for g in c.gateways)
            tasks = [
                asyncio.create_task(client(i, a, b, account.headers("storymint")))
                for i in range(clients)
            ]
            while made_on_a < kill_after:
                await asyncio.sleep(0.01)
            c.gateways[0].proc.kill()
            killed = time.monotonic()
            dead.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 120)
            ended = await all_jobs_end(pg_url, account.id, killed)
            conn = await asyncpg.connect(plain_dsn(pg_url))
            rows = await conn.fetch(
                "SELECT params->>'prompt' AS prompt, count(*) AS n FROM jobs "
                "WHERE account_id = $1 GROUP BY 1",
                account.id,
            )
            await conn.close()
        await clear_prefix(prefix)
    duplicates = sum(r["n"] - 1 for r in rows)
    mixed = sum(1 for ids in answers.values() if len(set(ids)) > 1)
    refusals = Counter(moved.values())
    return [
        f"gateway replica killed (SIGKILL) under load; {clients} clients, "
        "Idempotency-Key per book, lock 3 s",
        f"  {len(answers)} keys, {made_on_a} answered by A; {len(moved)} interrupted by the kill "
        "and retried on B",
        f"  B's refusals before the answer (409 while the dead holder's lock lasts): "
        f"{dict(sorted(refusals.items()))} (refusals: keys)",
        f"  last retried key answered {max(done_at) - killed:.2f} s after the kill"
        if done_at
        else "  no key needed B",
        f"  jobs {sum(r['n'] for r in rows)} for {len(answers)} keys; duplicate jobs "
        f"{duplicates}; keys answered with two job ids {mixed}",
        f"  every job finished {ended:.1f} s after the kill",
    ]


async def run(name: str, outage: float) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="sg-faults-") as tmp:
        scenario: Coroutine[Any, Any, list[str]]
        if name == "redis-stop":
            scenario = redis_outage(Path(tmp), outage, "stop")
        elif name == "redis-pause":
            scenario = redis_outage(Path(tmp), outage, "pause")
        elif name == "postgres":
            scenario = postgres_cut(Path(tmp), outage)
        else:
            scenario = replica_death(Path(tmp))
        return await scenario


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=10.0, help="seconds (default 10)")
    parser.add_argument("--only", default=",".join(SCENARIOS))
    args = parser.parse_args(argv)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(wanted) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    for name in wanted:
        started = time.monotonic()
        try:
            lines = asyncio.run(run(name, args.outage))
        except Exception as exc:
            lines = [f"{name}: FAILED: {type(exc).__name__}: {exc}"]
        print(f"[{name}] ({time.monotonic() - started:.0f} s)")
        print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
