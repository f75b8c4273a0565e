"""Shared workspaces: a team of accounts with a seat limit, email invites and a common library.

Membership is the only key to a team: every read and write first checks that the caller is a
member, and a non-member gets ``NotFound`` exactly as for a team that does not exist, so team
ids leak nothing across accounts. Seats count members plus pending invites, because an invite
that could not be honoured on acceptance would be worse than one refused up front; the count is
taken under a lock on the team row so two concurrent invites cannot both take the last seat.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from contracts.common import EMAIL
from gateway.core.errors import Conflict, Forbidden, InvalidInput, InvalidState, NotFound
from gateway.core.ids import new_id
from gateway.core.pages import Cursor, beyond
from gateway.db.engine import Database
from gateway.db.models import Job, Team, TeamBook, TeamInvite, TeamMember, as_utc, utcnow

OWNER, ADMIN, MEMBER = "owner", "admin", "member"
# Roles allowed to invite; "admin" exists for operators who promote a member by hand.
_MANAGERS = frozenset({OWNER, ADMIN})
PENDING, ACCEPTED = "pending", "accepted"
# A plausible address, not RFC 5322: the invite is delivered out of band, never by us.
_EMAIL = re.compile(EMAIL)  # the same rule the contracts document
MAX_SEATS_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class MemberInfo:
    account_id: str
    role: str
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class InviteInfo:
    id: str
    team_id: str
    email: str
    status: str
    invited_by: str
    accepted_by: str | None
    created_at: datetime
    accepted_at: datetime | None


@dataclass(frozen=True, slots=True)
class TeamInfo:
    id: str
    owner_account_id: str
    family: str
    name: str
    workspace_type: str
    max_seats: int
    created_at: datetime
    members: tuple[MemberInfo, ...]
    pending_invites: tuple[InviteInfo, ...]

    @property
    def seats_used(self) -> int:
        return len(self.members) + len(self.pending_invites)


@dataclass(frozen=True, slots=True)
class LibraryEntry:
    team_id: str
    job_id: str
    title: str
    format: str
    # Storage path of the cover under the sharer's account (None when the book has none).
    cover: str | None
    shared_by: str
    shared_at: datetime


def _ts(value: Any) -> datetime:
    return cast(datetime, as_utc(value))


def _member(row: Any) -> MemberInfo:
    return MemberInfo(row.account_id, row.role, _ts(row.joined_at))


def _invite(row: Any) -> InviteInfo:
    return InviteInfo(
        id=row.id,
        team_id=row.team_id,
        email=row.email,
        status=row.status,
        invited_by=row.invited_by,
        accepted_by=row.accepted_by,
        created_at=_ts(row.created_at),
        accepted_at=as_utc(row.accepted_at),
    )


def _entry(row: Any) -> LibraryEntry:
    result = row.result if isinstance(row.result, dict) else {}
    cover = result.get("cover")
    return LibraryEntry(
        team_id=row.team_id,
        job_id=row.job_id,
        title=str(result.get("title") or ""),
        format=str(result.get("format") or row.params.get("format") or ""),
        cover=cover if isinstance(cover, str) and cover else None,
        shared_by=row.shared_by,
        shared_at=_ts(row.shared_at),
    )


def _text(value: Any, what: str, limit: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > limit:
        raise InvalidInput(f"{what} must be 1 to {limit} characters")
    if "\x00" in text:
        raise InvalidInput(f"{what} must not contain NUL characters")
    return text


def _usable(identifier: Any) -> bool:
    """Whether an id could be one of ours; PostgreSQL rejects NUL before it could say "no row"."""
    return isinstance(identifier, str) and 0 < len(identifier) <= 64 and "\x00" not in identifier


def _beyond(at: Any, ident: Any, cursor: Cursor | None, *, newest_first: bool = True) -> Any:
    return beyond(col(at), col(ident), cursor, newest_first=newest_first)


def normalise_email(email: Any) -> str:
    text = email.strip().lower() if isinstance(email, str) else ""
    if len(text) > 320 or not _EMAIL.match(text):
        raise InvalidInput("email must be an email address")
    return text


class TeamService:
    def __init__(self, db: Database, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = db
        self._clock = clock

    # -- teams ---------------------------------------------------------------------------------

    async def create(
        self,
        owner_account_id: str,
        family: str,
        name: str,
        workspace_type: str,
        max_seats: int,
    ) -> TeamInfo:
        name = _text(name, "name", 200)
        workspace_type = _text(workspace_type, "workspace_type", 40)
        if isinstance(max_seats, bool) or not isinstance(max_seats, int):
            raise InvalidInput("max_seats must be an integer")
        if not 1 <= max_seats <= MAX_SEATS_LIMIT:
            raise InvalidInput(f"max_seats must be 1 to {MAX_SEATS_LIMIT}")
        team_id = new_id("team")
        now = self._clock()
        async with self._db.write() as conn:
            await conn.execute(
                insert(Team).values(
                    id=team_id,
                    owner_account_id=owner_account_id,
                    family=family,
                    name=name,
                    workspace_type=workspace_type,
                    max_seats=max_seats,
                    created_at=now,
                )
            )
            await conn.execute(
                insert(TeamMember).values(
                    team_id=team_id, account_id=owner_account_id, role=OWNER, joined_at=now
                )
            )
        return await self.get(team_id, owner_account_id)

    async def list_for(
        self,
        account_id: str,
        family: str | None = None,
        *,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> tuple[list[TeamInfo], Cursor | None]:
        """One page of the teams the account belongs to, owned or joined, oldest first, and
        the cursor of the next page (None on the last)."""
        size = max(1, min(limit, 1000))
        mine = [col(TeamMember.account_id) == account_id]
        if family is not None:
            mine.append(col(Team.family) == family)
        query = (
            select(Team)
            .join(TeamMember, col(TeamMember.team_id) == col(Team.id))
            .where(*mine, _beyond(Team.created_at, Team.id, after, newest_first=False))
            .order_by(col(Team.created_at), col(Team.id))
            .limit(size + 1)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
            teams = [await self._load(conn, row) for row in rows[:size]]
        more = len(rows) > size
        return teams, (Cursor(teams[-1].created_at, teams[-1].id) if more else None)

    async def get(self, team_id: str, account_id: str) -> TeamInfo:
        async with self._db.read() as conn:
            row = await self._team_of_member(conn, team_id, account_id)
            return await self._load(conn, row)

    # -- invites -------------------------------------------------------------------------------

    async def invite(self, team_id: str, account_id: str, email: str) -> InviteInfo:
        """Invite an address; inviting one that already has a pending invite returns that one."""
        email = normalise_email(email)
        async with self._db.write() as conn:
            team = await self._team_of_member(conn, team_id, account_id, lock=True)
            role = await conn.scalar(
                select(col(TeamMember.role)).where(
                    col(TeamMember.team_id) == team_id, col(TeamMember.account_id) == account_id
                )
            )
            if role not in _MANAGERS:
                raise Forbidden("only the team owner or an admin can invite members")
            pending = (
                await conn.execute(
                    select(TeamInvite).where(
                        col(TeamInvite.team_id) == team_id,
                        col(TeamInvite.email) == email,
                        col(TeamInvite.status) == PENDING,
                    )
                )
            ).first()
            if pending is not None:
                return _invite(pending)
            if await self._seats_used(conn, team_id) >= team.max_seats:
                raise Forbidden("no seats left", max_seats=team.max_seats)
            made = InviteInfo(
                id=new_id("inv", 16),  # 128 bits: the id alone is what accepts the invite
                team_id=team_id,
                email=email,
                status=PENDING,
                invited_by=account_id,
                accepted_by=None,
                created_at=self._clock(),
                accepted_at=None,
            )
            await conn.execute(insert(TeamInvite).values(**asdict(made)))
        return made

    async def accept(self, invite_id: str, account_id: str) -> TeamInfo:
        """Join the invite's team; repeating it as the same account is a no-op."""
        if not _usable(invite_id):
            raise NotFound("invite not found")
        now = self._clock()
        async with self._db.write() as conn:
            # Compare-and-swap on the status: of two accounts racing, exactly one wins.
            won = (
                await conn.execute(
                    update(TeamInvite)
                    .where(col(TeamInvite.id) == invite_id, col(TeamInvite.status) == PENDING)
                    .values(status=ACCEPTED, accepted_by=account_id, accepted_at=now)
                    .returning(col(TeamInvite.team_id))
                )
            ).first()
            if won is None:
                row = (
                    await conn.execute(select(TeamInvite).where(col(TeamInvite.id) == invite_id))
                ).first()
                if row is None:
                    raise NotFound("invite not found")
                if row.accepted_by != account_id:
                    raise Conflict("invite already accepted by another account")
                team_id = row.team_id
            else:
                team_id = won.team_id
                await conn.execute(
                    self._insert_ignore(TeamMember).values(
                        team_id=team_id, account_id=account_id, role=MEMBER, joined_at=now
                    )
                )
        return await self.get(team_id, account_id)

    # -- library -------------------------------------------------------------------------------

    async def share(self, team_id: str, account_id: str, job_id: str) -> LibraryEntry:
        """Put one of the sharer's finished books in the library; sharing it again is a no-op."""
        if not _usable(job_id):
            raise NotFound("job not found")
        async with self._db.write() as conn:
            team = await self._team_of_member(conn, team_id, account_id)
            job = (
                await conn.execute(
                    select(
                        col(Job.account_id),
                        col(Job.family),
                        col(Job.kind),
                        col(Job.status),
                        col(Job.result),
                    ).where(col(Job.id) == job_id)
                )
            ).first()
            # Another account's job, or another family's, is as absent as an unknown one.
            if job is None or job.account_id != account_id or job.family != team.family:
                raise NotFound("job not found")
            if job.kind != "book" or job.status != "succeeded" or not job.result:
                raise InvalidState("only a finished book can be shared")
            await conn.execute(
                self._insert_ignore(TeamBook).values(
                    team_id=team_id, job_id=job_id, shared_by=account_id, shared_at=self._clock()
                )
            )
            rows = await self._library_rows(conn, team_id, job_id=job_id)
        return rows[0]

    async def library(
        self, team_id: str, account_id: str, *, limit: int = 100, after: Cursor | None = None
    ) -> tuple[list[LibraryEntry], Cursor | None]:
        """One page of shared books, newest first, and the cursor of the next page."""
        size = max(1, min(limit, 1000))
        async with self._db.read() as conn:
            await self._team_of_member(conn, team_id, account_id)
            rows = await self._library_rows(conn, team_id, limit=size + 1, after=after)
        books = rows[:size]
        more = len(rows) > size
        return books, (Cursor(books[-1].shared_at, books[-1].job_id) if more else None)

    async def library_entry(self, team_id: str, account_id: str, job_id: str) -> LibraryEntry:
        """One shared book, for a member who may not own it (e.g. to fetch its cover)."""
        if not _usable(job_id):
            raise NotFound("book not found in this team's library")
        async with self._db.read() as conn:
            await self._team_of_member(conn, team_id, account_id)
            rows = await self._library_rows(conn, team_id, job_id=job_id)
        if not rows:
            raise NotFound("book not found in this team's library")
        return rows[0]

    # -- helpers -------------------------------------------------------------------------------

    def _insert_ignore(self, table: Any) -> Any:
        stmt = (sqlite_insert if self._db.is_sqlite else pg_insert)(table)
        return stmt.on_conflict_do_nothing()

    async def _team_of_member(
        self, conn: AsyncConnection, team_id: str, account_id: str, *, lock: bool = False
    ) -> Any:
        if not _usable(team_id):
            raise NotFound("team not found")
        query = (
            select(Team)
            .join(TeamMember, col(TeamMember.team_id) == col(Team.id))
            .where(col(Team.id) == team_id, col(TeamMember.account_id) == account_id)
        )
        if lock:
            # Serialises seat counting on PostgreSQL; SQLite's single writer already does.
            query = query.with_for_update(of=Team)
        row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound("team not found")
        return row

    async def _seats_used(self, conn: AsyncConnection, team_id: str) -> int:
        members = await conn.scalar(
            select(func.count()).select_from(TeamMember).where(col(TeamMember.team_id) == team_id)
        )
        invites = await conn.scalar(
            select(func.count())
            .select_from(TeamInvite)
            .where(col(TeamInvite.team_id) == team_id, col(TeamInvite.status) == PENDING)
        )
        return int(members or 0) + int(invites or 0)

    async def _load(self, conn: AsyncConnection, row: Any) -> TeamInfo:
        members = await conn.execute(
            select(TeamMember)
            .where(col(TeamMember.team_id) == row.id)
            .order_by(col(TeamMember.joined_at), col(TeamMember.account_id))
        )
        invites = await conn.execute(
            select(TeamInvite)
            .where(col(TeamInvite.team_id) == row.id, col(TeamInvite.status) == PENDING)
            .order_by(col(TeamInvite.created_at), col(TeamInvite.id))
        )
        return TeamInfo(
            id=row.id,
            owner_account_id=row.owner_account_id,
            family=row.family,
            name=row.name,
            workspace_type=row.workspace_type,
            max_seats=row.max_seats,
            created_at=_ts(row.created_at),
            members=tuple(_member(m) for m in members),
            pending_invites=tuple(_invite(i) for i in invites),
        )

    async def _library_rows(
        self,
        conn: AsyncConnection,
        team_id: str,
        *,
        job_id: str | None = None,
        limit: int | None = None,
        after: Cursor | None = None,
    ) -> list[LibraryEntry]:
        query: Any = (
            select(
                col(TeamBook.team_id),
                col(TeamBook.job_id),
                col(TeamBook.shared_by),
                col(TeamBook.shared_at),
                col(Job.result),
                col(Job.params),
            )
            .join(Job, col(Job.id) == col(TeamBook.job_id))
            .where(
                col(TeamBook.team_id) == team_id,
                _beyond(TeamBook.shared_at, TeamBook.job_id, after),
            )
            .order_by(col(TeamBook.shared_at).desc(), col(TeamBook.job_id).desc())
            .limit(limit)
        )
        if job_id is not None:
            query = query.where(col(TeamBook.job_id) == job_id)
        rows: Sequence[Any] = (await conn.execute(query)).all()
        return [_entry(r) for r in rows]
