"""HTTP load: storygate beside a bare Litestar app on the same ASGI server, driven by wrk.

Why: req/s alone cannot say whether storygate or the host is slow. ``bench/bare_app.py:bare``
answers the same paths with small dicts: the floor server + Litestar set here, so ``ratio`` =
storygate / bare is what storygate's own work (auth, plan lookup, rate limit, job read,
middleware, encoding) leaves of it. Each scenario runs ``--duration`` s at ``--connections``
after a warm-up, bare app first: ``status`` (StoryMint ``GET /api/status/{job_id}`` of a finished
book), ``cb`` (ChildrenBooks ``GET /v1/stories/{id}``), ``replay`` (StoryMint ``POST
/api/generate``, one body and Idempotency-Key; skipped, saying why, where two sends make two
jobs), ``features`` (the bare routes behind a router dependency, a before_request hook and one
middleware, ``BENCH_FEATURES=dep,hook,mw``, against the bare app) and ``fresh`` (a new prompt
each request, schools plan). Modes: embedded (SQLite, temp data dir) and distributed (a new
PostgreSQL database, own Redis prefix, one ``storygate worker``; all removed at the end).
Per-minute limits are lifted by ``storygate accounts set-rate ACCOUNT FAMILY 0`` (quotas and
credits still apply); ``--limits keep`` leaves them on (429s in the non-2xx column).
``--profile DIR`` records the polls with py-spy (collapsed stacks of the GIL holder).

    .venv/bin/python bench/load.py [--mode both] [--server granian|uvicorn|both]
        [--connections 32] [--duration 10] [--threads 2] [--scenarios status,cb,replay,...]

``--mode replicas`` measures the distributed stack instead: 2 gateways and 2 workers started by
``storygate cluster``, one gateway against two, the workers' jobs a second, and the memory of an
idle gateway and of 1,000 open event streams (``bench/replicas.py`` says how).

Needs wrk (``apt-get install wrk``), and PostgreSQL on 127.0.0.1:5432 (user postgres) and Redis
on 127.0.0.1:6379 for distributed mode. A benchmark, not a test: figures depend on the host.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
PG = "postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/0"
SCENARIOS = ("status", "cb", "replay", "features", "fresh")  # fresh last: it leaves a backlog
GENERATE_BODY = {"prompt": "A fox who learns to share", "num_pages": 4}
CB_BODY = json.loads(
    '{"storyIdea": "A little fox who learns to share carrots with forest friends.", "ageRange": '
    '"4-7", "style": "watercolor", "pageCount": 5, "tone": "heartwarming", "language": "english"}'
)
# Counts statuses per wrk thread, sums them in done() and prints one JSON line.
LUA_REPORT = """
counts = {}
local threads = {}
function setup(thread) table.insert(threads, thread); thread:set("tid", #threads) end
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
function done(summary, latency, requests)
  local total, parts = {}, {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("counts")) do total[code] = (total[code] or 0) + n end
  end
  for code, n in pairs(total) do parts[#parts + 1] = string.format('"%d": %d', code, n) end
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %d, "us": %d, "p50": %d, "p99": %d, '
    .. '"socket_errors": %d, "status": {%s}}\\n', summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.timeout,
    table.concat(parts, ", ")))
end
"""
LUA_FRESH = """
tid, n = 0, 0
function request()
  n = n + 1
  return wrk.format(nil, nil, nil, string.format(
    '{"prompt": "Bench story %d-%d about a brave fox", "num_pages": 4}', tid, n))
end
"""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    path: str
    lua: str
    skip: str = ""


@dataclass(frozen=True, slots=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    socket_errors: int

    @property
    def non_2xx(self) -> str:
        bad = {c: n for c, n in sorted(self.statuses.items()) if not 200 <= c < 300}
        if self.socket_errors:
            bad[0] = self.socket_errors  # shown as "sock"
        detail = ",".join(f"{c or 'sock'}:{n}" for c, n in bad.items())
        return f"{sum(bad.values())} ({detail})" if bad else "0"


@dataclass(frozen=True, slots=True)
class Row:
    scenario: str
    mode: str
    server: str
    subject: Load | None
    bare: Load | None
    note: str = ""


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--mode", choices=["embedded", "distributed", "both", "replicas"], default="both"
    )
    p.add_argument("--server", choices=["granian", "uvicorn", "both"], default="granian")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    p.add_argument("--warmup", type=int, default=2, help="seconds of load before each")
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--limits", choices=["lift", "keep"], default="lift")
    p.add_argument("--profile", type=Path, help="py-spy the status poll; stacks go here")
    p.add_argument("--keep", action="store_true", help="keep temp dirs and server logs")
    p.add_argument("--streams", type=int, default=1000, help="replicas: open SSE streams")
    p.add_argument("--drain", type=int, default=60, help="replicas: most seconds of backlog")
    p.add_argument("--pause-workers", action="store_true", help="replicas: none during creates")
    return p.parse_args()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(server: str, target: str, port: int) -> list[str]:
    """One ASGI factory ``module:function`` in one worker process of ``server``."""
    if server == "uvicorn":
        flags = f"--factory --port {port} --no-access-log --log-level warning --proxy-headers"
        return [PY, "-m", "uvicorn", target, *flags.split()]
    flags = (
        f"--interface asgi --factory --port {port} --workers 1 --no-access-log --log-level warning"
    )
    return [PY, "-m", "granian", *flags.split(), target]


def storygate_command(server: str, port: int) -> list[str]:
    """storygate starts as an operator starts it."""
    return [PY, "-m", "gateway.cli", "serve", "--server", server, "--port", str(port)]


def spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the session this script started for it
            proc.wait()


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer in {timeout} s; see {log}")


def cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    run = [PY, "-m", "gateway.cli", *args]
    done = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise SystemExit(f"storygate {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def psql(sql: str) -> None:
    subprocess.run(["psql", f"postgresql://{PG}/postgres", "-qc", sql], check=True)


@contextlib.contextmanager
def mode_env(mode: str, keep: bool) -> Iterator[dict[str, str]]:
    """The environment of every process of one run: its own data dir and, distributed, its own
    database and Redis prefix (all removed on exit unless ``keep``)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"sgbench-{mode}-"))
    db = f"sgbench_{secrets.token_hex(4)}"
    env = os.environ | {"PYTHONPATH": str(ROOT), "STORYGATE_DATA_DIR": str(tmp / "data")}
    env |= {"STORYGATE_BACKENDS": "instant", "STORYGATE_HOST": "127.0.0.1"}
    if mode == "distributed":
        psql(f"CREATE DATABASE {db}")
        env |= {"STORYGATE_DATABASE_URL": f"postgresql://{PG}/{db}", "STORYGATE_REDIS_PREFIX": db}
        env |= {"STORYGATE_REDIS_URL": REDIS_URL, "STORYGATE_SECRET": secrets.token_hex(32)}
    try:
        yield env
    finally:
        if mode == "distributed":
            psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            keys = f"redis-cli -u {REDIS_URL} --scan --pattern '{db}:*'"
            drop = f"{keys} | xargs -r redis-cli -u {REDIS_URL} del"
            subprocess.run(drop, shell=True, stdout=subprocess.DEVNULL, check=False)
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def provision(env: dict[str, str], keep: bool) -> tuple[str, str]:
    """(StoryMint key, ChildrenBooks key) of a new account on unlimited plans, its per-minute
    limits lifted unless ``keep``."""
    plans = ["--plan", "storymint=schools", "--plan", "childrenbooks=premium"]
    account = cli(env, "accounts", "create", "bench", *plans).stdout.split()[-1]
    sm = cli(env, "keys", "create", account, "storymint").stdout.split()[-1]
    cb = cli(env, "keys", "create", account, "childrenbooks").stdout.split()[-1]
    cli(env, "accounts", "grant", account, "childrenbooks.credits", "100000")
    if not keep:
        for family in ("storymint", "childrenbooks"):
            cli(env, "accounts", "set-rate", account, family, "0")
    return sm, cb


def until(client: httpx.Client, path: str, done: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (body := client.get(path).text) and done not in body.replace(" ", ""):
        if time.monotonic() > deadline:
            raise SystemExit(f"{path} not finished after {timeout} s: {body}")
        time.sleep(0.2)


def scenarios(base: str, sm: str, cb: str) -> list[Scenario]:
    """One finished book per family, then the scenarios over them."""
    smc = httpx.Client(base_url=base, headers={"X-API-Key": sm}, timeout=30)
    cbc = httpx.Client(base_url=base, headers={"x-api-key": cb}, timeout=30)
    job = smc.post("/api/generate", json=GENERATE_BODY).raise_for_status().json()["job_id"]
    until(smc, f"/api/status/{job}", '"status":"done"')
    book = cbc.post("/v1/stories", json=CB_BODY).raise_for_status().json()["data"]["bookId"]
    until(cbc, f"/v1/stories/{book}", '"status":"completed"')
    replay = {"Idempotency-Key": f"bench-{secrets.token_hex(6)}"}
    ids = {
        smc.post("/api/generate", json=GENERATE_BODY, headers=replay).json().get("job_id")
        for _ in range(2)
    }
    skip = "" if len(ids) == 1 else "POST /api/generate ignores Idempotency-Key (2 sends: 2 jobs)"
    key = f'wrk.headers["X-API-Key"] = "{sm}"\n'
    post = (
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(json.dumps(GENERATE_BODY))}\n"
    )
    again = f'wrk.headers["Idempotency-Key"] = "{replay["Idempotency-Key"]}"\n'
    return [
        Scenario("status", f"/api/status/{job}", key),
        Scenario("cb", f"/v1/stories/{book}", f'wrk.headers["x-api-key"] = "{cb}"\n'),
        Scenario("replay", "/api/generate", key + post + again, skip),
        Scenario("features", f"/api/status/{job}", key),
        Scenario("fresh", "/api/generate", key + post + LUA_FRESH),
    ]


def wrk(url: str, lua: str, args: argparse.Namespace, seconds: int) -> Load:
    cmd, script = wrk_command(url, lua, args.threads, args.connections, seconds)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    script.unlink()
    return parse_wrk(out)


def wrk_command(
    url: str, lua: str, threads: int, connections: int, seconds: int
) -> tuple[list[str], Path]:
    """The wrk command line and the script file it reads (the caller removes it)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua + LUA_REPORT)
    flags = f"-t {threads} -c {connections} -d {seconds}s --timeout 30s -s {f.name}"
    return ["wrk", *flags.split(), url], Path(f.name)


def parse_wrk(out: str) -> Load:
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    return Load(
        rps=data["requests"] / (data["us"] / 1e6),
        p50_ms=data["p50"] / 1000,
        p99_ms=data["p99"] / 1000,
        statuses={int(k): v for k, v in data["status"].items()},
        socket_errors=data["socket_errors"],
    )


def measure(base: str, sc: Scenario, args: argparse.Namespace) -> Load:
    if args.warmup > 0:
        wrk(base + sc.path, sc.lua, args, args.warmup)
    return wrk(base + sc.path, sc.lua, args, args.duration)


def app_pid(proc: subprocess.Popen[bytes], server: str) -> int:
    """The process running the app: granian's one worker is a child of its main process."""
    if server != "granian":
        return proc.pid
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    return int(children[0]) if children else proc.pid


def profile(base: str, sc: Scenario, pid: int, args: argparse.Namespace, out: Path) -> None:
    """py-spy over one more wrk run of ``sc``: raw stacks to ``out``, a summary printed.
    py-spy pauses the process per sample, so req/s under it is lower; shares are what count."""
    spy = shutil.which("py-spy") or str(Path(PY).with_name("py-spy"))
    if not Path(spy).exists():
        print("  no py-spy (pip install py-spy): not profiled")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    # --gil: samples of the thread holding the GIL (the event loop), not of idle pool threads.
    flags = f"--pid {pid} --gil --format raw --rate 100 --duration {args.duration} --output {out}"
    null = subprocess.DEVNULL
    rec = subprocess.Popen([spy, "record", *flags.split()], stdout=null, stderr=null)
    load = wrk(base + sc.path, sc.lua, args, args.duration + 2)
    rec.wait(timeout=60)
    print(f"  profile of {sc.name} ({load.rps:.0f} req/s under py-spy), stacks in {out}:")
    print("\n".join("    " + line for line in summarise(out)))


def summarise(raw: Path, top: int = 15) -> list[str]:
    """Hottest functions in collapsed stacks (line numbers dropped): by self share of samples,
    then storygate's own functions by total share."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.rpartition(":")[0] + ")" if ":" in f else f for f in stack.split(";")]
        frames = [f or "(native code holding the GIL, no Python frame)" for f in frames]
        own[frames[-1]] += int(count)
        total.update(dict.fromkeys(set(frames), int(count)))
    n = sum(own.values()) or 1
    ours = [f for f, _ in total.most_common() if "gateway/" in f or "adapters/" in f][:top]
    lines = [f"{n} samples   self%  total%"]
    for title, frames in (("by self", [f for f, _ in own.most_common(top)]), ("ours", ours)):
        lines.append(f"-- {title}")
        lines += [f"{100 * own[f] / n:13.1f} {100 * total[f] / n:7.1f}  {f}" for f in frames]
    return lines


def run_combo(mode: str, server: str, args: argparse.Namespace) -> list[Row]:
    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    rows: list[Row] = []
    with mode_env(mode, args.keep) as env, contextlib.ExitStack() as procs:
        logs = Path(env["STORYGATE_DATA_DIR"]).parent
        if mode == "distributed":
            cli(env, "migrate")
            procs.callback(stop, spawn([PY, "-m", "gateway.cli", "worker"], env, logs / "w.log"))
        sm, cb = provision(env, keep=args.limits == "keep")
        port = {name: free_port() for name in ("storygate", "bare", "featured")}
        base = {name: f"http://127.0.0.1:{p}" for name, p in port.items()}
        sg_env = env | {"STORYGATE_PORT": str(port["storygate"])}
        sg_log = logs / "storygate.log"
        sg = spawn(storygate_command(server, port["storygate"]), sg_env, sg_log)
        procs.callback(stop, sg)
        for name in ("bare", "featured"):
            cmd = server_command(server, f"bench.bare_app:{name}", port[name])
            proc = spawn(cmd, env, logs / f"{name}.log")
            procs.callback(stop, proc)
            wait_http(base[name] + "/api/status/warm", proc, logs / f"{name}.log")
        wait_http(base["storygate"] + "/healthz", sg, sg_log)
        for sc in scenarios(base["storygate"], sm, cb):
            if sc.name not in wanted:
                continue
            if sc.skip:
                print(f"  {sc.name}: skipped: {sc.skip}")
                rows.append(Row(sc.name, mode, server, None, None, sc.skip))
                continue
            floor = measure(base["bare"], sc, args)  # first: fresh creates leave work behind
            got = measure(base["featured" if sc.name == "features" else "storygate"], sc, args)
            rows.append(Row(sc.name, mode, server, got, floor))
            print(f"  {sc.name}: {got.rps:.0f} req/s, bare {floor.rps:.0f}", flush=True)
            if sc.name in ("status", "cb") and args.profile:
                raw = args.profile / f"{sc.name}-{mode}-{server}.txt"
                profile(base["storygate"], sc, app_pid(sg, server), args, raw)
        if args.keep:
            print(f"  kept {logs}")
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "scenario|mode|server|sg rps|p50 ms|p99 ms|bare rps|bare p50|bare p99|ratio".split("|")
    ]
    for r in rows:
        s, b = r.subject, r.bare
        if s is None or b is None:
            lines.append([r.scenario, r.mode, r.server, "skip", *[""] * 6, r.note])
            continue
        figures = (s.rps, s.p50_ms, s.p99_ms, b.rps, b.p50_ms, b.p99_ms)
        shown = [f"{x:.0f}" if i in (0, 3) else f"{x:.2f}" for i, x in enumerate(figures)]
        lines.append([r.scenario, r.mode, r.server, *shown, f"{s.rps / b.rps:.3f}", s.non_2xx])
    lines[0].append("non-2xx")
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]) - 1)]
    return "\n".join(
        " | ".join([*(c.ljust(w) for c, w in zip(line, widths, strict=False)), line[-1]])
        for line in lines
    )


def versions() -> str:
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()[:2]
    libs = [f"{p} {version(p)}" for p in ("litestar", "granian", "uvicorn", "uvloop", "msgspec")]
    return ", ".join(
        [f"python {sys.version.split()[0]}", *libs, *wrk_v[1:], f"{os.cpu_count()} CPUs"]
    )


def main() -> int:
    args = parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    if args.mode == "replicas":  # its own module: bench/replicas.py
        sys.path.insert(0, str(ROOT))
        from bench.replicas import run_replicas

        return run_replicas(args)
    modes = ["embedded", "distributed"] if args.mode == "both" else [args.mode]
    servers = ["granian", "uvicorn"] if args.server == "both" else [args.server]
    print(versions())
    print(f"wrk: {args.connections} connections, {args.threads} threads, {args.duration} s each")
    rows: list[Row] = []
    for mode in modes:
        for server in servers:
            print(f"{mode} / {server}", flush=True)
            rows += run_combo(mode, server, args)
    print("\n" + table(rows))
    print("ratio = storygate req/s / bare req/s (features: featured app / bare app)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
