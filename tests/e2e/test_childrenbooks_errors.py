"""Every ChildrenBooks validation rule and error code on a live server: the envelope, the status,
the echoed (or generated) request id, the rate headers, and that nothing was created or charged.

Codes that need particular conditions are exercised next door: RATE_LIMIT_EXCEEDED,
DAILY_CAP_EXCEEDED, INSUFFICIENT_CREDITS and IDEMPOTENCY_CONFLICT in test_childrenbooks_limits;
ALREADY_EXISTS, INTERNAL_ERROR and EXTERNAL_SERVICE_ERROR in test_childrenbooks_inprocess.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.childrenbooks.errors import ChildrenBooksError
from adapters.childrenbooks.validation import validate_story
from contracts.childrenbooks import AgeRange, ErrorCode, Language, Style, Tone
from gateway.db.models import utcnow
from gateway.runtime import Runtime
from tests.e2e.childrenbooks_support import (
    BODY,
    ChildrenBooks,
    Tenant,
    assert_error,
    rid,
    start,
)

AGES = "Expected one of: 0-3, 4-7, 8-12"
STYLES = (
    "Expected one of: watercolor, oil_painting, 3d, comic_style, crayon, colored_pencil, paper_cut"
)
TONES = (
    "Expected one of: playful_funny, fantasy_magic, animal, heartwarming, sci_fi, "
    "daily_life_basics, adventurous, educational"
)
LANGUAGES = (
    "Expected one of: english, spanish, french, german, chinese, japanese, korean, russian, "
    "portuguese, italian"
)
IDEA = "Expected string between 10 and 2000 characters"
RANGE = "Expected number between 5 and 15"
INTEGER = "Expected integer between 5 and 15"
MISSING = object()


@pytest.fixture(scope="module")
def cb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChildrenBooks]:
    service = start(tmp_path_factory.mktemp("cb-errors"))
    yield service
    service.stop()


@pytest.fixture(scope="module")
def tenant(cb: ChildrenBooks) -> Tenant:
    (made,) = cb.tenants("premium")
    return made


def body_with(**changes: Any) -> dict[str, Any]:
    body = dict(BODY)
    for name, value in changes.items():
        if value is MISSING:
            body.pop(name)
        else:
            body[name] = value
    return body


RULES: list[tuple[str, Any, dict[str, str]]] = [
    ("idea missing", body_with(storyIdea=MISSING), {"storyIdea": "Required"}),
    ("idea null", body_with(storyIdea=None), {"storyIdea": "Required"}),
    ("idea empty", body_with(storyIdea=""), {"storyIdea": IDEA}),
    ("idea 9 chars", body_with(storyIdea="x" * 9), {"storyIdea": IDEA}),
    ("idea 2001 chars", body_with(storyIdea="x" * 2001), {"storyIdea": IDEA}),
    ("idea a number", body_with(storyIdea=12345678901), {"storyIdea": "Expected string"}),
    ("age missing", body_with(ageRange=MISSING), {"ageRange": "Required"}),
    ("age unknown", body_with(ageRange="4-8"), {"ageRange": AGES}),
    ("age a number", body_with(ageRange=4), {"ageRange": AGES}),
    ("style upper-case 3D", body_with(style="3D"), {"style": STYLES}),
    ("style capitalised", body_with(style="Watercolor"), {"style": STYLES}),
    ("style missing", body_with(style=MISSING), {"style": "Required"}),
    ("tone capitalised", body_with(tone="Heartwarming"), {"tone": TONES}),
    ("tone padded", body_with(tone="heartwarming "), {"tone": TONES}),
    ("tone missing", body_with(tone=MISSING), {"tone": "Required"}),
    ("language code", body_with(language="en"), {"language": LANGUAGES}),
    ("language capitalised", body_with(language="English"), {"language": LANGUAGES}),
    ("language missing", body_with(language=MISSING), {"language": "Required"}),
    ("pages 4", body_with(pageCount=4), {"pageCount": RANGE}),
    ("pages 16", body_with(pageCount=16), {"pageCount": RANGE}),
    ("pages negative", body_with(pageCount=-7), {"pageCount": RANGE}),
    ("pages 7.5", body_with(pageCount=7.5), {"pageCount": INTEGER}),
    ("pages true", body_with(pageCount=True), {"pageCount": INTEGER}),
    ("pages false", body_with(pageCount=False), {"pageCount": INTEGER}),
    ("pages a string", body_with(pageCount="7"), {"pageCount": INTEGER}),
    ("pages missing", body_with(pageCount=MISSING), {"pageCount": "Required"}),
    (
        "every field at once",
        {"storyIdea": "short", "ageRange": "teen", "style": "3D", "pageCount": 7.5, "tone": 1},
        {
            "storyIdea": IDEA,
            "ageRange": AGES,
            "style": STYLES,
            "pageCount": INTEGER,
            "tone": TONES,
            "language": "Required",
        },
    ),
    ("empty object", {}, dict.fromkeys(BODY, "Required")),
    ("an array", [BODY], {"body": "Expected object"}),
    ("a string", "story", {"body": "Expected object"}),
    ("null", None, {"body": "Expected object"}),
]


@pytest.mark.parametrize(("case", "body", "fields"), RULES, ids=[r[0] for r in RULES])
def test_each_validation_rule(
    cb: ChildrenBooks, tenant: Tenant, case: str, body: Any, fields: dict[str, str]
) -> None:
    before = cb.held(tenant)
    request_id = rid()
    with cb.client(tenant) as http:
        resp = http.post(
            "/v1/stories",
            content=json.dumps(body),
            headers={"X-Request-Id": request_id, "content-type": "application/json"},
        )
    error = assert_error(resp, 400, "VALIDATION_ERROR", request_id, fields=list(fields))
    assert error["fields"] == fields
    assert error["message"] == "Request body failed validation."
    assert cb.held(tenant) == before


def test_idempotency_key_rules_join_the_body_fields(cb: ChildrenBooks, tenant: Tenant) -> None:
    before = cb.held(tenant)
    with cb.client(tenant) as http:
        too_long = {"Idempotency-Key": "k" * 129}
        resp = http.post("/v1/stories", json=BODY, headers=too_long)
        assert assert_error(resp, 400, "VALIDATION_ERROR")["fields"] == {
            "Idempotency-Key": "Max length 128"
        }
        resp = http.post("/v1/stories", json=body_with(pageCount=3), headers=too_long)
        fields = assert_error(resp, 400, "VALIDATION_ERROR")["fields"]
        assert fields == {"Idempotency-Key": "Max length 128", "pageCount": RANGE}
        resp = http.post("/v1/stories", json=BODY, headers={"Idempotency-Key": ""})
        fields = assert_error(resp, 400, "VALIDATION_ERROR")["fields"]
        assert fields == {"Idempotency-Key": "Must not be empty"}
    assert cb.held(tenant) == before


def test_boundaries_are_accepted(cb: ChildrenBooks) -> None:
    (fresh,) = cb.tenants("premium")
    accepted = [
        body_with(storyIdea="x" * 10, pageCount=5, style="3d", tone="sci_fi"),
        body_with(storyIdea="y" * 2000, pageCount=15, language="japanese", ageRange="8-12"),
        body_with(pageCount=7.0, extra="ignored", style="paper_cut", ageRange="0-3"),
    ]
    with cb.client(fresh) as http:
        for n, body in enumerate(accepted):
            key = f"{n}" * 128  # the longest key allowed
            resp = http.post("/v1/stories", json=body, headers={"Idempotency-Key": key})
            assert resp.status_code == 202, resp.text
        charset = http.post(
            "/v1/stories",
            content=httpx.Request("POST", "/", json=BODY).content,
            headers={"content-type": "Application/JSON; charset=utf-8"},
        )
        assert charset.status_code == 202, charset.text
    assert cb.held(fresh) == (2000 - 5 - 15 - 7 - 7, 4)


def test_every_enum_value_is_accepted_and_only_those() -> None:
    for enum, field in (
        (AgeRange, "ageRange"),
        (Style, "style"),
        (Tone, "tone"),
        (Language, "language"),
    ):
        for member in enum:
            validate_story(body_with(**{field: member.value}), None)
            for variant in {member.value.upper(), member.value.title(), f" {member.value}"}:
                if variant == member.value:
                    continue
                with pytest.raises(ChildrenBooksError) as caught:
                    validate_story(body_with(**{field: variant}), None)
                assert caught.value.code is ErrorCode.VALIDATION_ERROR
                assert set(caught.value.fields or {}) == {field}


@pytest.mark.parametrize(
    ("case", "content", "headers", "message"),
    [
        (
            "malformed JSON",
            b'{"storyIdea": ',
            {"content-type": "application/json"},
            "not valid JSON",
        ),
        ("empty body", b"", {"content-type": "application/json"}, "not valid JSON"),
        ("text/plain", b"{}", {"content-type": "text/plain"}, "application/json"),
        ("no content-type", b"{}", {}, "application/json"),
        (
            "form",
            b"storyIdea=x",
            {"content-type": "application/x-www-form-urlencoded"},
            "application/json",
        ),
    ],
)
def test_bad_requests(
    cb: ChildrenBooks, tenant: Tenant, case: str, content: bytes, headers: dict, message: str
) -> None:
    before = cb.held(tenant)
    request_id = rid()
    with cb.client(tenant) as http:
        resp = http.post(
            "/v1/stories", content=content, headers={**headers, "X-Request-Id": request_id}
        )
    error = assert_error(resp, 400, "BAD_REQUEST", request_id)
    assert message in error["message"]
    assert "fields" not in error
    assert cb.held(tenant) == before


def test_oversized_body(cb: ChildrenBooks, tenant: Tenant) -> None:
    before = cb.held(tenant)
    with cb.client(tenant) as http:
        resp = http.post("/v1/stories", json=body_with(storyIdea="x" * 70_000))
    assert_error(resp, 413, "BAD_REQUEST")
    assert cb.held(tenant) == before


def test_missing_key_is_unauthorized(cb: ChildrenBooks) -> None:
    attempts: list[dict[str, str]] = [
        {},
        {"x-api-key": ""},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Token " + "A" * 40},
    ]
    with cb.client() as http:
        for headers in attempts:
            request_id = rid()
            for method, path in (("POST", "/v1/stories"), ("GET", f"/v1/stories/{uuid.uuid4()}")):
                resp = http.request(
                    method, path, json=BODY, headers={**headers, "X-Request-Id": request_id}
                )
                assert_error(resp, 401, "UNAUTHORIZED", request_id)
                assert resp.headers["x-ratelimit-limit"] == "60"


def test_unusable_keys_are_invalid(cb: ChildrenBooks) -> None:
    (revoked, expired, good) = cb.tenants("pro", "pro", "pro")

    async def prepare(rt: Runtime) -> tuple[str, str]:
        keys = await rt.keys.list(revoked.account_id)
        await rt.keys.revoke(keys[0].id)
        account = await rt.accounts.create("cb-other-family", {"storymint": "max"})
        storymint = await rt.keys.create(account.id, "storymint")
        past = await rt.keys.create(
            expired.account_id, "childrenbooks", expires_at=utcnow() - timedelta(minutes=1)
        )
        return storymint.raw, past.raw

    storymint_key, expired_key = cb.core(prepare)
    unusable = {
        "unknown": "cbk_live_" + "A" * 40,
        "not a key": "hello",
        "another family's": storymint_key,
        "revoked": revoked.key,
        "expired": expired_key,
        "test-mode prefix": "cbk_test_" + "A" * 40,
    }
    with cb.client() as http:
        for name, key in unusable.items():
            request_id = rid()
            for headers in ({"x-api-key": key}, {"Authorization": f"Bearer {key}"}):
                resp = http.post(
                    "/v1/stories", json=BODY, headers={**headers, "X-Request-Id": request_id}
                )
                assert resp.status_code == 401, name
                assert_error(resp, 401, "INVALID_API_KEY", request_id)
        # x-api-key is preferred: a bad one is not rescued by a good Bearer token.
        both = {"x-api-key": "cbk_live_" + "B" * 40, "Authorization": f"Bearer {good.key}"}
        assert_error(http.get("/v1/stories", headers=both), 401, "INVALID_API_KEY")
        assert (
            http.get("/v1/stories", headers={"Authorization": f"Bearer {good.key}"}).status_code
            == 200
        )
    for tenant in (revoked, expired, good):
        assert cb.held(tenant) == (500, 0)


def test_downgraded_account_gets_plan_required(cb: ChildrenBooks) -> None:
    (tenant,) = cb.tenants("pro")

    async def downgrade(rt: Runtime) -> None:
        await rt.accounts.set_plan(tenant.account_id, "childrenbooks", "free")

    cb.core(downgrade)
    with cb.client(tenant) as http:
        request_id = rid()
        resp = http.post("/v1/stories", json=BODY, headers={"X-Request-Id": request_id})
        error = assert_error(resp, 403, "PLAN_REQUIRED", request_id)
        assert "Pro" in error["message"]
        assert_error(http.get("/v1/stories"), 403, "PLAN_REQUIRED")
    assert cb.book_count(tenant) == 0


def test_forbidden_by_scope_and_by_ip(cb: ChildrenBooks) -> None:
    (reader,) = cb.tenants("pro", scopes=["stories:read"])
    (fenced,) = cb.tenants("pro", ip_allowlist=["10.9.8.7"])
    with cb.client(reader) as http:
        request_id = rid()
        resp = http.post("/v1/stories", json=BODY, headers={"X-Request-Id": request_id})
        error = assert_error(resp, 403, "FORBIDDEN", request_id)
        assert error["meta"] == {"requiredScope": "stories:write"}
        assert http.get("/v1/stories").status_code == 200  # reading is in scope
    with cb.client(fenced) as http:
        request_id = rid()
        resp = http.post("/v1/stories", json=BODY, headers={"X-Request-Id": request_id})
        assert_error(resp, 403, "FORBIDDEN", request_id)
        assert_error(http.get("/v1/stories"), 403, "FORBIDDEN")
    assert cb.held(reader) == (500, 0)
    assert cb.held(fenced) == (500, 0)


def test_not_found(cb: ChildrenBooks, tenant: Tenant) -> None:
    (owner,) = cb.tenants("pro")
    with cb.client(owner) as http:
        theirs = http.post("/v1/stories", json={**BODY, "pageCount": 5}).json()["data"]["bookId"]
    with cb.client(tenant) as http:
        for path in (
            f"/v1/stories/{uuid.uuid4()}",
            f"/v1/stories/{theirs}",  # another account's book: 404, never 403
            f"/v1/stories/{theirs}/assets/cover.jpg",
            f"/v1/stories/{theirs}/chapters",
            "/v1/stories/a/b/c/d",
            "/v1/storiesandmore",
        ):
            request_id = rid()
            resp = http.get(path, headers={"X-Request-Id": request_id})
            assert_error(resp, 404, "NOT_FOUND", request_id)


def test_story_id_must_be_a_uuid(cb: ChildrenBooks, tenant: Tenant) -> None:
    with cb.client(tenant) as http:
        for bad in ("123", "not-a-uuid", f"{uuid.uuid4().hex}", f"{uuid.uuid4()}x"):
            request_id = rid()
            resp = http.get(f"/v1/stories/{bad}", headers={"X-Request-Id": request_id})
            error = assert_error(resp, 400, "VALIDATION_ERROR", request_id)
            assert error["fields"] == {"id": "Must be a UUID"}


def test_library_query_validation(cb: ChildrenBooks, tenant: Tenant) -> None:
    with cb.client(tenant) as http:
        for params, fields in (
            ({"limit": "0"}, ["limit"]),
            ({"limit": "101"}, ["limit"]),
            ({"limit": "ten"}, ["limit"]),
            ({"cursor": "yesterday"}, ["cursor"]),
            ({"limit": "-1", "cursor": "2026-01-01T00:00:00"}, ["limit", "cursor"]),
        ):
            resp = http.get("/v1/stories", params=params)
            assert_error(resp, 400, "VALIDATION_ERROR", fields=fields)


def test_wrong_methods(cb: ChildrenBooks, tenant: Tenant) -> None:
    book = str(uuid.uuid4())
    with cb.client(tenant) as http:
        for method, path, allow in (
            ("PUT", "/v1/stories", "GET, POST"),
            ("DELETE", "/v1/stories", "GET, POST"),
            ("PATCH", f"/v1/stories/{book}", "GET"),
            ("DELETE", f"/v1/stories/{book}", "GET"),
            ("POST", f"/v1/stories/{book}", "GET"),
            ("OPTIONS", "/v1/stories", "GET, POST"),
            ("PUT", f"/v1/stories/{book}/assets/cover.jpg", "GET"),
        ):
            request_id = rid()
            resp = http.request(method, path, json=BODY, headers={"X-Request-Id": request_id})
            assert_error(resp, 405, "METHOD_NOT_ALLOWED", request_id)
            assert resp.headers["allow"] == allow
    assert cb.held(tenant)[1] == 0


def test_request_ids(cb: ChildrenBooks, tenant: Tenant) -> None:
    with cb.client(tenant) as http:
        exact = "r" * 64
        resp = http.post("/v1/stories", json={}, headers={"X-Request-Id": exact})
        assert_error(resp, 400, "VALIDATION_ERROR", exact)
        for sent in ("r" * 65, "has spaces in it", None):
            headers = {"X-Request-Id": sent} if sent is not None else {}
            resp = http.post("/v1/stories", json={}, headers=headers)
            assert_error(resp, 400, "VALIDATION_ERROR")
            generated = resp.json()["requestId"]
            assert generated != sent and 16 <= len(generated) <= 64
            assert resp.headers["x-request-id"] == generated
        # Unknown paths and wrong methods get one too.
        resp = http.delete("/v1/stories", headers={"X-Request-Id": "x" * 80})
        assert_error(resp, 405, "METHOD_NOT_ALLOWED")
        assert resp.json()["requestId"] != "x" * 80


def test_every_error_code_has_a_test() -> None:
    here = Path(__file__).parent
    text = "".join(
        (here / name).read_text()
        for name in (
            "test_childrenbooks_errors.py",
            "test_childrenbooks_limits.py",
            "test_childrenbooks_inprocess.py",
        )
    )
    for code in ErrorCode:
        assert f'"{code.value}"' in text, code
