"""Behind a load balancer: the client's address comes from X-Forwarded-For only when the request
arrives from a proxy the operator trusts (``STORYGATE_TRUSTED_PROXIES``), on both servers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, storygate

ALLOWED = "10.9.9.9"


def _key(data_dir: Path) -> str:
    env = {"STORYGATE_DATA_DIR": str(data_dir)}
    made = storygate(["accounts", "create", "proxied", "--plan", "sleeperhit=starter"], env)
    assert made.returncode == 0, made.stderr
    account = made.stdout.strip().splitlines()[-1]
    issued = storygate(["keys", "create", account, "sleeperhit", "--allow-ip", ALLOWED], env)
    assert issued.returncode == 0, issued.stderr
    return issued.stdout.strip().splitlines()[-1]


def _credits(server: Server, key: str, forwarded: str | None) -> int:
    headers = {"Authorization": f"Bearer {key}"}
    if forwarded:
        headers["X-Forwarded-For"] = forwarded
    return httpx.get(f"{server.base_url}/api/v1/credits", headers=headers, timeout=30).status_code


@pytest.mark.parametrize("server_kind", ["granian", "uvicorn"])
def test_only_a_trusted_proxy_may_name_the_client(
    server_factory: Callable[..., Server], tmp_path: Path, server_kind: str
) -> None:
    data = tmp_path / "data"
    env = {"STORYGATE_DEMO": "false", "STORYGATE_SERVER": server_kind}
    server = server_factory(data, {**env, "STORYGATE_TRUSTED_PROXIES": "127.0.0.0/8"})
    key = _key(data)
    # The proxy (loopback, trusted) says the client is at the allowed address.
    assert _credits(server, key, ALLOWED) == 200
    # It says the client is elsewhere, or says nothing (the proxy's own address counts).
    assert _credits(server, key, "10.1.1.1") == 403
    assert _credits(server, key, None) == 403
    server.stop()

    # Nobody trusted: the same header from the same address is the client's claim, ignored.
    untrusted = server_factory(data, env)
    assert _credits(untrusted, key, ALLOWED) == 403
