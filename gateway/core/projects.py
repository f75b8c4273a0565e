"""Projects: named folders of one account's generations in one family.

A project owns nothing but its name: the generations in it are jobs that name the project as
their ``subject_id``, so a project's contents are always exactly the jobs that exist, and a
refused request (which creates no job) leaves no trace in it. Another account's project, or
another family's, is simply not found.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select

from gateway.core.errors import InvalidInput, NotFound
from gateway.core.pages import Cursor, beyond
from gateway.db.engine import Database
from gateway.db.models import Project, as_utc, utcnow

PROJECTS = cast(Table, Project.__table__)  # type: ignore[attr-defined]
_C = PROJECTS.c
NAME_MAX = 200


@dataclass(frozen=True, slots=True)
class ProjectInfo:
    id: str
    account_id: str
    family: str
    name: str
    created_at: datetime


def _info(row: Any) -> ProjectInfo:
    m = row._mapping
    return ProjectInfo(
        id=m["id"],
        account_id=m["account_id"],
        family=m["family"],
        name=m["name"],
        created_at=cast(datetime, as_utc(m["created_at"])),
    )


def new_project_id() -> str:
    """24 hex digits, the shape of the ids the StoryNote reference shows."""
    return secrets.token_hex(12)


class ProjectService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, account_id: str, family: str, name: str) -> ProjectInfo:
        if (
            not isinstance(name, str)
            or not 1 <= len(name) <= NAME_MAX
            or not name.replace("\ufeff", "").strip()
            or "\x00" in name
        ):
            raise InvalidInput(f"name must be 1-{NAME_MAX} characters", field="name")
        stmt = (
            insert(PROJECTS)
            .values(
                id=new_project_id(),
                account_id=account_id,
                family=family,
                name=name,
                created_at=utcnow(),
            )
            .returning(PROJECTS)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(stmt)).one()
        return _info(row)

    async def get(self, project_id: str, account_id: str, family: str) -> ProjectInfo:
        stmt = select(PROJECTS).where(
            _C.id == project_id, _C.account_id == account_id, _C.family == family
        )
        async with self._db.read() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            raise NotFound("project not found", project_id=project_id[:64])
        return _info(row)

    async def page(
        self, account_id: str, family: str, *, limit: int = 100, after: Cursor | None = None
    ) -> tuple[list[ProjectInfo], Cursor | None]:
        """One page of the account's projects in the family, newest first."""
        size = max(1, min(limit, 1000))
        stmt = (
            select(PROJECTS)
            .where(_C.account_id == account_id, _C.family == family)
            .where(beyond(_C.created_at, _C.id, after))
            .order_by(_C.created_at.desc(), _C.id.desc())
            .limit(size + 1)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        found = [_info(r) for r in rows[:size]]
        more = len(rows) > size
        return found, (Cursor(found[-1].created_at, found[-1].id) if more else None)
