"""SleeperHit's cursor pages over real HTTP: newest first, ``limit`` 1-100 (default 20), an
opaque ``nextCursor`` that is null on the last page, every record exactly once even while new
ones arrive mid-walk, and bad limits or cursors refused as ``validation_failed``. Projects,
sources, plans and jobs all page the same way."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.runtime import Runtime
from tests.e2e.sleeperhit_harness import (
    FAMILY,
    SleeperHitServer,
    Tenant,
    approved_plan,
    expect_error,
    new_plan,
    new_project,
    post,
    start,
    text_source,
)


@pytest.fixture(scope="module")
def sh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SleeperHitServer]:
    server = start(tmp_path_factory.mktemp("sh-pages"))
    yield server
    server.server.stop()


@pytest.fixture(scope="module")
def owner(sh: SleeperHitServer) -> Tenant:
    return sh.tenant()


def _projects(sh: SleeperHitServer, tenant: Tenant, count: int, prefix: str) -> list[str]:
    """``count`` projects made straight in the core (fast), oldest first."""

    async def make(rt: Runtime) -> list[str]:
        made = []
        for i in range(count):
            project = await rt.projects.create(tenant.account_id, FAMILY, f"{prefix} {i:03d}")
            made.append(project.id)
        return made

    return sh.core(make)


def walk(
    client: httpx.Client,
    path: str,
    field: str,
    limit: int | None,
    between: Any = None,
    query: dict[str, str] | None = None,
) -> tuple[list[dict[str, Any]], list[int]]:
    """Every item of a list, page by page; ``between()`` runs after the first page."""
    items: list[dict[str, Any]] = []
    sizes: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = dict(query or {})
        if limit is not None:
            params["limit"] = limit
        if cursor is not None:
            params["cursor"] = cursor
        answer = client.get(path, params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) == {field, "nextCursor"}, body.keys()
        items.extend(body[field])
        sizes.append(len(body[field]))
        cursor = body["nextCursor"]
        if len(sizes) == 1 and between is not None:
            between()
        if cursor is None:
            return items, sizes
        assert isinstance(cursor, str) and cursor, body
        assert len(sizes) < 1000, "the walk does not end"


def _newest_first(items: list[dict[str, Any]]) -> None:
    # The wire shows milliseconds; the order (and the cursor) uses the stored microseconds.
    stamps = [i["createdAt"] for i in items]
    assert stamps == sorted(stamps, reverse=True)


def test_250_projects_each_exactly_once_while_more_arrive(
    sh: SleeperHitServer, owner: Tenant
) -> None:
    original = _projects(sh, owner, 250, "original")
    added: list[str] = []

    def more() -> None:
        added.extend(_projects(sh, owner, 10, "mid-walk core"))
        with sh.client(owner) as api:
            added.extend(new_project(api, f"mid-walk api {i}") for i in range(10))

    with sh.client(owner) as c:
        items, sizes = walk(c, "/story-projects", "projects", 100, more)
        ids = [i["id"] for i in items]
        assert len(ids) == len(set(ids)), "a project was listed twice"
        assert set(ids) == set(original), "the walk lost or gained projects"
        assert sizes == [100, 100, 50]
        _newest_first(items)
        assert ids == original[::-1]
        # A new walk sees all 270, newest first.
        everything, sizes = walk(c, "/story-projects", "projects", 100)
        assert [i["id"] for i in everything] == [*added[::-1], *original[::-1]]
        assert sizes == [100, 100, 70]


def test_default_page_is_20_and_the_last_page_says_so(sh: SleeperHitServer) -> None:
    tenant = sh.tenant()
    made = _projects(sh, tenant, 41, "p")
    with sh.client(tenant) as c:
        first = c.get("/story-projects").json()
        assert len(first["projects"]) == 20 and first["nextCursor"]
        items, sizes = walk(c, "/story-projects", "projects", None)
        assert sizes == [20, 20, 1]
        assert [i["id"] for i in items] == made[::-1]
        items, sizes = walk(c, "/story-projects", "projects", 41)
        assert sizes == [41]
        items, sizes = walk(c, "/story-projects", "projects", 1)
        assert sizes == [1] * 41 and [i["id"] for i in items] == made[::-1]
    empty = sh.tenant()
    with sh.client(empty) as c:
        assert c.get("/story-projects").json() == {"projects": [], "nextCursor": None}


def test_bad_limits_and_cursors_are_refused(sh: SleeperHitServer, owner: Tenant) -> None:
    with sh.client(owner) as c:
        project_id = new_project(c, "paged")
        for path in (
            "/story-projects",
            f"/story-projects/{project_id}/sources",
            f"/story-projects/{project_id}/story-plans",
            "/story-jobs",
        ):
            for limit in ("101", "0", "-1", "1000", "abc", "", "1.5", "1e2", "0x10"):
                expect_error(c.get(path, params={"limit": limit}), "validation_failed")
            for cursor in ("zzz", "", "not a cursor", "." * 10, "ff." + "x" * 65, "g1.abc"):
                expect_error(c.get(path, params={"cursor": cursor}), "validation_failed")
            assert c.get(path, params={"limit": "100"}).status_code == 200


def test_a_cursor_shows_nothing_of_another_account(sh: SleeperHitServer) -> None:
    mine, theirs = sh.tenant(), sh.tenant()
    _projects(sh, theirs, 5, "theirs")
    _projects(sh, mine, 5, "mine")
    with sh.client(mine) as c, sh.client(theirs) as t:
        cursor = c.get("/story-projects", params={"limit": 2}).json()["nextCursor"]
        page = t.get("/story-projects", params={"cursor": cursor}).json()
        names = {p["name"] for p in page["projects"]}
        assert names and all(n.startswith("theirs") for n in names), names


def test_sources_page(sh: SleeperHitServer, owner: Tenant) -> None:
    with sh.client(owner) as c:
        project_id = new_project(c, "many sources")
        made = [
            text_source(c, project_id, f"Source number {i} about Ada Lovelace.") for i in range(25)
        ]
        path = f"/story-projects/{project_id}/sources"

        def more() -> None:
            text_source(c, project_id, "A late source about Charles Babbage.")

        items, sizes = walk(c, path, "sources", 10, more)
        assert sizes == [10, 10, 5]
        assert [i["id"] for i in items] == made[::-1]
        _newest_first(items)
        items, sizes = walk(c, path, "sources", None)
        assert sizes == [20, 6]
        # A deleted source leaves the pages.
        assert c.delete(f"{path}/{made[0]}").status_code == 200
        items, _ = walk(c, path, "sources", 100)
        assert made[0] not in {i["id"] for i in items} and len(items) == 25
        assert c.get(f"/story-projects/{project_id}").json()["project"]["sourceCount"] == 25


def test_plans_and_jobs_page(sh: SleeperHitServer, owner: Tenant) -> None:
    with sh.client(owner) as c:
        plan = approved_plan(c, "many plans")
        project_id = plan["projectId"]
        jobs = []
        for _ in range(3):
            made = post(c, "/story-jobs", {"storyPlanId": plan["id"]})
            assert made.status_code == 200, made.text
            jobs.append(made.json()["job"]["id"])
        plans = [plan["id"]]
        plans += [new_plan(c, project_id, wait=None)["id"] for _ in range(4)]
        items, sizes = walk(c, f"/story-projects/{project_id}/story-plans", "plans", 2)
        assert sizes == [2, 2, 1]
        assert [i["id"] for i in items] == plans[::-1]
        _newest_first(items)
        # Only the newest plan is live; the others were superseded by it.
        statuses = {i["id"]: i["status"] for i in items}
        assert all(statuses[p] == "SUPERSEDED" for p in plans[:-1]), statuses

        for params in ({}, {"projectId": project_id}, {"storyPlanId": plan["id"]}):
            found, sizes = walk(c, "/story-jobs", "jobs", 2, query=params)
            assert [j["id"] for j in found] == jobs[::-1], params
            assert sizes == [2, 1]
        other = new_project(c, "no jobs")
        assert c.get("/story-jobs", params={"projectId": other}).json() == {
            "jobs": [],
            "nextCursor": None,
        }
