"""A real `storygate serve` process on loopback, started per test with its own data dir."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base_url: str
    proc: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def storygate(
    args: list[str], env: dict[str, str] | None = None, **kw
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as operators do (python -m keeps the repo importable for test plugins)."""
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def start_server(
    data_dir: Path, env: dict[str, str | None] | None = None, tag: str = "server"
) -> Server:
    """A server on the instant backends unless ``env`` says otherwise (None unsets a variable)."""
    port = free_port()
    merged = {**os.environ, "STORYGATE_BACKENDS": "instant", **(env or {})}
    out, err = data_dir.parent / f"{tag}-{port}.out", data_dir.parent / f"{tag}-{port}.err"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        cwd=REPO,
        env={k: v for k, v in merged.items() if v is not None},
        stdout=out.open("wb"),
        stderr=err.open("wb"),
    )
    server = Server(f"http://127.0.0.1:{port}", proc, out, err)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}: {server.stderr[-3000:]}")
        try:
            if httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not start: {server.stderr[-3000:]}")


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator:
    started: list[Server] = []

    def make(data_dir: Path | None = None, env: dict[str, str | None] | None = None) -> Server:
        server = start_server(data_dir or tmp_path / "data", env, tag=f"s{len(started)}")
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
