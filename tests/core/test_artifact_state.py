"""An artifact's state changes by compare-and-set on its version, on both databases: edits
racing each other all land, one after the other; another account's artifact is not found."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
from sqlalchemy import insert

from gateway.core.errors import NotFound
from gateway.core.story_plans import ArtifactRecords, StateConflict, new_artifact_id
from gateway.db.engine import Database
from gateway.db.models import Account, utcnow


async def _account(db: Database) -> str:
    acc = "acc_" + secrets.token_hex(6)
    async with db.write() as conn:
        await conn.execute(
            insert(Account).values(id=acc, name="t", profile={}, created_at=utcnow())
        )
    return acc


async def test_state_starts_empty_and_edits_bump_the_version(db: Database) -> None:
    records = ArtifactRecords(db)
    acc, other = await _account(db), await _account(db)
    art = new_artifact_id()
    await records.create_many(acc, "job1", "prj1", [(art, "table_read")])
    fresh = await records.get(art, acc)
    assert (fresh.state, fresh.state_version) == (None, 0)

    def voice(state: dict[str, Any]) -> dict[str, Any]:
        state.setdefault("voices", {})["HOST"] = {"voiceId": "v1", "voiceName": "One"}
        return state

    state, version = await records.edit_state(art, acc, voice)
    assert version == 1 and state == {"voices": {"HOST": {"voiceId": "v1", "voiceName": "One"}}}
    again = await records.get(art, acc)
    assert (again.state, again.state_version) == (state, 1)
    with pytest.raises(NotFound):
        await records.edit_state(art, other, voice)
    assert (await records.get(art, acc)).state_version == 1


async def test_racing_edits_all_land(db: Database) -> None:
    records = ArtifactRecords(db)
    acc = await _account(db)
    art = new_artifact_id()
    await records.create_many(acc, "job1", "prj1", [(art, "table_read")])

    def add(name: str):
        def change(state: dict[str, Any]) -> dict[str, Any]:
            state.setdefault("voices", {})[name] = {"voiceId": name.lower(), "voiceName": name}
            return state

        return change

    names = [f"C{n}" for n in range(6)]
    done = await asyncio.gather(*(records.edit_state(art, acc, add(n), attempts=50) for n in names))
    assert sorted(v for _, v in done) == list(range(1, 7))
    final = await records.get(art, acc)
    assert final.state_version == 6
    assert set((final.state or {})["voices"]) == set(names)


async def test_a_lost_race_retries_then_gives_up(db: Database) -> None:
    records = ArtifactRecords(db)
    acc = await _account(db)
    art = new_artifact_id()
    await records.create_many(acc, "job1", "prj1", [(art, "table_read")])
    calls = 0

    def meddling(state: dict[str, Any]) -> dict[str, Any]:
        # Someone else writes between our read and our write, every time.
        nonlocal calls
        calls += 1
        return {"n": calls}

    real_get = records.get

    async def get_then_bump(artifact_id: str, account_id: str):
        record = await real_get(artifact_id, account_id)
        await ArtifactRecords(db).edit_state(artifact_id, account_id, lambda s: s, attempts=1)
        return record

    records.get = get_then_bump  # type: ignore[method-assign]
    with pytest.raises(StateConflict):
        await records.edit_state(art, acc, meddling, attempts=3)
    assert calls == 3
    records.get = real_get  # type: ignore[method-assign]
    state, version = await records.edit_state(art, acc, meddling)
    assert state == {"n": 4} and version == 4  # three meddlers, then ours
