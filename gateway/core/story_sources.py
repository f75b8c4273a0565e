"""SleeperHit sources: the material a project's plans are written from.

A source row holds what the client said (type, label, uri, retention, metadata) and, for inline
text, what was measured on arrival. Reading a URL or PDF and digesting any source is the work of
the source's job (``job_id``), whose progress and result the family reads back, so nothing here
is written by a worker. Deletion is soft; a deleted source, another project's or another
account's is simply not found.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, update

from gateway.core.errors import NotFound
from gateway.core.ids import new_id
from gateway.core.pages import Cursor, beyond
from gateway.db.engine import Database
from gateway.db.models import StorySource, as_utc, utcnow

SOURCES = cast(Table, StorySource.__table__)  # type: ignore[attr-defined]
_C = SOURCES.c


@dataclass(frozen=True, slots=True)
class SourceInfo:
    id: str
    account_id: str
    project_id: str
    type: str
    label: str | None
    uri: str | None
    retention: str
    meta: dict[str, Any] | None
    extraction: dict[str, Any] | None
    job_id: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


def _info(row: Any) -> SourceInfo:
    m = row._mapping
    return SourceInfo(
        id=m["id"],
        account_id=m["account_id"],
        project_id=m["project_id"],
        type=m["type"],
        label=m["label"],
        uri=m["uri"],
        retention=m["retention"],
        meta=m["meta"],
        extraction=m["extraction"],
        job_id=m["job_id"],
        created_at=cast(datetime, as_utc(m["created_at"])),
        updated_at=cast(datetime, as_utc(m["updated_at"])),
        deleted_at=as_utc(m["deleted_at"]),
    )


PREVIEW_CHARS = 4000


def wire_time(moment: datetime) -> str:
    """SleeperHit's timestamps: UTC, milliseconds, ``Z`` ("2026-05-29T10:00:00.000Z")."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def measure(text: str, *, preview: bool = True) -> dict[str, Any]:
    """What a source reports of its extracted text — measured the same whether the adapter
    took it inline or a source job extracted it: UTF-8 size, a token estimate (4 characters a
    token), the SHA-256 of the text, the first 4,000 characters unless the source keeps no
    content, and when."""
    raw = text.encode("utf-8")
    return {
        "byteSize": len(raw),
        "tokenEstimate": math.ceil(len(text) / 4),
        "contentHash": hashlib.sha256(raw).hexdigest(),
        "preview": text[:PREVIEW_CHARS] if preview else None,
        "extractedAt": wire_time(datetime.now(UTC)),
    }


def new_source_id() -> str:
    return new_id("src")


class SourceRecords:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        source_id: str,
        account_id: str,
        project_id: str,
        *,
        type: str,
        retention: str,
        job_id: str,
        label: str | None = None,
        uri: str | None = None,
        meta: dict[str, Any] | None = None,
        extraction: dict[str, Any] | None = None,
    ) -> SourceInfo:
        now = utcnow()
        stmt = (
            insert(SOURCES)
            .values(
                id=source_id,
                account_id=account_id,
                project_id=project_id,
                type=type,
                label=label,
                uri=uri,
                retention=retention,
                meta=meta,
                extraction=extraction,
                job_id=job_id,
                created_at=now,
                updated_at=now,
            )
            .returning(SOURCES)
        )
        async with self._db.write() as conn:
            return _info((await conn.execute(stmt)).one())

    async def forget(self, source_id: str) -> None:
        """Undo a creation whose job could not be admitted (nothing else names it yet)."""
        async with self._db.write() as conn:
            await conn.execute(delete(SOURCES).where(_C.id == source_id))

    def _live(self, account_id: str, project_id: str) -> Any:
        return (
            (_C.account_id == account_id) & (_C.project_id == project_id) & _C.deleted_at.is_(None)
        )

    async def get(self, source_id: str, account_id: str, project_id: str) -> SourceInfo:
        stmt = select(SOURCES).where(_C.id == source_id, self._live(account_id, project_id))
        async with self._db.read() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            raise NotFound("source not found", source_id=source_id[:64])
        return _info(row)

    async def many(
        self, source_ids: Sequence[str], account_id: str, project_id: str
    ) -> dict[str, SourceInfo]:
        """The live sources of the project among ``source_ids``, by id (absent ones missing)."""
        if not source_ids:
            return {}
        stmt = select(SOURCES).where(
            _C.id.in_(list(source_ids)), self._live(account_id, project_id)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return {info.id: info for info in map(_info, rows)}

    async def page(
        self, account_id: str, project_id: str, *, limit: int, after: Cursor | None = None
    ) -> tuple[list[SourceInfo], Cursor | None]:
        stmt = (
            select(SOURCES)
            .where(self._live(account_id, project_id))
            .where(beyond(_C.created_at, _C.id, after))
            .order_by(_C.created_at.desc(), _C.id.desc())
            .limit(limit + 1)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        found = [_info(r) for r in rows[:limit]]
        more = len(rows) > limit
        return found, (Cursor(found[-1].created_at, found[-1].id) if more else None)

    async def counts(self, account_id: str, project_ids: Sequence[str]) -> dict[str, int]:
        """Live sources per project, for the projects' ``sourceCount``."""
        if not project_ids:
            return {}
        stmt = (
            select(_C.project_id, func.count())
            .where(
                _C.account_id == account_id,
                _C.project_id.in_(list(project_ids)),
                _C.deleted_at.is_(None),
            )
            .group_by(_C.project_id)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return {str(project): int(count) for project, count in rows}

    async def delete(self, source_id: str, account_id: str, project_id: str) -> SourceInfo:
        now = utcnow()
        stmt = (
            update(SOURCES)
            .where(_C.id == source_id, self._live(account_id, project_id))
            .values(deleted_at=now, updated_at=now)
            .returning(SOURCES)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            raise NotFound("source not found", source_id=source_id[:64])
        return _info(row)
