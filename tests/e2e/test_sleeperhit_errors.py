"""Every one of SleeperHit's 23 error codes, produced over real HTTP against a real server on
the instant backends, each at the status the reference's table gives, in the envelope
``{"error": {"code", "message", "requestId", "details"?}}`` with ``X-Request-Id`` equal to
``requestId``; the ``RateLimit-*`` headers on every answer (errors included) and
``Retry-After`` on a 429; and the promise that a refused request changes nothing (no project,
source, plan or job appears and the balance stays where it was).

How the awkward codes are reached deterministically:

* ``artifact_not_ready``: the server runs one job at a time (``STORYGATE_JOB_CONCURRENCY=1``)
  and may fetch from ``127.0.0.2`` only, where the harness's ``HoldServer`` answers when the
  test lets it. A URL source pointing there holds the only worker, so a story job created
  meanwhile stays ``RESERVED`` with its artifact ``PENDING`` for as long as the test wants.
* ``artifact_generation_failed``: that same held job, canceled — a canceled job's artifacts are
  ``FAILED`` — then finalized.
* ``internal_error`` cannot be caused from outside without breaking the server: the one path
  that raises it on purpose is the rate limiter's store being unreachable, which needs Redis
  (embedded mode meters in process), and every other 500 is an unexpected exception — the
  hostile inputs tried here (lone surrogates, 30-digit integers in metadata, huge query
  integers) are all answered 4xx. ``test_internal_error_is_in_the_table`` checks its row.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from contracts.sleeperhit import ERROR_CODES
from gateway.runtime import Runtime
from tests.e2e.sleeperhit_harness import (
    RATE_HEADERS,
    TABLE_READ,
    TARGET,
    HoldServer,
    SleeperHitServer,
    Tenant,
    approved_plan,
    balance,
    expect_error,
    extra_key,
    hold_worker,
    new_plan,
    new_project,
    poll,
    post,
    rate_headers,
    start,
    text_source,
    wait_job,
)


@pytest.fixture(scope="module")
def hold() -> Iterator[HoldServer]:
    found = HoldServer()
    yield found
    found.close()


@pytest.fixture(scope="module")
def sh(tmp_path_factory: pytest.TempPathFactory, hold: HoldServer) -> Iterator[SleeperHitServer]:
    # One job at a time, fetching from the hold server's address only: 127.0.0.1 stays
    # refused, as every private address.
    server = start(tmp_path_factory.mktemp("sh-errors"), hold.env)
    yield server
    server.server.stop()


@pytest.fixture(scope="module")
def owner(sh: SleeperHitServer) -> Tenant:
    return sh.tenant()


def _ids(answer: httpx.Response, field: str) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()[field]]


def snapshot(client: httpx.Client, project_id: str | None = None) -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    state: dict[str, Any] = {
        "projects": _ids(client.get("/story-projects", params={"limit": 100}), "projects"),
        "jobs": _ids(client.get("/story-jobs", params={"limit": 100}), "jobs"),
        "balance": balance(client),
    }
    if project_id is not None:
        path = f"/story-projects/{project_id}"
        state["sources"] = _ids(client.get(f"{path}/sources", params={"limit": 100}), "sources")
        state["plans"] = _ids(client.get(f"{path}/story-plans", params={"limit": 100}), "plans")
    return state


@contextmanager
def unchanged(client: httpx.Client, project_id: str | None = None) -> Iterator[None]:
    before = snapshot(client, project_id)
    yield
    assert snapshot(client, project_id) == before


def _bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def _get(sh: SleeperHitServer, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(f"{sh.base}/api/v1{path}", headers=headers or {}, timeout=30)


# -- 401 / 403: who is calling ---------------------------------------------------------------------


def test_authentication_required_without_a_bearer_key(sh: SleeperHitServer, owner: Tenant) -> None:
    expect_error(_get(sh, "/story-projects"), "authentication_required")
    for header in ("Bearer", "Basic dXNlcjpwYXNz", owner.key):
        expect_error(_get(sh, "/credits", {"Authorization": header}), "authentication_required")
    # The key anywhere but the Authorization header is no key at all.
    expect_error(_get(sh, "/credits", {"X-API-Key": owner.key}), "authentication_required")
    with sh.client() as anonymous:
        expect_error(post(anonymous, "/story-projects", {"name": "x"}), "authentication_required")


def test_invalid_api_key_malformed_unknown_or_wrong_secret(
    sh: SleeperHitServer, owner: Tenant
) -> None:
    prefix, secret = owner.key.rsplit("_", 1)
    wrong_secret = f"{prefix}_{'0' * 64 if secret != '0' * 64 else '1' * 64}"
    for raw in (
        "nope",
        "sh_your_key_here",
        owner.key.upper(),  # hex is lowercase
        owner.key + "0",
        f"sh_{'a' * 18}_{'b' * 64}",  # well formed, never issued
        wrong_secret,  # a real prefix with another secret
    ):
        expect_error(_get(sh, "/credits", _bearer(raw)), "invalid_api_key")
    assert _get(sh, "/credits", _bearer(owner.key)).status_code == 200


def test_api_key_revoked_before_and_after_first_use(sh: SleeperHitServer) -> None:
    fresh = sh.tenant()
    sh.core(lambda rt: rt.keys.revoke(fresh.key_id))
    expect_error(_get(sh, "/credits", fresh.headers), "api_key_revoked")

    used = sh.tenant()
    assert _get(sh, "/credits", used.headers).status_code == 200
    sh.core(lambda rt: rt.keys.revoke(used.key_id))
    # The server caches a verified key for a second; the revocation shows within that.
    deadline = time.monotonic() + 5
    while (answer := _get(sh, "/credits", used.headers)).status_code == 200:
        assert time.monotonic() < deadline, "a revoked key kept working"
        time.sleep(0.1)
    expect_error(answer, "api_key_revoked")


def test_api_key_expired(sh: SleeperHitServer) -> None:
    expired = sh.tenant(expires_at=datetime.now(UTC) - timedelta(minutes=1))
    expect_error(_get(sh, "/credits", expired.headers), "api_key_expired")
    live = sh.tenant(expires_at=datetime.now(UTC) + timedelta(days=1))
    assert _get(sh, "/credits", live.headers).status_code == 200


def test_account_disabled_and_enabled_again(sh: SleeperHitServer) -> None:
    tenant = sh.tenant()
    sh.core(lambda rt: rt.accounts.set_disabled(tenant.account_id, True))
    expect_error(_get(sh, "/credits", tenant.headers), "account_disabled")
    expect_error(_get(sh, "/story-projects", tenant.headers), "account_disabled")
    sh.core(lambda rt: rt.accounts.set_disabled(tenant.account_id, False))
    deadline = time.monotonic() + 5
    while (answer := _get(sh, "/credits", tenant.headers)).status_code != 200:
        expect_error(answer, "account_disabled")
        assert time.monotonic() < deadline, "an enabled account stayed disabled"
        time.sleep(0.1)


def test_ip_allowlist(sh: SleeperHitServer) -> None:
    elsewhere = sh.tenant(ip_allowlist=["10.9.9.9"])
    expect_error(_get(sh, "/credits", elsewhere.headers), "ip_not_allowed")
    # A client cannot talk its way in by naming an allowed address.
    spoofed = {
        **elsewhere.headers,
        "X-Forwarded-For": "10.9.9.9",
        "X-Real-IP": "10.9.9.9",
        "Forwarded": "for=10.9.9.9",
    }
    expect_error(_get(sh, "/credits", spoofed), "ip_not_allowed")
    here = sh.tenant(ip_allowlist=["127.0.0.1"])
    assert _get(sh, "/credits", here.headers).status_code == 200
    subnet = sh.tenant(ip_allowlist=["10.0.0.0/8", "127.0.0.0/8"])
    assert _get(sh, "/credits", subnet.headers).status_code == 200


def test_insufficient_scope_changes_nothing(sh: SleeperHitServer) -> None:
    tenant = sh.tenant()
    with sh.client(tenant) as full:
        project_id = new_project(full)
        reader = extra_key(sh, tenant, ["story:read", "credits:read"])
        with sh.client(reader) as c, unchanged(full, project_id):
            error = expect_error(post(c, "/story-projects", {"name": "x"}), "insufficient_scope")
            assert error["details"]["required"] == "story:write", error
            expect_error(
                post(c, f"/story-projects/{project_id}/sources", {"type": "text", "content": "x"}),
                "insufficient_scope",
            )
            expect_error(c.delete(f"/story-projects/{project_id}"), "insufficient_scope")
            expect_error(
                post(
                    c,
                    f"/story-projects/{project_id}/story-plans",
                    {"target": TARGET, "artifactRequests": [TABLE_READ]},
                ),
                "insufficient_scope",
            )
            assert c.get(f"/story-projects/{project_id}").status_code == 200


# -- 429 -------------------------------------------------------------------------------------------


def _fresh_window() -> None:
    """Limits count in windows aligned to the minute: start a burst well inside one."""
    left = 60 - time.time() % 60
    if left < 4:
        time.sleep(left + 0.2)


def test_rate_limited_per_key_and_route_family(sh: SleeperHitServer) -> None:
    tenant = sh.tenant(unmetered=False)
    with sh.client(tenant) as c:
        _fresh_window()
        for i in range(120):
            answer = c.get("/credits")
            assert answer.status_code == 200, (i, answer.text)
            limit, remaining, reset = rate_headers(answer)
            assert (limit, remaining) == (120, 119 - i)
            assert 1 <= reset <= 60
        refused = c.get("/credits")
        expect_error(refused, "rate_limited")
        limit, remaining, _ = rate_headers(refused)
        assert (limit, remaining) == (120, 0)
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # Refused requests do not count against the window; it stays refused.
        expect_error(c.get("/credits"), "rate_limited")
        # Another route family has its own budget: credits spent, projects still answer.
        projects = c.get("/story-projects")
        assert projects.status_code == 200, projects.text
        assert rate_headers(projects)[:2] == (120, 119)
        assert "retry-after" not in projects.headers
    # Per key: another key of the same account from the same address starts afresh.
    with sh.client(extra_key(sh, tenant)) as other:
        assert other.get("/credits").status_code == 200


def test_elevated_keys_get_600_a_minute(sh: SleeperHitServer) -> None:
    elevated = sh.tenant(unmetered=False, elevated=True)
    with sh.client(elevated) as c:
        answer = c.get("/credits")
        assert answer.status_code == 200
        assert rate_headers(answer)[0] == 600


# -- idempotency -----------------------------------------------------------------------------------


def test_idempotency_key_required_on_finalize(sh: SleeperHitServer, owner: Tenant) -> None:
    with sh.client(owner) as c, unchanged(c):
        for artifact_id in ("art_" + "0" * 24, "anything"):
            expect_error(
                c.post(f"/artifacts/{artifact_id}/finalize", json={"mode": "audio"}),
                "idempotency_key_required",
            )
            expect_error(
                c.post(
                    f"/artifacts/{artifact_id}/finalize",
                    json={"mode": "audio"},
                    headers={"Idempotency-Key": ""},
                ),
                "idempotency_key_required",
            )


def test_idempotency_conflict_and_replay(sh: SleeperHitServer) -> None:
    tenant = sh.tenant()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    with sh.client(tenant) as c:
        first = c.post(
            "/story-projects", json={"name": "One", "metadata": {"a": 1, "b": 2}}, headers=key
        )
        assert first.status_code == 200, first.text
        assert "idempotency-replayed" not in first.headers
        with unchanged(c):
            # The same body, keys reordered and spaced differently: a replay.
            again = c.post(
                "/story-projects",
                content=b'{ "metadata": {"b": 2, "a": 1}, "name": "One" }',
                headers={**key, "Content-Type": "application/json"},
            )
            assert again.status_code == 200, again.text
            assert again.headers["idempotency-replayed"] == "true"
            assert again.json() == first.json()
            conflict = c.post("/story-projects", json={"name": "Two"}, headers=key)
            expect_error(conflict, "idempotency_conflict")
            # The same key on another route is another operation's key, refused too.
            other_route = c.post(
                f"/story-projects/{first.json()['project']['id']}/sources",
                json={"type": "text", "content": "x"},
                headers=key,
            )
            expect_error(other_route, "idempotency_conflict")
        assert _ids(c.get("/story-projects"), "projects") == [first.json()["project"]["id"]]


# -- 422 validation_failed and routing -------------------------------------------------------------


def test_validation_failed_bodies_change_nothing(sh: SleeperHitServer, owner: Tenant) -> None:
    with sh.client(owner) as c:
        project_id = new_project(c, "validation")
        with unchanged(c, project_id):
            for name in ("", " ", "x" * 201):
                expect_error(post(c, "/story-projects", {"name": name}), "validation_failed")
            expect_error(post(c, "/story-projects", {}), "validation_failed")
            expect_error(post(c, "/story-projects", {"name": 5}), "validation_failed")
            expect_error(
                post(c, "/story-projects", {"name": "ok", "description": "d" * 4001}),
                "validation_failed",
            )
            for body in (b"{bad", b"", b"[]", b'{"name": "x"', b"null"):
                answer = c.post(
                    "/story-projects",
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        "Idempotency-Key": str(uuid.uuid4()),
                    },
                )
                expect_error(answer, "validation_failed")
            plans = f"/story-projects/{project_id}/story-plans"
            expect_error(
                post(c, plans, {"target": TARGET, "artifactRequests": [TABLE_READ] * 7}),
                "validation_failed",
            )
            for bad in (
                {"target": TARGET, "artifactRequests": []},
                {"target": {**TARGET, "audience": ""}, "artifactRequests": [TABLE_READ]},
                {"target": TARGET, "artifactRequests": [{**TABLE_READ, "durationSeconds": 4}]},
                {"target": TARGET, "artifactRequests": [{**TABLE_READ, "aspectRatio": "wide"}]},
                # Types the reference names but this server does not make.
                {"target": TARGET, "artifactRequests": [{"type": "pitch_deck"}]},
                {"target": TARGET, "artifactRequests": [TABLE_READ], "sourceIds": ["s"] * 21},
            ):
                expect_error(post(c, plans, bad), "validation_failed")
            sources = f"/story-projects/{project_id}/sources"
            expect_error(post(c, sources, {"type": "text"}), "validation_failed")
            expect_error(post(c, sources, {"type": "text", "content": "  "}), "validation_failed")
            expect_error(post(c, sources, {"type": "url"}), "validation_failed")
            expect_error(
                post(c, sources, {"type": "text", "content": "x", "retentionPolicy": "FOREVER"}),
                "validation_failed",
            )
            expect_error(
                post(c, "/story-jobs", {"storyPlanId": "p", "artifactRequests": []}),
                "validation_failed",
            )


def test_validation_failed_names_the_offending_field(sh: SleeperHitServer, owner: Tenant) -> None:
    """The reference: "Check error.message for the offending field"."""
    with sh.client(owner) as c:
        error = expect_error(post(c, "/story-projects", {"name": "x" * 201}), "validation_failed")
        assert "name" in error["message"], error
        error = expect_error(
            post(c, "/story-projects", {"name": "ok", "description": "d" * 4001}),
            "validation_failed",
        )
        assert "description" in error["message"], error
        project_id = new_project(c, "fields")
        error = expect_error(
            post(
                c,
                f"/story-projects/{project_id}/story-plans",
                {"target": TARGET, "artifactRequests": [TABLE_READ] * 7},
            ),
            "validation_failed",
        )
        assert "artifactRequests" in error["message"], error


def test_unknown_paths_and_methods(sh: SleeperHitServer, owner: Tenant) -> None:
    with sh.client(owner) as c:
        expect_error(c.get("/no-such-thing"), "validation_failed", 404)
        expect_error(c.get("/story-projects/a/b/c/d"), "validation_failed", 404)
        wrong = c.put("/story-projects")
        expect_error(wrong, "validation_failed", 405)
        assert {m.strip() for m in wrong.headers["allow"].split(",")} >= {"GET", "POST"}
        wrong = c.post("/credits", json={})
        expect_error(wrong, "validation_failed", 405)
        assert "GET" in wrong.headers["allow"]
    expect_error(_get(sh, "/no-such-thing"), "validation_failed", 404)


# -- 404s ------------------------------------------------------------------------------------------


def test_project_not_found_unknown_foreign_or_deleted(sh: SleeperHitServer, owner: Tenant) -> None:
    stranger = sh.tenant()
    with sh.client(owner) as c, sh.client(stranger) as s:
        foreign = new_project(s, "not yours")
        doomed = new_project(c, "doomed")
        deleted = c.delete(f"/story-projects/{doomed}")
        assert deleted.status_code == 200 and deleted.json()["id"] == doomed, deleted.text
        with unchanged(c), unchanged(s, foreign):
            for project_id in ("0" * 24, foreign, doomed):
                path = f"/story-projects/{project_id}"
                expect_error(c.get(path), "project_not_found")
                expect_error(c.patch(path, json={"name": "mine now"}), "project_not_found")
                expect_error(c.delete(path), "project_not_found")
                expect_error(c.get(f"{path}/sources"), "project_not_found")
                expect_error(c.get(f"{path}/story-plans"), "project_not_found")
                expect_error(
                    post(c, f"{path}/sources", {"type": "text", "content": "x"}),
                    "project_not_found",
                )
                expect_error(
                    post(
                        c,
                        f"{path}/story-plans",
                        {"target": TARGET, "artifactRequests": [TABLE_READ]},
                    ),
                    "project_not_found",
                )
        assert s.get(f"/story-projects/{foreign}").json()["project"]["name"] == "not yours"


def test_source_not_found(sh: SleeperHitServer, owner: Tenant) -> None:
    with sh.client(owner) as c:
        project_id = new_project(c, "sources")
        source_id = text_source(c, project_id)
        gone = text_source(c, project_id)
        assert c.delete(f"/story-projects/{project_id}/sources/{gone}").status_code == 200
        other_project = new_project(c, "other")
        with unchanged(c, project_id):
            for path in (
                f"/story-projects/{project_id}/sources/src_{'0' * 24}",
                f"/story-projects/{project_id}/sources/{gone}",
                f"/story-projects/{other_project}/sources/{source_id}",
            ):
                expect_error(c.get(path), "source_not_found")
                expect_error(c.delete(path), "source_not_found")
            # A plan naming a source that is not a live source of its project: nothing planned.
            for missing in (f"src_{'0' * 24}", gone):
                error = expect_error(
                    post(
                        c,
                        f"/story-projects/{project_id}/story-plans",
                        {
                            "target": TARGET,
                            "artifactRequests": [TABLE_READ],
                            "sourceIds": [source_id, missing],
                        },
                    ),
                    "source_not_found",
                )
                assert error["details"]["sourceId"] == missing, error


# -- sources ---------------------------------------------------------------------------------------


def test_source_type_unsupported(sh: SleeperHitServer, owner: Tenant) -> None:
    with sh.client(owner) as c:
        project_id = new_project(c, "types")
        with unchanged(c, project_id):
            for kind in ("youtube", "docx", "TEXTS"):
                error = expect_error(
                    post(
                        c,
                        f"/story-projects/{project_id}/sources",
                        {"type": kind, "uri": "https://www.youtube.com/watch?v=x"},
                    ),
                    "source_type_unsupported",
                )
                assert set(error["details"]["supported"]) == {"text", "markdown", "url", "pdf"}


def test_source_too_large(sh: SleeperHitServer, owner: Tenant) -> None:
    with sh.client(owner) as c:
        project_id = new_project(c, "large")
        path = f"/story-projects/{project_id}/sources"
        with unchanged(c, project_id):
            for content in ("a" * 1_000_001, "\u20ac" * 333_334):  # bytes, not characters
                error = expect_error(
                    post(c, path, {"type": "text", "content": content}), "source_too_large"
                )
                assert error["details"]["maxBytes"] == 1_000_000, error
            # Escaped JSON grows past the body limit long before the content does.
            escaped = ('{"type": "text", "content": "' + "\\u0001" * 1_500_000 + '"}').encode()
            answer = c.post(
                path,
                content=escaped,
                headers={"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())},
            )
            expect_error(answer, "source_too_large")
        exact = post(c, path, {"type": "markdown", "content": "b" * 1_000_000})
        assert exact.status_code == 200, exact.text[:300]
        assert exact.json()["source"]["byteSize"] == 1_000_000


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1/x",
        "http://localhost/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x",
        "http://10.0.0.1/x",
        "http://2130706433/",
        "https://user:hunter2@127.0.0.1/x",
        "file:///etc/passwd",
    ],
)
def test_source_fetch_failed_synchronously(sh: SleeperHitServer, owner: Tenant, uri: str) -> None:
    with sh.client(owner) as c:
        project_id = new_project(c, f"ssrf {uri[:30]}")
        with unchanged(c, project_id):
            for kind in ("url", "pdf"):
                error = expect_error(
                    post(c, f"/story-projects/{project_id}/sources", {"type": kind, "uri": uri}),
                    "source_fetch_failed",
                )
                assert "hunter2" not in error["message"], error


# -- jobs and artifacts ----------------------------------------------------------------------------


def test_story_job_not_found(sh: SleeperHitServer, owner: Tenant) -> None:
    with sh.client(owner) as c, unchanged(c):
        for job_id in ("0" * 40, "nope"):
            expect_error(c.get(f"/story-jobs/{job_id}"), "story_job_not_found")
            expect_error(c.get(f"/story-jobs/{job_id}/artifacts"), "story_job_not_found")
            expect_error(post(c, f"/story-jobs/{job_id}/cancel"), "story_job_not_found")
        # The reference: a job naming a plan that does not exist.
        expect_error(post(c, "/story-jobs", {"storyPlanId": "0" * 40}), "story_job_not_found")


def test_story_job_state_invalid_for_plans_not_approved(
    sh: SleeperHitServer, owner: Tenant
) -> None:
    with sh.client(owner) as c:
        project_id = new_project(c, "unapproved")
        source_id = text_source(c, project_id)
        plan = new_plan(c, project_id, sources=[source_id], auto=False, wait=("REQUIRES_APPROVAL",))
        with unchanged(c, project_id):
            error = expect_error(
                post(c, "/story-jobs", {"storyPlanId": plan["id"]}), "story_job_state_invalid"
            )
            assert error["details"] == {"status": "REQUIRES_APPROVAL", "allowed": ["APPROVED"]}
        rejected = post(c, f"/story-plans/{plan['id']}/reject", {"reason": "too loud"})
        assert rejected.json()["plan"]["status"] == "REJECTED", rejected.text
        with unchanged(c, project_id):
            error = expect_error(
                post(c, "/story-jobs", {"storyPlanId": plan["id"]}), "story_job_state_invalid"
            )
            assert error["details"]["status"] == "REJECTED"
            # Approving a rejected plan is refused as bad input, per the reference.
            expect_error(post(c, f"/story-plans/{plan['id']}/approve"), "validation_failed")


def test_artifact_not_found(sh: SleeperHitServer, owner: Tenant) -> None:
    with sh.client(owner) as c, unchanged(c):
        for artifact_id in ("art_" + "0" * 24, "x"):
            expect_error(c.get(f"/artifacts/{artifact_id}"), "artifact_not_found")
            expect_error(
                post(c, f"/artifacts/{artifact_id}/finalize", {"mode": "audio"}),
                "artifact_not_found",
            )


def test_job_and_artifact_states(sh: SleeperHitServer, owner: Tenant, hold: HoldServer) -> None:
    """artifact_not_ready while the job waits for the (held) worker; artifact_generation_failed
    once that job is canceled; story_job_state_invalid when canceling a READY job."""
    with sh.client(owner) as c:
        plan = approved_plan(c, "states")
        project_id = plan["projectId"]
        let_go = hold_worker(c, project_id, hold)
        try:
            # The only worker is busy: this job stays RESERVED, its artifact PENDING.
            made = post(c, "/story-jobs", {"storyPlanId": plan["id"]})
            assert made.status_code == 200, made.text
            job = made.json()["job"]
            assert job["status"] == "RESERVED", job
            (artifact,) = job["artifacts"]
            assert artifact["status"] == "PENDING", artifact
            finalize = f"/artifacts/{artifact['id']}/finalize"
            spent = balance(c)
            with unchanged(c, project_id):
                error = expect_error(post(c, finalize, {"mode": "audio"}), "artifact_not_ready")
                assert error["details"]["status"] == "PENDING", error
            canceled = post(c, f"/story-jobs/{job['id']}/cancel")
            assert canceled.json()["job"]["status"] == "CANCELED", canceled.text
            assert balance(c) == spent + job["quote"]["total"]
            failed = c.get(f"/artifacts/{artifact['id']}").json()["artifact"]
            assert failed["status"] == "FAILED" and failed["failureCode"], failed
            with unchanged(c, project_id):
                error = expect_error(
                    post(c, finalize, {"mode": "audio"}), "artifact_generation_failed"
                )
                assert "failureCode" in error["details"], error
        finally:
            held_id = let_go()
        made = post(c, "/story-jobs", {"storyPlanId": plan["id"]})
        assert made.status_code == 200, made.text
        job = wait_job(c, made.json()["job"]["id"], ("READY", "FAILED"))
        assert job["status"] == "READY", job
        with unchanged(c, project_id):
            error = expect_error(
                post(c, f"/story-jobs/{job['id']}/cancel"), "story_job_state_invalid"
            )
            assert error["details"]["status"] == "READY"
            assert set(error["details"]["allowed"]) >= {"PENDING", "RESERVED", "RUNNING"}
            assert "READY" not in error["details"]["allowed"]
            # A mode the reference does not name: bad input, nothing charged.
            (artifact,) = job["artifacts"]
            expect_error(
                post(c, f"/artifacts/{artifact['id']}/finalize", {"mode": "mp3"}),
                "validation_failed",
            )
        held = poll(
            c,
            f"/story-projects/{project_id}/sources/{held_id}",
            lambda b: b["source"]["status"] in ("READY", "FAILED"),
        )["source"]
        assert held["status"] == "READY", held


# -- 402 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("credits", [0, 10])
def test_insufficient_credits_creates_nothing(sh: SleeperHitServer, credits: int) -> None:
    tenant = sh.tenant(credits=credits)
    with sh.client(tenant) as c:
        plan = approved_plan(c, "broke")  # planning and digests cost nothing
        assert balance(c) == credits
        with unchanged(c, plan["projectId"]):
            for _ in range(2):
                error = expect_error(
                    post(c, "/story-jobs", {"storyPlanId": plan["id"]}), "insufficient_credits"
                )
                assert error["details"] == {
                    "required": plan["quote"]["total"],
                    "available": credits,
                }
        assert c.get("/story-jobs").json() == {"jobs": [], "nextCursor": None}
        assert balance(c) == credits == sh.spendable(tenant)


# -- 500 -------------------------------------------------------------------------------------------


def test_internal_error_is_in_the_table() -> None:
    """Not reachable from outside without breaking the server (see the module docstring)."""
    assert ERROR_CODES["internal_error"] == 500
    assert len(ERROR_CODES) == 23


# -- headers on every answer -----------------------------------------------------------------------


def test_every_answer_carries_rate_headers_and_a_request_id(
    sh: SleeperHitServer, owner: Tenant
) -> None:
    revoked = sh.tenant()
    sh.core(lambda rt: rt.keys.revoke(revoked.key_id))
    expired = sh.tenant(expires_at=datetime.now(UTC) - timedelta(minutes=1))
    disabled = sh.tenant()

    async def disable(rt: Runtime) -> None:
        await rt.accounts.set_disabled(disabled.account_id, True)

    sh.core(disable)
    walled = sh.tenant(ip_allowlist=["10.9.9.9"])
    reader = sh.tenant(scopes=None)
    with sh.client(owner) as c:
        answers = {
            "ok": c.get("/credits"),
            "created": post(c, "/story-projects", {"name": "headers"}),
            "authentication_required": _get(sh, "/credits"),
            "invalid_api_key": _get(sh, "/credits", _bearer("sh_nope")),
            "api_key_revoked": _get(sh, "/credits", revoked.headers),
            "api_key_expired": _get(sh, "/credits", expired.headers),
            "account_disabled": _get(sh, "/credits", disabled.headers),
            "ip_not_allowed": _get(sh, "/credits", walled.headers),
            "insufficient_scope": post(sh.client(reader), "/story-projects", {"name": "x"}),
            "idempotency_key_required": c.post("/artifacts/x/finalize"),
            "validation_failed": post(c, "/story-projects", {"name": ""}),
            "project_not_found": c.get("/story-projects/nope"),
            "route 404": c.get("/no-such-thing"),
            "route 405": c.put("/story-projects"),
        }
    for name, answer in answers.items():
        assert answer.headers.get("x-request-id"), name
    missing = [n for n, a in answers.items() if not all(h in a.headers for h in RATE_HEADERS)]
    assert missing == [], f"no RateLimit-* headers on: {missing}"
    for answer in answers.values():
        rate_headers(answer)
