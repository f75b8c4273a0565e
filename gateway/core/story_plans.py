"""SleeperHit plans and artifacts: who owns them and what the client decided.

A plan's id is its planning job's id: the job's parameters hold the request, its result the
plan envelope, and its state whether the plan is still being written. What no job can know — the
client approved it, rejected it, or a newer plan for the project superseded it — is the
``decision`` here, set by conditional updates so an approval racing a supersession has one
winner. An artifact row says which story job makes it and where; its status and content
are that job's. What the client changes on a made artifact in place is its ``state``, a JSON
document versioned by ``state_version`` and changed only by :meth:`ArtifactRecords.edit_state`
(compare-and-set, so two edits racing both land, one after the other). Its shape::

    {
      "voices": {CHARACTER: {"voiceId", "voiceName", "gender", "provider"}},
      # later, each its own top-level key so edits of one never disturb another:
      # "effects": [...], "music": {...}, "sfx": [...]
    }

A missing key means "as the story job made it". Version 0 is the untouched artifact.
"""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, insert, or_, select, update

from gateway.core.errors import NotFound
from gateway.core.ids import new_id
from gateway.core.pages import Cursor, beyond
from gateway.db.engine import Database
from gateway.db.models import StoryArtifact, StoryPlan, as_utc, utcnow

PLANS = cast(Table, StoryPlan.__table__)  # type: ignore[attr-defined]
ARTIFACTS = cast(Table, StoryArtifact.__table__)  # type: ignore[attr-defined]
_P = PLANS.c
_A = ARTIFACTS.c

APPROVED = "APPROVED"
REJECTED = "REJECTED"
SUPERSEDED = "SUPERSEDED"


@dataclass(frozen=True, slots=True)
class PlanRecord:
    id: str
    account_id: str
    project_id: str
    decision: str | None
    reason: str | None
    approved_at: datetime | None
    rejected_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    id: str
    account_id: str
    job_id: str
    project_id: str
    type: str
    position: int
    created_at: datetime
    state: dict[str, Any] | None = None
    state_version: int = 0


class StateConflict(RuntimeError):
    """Every compare-and-set attempt of :meth:`ArtifactRecords.edit_state` lost its race."""


def _plan(row: Any) -> PlanRecord:
    m = row._mapping
    return PlanRecord(
        id=m["id"],
        account_id=m["account_id"],
        project_id=m["project_id"],
        decision=m["decision"],
        reason=m["reason"],
        approved_at=as_utc(m["approved_at"]),
        rejected_at=as_utc(m["rejected_at"]),
        created_at=cast(datetime, as_utc(m["created_at"])),
        updated_at=cast(datetime, as_utc(m["updated_at"])),
    )


def _artifact(row: Any) -> ArtifactRecord:
    m = row._mapping
    return ArtifactRecord(
        id=m["id"],
        account_id=m["account_id"],
        job_id=m["job_id"],
        project_id=m["project_id"],
        type=m["type"],
        position=int(m["position"]),
        created_at=cast(datetime, as_utc(m["created_at"])),
        state=m["state"],
        state_version=int(m["state_version"] or 0),
    )


def new_artifact_id() -> str:
    return new_id("art")


class PlanRecords:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, plan_id: str, account_id: str, project_id: str) -> PlanRecord:
        now = utcnow()
        stmt = (
            insert(PLANS)
            .values(
                id=plan_id,
                account_id=account_id,
                project_id=project_id,
                created_at=now,
                updated_at=now,
            )
            .returning(PLANS)
        )
        async with self._db.write() as conn:
            return _plan((await conn.execute(stmt)).one())

    async def forget(self, plan_id: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(delete(PLANS).where(_P.id == plan_id))

    async def supersede_others(self, plan_id: str, account_id: str, project_id: str) -> int:
        """Every other undecided or approved plan of the project can no longer drive a job."""
        stmt = (
            update(PLANS)
            .where(
                _P.account_id == account_id,
                _P.project_id == project_id,
                _P.id != plan_id,
                _P.created_at <= select(_P.created_at).where(_P.id == plan_id).scalar_subquery(),
                or_(_P.decision.is_(None), _P.decision == APPROVED),
            )
            .values(decision=SUPERSEDED, updated_at=utcnow())
        )
        async with self._db.write() as conn:
            return int((await conn.execute(stmt)).rowcount or 0)

    async def get(self, plan_id: str, account_id: str) -> PlanRecord:
        stmt = select(PLANS).where(_P.id == plan_id, _P.account_id == account_id)
        async with self._db.read() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            raise NotFound("plan not found", plan_id=plan_id[:64])
        return _plan(row)

    async def page(
        self, account_id: str, project_id: str, *, limit: int, after: Cursor | None = None
    ) -> tuple[list[PlanRecord], Cursor | None]:
        stmt = (
            select(PLANS)
            .where(_P.account_id == account_id, _P.project_id == project_id)
            .where(beyond(_P.created_at, _P.id, after))
            .order_by(_P.created_at.desc(), _P.id.desc())
            .limit(limit + 1)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        found = [_plan(r) for r in rows[:limit]]
        more = len(rows) > limit
        return found, (Cursor(found[-1].created_at, found[-1].id) if more else None)

    async def ids_of_project(self, account_id: str, project_id: str) -> list[str]:
        stmt = select(_P.id).where(_P.account_id == account_id, _P.project_id == project_id)
        async with self._db.read() as conn:
            return [str(r[0]) for r in (await conn.execute(stmt)).all()]

    async def decide(
        self,
        plan_id: str,
        account_id: str,
        decision: str,
        *,
        allowed_from: Sequence[str | None],
        reason: str | None = None,
    ) -> PlanRecord | None:
        """Set ``decision`` only if the current one is among ``allowed_from``; ``None`` when it
        was not (someone else decided first)."""
        now = utcnow()
        values: dict[str, Any] = {"decision": decision, "updated_at": now}
        if decision == APPROVED:
            values["approved_at"] = now
        if decision == REJECTED:
            values["rejected_at"] = now
            values["reason"] = reason
        wanted = [d for d in allowed_from if d is not None]
        options: list[Any] = [_P.decision.in_(wanted)] if wanted else []
        if None in allowed_from:
            options.append(_P.decision.is_(None))
        condition = or_(*options) if options else None
        stmt = (
            update(PLANS)
            .where(_P.id == plan_id, _P.account_id == account_id)
            .where(condition if condition is not None else _P.id == _P.id)
            .values(**values)
            .returning(PLANS)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(stmt)).first()
        return _plan(row) if row is not None else None


class ArtifactRecords:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_many(
        self, account_id: str, job_id: str, project_id: str, items: Sequence[tuple[str, str]]
    ) -> list[ArtifactRecord]:
        """``items``: (artifact id, type) in the job's order."""
        now = utcnow()
        made = [
            ArtifactRecord(artifact_id, account_id, job_id, project_id, kind, position, now)
            for position, (artifact_id, kind) in enumerate(items)
        ]
        async with self._db.write() as conn:
            await conn.execute(insert(ARTIFACTS), [asdict(record) for record in made])
        return made

    async def forget_job(self, job_id: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(delete(ARTIFACTS).where(_A.job_id == job_id))

    async def get(self, artifact_id: str, account_id: str) -> ArtifactRecord:
        stmt = select(ARTIFACTS).where(_A.id == artifact_id, _A.account_id == account_id)
        async with self._db.read() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            raise NotFound("artifact not found", artifact_id=artifact_id[:64])
        return _artifact(row)

    async def of_jobs(self, job_ids: Sequence[str]) -> dict[str, list[ArtifactRecord]]:
        if not job_ids:
            return {}
        stmt = select(ARTIFACTS).where(_A.job_id.in_(list(job_ids))).order_by(_A.position)
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        found: dict[str, list[ArtifactRecord]] = {}
        for record in map(_artifact, rows):
            found.setdefault(record.job_id, []).append(record)
        return found

    async def edit_state(
        self,
        artifact_id: str,
        account_id: str,
        change: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        attempts: int = 8,
    ) -> tuple[dict[str, Any], int]:
        """Apply ``change`` to the artifact's state and bump its version, as one
        compare-and-set on ``state_version``: read, change a copy, write only if nobody wrote
        in between, else read again (at most ``attempts`` times, then :class:`StateConflict`).
        ``change`` gets a deep copy and may mutate and return it; it must be pure (it may run
        more than once). Answers the new (state, version). :class:`NotFound` when the artifact
        is not the account's."""
        return await self.edit_versioned(
            artifact_id, account_id, lambda state, _version: change(state), attempts=attempts
        )

    async def edit_versioned(
        self,
        artifact_id: str,
        account_id: str,
        change: Callable[[dict[str, Any], int], dict[str, Any]],
        *,
        attempts: int = 8,
    ) -> tuple[dict[str, Any], int]:
        """:meth:`edit_state` whose ``change`` also gets the version its write will make, so an
        edit can stamp the items it touches with it (a later view tells which remix made them)."""
        for attempt in range(attempts):
            record = await self.get(artifact_id, account_id)
            current = copy.deepcopy(record.state or {})
            version = record.state_version + 1
            new_state = change(current, version)
            stmt = (
                update(ARTIFACTS)
                .where(
                    _A.id == artifact_id,
                    _A.account_id == account_id,
                    _A.state_version == record.state_version,
                )
                .values(state=new_state, state_version=version)
            )
            async with self._db.write() as conn:
                won = int((await conn.execute(stmt)).rowcount or 0) == 1
            if won:
                return new_state, version
            await asyncio.sleep(0.005 * (attempt + 1) + random.random() * 0.01)
        raise StateConflict(f"artifact {artifact_id[:64]} state kept changing")
