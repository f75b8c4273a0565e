"""PostgreSQL restarts under a running gateway: its database connections go through a TCP proxy
the test cuts (every connection closed, new ones refused, as while PostgreSQL restarts) and
restores, without touching the machine's shared server.

While cut, ``/readyz`` says 503 (so a load balancer stops sending traffic) and a StoryMint
request that needs the database is StoryMint's 503 envelope, answered at once rather than
hanging. Once restored, the same gateway process — not restarted — is ready again within a few
seconds and makes books again.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.support.cluster import TcpProxy, cluster, pg_target, proxied_url, wait_until

CUT_SECONDS = 5.0
# Readiness pings the database with a 2 s timeout; a refused connection fails at once.
NOTICED_WITHIN = 5.0
BACK_WITHIN = 5.0


def readyz(base: str) -> tuple[int, dict]:
    answer = httpx.get(base + "/readyz", timeout=10)
    return answer.status_code, answer.json()


def unready(base: str) -> dict | None:
    """The readiness report while it says 503, else None."""
    status, body = readyz(base)
    return body if status == 503 else None


def make_book(base: str, headers: dict[str, str]) -> str:
    answer = httpx.post(base + "/api/generate", headers=headers, json={"prompt": "an owl"})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["job_id"])


def book_done(base: str, headers: dict[str, str], job_id: str) -> bool:
    answer = httpx.get(f"{base}/api/status/{job_id}", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    status = answer.json()["status"]
    assert status != "error", answer.text
    return bool(status == "done")


def test_gateway_rides_out_a_postgres_restart(
    pg_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    with (
        TcpProxy(*pg_target(pg_url)) as proxy,
        cluster(tmp_path, database_url=pg_url, redis_url=redis_url, prefix=redis_prefix) as c,
    ):
        c.migrate()
        gateway = c.start_gateway(database_url=proxied_url(pg_url, proxy.port), wait=False)
        c.start_worker()
        gateway.wait_ready()
        account = c.create_account("tenant", {"storymint": "schools"})
        headers, base = account.headers("storymint"), gateway.base_url
        job_id = make_book(base, headers)
        wait_until(lambda: book_done(base, headers, job_id), 20, "a book before the cut")
        assert proxy.connections > 0  # the gateway really talks through the proxy

        proxy.cut()
        cut_at = time.monotonic()
        body = wait_until(
            lambda: unready(base), NOTICED_WITHIN, "/readyz 503 while PostgreSQL is away"
        )
        assert body["status"] == "unavailable", body
        assert body["checks"]["database"].startswith("error"), body
        assert body["checks"]["redis"] == "ok", body

        started = time.monotonic()
        refused = httpx.post(
            base + "/api/generate", headers=headers, json={"prompt": "an owl"}, timeout=30
        )
        answered_in = time.monotonic() - started
        assert refused.status_code == 503, (refused.status_code, refused.text, c.report())
        assert set(refused.json()) <= {"error", "detail"}, refused.text
        assert isinstance(refused.json()["error"], str)
        print("refused while cut:", refused.json(), f"in {answered_in:.2f} s")
        assert answered_in < 3, answered_in
        while time.monotonic() - cut_at < CUT_SECONDS:  # stay down a while, still not ready
            assert readyz(base)[0] == 503
            time.sleep(0.5)

        proxy.restore()
        back_at = time.monotonic()
        wait_until(lambda: readyz(base)[0] == 200, BACK_WITHIN, "/readyz 200 after the restart")
        ready_in = time.monotonic() - back_at
        job_id = make_book(base, headers)
        wait_until(lambda: book_done(base, headers, job_id), 20, "a book after the restart")
        assert gateway.proc.starts == 1 and gateway.proc.alive, c.report()
        assert ready_in <= BACK_WITHIN
