"""The gateway process as an operator meets it: health, readiness, metrics, request ids, JSON
logs, the demo account printed once, and no raw key in any log line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from tests.conftest import REDIS_URL
from tests.e2e.conftest import storygate

KEY_PATTERNS = {
    "storymint": r"sm_[A-Za-z0-9]{40}",
    "childrenbooks": r"cbk_live_[A-Za-z0-9]{40}",
    "storynote": r"sk_live_[A-Za-z0-9]{40}",
    "sleeperhit": r"sh_[0-9a-f]{18}_[0-9a-f]{64}",
}


def demo_keys(stdout: str) -> dict[str, str]:
    keys = {}
    for family, pattern in KEY_PATTERNS.items():
        match = re.search(rf"^\s+{family}\s+({pattern})\s*$", stdout, re.M)
        if match:
            keys[family] = match.group(1)
    return keys


def test_health_ready_metrics(server_factory) -> None:
    server = server_factory()
    assert httpx.get(server.base_url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(server.base_url + "/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok"}
    metrics = httpx.get(server.base_url + "/metrics")
    assert metrics.status_code == 200
    assert "storygate_http_requests_total" in metrics.text
    assert 'route="/healthz"' in metrics.text


def test_request_id_echoed_or_generated(server_factory) -> None:
    server = server_factory()
    echoed = httpx.get(server.base_url + "/healthz", headers={"X-Request-Id": "client-abc.123"})
    assert echoed.headers["x-request-id"] == "client-abc.123"
    fresh = httpx.get(server.base_url + "/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["x-request-id"])
    too_long = httpx.get(server.base_url + "/healthz", headers={"X-Request-Id": "x" * 65})
    assert too_long.headers["x-request-id"] != "x" * 65
    missing = httpx.get(server.base_url + "/no/such/path", headers={"X-Request-Id": "rid-404"})
    assert missing.status_code == 404
    assert missing.headers["x-request-id"] == "rid-404"


def test_json_logs_carry_request_id_and_never_a_raw_key(server_factory) -> None:
    server = server_factory()
    keys = demo_keys(server.stdout)
    assert set(keys) == set(KEY_PATTERNS), server.stdout
    for raw in keys.values():
        httpx.get(
            server.base_url + f"/api/echo/{raw}",
            headers={"X-API-Key": raw, "X-Request-Id": "rid-logs"},
        )
        httpx.get(
            server.base_url + f"/v1/stories/{raw}", headers={"Authorization": f"Bearer {raw}"}
        )
    server.stop()
    lines = [json.loads(line) for line in server.stderr.splitlines() if line.startswith("{")]
    assert any(line.get("request_id") == "rid-logs" for line in lines)
    for raw in keys.values():
        assert raw not in server.stderr
        # SleeperHit's public part may be logged; the secret part never.
        assert raw[-40:] not in server.stderr


def test_demo_account_created_once(server_factory, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = server_factory(data)
    keys = demo_keys(first.stdout)
    assert set(keys) == set(KEY_PATTERNS)
    first.stop()
    second = server_factory(data)
    assert demo_keys(second.stdout) == {}
    assert "demo account" not in second.stdout


def test_distributed_serve_reports_both_services(server_factory, pg_url, redis_prefix) -> None:
    env = {
        "STORYGATE_DATABASE_URL": pg_url,
        "STORYGATE_REDIS_URL": REDIS_URL,
        "STORYGATE_REDIS_PREFIX": redis_prefix,
        "STORYGATE_SECRET": "s3cret",
    }
    migrated = storygate(["migrate"], env)
    assert migrated.returncode == 0, migrated.stderr
    server = server_factory(env=env)
    ready = httpx.get(server.base_url + "/readyz").json()
    assert ready["checks"] == {"database": "ok", "redis": "ok"}
