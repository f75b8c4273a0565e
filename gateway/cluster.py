"""``storygate cluster``: gateways and workers on PostgreSQL and Redis from one command.

For trying the distributed mode on one machine, and for the benchmarks and tests of it: N
``storygate serve`` replicas on consecutive ports and N ``storygate worker`` processes, all with
one environment (database, Redis, secret, data directory), after one ``storygate migrate``. A
child that exits unexpectedly is restarted after a short backoff; SIGINT or SIGTERM stops every
child (SIGTERM, then SIGKILL after a grace) and exits 0. In production run the same processes
under a real supervisor (systemd, Kubernetes, ``deploy/compose.yaml``).

Scripts parse the output. The launcher's own lines start with ``storygate cluster``::

    storygate cluster: gateway-1 role=gateway pid=4242 url=http://127.0.0.1:8001
    storygate cluster: worker-1 role=worker pid=4250
    storygate cluster ready: http://127.0.0.1:8001 http://127.0.0.1:8002
    storygate cluster: worker-1 pid=4250 exited (SIGKILL); restart 1 in 1 s
    storygate cluster stopped

and every line a child writes follows its name: ``gateway-1 | {...}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, replace
from urllib.parse import urlsplit, urlunsplit

from gateway.balancer import Balancer
from gateway.settings import Settings, SettingsError, ensure_secret, export_env

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/storygate"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Seconds before restart number n (the last repeats); a child that ran this long starts over.
BACKOFF_SECONDS = (1, 2, 4, 8, 15, 30)
STABLE_SECONDS = 60.0
# Longest line a child may write (longer ones are cut, never a crash of the launcher).
LINE_LIMIT = 1 << 20


class ClusterError(Exception):
    """The cluster cannot start; the message is one line for the operator."""


@dataclass(frozen=True, slots=True)
class ClusterOptions:
    gateways: int = 2
    workers: int = 2
    host: str = "127.0.0.1"
    port: int = 8001  # the first gateway's; the others follow
    balancer: int | None = None
    grace_seconds: float = 10.0
    ready_seconds: float = 120.0


@dataclass(slots=True)
class Child:
    name: str
    role: str  # "gateway" | "worker"
    argv: list[str]
    url: str = ""
    proc: asyncio.subprocess.Process | None = None
    started: float = 0.0
    restarts: int = 0

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None


def say(line: str) -> None:
    print(f"storygate cluster{line}", flush=True)


def cluster_settings(settings: Settings) -> Settings:
    """``settings`` with this machine's defaults where unset: the local PostgreSQL and Redis, an
    absolute data directory, and a secret made once and kept (0600) in it."""
    chosen = settings.with_overrides(
        database_url=settings.database_url or DEFAULT_DATABASE_URL,
        redis_url=settings.redis_url or DEFAULT_REDIS_URL,
        data_dir=settings.data_dir.resolve(),
    )
    if not chosen.database_url.startswith("postgresql"):
        raise ClusterError("storygate cluster needs PostgreSQL (STORYGATE_DATABASE_URL)")
    if not chosen.secret:
        # The embedded mode's kept secret, made the same careful way (ensure_secret refuses
        # distributed settings, which must bring their own).
        kept = ensure_secret(replace(chosen, database_url="", redis_url=""))
        chosen = replace(chosen, secret=kept.secret)
    return chosen


def shown_url(url: str) -> str:
    """A URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


async def ensure_database(url: str) -> bool:
    """Create the database ``url`` names when it does not exist (through the server's
    ``postgres`` database); True when it was created."""
    import asyncpg

    dsn = "postgresql://" + url.split("://", 1)[1]
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except asyncpg.InvalidCatalogNameError:
        pass
    except (OSError, asyncpg.PostgresError) as exc:
        raise ClusterError(f"PostgreSQL at {shown_url(url)}: {exc}") from None
    else:
        await conn.close()
        return False
    parts = urlsplit(dsn)
    name = parts.path.lstrip("/")
    admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")), timeout=10)
    try:
        quoted = name.replace('"', '""')
        with contextlib.suppress(asyncpg.DuplicateDatabaseError):  # another launcher won
            await admin.execute(f'CREATE DATABASE "{quoted}"')
    finally:
        await admin.close()
    return True


async def check_redis(url: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url, socket_connect_timeout=5)
    try:
        await client.ping()
    except Exception as exc:
        raise ClusterError(f"Redis at {shown_url(url)}: {exc}") from None
    finally:
        await client.aclose()


def check_port_free(host: str, port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ClusterError(f"port {port} on {host} is not free: {exc.strerror}") from None


def exit_reason(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return signal.Signals(-code).name
        return f"signal {-code}"
    return f"status {code}"


def kill_group(pid: int, sig: int) -> None:
    """Signal the session this launcher started for one child (its server workers, model
    processes); nothing outside it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class Cluster:
    """The children and their supervision; ``run`` returns the exit status."""

    def __init__(
        self, settings: Settings, options: ClusterOptions, *, secret_kept: bool = False
    ) -> None:
        self.settings = settings
        self.secret_kept = secret_kept  # made by the launcher and kept in the data dir
        self.options = options
        self.stopping = asyncio.Event()
        self.ready = False
        self.failure = ""
        cmd = [sys.executable, "-m", "gateway.cli"]
        host = options.host
        self.children = [
            Child(
                f"gateway-{i + 1}",
                "gateway",
                [*cmd, "serve", "--host", host, "--port", str(options.port + i)],
                url=f"http://{host}:{options.port + i}",
            )
            for i in range(options.gateways)
        ] + [Child(f"worker-{i + 1}", "worker", [*cmd, "worker"]) for i in range(options.workers)]
        self.balancer = Balancer(self.live_gateways)
        self._pumps: list[asyncio.Task[None]] = []

    def live_gateways(self) -> list[tuple[str, int]]:
        return [
            (self.options.host, self.options.port + i)
            for i, child in enumerate(c for c in self.children if c.role == "gateway")
            if child.alive
        ]

    def fail(self, message: str) -> None:
        self.failure = self.failure or message
        self.stopping.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        supervisors: list[asyncio.Task[None]] = []
        try:
            await self.prepare()
            if not self.stopping.is_set():
                supervisors = [asyncio.create_task(self.supervise(c)) for c in self.children]
                waiting = asyncio.create_task(self.wait_ready())
                await self.stopping.wait()
                waiting.cancel()
        except ClusterError as exc:
            self.fail(str(exc))
        finally:
            await self.shutdown()
            await asyncio.gather(*supervisors, return_exceptions=True)
            await asyncio.gather(*self._pumps, return_exceptions=True)
        if self.failure:
            print(f"storygate: error: {self.failure}", file=sys.stderr, flush=True)
            return 2
        say(" stopped")
        return 0

    async def prepare(self) -> None:
        """Everything the children need before they start; one clear line when it fails."""
        s, o = self.settings, self.options
        if o.gateways < 1 or o.workers < 0:
            raise ClusterError("--gateways must be at least 1 and --workers at least 0")
        for port in [o.port + i for i in range(o.gateways)] + ([o.balancer] if o.balancer else []):
            check_port_free(o.host, port)
        if await ensure_database(s.database_url):
            say(f": created database {urlsplit(s.database_url).path.lstrip('/')}")
        await check_redis(s.redis_url)
        say(
            f": database {shown_url(s.database_url)} redis {shown_url(s.redis_url)} "
            f"prefix {s.redis_prefix} data {s.data_dir} backends {s.backends}"
        )
        secret = "$(cat " + str(s.data_dir / "secret") + ")" if self.secret_kept else "..."
        say(
            f": cli env: STORYGATE_DATABASE_URL={shown_url(s.database_url)} "
            f"STORYGATE_REDIS_URL={shown_url(s.redis_url)} STORYGATE_REDIS_PREFIX={s.redis_prefix} "
            f"STORYGATE_SECRET={secret}"
        )
        export_env(s)  # every child inherits exactly these settings
        migrate = Child("migrate", "migrate", [sys.executable, "-m", "gateway.cli", "migrate"])
        await self.spawn(migrate, announce=False)
        assert migrate.proc is not None
        code = await migrate.proc.wait()
        if code != 0:
            raise ClusterError(f"storygate migrate failed ({exit_reason(code)}; output above)")
        if o.balancer:
            await self.balancer.start(o.host, o.balancer)
            targets = " ".join(c.url for c in self.children if c.role == "gateway")
            say(
                f": balancer role=balancer pid={os.getpid()} url=http://{o.host}:{o.balancer} "
                f"targets={targets.replace(' ', ',')}"
            )

    async def spawn(self, child: Child, *, announce: bool = True) -> None:
        child.proc = await asyncio.create_subprocess_exec(
            *child.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own group: a terminal's Ctrl-C reaches the launcher
            limit=LINE_LIMIT,
        )
        child.started = time.monotonic()
        self._pumps.append(asyncio.create_task(self.pump(child.name, child.proc)))
        if announce:
            url = f" url={child.url}" if child.url else ""
            again = f" restart={child.restarts}" if child.restarts else ""
            say(f": {child.name} role={child.role} pid={child.proc.pid}{url}{again}")

    async def pump(self, name: str, proc: asyncio.subprocess.Process) -> None:
        """The child's output, each line after its name."""
        assert proc.stdout is not None
        prefix = f"{name} | ".encode()
        out = sys.stdout.buffer
        while True:
            try:
                line = await proc.stdout.readline()
            except ValueError:  # a line past LINE_LIMIT: what was read is dropped
                line = b"(line too long, cut)\n"
            if not line:
                return
            with contextlib.suppress(OSError):
                out.write(prefix + line if line.endswith(b"\n") else prefix + line + b"\n")
                out.flush()

    async def supervise(self, child: Child) -> None:
        await self.spawn(child)
        while True:
            assert child.proc is not None
            code = await child.proc.wait()
            kill_group(child.proc.pid, signal.SIGKILL)  # what it left behind (model processes)
            if self.stopping.is_set():
                return
            if not self.ready:
                self.fail(f"{child.name} exited ({exit_reason(code)}) before the cluster was ready")
                return
            if time.monotonic() - child.started >= STABLE_SECONDS:
                child.restarts = 0
            delay = BACKOFF_SECONDS[min(child.restarts, len(BACKOFF_SECONDS) - 1)]
            child.restarts += 1
            say(
                f": {child.name} pid={child.proc.pid} exited ({exit_reason(code)}); "
                f"restart {child.restarts} in {delay} s"
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            if self.stopping.is_set():
                return
            await self.spawn(child)

    async def wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + self.options.ready_seconds
        pending = [c for c in self.children if c.role == "gateway"]
        async with httpx.AsyncClient(timeout=2) as client:
            while pending:
                if time.monotonic() > deadline:
                    names = ", ".join(c.name for c in pending)
                    self.fail(f"{names} not ready after {self.options.ready_seconds:.0f} s")
                    return
                for child in list(pending):
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(child.url + "/readyz")).status_code == 200:
                            pending.remove(child)
                await asyncio.sleep(0.2)
        self.ready = True
        urls = " ".join(c.url for c in self.children if c.role == "gateway")
        say(f" ready: {urls}")

    async def shutdown(self) -> None:
        """SIGTERM to every child, SIGKILL to the groups of those still up after the grace."""
        await self.balancer.close()
        live = [c for c in self.children if c.alive]
        if live:
            say(f": stopping {len(live)} children")
        for child in live:
            assert child.proc is not None
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGTERM)
        waits = [c.proc.wait() for c in live if c.proc is not None]
        if waits:
            _, late = await asyncio.wait(
                [asyncio.ensure_future(w) for w in waits], timeout=self.options.grace_seconds
            )
            if late:
                grace = self.options.grace_seconds
                say(f": {len(late)} children still up after {grace} s: SIGKILL")
        for child in self.children:
            if child.proc is not None:
                kill_group(child.proc.pid, signal.SIGKILL)
                await child.proc.wait()


def run_cluster(settings: Settings, options: ClusterOptions) -> int:
    try:
        chosen = cluster_settings(settings)
    except (ClusterError, SettingsError) as exc:
        print(f"storygate: error: {exc}", file=sys.stderr)
        return 2
    kept = not settings.secret
    return asyncio.run(Cluster(chosen, options, secret_kept=kept).run())
