"""StoryMint's lists page by an opaque cursor, in-process over ASGI with the instant backends.

The reference documents no paging, so a client that never sends ``limit`` or ``cursor`` must
see the list as before (plus ``next_cursor: null``), and one that pages must see every row
exactly once even when rows share a timestamp.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from gateway.core.pages import Cursor
from gateway.db.models import ApiKey
from tests.e2e.storymint_support import key_of, served

TIED = datetime(2030, 5, 17, 12, 0, tzinfo=UTC)


async def walk(client: Any, path: str, field: str, headers: dict[str, str], limit: int) -> Any:
    """Every page of one list, following next_cursor; returns (ids in order, page sizes)."""
    ids: list[str] = []
    sizes: list[int] = []
    params: dict[str, Any] = {"limit": limit}
    for _ in range(20):
        resp = await client.get(path, params=params, headers=headers)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        items = body[field]
        sizes.append(len(items))
        ids += [item["key_id" if field == "keys" else "id"] for item in items]
        if body.get("next_cursor") is None:
            return ids, sizes
        params = {"limit": limit, "cursor": body["next_cursor"]}
    pytest.fail(f"{path} never reached a last page")


def assert_bad_query(resp: Any, param: str) -> None:
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert set(body) == {"error", "detail"}, body
    assert body["error"] == "Invalid request"
    assert body["detail"].startswith(f"{param}: "), body


async def test_keys_page_by_two_without_repeats_or_skips(tmp_path: Path) -> None:
    async with served(tmp_path) as (client, rt):
        account_id, headers = await key_of(rt)
        for i in range(4):
            resp = await client.post("/api/keys", json={"label": f"k{i}"}, headers=headers)
            assert resp.status_code == 201, resp.text
        # All five in one instant: only the id can order them at a page boundary.
        async with rt.db.write() as conn:
            await conn.execute(
                update(ApiKey).where(ApiKey.account_id == account_id).values(created_at=TIED)
            )

        whole = (await client.get("/api/keys", headers=headers)).json()
        assert whole.get("next_cursor") is None and len(whole["keys"]) == 5
        ids, sizes = await walk(client, "/api/keys", "keys", headers, limit=2)
        assert sizes == [2, 2, 1]
        assert len(set(ids)) == 5
        assert ids == [k["key_id"] for k in whole["keys"]]

        # Another account's keys never show up, and its cursor is just a position.
        _, stranger = await key_of(rt)
        assert len((await client.get("/api/keys", headers=stranger)).json()["keys"]) == 1


@pytest.mark.parametrize("limit", ["0", "101", "-1", "1.5", "two", ""])
async def test_a_bad_limit_is_a_400_in_the_envelope(tmp_path: Path, limit: str) -> None:
    async with served(tmp_path) as (client, rt):
        _, headers = await key_of(rt)
        resp = await client.get("/api/keys", params={"limit": limit}, headers=headers)
        assert_bad_query(resp, "limit")


async def test_a_cursor_we_did_not_issue_is_a_400_in_the_envelope(tmp_path: Path) -> None:
    async with served(tmp_path) as (client, rt):
        _, headers = await key_of(rt, plan="schools")
        team = await client.post("/api/teams", json={"name": "Oakwood"}, headers=headers)
        assert team.status_code == 201, team.text
        library = f"/api/teams/{team.json()['id']}/library"
        for path in ("/api/keys", "/api/teams", library):
            for cursor in ("not-a-cursor", "bm9wZQ", "x" * 300):
                resp = await client.get(path, params={"cursor": cursor}, headers=headers)
                assert_bad_query(resp, "cursor")
            assert_bad_query(
                await client.get(path, params={"limit": "0"}, headers=headers), "limit"
            )
            # A cursor of ours that points past every row is a last page, not an error.
            past = Cursor(datetime(2000, 1, 1, tzinfo=UTC), "0").encode()
            resp = await client.get(path, params={"cursor": past}, headers=headers)
            assert resp.status_code == 200, resp.text
            assert resp.json().get("next_cursor") is None


async def test_teams_and_library_page_too(tmp_path: Path) -> None:
    async with served(tmp_path) as (client, rt):
        _, headers = await key_of(rt, plan="schools")
        made = []
        for name in ("A", "B", "C"):
            resp = await client.post("/api/teams", json={"name": name}, headers=headers)
            assert resp.status_code == 201, resp.text
            made.append(resp.json()["id"])
        ids, sizes = await walk(client, "/api/teams", "teams", headers, limit=2)
        assert ids == made and sizes == [2, 1]  # oldest first, as before paging
        whole = (await client.get("/api/teams", headers=headers)).json()
        assert [t["id"] for t in whole["teams"]] == made and whole.get("next_cursor") is None

        empty = await client.get(f"/api/teams/{made[0]}/library", headers=headers)
        assert empty.status_code == 200, empty.text
        assert empty.json() == {"books": []}  # no next_cursor on the last page
