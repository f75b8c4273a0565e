"""``storygate cluster`` as an operator runs it: 2 gateways and 2 workers on a fresh PostgreSQL
database and Redis prefix, one book created on one gateway and read on the other, a worker
killed and restarted, and a SIGTERM that leaves no process behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from gateway.balancer import Balancer
from tests.e2e.conftest import REPO, storygate

pytestmark = pytest.mark.services

STARTED = re.compile(r"^storygate cluster: (\S+) role=(\w+) pid=(\d+)")


def consecutive_free_ports(n: int) -> int:
    """The first of ``n`` free ports in a row."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = int(s.getsockname()[1])
        if first + n > 65535:
            continue
        with contextlib.ExitStack() as stack:
            try:
                for port in range(first, first + n):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return first
    raise RuntimeError("no run of free ports")


class Launcher:
    """The ``storygate cluster`` process and every line it prints, read as it goes."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "cluster", *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, wanted: Callable[[str], bool], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if wanted(line):
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and seen == len(self.lines)):
                    tail = "\n".join(self.lines[-40:])
                    raise AssertionError(f"no such line in {timeout} s; output ends:\n{tail}")
                self._changed.wait(min(left, 0.5))

    def children(self) -> dict[str, int]:
        """name -> pid of the latest start of each child."""
        return {
            m.group(1): int(m.group(3))
            for line in list(self.lines)
            if (m := STARTED.match(line)) and m.group(2) != "balancer"
        }

    def every_pid(self) -> set[int]:
        return {
            int(m.group(3))
            for line in list(self.lines)
            if (m := STARTED.match(line)) and m.group(2) != "balancer"
        }


def running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def group_members(groups: set[int]) -> list[int]:
    """Live processes whose process group is one of ``groups`` (the sessions of the children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[0] != "Z" and int(fields[2]) in groups:
            found.append(int(entry.name))
    return found


@pytest.fixture
def cluster_env(pg_url: str, redis_url: str, redis_prefix: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STORYGATE_")}
    return env | {
        "STORYGATE_DATABASE_URL": pg_url,
        "STORYGATE_REDIS_URL": redis_url,
        "STORYGATE_REDIS_PREFIX": redis_prefix,
        "STORYGATE_DATA_DIR": str(tmp_path / "data"),
        "STORYGATE_DEMO": "false",
        "STORYGATE_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def launched(cluster_env: dict[str, str]) -> Iterator[tuple[Launcher, int, int]]:
    balancer = consecutive_free_ports(3)  # the balancer, then the two gateways
    port = balancer + 1
    args = ["--backends", "instant", "--port", str(port), "--balancer", str(balancer)]
    launcher = Launcher([*args, "--grace", "10"], cluster_env)
    try:
        yield launcher, port, balancer
    finally:
        if launcher.proc.poll() is None:
            launcher.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                launcher.proc.wait(timeout=30)
        for pid in launcher.every_pid():  # only if the launcher failed to: their own sessions
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        launcher.proc.kill()
        launcher.proc.wait()


def book(base: str, poll_base: str, headers: dict[str, str], prompt: str) -> dict[str, object]:
    resp = httpx.post(f"{base}/api/generate", headers=headers, json={"prompt": prompt}, timeout=30)
    assert resp.status_code == 200, resp.text
    job = resp.json()["job_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info = httpx.get(f"{poll_base}/api/status/{job}", headers=headers, timeout=30)
        assert info.status_code == 200, info.text
        if info.json()["status"] != "running":
            return dict(info.json())
        time.sleep(0.2)
    raise AssertionError(f"book {job} not done in 30 s")


async def test_cluster_serves_restarts_and_stops(
    launched: tuple[Launcher, int, int], cluster_env: dict[str, str]
) -> None:
    launcher, port, balancer = launched
    gw1, gw2 = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
    ready = launcher.wait_for(lambda line: line.startswith("storygate cluster ready:"), 90)
    assert ready.split(": ", 1)[1].split() == [gw1, gw2]
    children = launcher.children()
    assert sorted(children) == ["gateway-1", "gateway-2", "worker-1", "worker-2"]
    assert all(running(pid) for pid in children.values())
    assert any(line.startswith("migrate | database at revision") for line in launcher.lines)
    # No STORYGATE_SECRET given: one was made, kept private, and shared by every child.
    secret = Path(cluster_env["STORYGATE_DATA_DIR"]) / "secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    hint = launcher.wait_for(lambda line: line.startswith("storygate cluster: cli env:"), 1)
    assert f"STORYGATE_SECRET=$(cat {secret})" in hint

    cli_env = cluster_env | {"STORYGATE_SECRET": secret.read_text().strip()}
    account = storygate(["accounts", "create", "cl", "--plan", "storymint=max"], cli_env)
    assert account.returncode == 0, account.stderr
    key = storygate(["keys", "create", account.stdout.split()[-1], "storymint"], cli_env)
    assert key.returncode == 0, key.stderr
    headers = {"X-API-Key": key.stdout.split()[-1]}

    done = book(gw1, gw2, headers, "A heron who keeps the lighthouse lit")
    assert done["status"] == "done", done

    old = children["worker-1"]
    os.kill(old, signal.SIGKILL)
    launcher.wait_for(lambda ln: f"worker-1 pid={old} exited (SIGKILL); restart 1 in" in ln, 20)
    line = launcher.wait_for(lambda ln: "worker-1 role=worker" in ln and "restart=1" in ln, 20)
    new = int(STARTED.match(line).group(3))  # type: ignore[union-attr]
    assert new != old and running(new) and not running(old)
    # Through the balancer, onto whichever gateway it picks, with the restarted worker about.
    done = book(f"http://127.0.0.1:{balancer}", gw2, headers, "An otter who maps the river")
    assert done["status"] == "done", done

    pids = launcher.every_pid()
    launcher.proc.send_signal(signal.SIGTERM)
    assert launcher.proc.wait(timeout=40) == 0
    launcher.wait_for(lambda line: line == "storygate cluster stopped", 5)
    assert [pid for pid in pids if running(pid)] == []
    assert group_members(pids) == []  # granian's server processes included


async def test_balancer_skips_a_gateway_that_refuses() -> None:
    """Connections go round the gateways that take them; with none up, a 503."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"up " + await reader.readline())
        await writer.drain()
        writer.close()

    up = await asyncio.start_server(answer, "127.0.0.1", 0)
    up_port = up.sockets[0].getsockname()[1]
    down_port = consecutive_free_ports(1)  # nothing listens there
    targets = [("127.0.0.1", down_port), ("127.0.0.1", up_port)]
    balancer = Balancer(lambda: targets)
    front = consecutive_free_ports(1)
    await balancer.start("127.0.0.1", front)
    try:
        for i in range(4):
            reader, writer = await asyncio.open_connection("127.0.0.1", front)
            writer.write(f"hello {i}\n".encode())
            await writer.drain()
            assert await reader.read() == f"up hello {i}\n".encode()
            writer.close()
        up.close()
        await up.wait_closed()
        reader, writer = await asyncio.open_connection("127.0.0.1", front)
        assert (await reader.read()).startswith(b"HTTP/1.1 503 ")
        writer.close()
    finally:
        await balancer.close()
