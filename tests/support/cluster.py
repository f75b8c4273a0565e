"""A distributed storygate for fault tests: real `serve` and `worker` processes on one
PostgreSQL database and one Redis prefix, plus the two things a test needs to break them
without touching the machine's shared servers — a private ``redis-server`` it may stop and
start again on the same port, and a TCP proxy in front of PostgreSQL it may cut and restore.

Every process writes its output to a file under the test's directory; ``Cluster.report()``
gathers their tails for an assertion message, since a fault test that fails without the
servers' own words is hard to read.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Any, timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(every)


# --- processes --------------------------------------------------------------------------


@dataclass
class Proc:
    """One child process with its output in a file; restartable with the same command."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> Proc:
        if self.alive:
            raise RuntimeError(f"{self.name} is already running")
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts}: {' '.join(self.argv)}\n".encode())
            log.flush()
            # Its own process group: a server's forked workers die with it on ``kill``.
            self.popen = subprocess.Popen(
                self.argv,
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def output(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except FileNotFoundError:
            return ""

    def signal(self, sig: int) -> None:
        if self.alive:
            assert self.popen is not None
            self.popen.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL to the process and everything it forked: no shutdown, no cleanup, as a
        lost machine or the OOM killer would."""
        if self.popen is not None and self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def terminate(self, timeout: float = 15) -> None:
        if self.popen is None or not self.alive:
            return
        self.signal(signal.SIGCONT)  # a paused process cannot act on SIGTERM
        self.popen.terminate()
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):  # anything it forked and left behind
            os.killpg(self.popen.pid, signal.SIGKILL)

    def restart(self) -> Proc:
        self.terminate()
        return self.start()


@dataclass
class Gateway:
    proc: Proc
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        try:
            return httpx.get(self.base_url + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 60) -> Gateway:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.proc.alive:
                raise RuntimeError(f"{self.proc.name} exited:\n{self.proc.output()}")
            if self.ready():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.proc.name} not ready in {timeout} s:\n{self.proc.output()}")


@dataclass
class Account:
    id: str
    keys: dict[str, str] = field(default_factory=dict)

    def headers(self, family: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[family]}


class Cluster:
    """K gateways and M workers sharing ``database_url`` and ``redis_url`` + ``prefix``.

    ``env`` adds or overrides ``STORYGATE_*`` settings for every process; a gateway may be
    given its own database URL (one through ``TcpProxy``) and extra settings.
    """

    def __init__(
        self,
        tmp: Path,
        *,
        database_url: str,
        redis_url: str,
        prefix: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.tmp = tmp
        self.database_url = database_url
        self.redis_url = redis_url
        self.prefix = prefix
        self.secret = secrets.token_hex(32)
        self.data_dir = tmp / "data"
        self.extra = dict(env or {})
        self.gateways: list[Gateway] = []
        self.workers: list[Proc] = []
        self._names = 0

    def env(self, **overrides: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("STORYGATE_")}
        for name in ("STORYGATE_TEST_POSTGRES_URL", "STORYGATE_TEST_REDIS_URL"):
            if name in os.environ:
                base[name] = os.environ[name]
        return {
            **base,
            "STORYGATE_DATABASE_URL": self.database_url,
            "STORYGATE_REDIS_URL": self.redis_url,
            "STORYGATE_REDIS_PREFIX": self.prefix,
            "STORYGATE_SECRET": self.secret,
            "STORYGATE_DEMO": "false",
            "STORYGATE_BACKENDS": "instant",
            "STORYGATE_DATA_DIR": str(self.data_dir),
            "STORYGATE_LOG_JSON": "false",
            **self.extra,
            **overrides,
        }

    def _proc(self, kind: str, args: list[str], env: dict[str, str]) -> Proc:
        self._names += 1
        name = f"{kind}{self._names}"
        argv = [sys.executable, "-m", "gateway.cli", *args]
        return Proc(name, argv, env, self.tmp / f"{name}.log")

    def cli(self, *args: str, timeout: float = 120) -> list[str]:
        """``storygate ARGS`` as an operator runs it; its stdout lines (fails loudly)."""
        result = subprocess.run(
            [sys.executable, "-m", "gateway.cli", *args],
            cwd=REPO,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"storygate {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout.strip().splitlines()

    def migrate(self) -> None:
        self.cli("migrate")

    def start_gateway(
        self,
        *,
        database_url: str | None = None,
        env: dict[str, str] | None = None,
        wait: bool = True,
    ) -> Gateway:
        port = free_port()
        overrides = dict(env or {})
        if database_url is not None:
            overrides["STORYGATE_DATABASE_URL"] = database_url
        proc = self._proc(
            "gateway",
            [
                "serve",
                "--backends",
                "instant",
                "--port",
                str(port),
                "--data-dir",
                str(self.data_dir),
            ],
            self.env(**overrides),
        )
        gateway = Gateway(proc.start(), port)
        self.gateways.append(gateway)
        if wait:
            gateway.wait_ready()
        return gateway

    def start_worker(self, env: dict[str, str] | None = None) -> Proc:
        proc = self._proc("worker", ["worker"], self.env(**(env or {}))).start()
        self.workers.append(proc)
        return proc

    def start(self, gateways: int = 1, workers: int = 1) -> Cluster:
        """Migrate, then start the processes side by side and wait for every gateway."""
        self.migrate()
        started = [self.start_gateway(wait=False) for _ in range(gateways)]
        for _ in range(workers):
            self.start_worker()
        for gateway in started:
            gateway.wait_ready()
        return self

    # -- accounts through the CLI ----------------------------------------------------------

    def create_account(
        self,
        name: str,
        plans: dict[str, str],
        *,
        rates: Mapping[str, int | str] | None = None,
        grants: Mapping[str, int] | None = None,
    ) -> Account:
        """`accounts create` (prints the id), then per family `keys create` (raw key last),
        `accounts set-rate` and `accounts grant`."""
        flags = [arg for family, plan in plans.items() for arg in ("--plan", f"{family}={plan}")]
        account = Account(self.cli("accounts", "create", name, *flags)[-1])
        # The rest are independent: side by side (each CLI run is mostly interpreter start).
        calls: list[tuple[str, ...]] = [("keys", "create", account.id, f) for f in plans]
        calls += [("accounts", "set-rate", account.id, f, str(n)) for f, n in (rates or {}).items()]
        calls += [("accounts", "grant", account.id, w, str(n)) for w, n in (grants or {}).items()]
        with ThreadPoolExecutor(max_workers=len(calls) or 1) as pool:
            outputs = list(pool.map(lambda args: self.cli(*args), calls))
        for family, lines in zip(plans, outputs, strict=False):
            account.keys[family] = lines[-1]
        return account

    # -- teardown and diagnosis -----------------------------------------------------------

    @property
    def procs(self) -> list[Proc]:
        return [g.proc for g in self.gateways] + self.workers

    def report(self, tail: int = 3000) -> str:
        parts = []
        for proc in self.procs:
            state = "alive" if proc.alive else f"exited {proc.popen and proc.popen.returncode}"
            parts.append(f"===== {proc.name} ({state}) =====\n{proc.output(tail)}")
        return "\n".join(parts)

    def stop(self) -> None:
        for proc in self.procs:
            proc.signal(signal.SIGCONT)
            if proc.alive:
                assert proc.popen is not None
                proc.popen.terminate()
        for proc in self.procs:
            proc.terminate(timeout=10)


# --- a private Redis --------------------------------------------------------------------


class RedisServer:
    """``redis-server`` on its own port with no persistence: a test may kill it (state
    lost, as a restarted cache would be), pause it (SIGSTOP: connections hang rather than
    fail, the harder case) and start it again on the same port."""

    def __init__(self, tmp: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc = Proc(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(tmp),
            ],
            dict(os.environ),
            tmp / f"redis-{self.port}.log",
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.settimeout(0.5)
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> RedisServer:
        self.proc.start()
        wait_until(self.ping, 10, f"redis-server on {self.port}: {self.proc.output()}")
        return self

    def kill(self) -> None:
        self.proc.kill()

    def pause(self) -> None:
        self.proc.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.signal(signal.SIGCONT)

    def stop(self) -> None:
        self.proc.terminate(timeout=5)


# --- a TCP proxy that can be cut --------------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; ``cut()`` closes every connection and stops
    listening (new connections are refused, as by a restarting server), ``restore()`` listens
    again on the same port. Runs its own event loop in a thread."""

    def __init__(self, target_host: str, target_port: int, port: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self.restore()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def restore(self) -> None:
        self._call(self._listen())

    def cut(self) -> None:
        self._call(self._cut())

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._serve, "127.0.0.1", self.port, reuse_address=True
            )

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._open):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._open.clear()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._open.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._open.discard(writer)
        self._open.discard(up_writer)


def proxied_url(database_url: str, port: int) -> str:
    """``database_url`` with its host and port replaced by the proxy's."""
    parts = urlsplit(database_url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def pg_target(database_url: str) -> tuple[str, int]:
    parts = urlsplit(database_url)
    return parts.hostname or "127.0.0.1", parts.port or 5432


@contextlib.contextmanager
def cluster(tmp: Path, **kw: Any) -> Iterator[Cluster]:
    """A ``Cluster`` stopped on exit whatever happens."""
    made = Cluster(tmp, **kw)
    try:
        yield made
    finally:
        made.stop()
