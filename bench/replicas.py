"""``bench/load.py --mode replicas``: the distributed stack under wrk, and a gateway's memory.

Load: ``storygate cluster`` (2 gateways, 2 workers; instant backends; a new PostgreSQL database
and Redis prefix; log level WARNING, so no access log passes through the launcher) and one
StoryMint account on the Max plan with a large perpetual grant and no per-minute limit.
Measured, each after a warm-up:

- ``creates``: ``POST /api/generate`` with a new prompt and a new Idempotency-Key per request
  (auth, idempotency record, credit hold, job row, enqueue); ``polls``: ``GET /api/status/{id}``
  of a finished book. Each on gateway 1 alone at ``--connections``, then on both gateways at
  once (two wrk processes, half the connections each; rates summed, p50/p99 the worse of the
  two).
- ``added latency``: p50 of a poll on gateway 1 minus p50 of the bare Litestar app
  (``bench/bare_app.py``, same server, granian) at 1 connection.
- ``jobs/s``: books the 2 workers finished (``succeeded`` rows) during the create runs, and
  after them while they drain the backlog (at most ``--drain`` seconds). ``--pause-workers``
  stops the workers (SIGSTOP) during the create runs, so that on a small machine the creates
  measure the gateways and the drain the workers, each without the other on the same cores.

Memory (``VmRSS`` of the server's whole process tree: granian's main process and its worker):
an idle gateway, embedded and distributed, on the default ``local`` backends; and the growth
of one distributed gateway with ``--streams`` open event streams (``bench/sse_clients.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import re
import resource
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.load import (
    PY,
    Load,
    cli,
    free_port,
    mode_env,
    parse_wrk,
    server_command,
    spawn,
    stop,
    versions,
    wait_http,
    wrk_command,
)
from bench.sse_clients import Rss, StreamFigures, open_streams, rss_tree

CREATES_ONE = 1000.0  # req/s, one gateway process
CREATES_RATIO = 1.7  # two gateways / one
ADDED_MS = 2.0  # p50, storygate minus the bare app
IDLE_MB = 150.0
STREAMS_MB = 100.0
READY = re.compile(r"^storygate cluster ready: (.+)$", re.M)
WORKER = re.compile(r"^storygate cluster: worker-\d+ role=worker pid=(\d+)", re.M)


def lua_creates(key: str, salt: str) -> str:
    """Fresh creates: a new prompt and a new Idempotency-Key per request (``salt`` differs per
    wrk run, so no run replays another's keys; ``tid`` is set per thread by the report part)."""
    return f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "{key}"
tid, n = 0, 0
function request()
  n = n + 1
  local h = {{}}
  for k, v in pairs(wrk.headers) do h[k] = v end
  h["Idempotency-Key"] = string.format("{salt}-%d-%d", tid, n)
  local body = string.format(
    '{{"prompt": "Bench story {salt} %d-%d about a brave fox", "num_pages": 4}}', tid, n)
  return wrk.format(nil, nil, h, body)
end
"""


@dataclass(frozen=True, slots=True)
class Spread:
    """One figure over one or more gateways at once."""

    loads: tuple[Load, ...]

    @property
    def rps(self) -> float:
        return sum(x.rps for x in self.loads)

    @property
    def p50_ms(self) -> float:
        return max(x.p50_ms for x in self.loads)

    @property
    def p99_ms(self) -> float:
        return max(x.p99_ms for x in self.loads)

    @property
    def non_2xx(self) -> int:
        bad = sum(n for x in self.loads for c, n in x.statuses.items() if not 200 <= c < 300)
        return bad + sum(x.socket_errors for x in self.loads)

    def summary(self) -> dict[str, float]:
        return {"rps": self.rps, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "bad": self.non_2xx}


@dataclass(frozen=True, slots=True)
class Drain:
    paused: bool  # the workers were stopped during the create runs
    under_load_per_s: float
    draining_per_s: float
    draining_seconds: float
    succeeded: int
    failed: int
    left: int


@dataclass(frozen=True, slots=True)
class LoadFigures:
    creates_one: Spread
    creates_two: Spread
    polls_one: Spread
    polls_two: Spread
    polls_1c: Spread
    bare_1c: Spread
    workers: Drain


@dataclass(frozen=True, slots=True)
class MemoryFigures:
    idle_embedded: Rss
    idle_distributed: Rss
    streams: StreamFigures


def wrk_together(urls: list[str], scripts: list[str], connections: int, seconds: int) -> Spread:
    """One wrk per URL (2 threads each), all at once, ``connections`` split evenly."""
    each = max(1, connections // len(urls))
    runs = [
        wrk_command(u, s, min(2, each), each, seconds) for u, s in zip(urls, scripts, strict=True)
    ]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for cmd, _ in runs]
    outs = [p.communicate()[0] for p in procs]
    for _, script in runs:
        script.unlink()
    return Spread(tuple(parse_wrk(out) for out in outs))


def first_of_free_run(n: int) -> int:
    def free(port: int) -> bool:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
        return True

    for _ in range(50):
        first = free_port()
        if all(free(p) for p in range(first, first + n)):
            return first
    raise SystemExit("no run of free ports")


def start_cluster(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], list[str]]:
    """``storygate cluster`` as an operator starts it; its gateways' URLs once it says ready."""
    port = first_of_free_run(2)
    cmd = [PY, "-m", "gateway.cli", "cluster", "--backends", "instant", "--port", str(port)]
    proc = spawn(cmd, env, log)
    deadline = time.monotonic() + 120
    while not (found := READY.search(log.read_text(errors="replace"))):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise SystemExit(f"cluster did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
    return proc, found.group(1).split()


def signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)  # the session the launcher started for that worker


def job_counts(env: dict[str, str]) -> dict[str, int]:
    sql = "SELECT status, count(*) FROM jobs GROUP BY status"
    run = ["psql", env["STORYGATE_DATABASE_URL"], "-Atc", sql]
    out = subprocess.run(run, capture_output=True, text=True, check=True).stdout
    return {s: int(n) for s, n in (line.split("|") for line in out.split())}


def account(env: dict[str, str], plans: dict[str, str]) -> dict[str, str]:
    """family -> key of a new account on ``plans``, per-minute limits lifted, credits granted."""
    flags = [a for f, plan in plans.items() for a in ("--plan", f"{f}={plan}")]
    account_id = cli(env, "accounts", "create", "bench", *flags).stdout.split()[-1]
    keys = {}
    for family in plans:
        keys[family] = cli(env, "keys", "create", account_id, family).stdout.split()[-1]
        cli(env, "accounts", "set-rate", account_id, family, "0")
        wallet = {"storymint": "storymint.books", "storynote": "storynote.credits"}[family]
        cli(env, "accounts", "grant", account_id, wallet, "10000000")
    return keys


def finished_book(base: str, key: str) -> str:
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as client:
        job = client.post("/api/generate", json={"prompt": "A fox who learns to share"})
        job_id = str(job.raise_for_status().json()["job_id"])
        deadline = time.monotonic() + 60
        while client.get(f"/api/status/{job_id}").json()["status"] != "done":
            if time.monotonic() > deadline:
                raise SystemExit(f"book {job_id} not done in 60 s")
            time.sleep(0.2)
    return job_id


def drain(
    env: dict[str, str], before: dict[str, int], started: float, cap: int, paused: bool
) -> Drain:
    """Books finished a second: over the create runs, then while the backlog drains."""
    loaded, loaded_at = job_counts(env), time.monotonic()
    now = loaded
    while now.get("queued", 0) + now.get("running", 0) and time.monotonic() < loaded_at + cap:
        time.sleep(1)
        now = job_counts(env)
    drained_at = time.monotonic()
    done = [x.get("succeeded", 0) for x in (before, loaded, now)]
    return Drain(
        paused=paused,
        under_load_per_s=(done[1] - done[0]) / (loaded_at - started),
        draining_per_s=(done[2] - done[1]) / max(drained_at - loaded_at, 1e-9),
        draining_seconds=drained_at - loaded_at,
        succeeded=done[2] - done[0],
        failed=now.get("failed", 0) - before.get("failed", 0),
        left=now.get("queued", 0) + now.get("running", 0),
    )


def load_figures(args: argparse.Namespace) -> LoadFigures:
    with mode_env("distributed", args.keep) as env:
        env = env | {"STORYGATE_LOG_LEVEL": "WARNING"}
        logs = Path(env["STORYGATE_DATA_DIR"]).parent
        cli(env, "migrate")
        key = account(env, {"storymint": "max"})["storymint"]
        cluster, (gw1, gw2) = start_cluster(env, logs / "cluster.log")
        bare_port = free_port()
        bare = spawn(server_command("granian", "bench.bare_app:bare", bare_port), env, logs / "b")
        try:
            wait_http(f"http://127.0.0.1:{bare_port}/api/status/warm", bare, logs / "b")
            path = f"/api/status/{finished_book(gw1, key)}"
            poll = f'wrk.headers["X-API-Key"] = "{key}"\n'
            c = args.connections

            def measured(urls: list[str], conns: int, creates: bool = False) -> Spread:
                def scripts() -> list[str]:  # new keys for every run, warm-up included
                    return [lua_creates(key, secrets.token_hex(4)) if creates else poll] * len(urls)

                if args.warmup > 0:
                    wrk_together(urls, scripts(), conns, args.warmup)
                return wrk_together(urls, scripts(), conns, args.duration)

            print("  polls", flush=True)
            polls_one = measured([gw1 + path], c)
            polls_two = measured([gw1 + path, gw2 + path], c)
            print("  added latency (1 connection)", flush=True)
            bare_1c = measured([f"http://127.0.0.1:{bare_port}{path}"], 1)
            polls_1c = measured([gw1 + path], 1)
            print("  fresh creates", flush=True)
            workers_pids = [int(p) for p in WORKER.findall((logs / "cluster.log").read_text())]
            if args.pause_workers:  # the gateways alone on the machine's cores
                signal_all(workers_pids, signal.SIGSTOP)
            before, started = job_counts(env), time.monotonic()
            creates_one = measured([gw1 + "/api/generate"], c, creates=True)
            creates_two = measured([gw1 + "/api/generate", gw2 + "/api/generate"], c, True)
            print("  workers draining", flush=True)
            signal_all(workers_pids, signal.SIGCONT)
            workers = drain(env, before, started, args.drain, args.pause_workers)
        finally:
            stop(bare)
            stop(cluster)
            if args.keep:
                print(f"  kept {logs}")
    return LoadFigures(creates_one, creates_two, polls_one, polls_two, polls_1c, bare_1c, workers)


def idle_rss(mode: str, args: argparse.Namespace) -> Rss:
    """RSS of a gateway that started and answered a few requests, on the default backends."""
    with mode_env(mode, args.keep) as env:
        env = {k: v for k, v in env.items() if k != "STORYGATE_BACKENDS"}
        env |= {"STORYGATE_DEMO": "false"}
        logs = Path(env["STORYGATE_DATA_DIR"]).parent
        if mode == "distributed":
            cli(env, "migrate")
        port = free_port()
        proc = spawn([PY, "-m", "gateway.cli", "serve", "--port", str(port)], env, logs / "i.log")
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http(base + "/readyz", proc, logs / "i.log")
            for path in ("/readyz", "/api/status/nope", "/v1/stories/nope", "/api/models"):
                httpx.get(base + path, timeout=30)
            time.sleep(3)
            return rss_tree(proc.pid)
        finally:
            stop(proc)


def stream_rss(args: argparse.Namespace) -> StreamFigures:
    """Growth of one gateway's RSS with ``args.streams`` open event streams."""
    with mode_env("distributed", args.keep) as env:
        env = env | {
            "STORYGATE_LOG_LEVEL": "WARNING",
            "STORYGATE_STREAMS_PER_ACCOUNT": str(args.streams + 100),
        }
        logs = Path(env["STORYGATE_DATA_DIR"]).parent
        cli(env, "migrate")
        keys = account(env, {"storymint": "max", "storynote": "studio"})
        port = free_port()
        proc = spawn([PY, "-m", "gateway.cli", "serve", "--port", str(port)], env, logs / "s.log")
        workers: list[subprocess.Popen[bytes]] = []
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http(base + "/readyz", proc, logs / "s.log")

            def start_workers() -> None:
                for i in range(2):
                    cmd = [PY, "-m", "gateway.cli", "worker"]
                    workers.append(spawn(cmd, env, logs / f"w{i}.log"))

            rss = lambda: rss_tree(proc.pid)  # noqa: E731
            return asyncio.run(open_streams(base, keys, args.streams, rss, start_workers))
        finally:
            for w in workers:
                stop(w)
            stop(proc)


def verdict(holds: bool) -> str:
    return "holds" if holds else "DOES NOT HOLD"


def report(load: LoadFigures, memory: MemoryFigures) -> str:
    """The figures as a table, then each target of issue 14 and whether it holds."""
    rows = [["figure", "gateways", "req/s", "p50 ms", "p99 ms", "non-2xx"]]
    for label, gateways, s in (
        ("fresh creates", "1", load.creates_one),
        ("fresh creates", "2", load.creates_two),
        ("polls", "1", load.polls_one),
        ("polls", "2", load.polls_two),
        ("poll, 1 connection", "1", load.polls_1c),
        ("bare app, 1 connection", "-", load.bare_1c),
    ):
        figures = [f"{s.rps:.0f}", f"{s.p50_ms:.2f}", f"{s.p99_ms:.2f}", str(s.non_2xx)]
        rows.append([label, gateways, *figures])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    ratio = load.creates_two.rps / load.creates_one.rps
    added = load.polls_1c.p50_ms - load.bare_1c.p50_ms
    w, sse = load.workers, memory.streams
    idle = max(memory.idle_embedded.total_mb, memory.idle_distributed.total_mb)
    all_first = sse.first_events == sse.streams
    lines += [
        "",
        f"polls two/one: {load.polls_two.rps / load.polls_one.rps:.2f}x",
        "jobs finished by 2 workers (instant): "
        + ("paused during the create runs, " if w.paused else f"{w.under_load_per_s:.0f}/s ")
        + ("" if w.paused else "during the create runs, ")
        + f"{w.draining_per_s:.1f}/s draining the backlog ({w.succeeded} succeeded, "
        f"{w.failed} failed, {w.left} still queued or running after {w.draining_seconds:.0f} s)",
        f"idle gateway RSS, process tree, local backends: embedded "
        f"{memory.idle_embedded.total_mb} MB {memory.idle_embedded.each_mb}, distributed "
        f"{memory.idle_distributed.total_mb} MB {memory.idle_distributed.each_mb}",
        f"{sse.streams} event streams: RSS {sse.before.total_mb} -> {sse.during.total_mb} MB "
        f"(+{sse.growth_mb:.1f} MB, {sse.growth_mb * 1024 / sse.streams:.0f} KB each), opened "
        f"in {sse.open_seconds:.1f} s; first event {sse.first_events}/{sse.streams}; events "
        f"once the work ran {sse.later_events}/{sse.streams}",
        "",
        "targets (issue 14):",
        f"  creates from one gateway >= {CREATES_ONE:.0f}/s: {load.creates_one.rps:.0f}/s, "
        + verdict(load.creates_one.rps >= CREATES_ONE),
        f"  two gateways >= {CREATES_RATIO}x one (creates): {ratio:.2f}x, "
        + verdict(ratio >= CREATES_RATIO),
        f"  gateway's added latency p50 <= {ADDED_MS} ms: {added:.2f} ms, "
        + verdict(added <= ADDED_MS),
        f"  idle gateway < {IDLE_MB:.0f} MB: {idle} MB at most, " + verdict(idle < IDLE_MB),
        f"  {sse.streams} streams add < {STREAMS_MB:.0f} MB: +{sse.growth_mb:.1f} MB, "
        + verdict(sse.growth_mb < STREAMS_MB and all_first),
    ]
    return "\n".join(lines)


def as_json(load: LoadFigures, memory: MemoryFigures) -> str:
    spreads = {
        f.name: getattr(load, f.name).summary()
        for f in dataclasses.fields(load)
        if f.name != "workers"
    }
    figures = spreads | {"workers": dataclasses.asdict(load.workers)}
    return json.dumps(figures | {"memory": dataclasses.asdict(memory)})


def run_replicas(args: argparse.Namespace) -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Enough descriptors for the streams, here and in the servers started from here.
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(versions())
    print(f"load average before: {Path('/proc/loadavg').read_text().strip()}; nofile {hard}")
    print(f"wrk: {args.connections} connections, {args.duration} s each, 2 threads per wrk")
    print("memory: idle gateways", flush=True)
    idle = (idle_rss("embedded", args), idle_rss("distributed", args))
    print(f"memory: {args.streams} event streams", flush=True)
    memory = MemoryFigures(*idle, stream_rss(args))
    print("load: storygate cluster, 2 gateways + 2 workers", flush=True)
    load = load_figures(args)
    print(f"load average after: {Path('/proc/loadavg').read_text().strip()}")
    print("\n" + report(load, memory))
    print("REPLICAS " + as_json(load, memory))
    return 0
