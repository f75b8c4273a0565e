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

A benchmark, not a test: figures depend on the host.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [PY, "-m", "gateway.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"storygate {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip().splitlines()[-1]


def wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{base} exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{base} never became ready")


async def job_states(db_url: str) -> list[tuple[str, int, str | None]]:
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch("SELECT status, attempts, error_code FROM jobs")
        return [(r["status"], r["attempts"], r["error_code"]) for r in rows]
    finally:
        await conn.close()


async def open_holds(db_url: str) -> int:
    conn = await asyncpg.connect(db_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM reservations WHERE state = 'held'"))
    finally:
        await conn.close()


def run(args: argparse.Namespace, db_url: str, prefix: str, data: Path) -> dict[str, object]:
    env = {
        **os.environ,
        "STORYGATE_DATABASE_URL": db_url,
        "STORYGATE_REDIS_URL": REDIS_URL,
        "STORYGATE_REDIS_PREFIX": prefix,
        "STORYGATE_SECRET": secrets.token_hex(32),
        "STORYGATE_BACKENDS": args.backends,
        "STORYGATE_DATA_DIR": str(data),
        "STORYGATE_DEMO": "false",
        "STORYGATE_LOG_LEVEL": "WARNING",
        "STORYGATE_JOB_HEARTBEAT_SECONDS": str(args.heartbeat),
    }
    cli(env, "migrate")
    account = cli(env, "accounts", "create", "bench", "--plan", "storymint=schools")
    cli(env, "accounts", "set-rate", account, "storymint", "0")
    key = cli(env, "keys", "create", account, "storymint")
    ports = [free_port(), free_port()]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            procs.append(
                subprocess.Popen(
                    [PY, "-m", "gateway.cli", "serve", "--port", str(port)],
                    env=env,
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        workers = [
            subprocess.Popen(
                [PY, "-m", "gateway.cli", "worker"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(2)
        ]
        procs += workers
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        for base, proc in zip(bases, procs, strict=False):
            wait_ready(base, proc)
        time.sleep(2)  # the workers connect
        started = time.monotonic()
        with httpx.Client(timeout=30, headers={"X-API-Key": key}) as client:
            for i in range(args.books):
                answer = client.post(
                    f"{bases[i % 2]}/api/generate",
                    json={
                        "prompt": f"A fox who learns to share, tale {i}",
                        "num_pages": args.pages,
                    },
                    headers={"Idempotency-Key": f"bench-{i}"},
                )
                if answer.status_code >= 300:
                    raise SystemExit(f"create {i}: {answer.status_code} {answer.text[:200]}")
        time.sleep(max(0.0, args.kill_after - (time.monotonic() - started)))
        running = sum(s == "running" for s, _, _ in asyncio.run(job_states(db_url)))
        workers[0].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        states: list[tuple[str, int, str | None]] = []
        while time.monotonic() - killed < args.give_up:
            states = asyncio.run(job_states(db_url))
            if all(s in ("succeeded", "failed", "canceled") for s, _, _ in states):
                break
            time.sleep(0.25)
        ended = time.monotonic() - killed
        holds = asyncio.run(open_holds(db_url))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    unfinished = sum(s not in ("succeeded", "failed", "canceled") for s, _, _ in states)
    return {
        "books": args.books,
        "pages": args.pages,
        "backends": args.backends,
        "heartbeat_s": args.heartbeat,
        "running_at_kill": running,
        "all_ended_after_kill_s": round(ended, 1) if not unfinished else None,
        "unfinished": unfinished,
        "succeeded": sum(s == "succeeded" for s, _, _ in states),
        "succeeded_on_second_run": sum(s == "succeeded" and a == 2 for s, a, _ in states),
        "failed": sum(s == "failed" for s, _, _ in states),
        "failed_codes": sorted({c or "" for s, _, c in states if s == "failed"}),
        "holds_left": holds,
    }


async def make_db() -> str:
    name = f"sg_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_db(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=40)
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--backends", default="instant", choices=["instant", "local"])
    parser.add_argument("--kill-after", type=float, default=1.0)
    parser.add_argument("--heartbeat", type=float, default=5.0)
    parser.add_argument("--give-up", type=float, default=180.0)
    args = parser.parse_args()
    name = asyncio.run(make_db())
    prefix = f"sgbench{secrets.token_hex(4)}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            figures = run(args, f"postgresql://postgres@127.0.0.1:5432/{name}", prefix, Path(tmp))
    finally:
        asyncio.run(drop_db(name))
        r = redis.Redis.from_url(REDIS_URL)
        for k in r.scan_iter(f"{prefix}*"):
            r.delete(k)
        for k in r.scan_iter(f"arq:*{prefix}*"):
            r.delete(k)
    width = max(len(k) for k in figures)
    for k, v in figures.items():
        print(f"{k:<{width}}  {v}")
    print("JSON " + json.dumps(figures))


if __name__ == "__main__":
    main()
