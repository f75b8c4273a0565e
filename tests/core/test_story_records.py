"""SleeperHit's records on both databases: projects that are described, archived and deleted
softly; sources; plans whose decisions are conditional updates; artifacts placed in their job."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from sqlalchemy import insert

from gateway.core.errors import NotFound
from gateway.core.projects import ProjectService
from gateway.core.story_plans import (
    APPROVED,
    REJECTED,
    SUPERSEDED,
    ArtifactRecords,
    PlanRecords,
    new_artifact_id,
)
from gateway.core.story_sources import SourceRecords, new_source_id
from gateway.db.engine import Database
from gateway.db.models import Account, utcnow

FAMILY = "sleeperhit"


async def account(db: Database) -> str:
    acc = "acc_" + secrets.token_hex(6)
    async with db.write() as conn:
        await conn.execute(
            insert(Account).values(id=acc, name="t", profile={}, created_at=utcnow())
        )
    return acc


async def test_a_project_is_described_archived_and_deleted_softly(db: Database) -> None:
    projects = ProjectService(db)
    acc = await account(db)
    made = await projects.create(acc, FAMILY, "Q3", description="d", meta={"k": 1})
    assert (made.description, made.meta, made.archived_at) == ("d", {"k": 1}, None)
    archived = await projects.update(made.id, acc, FAMILY, {"archived": True, "description": None})
    assert archived.archived_at is not None and archived.description is None
    again = await projects.update(made.id, acc, FAMILY, {"archived": True})
    assert again.archived_at == archived.archived_at  # the first moment is kept
    assert (await projects.get(made.id, acc, FAMILY)).archived_at is not None
    await projects.delete(made.id, acc, FAMILY)
    with pytest.raises(NotFound):
        await projects.get(made.id, acc, FAMILY)
    with pytest.raises(NotFound):
        await projects.delete(made.id, acc, FAMILY)
    page, _ = await projects.page(acc, FAMILY)
    assert page == []


async def test_sources_belong_to_one_project_of_one_account(db: Database) -> None:
    projects, sources = ProjectService(db), SourceRecords(db)
    acc, other = await account(db), await account(db)
    p1 = await projects.create(acc, FAMILY, "one")
    p2 = await projects.create(acc, FAMILY, "two")
    ids = []
    for n in range(3):
        sid = new_source_id()
        ids.append(sid)
        await sources.create(
            sid, acc, p1.id, type="TEXT", retention="EXTRACTED_ONLY", job_id=f"job{n}"
        )
    assert set(await sources.many(ids, acc, p1.id)) == set(ids)
    assert await sources.many(ids, acc, p2.id) == {}
    assert await sources.many(ids, other, p1.id) == {}
    with pytest.raises(NotFound):
        await sources.get(ids[0], other, p1.id)
    assert (await sources.counts(acc, [p1.id, p2.id])) == {p1.id: 3}
    await sources.delete(ids[0], acc, p1.id)
    assert (await sources.counts(acc, [p1.id])) == {p1.id: 2}
    first, cursor = await sources.page(acc, p1.id, limit=1)
    rest, end = await sources.page(acc, p1.id, limit=5, after=cursor)
    assert {s.id for s in first + rest} == set(ids[1:]) and end is None
    await sources.forget(ids[1])
    with pytest.raises(NotFound):
        await sources.get(ids[1], acc, p1.id)


async def test_one_decision_wins_a_race(db: Database) -> None:
    plans = PlanRecords(db)
    acc = await account(db)
    await plans.create("plan1", acc, "proj")
    approve = plans.decide("plan1", acc, APPROVED, allowed_from=[None])
    reject = plans.decide("plan1", acc, REJECTED, allowed_from=[None], reason="no")
    results = await asyncio.gather(approve, reject)
    assert sum(r is not None for r in results) == 1
    final = await plans.get("plan1", acc)
    assert final.decision in (APPROVED, REJECTED)
    with pytest.raises(NotFound):
        await plans.get("plan1", await account(db))


async def test_a_newer_plan_supersedes_the_open_ones(db: Database) -> None:
    plans = PlanRecords(db)
    acc = await account(db)
    await plans.create("a", acc, "proj")
    await plans.create("b", acc, "proj")
    await plans.decide("b", acc, REJECTED, allowed_from=[None], reason="x")
    await plans.create("c", acc, "proj")
    await plans.decide("c", acc, APPROVED, allowed_from=[None])
    await plans.create("elsewhere", acc, "other")
    await plans.create("d", acc, "proj")
    assert await plans.supersede_others("d", acc, "proj") == 2
    decisions = {p: (await plans.get(p, acc)).decision for p in ("a", "b", "c", "d", "elsewhere")}
    assert decisions == {
        "a": SUPERSEDED,
        "b": REJECTED,
        "c": SUPERSEDED,
        "d": None,
        "elsewhere": None,
    }
    assert sorted(await plans.ids_of_project(acc, "proj")) == ["a", "b", "c", "d"]


async def test_artifacts_are_found_by_their_job_in_order(db: Database) -> None:
    artifacts = ArtifactRecords(db)
    acc = await account(db)
    ids = [new_artifact_id() for _ in range(3)]
    made = await artifacts.create_many(acc, "job1", "proj", [(i, "table_read") for i in ids])
    assert [a.position for a in made] == [0, 1, 2]
    found = await artifacts.of_jobs(["job1", "job2"])
    assert [a.id for a in found["job1"]] == ids and "job2" not in found
    assert (await artifacts.get(ids[1], acc)).job_id == "job1"
    with pytest.raises(NotFound):
        await artifacts.get(ids[1], await account(db))
    await artifacts.forget_job("job1")
    assert await artifacts.of_jobs(["job1"]) == {}
