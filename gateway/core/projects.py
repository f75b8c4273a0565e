"""Projects: named folders of one account's generations in one family.

A project owns nothing but its name (and, for SleeperHit, a description and the client's
metadata): the generations in it are jobs or records that name the project, so a project's
contents are always exactly what exists, and a refused request leaves no trace in it. Another
account's project, another family's, or a deleted one is simply not found.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, update

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
    description: str | None = None
    meta: dict[str, Any] | None = None
    updated_at: datetime | None = None
    archived_at: datetime | None = None
    deleted_at: datetime | None = None


def _info(row: Any) -> ProjectInfo:
    m = row._mapping
    created = cast(datetime, as_utc(m["created_at"]))
    return ProjectInfo(
        id=m["id"],
        account_id=m["account_id"],
        family=m["family"],
        name=m["name"],
        created_at=created,
        description=m["description"],
        meta=m["meta"],
        updated_at=as_utc(m["updated_at"]) or created,
        archived_at=as_utc(m["archived_at"]),
        deleted_at=as_utc(m["deleted_at"]),
    )


def _check_name(name: Any) -> str:
    if (
        not isinstance(name, str)
        or not 1 <= len(name) <= NAME_MAX
        or not name.replace("\ufeff", "").strip()
        or "\x00" in name
    ):
        raise InvalidInput(f"name must be 1-{NAME_MAX} characters", field="name")
    return name


def _live(project_id: str, account_id: str, family: str) -> Any:
    """The one project, if it is the account's in the family and not deleted."""
    return (
        (_C.id == project_id)
        & (_C.account_id == account_id)
        & (_C.family == family)
        & _C.deleted_at.is_(None)
    )


def new_project_id() -> str:
    """24 hex digits, the shape of the ids the StoryNote reference shows."""
    return secrets.token_hex(12)


class ProjectService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        account_id: str,
        family: str,
        name: str,
        *,
        description: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> ProjectInfo:
        now = utcnow()
        stmt = (
            insert(PROJECTS)
            .values(
                id=new_project_id(),
                account_id=account_id,
                family=family,
                name=_check_name(name),
                description=description,
                meta=meta,
                created_at=now,
                updated_at=now,
            )
            .returning(PROJECTS)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(stmt)).one()
        return _info(row)

    async def get(self, project_id: str, account_id: str, family: str) -> ProjectInfo:
        stmt = select(PROJECTS).where(_live(project_id, account_id, family))
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
            .where(_C.account_id == account_id, _C.family == family, _C.deleted_at.is_(None))
            .where(beyond(_C.created_at, _C.id, after))
            .order_by(_C.created_at.desc(), _C.id.desc())
            .limit(size + 1)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        found = [_info(r) for r in rows[:size]]
        more = len(rows) > size
        return found, (Cursor(found[-1].created_at, found[-1].id) if more else None)

    async def update(
        self, project_id: str, account_id: str, family: str, changes: dict[str, Any]
    ) -> ProjectInfo:
        """Apply ``changes`` (name, description, meta, archived) to a live project; a key that
        is absent is left alone, ``None`` clears description and meta."""
        values: dict[str, Any] = {"updated_at": utcnow()}
        if "name" in changes:
            values["name"] = _check_name(changes["name"])
        for name in ("description", "meta"):
            if name in changes:
                values[name] = changes[name]
        if "archived" in changes:
            values["archived_at"] = values["updated_at"] if changes["archived"] else None
        stmt = (
            update(PROJECTS)
            .where(_live(project_id, account_id, family))
            .values(**values)
            .returning(PROJECTS)
        )
        if changes.get("archived"):
            # Archiving twice keeps the first moment.
            stmt = stmt.values(archived_at=func.coalesce(_C.archived_at, values["updated_at"]))
        async with self._db.write() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            raise NotFound("project not found", project_id=project_id[:64])
        return _info(row)

    async def delete(self, project_id: str, account_id: str, family: str) -> ProjectInfo:
        """Soft: the row stays for the records that name it, but is never found again."""
        now = utcnow()
        stmt = (
            update(PROJECTS)
            .where(_live(project_id, account_id, family))
            .values(deleted_at=now, updated_at=now)
            .returning(PROJECTS)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            raise NotFound("project not found", project_id=project_id[:64])
        return _info(row)
