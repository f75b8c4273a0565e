"""Teams on both databases: membership hides teams, seats are counted with pending invites,
invites are accepted once, and only a member's own finished books reach the library."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from gateway.core.errors import Conflict, Forbidden, InvalidInput, InvalidState, NotFound
from gateway.core.pages import Cursor
from gateway.core.teams import LibraryEntry, TeamInfo, TeamService
from gateway.db.engine import Database
from gateway.db.models import Account, Job, TeamBook, TeamInvite, TeamMember

T0 = datetime(2030, 5, 17, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0
        self.frozen = False

    def __call__(self) -> datetime:
        if not self.frozen:
            self.now += timedelta(seconds=1)  # strictly increasing: ordering is observable
        return self.now

    def freeze(self) -> None:
        """From now on every call answers one instant, a second after the last one."""
        self.now += timedelta(seconds=1)
        self.frozen = True


@dataclass
class Env:
    db: Database
    teams: TeamService
    clock: Clock

    async def account(self) -> str:
        acc = "acc_" + secrets.token_hex(6)
        async with self.db.write() as conn:
            await conn.execute(insert(Account).values(id=acc, name="t", profile={}, created_at=T0))
        return acc

    async def job(
        self,
        account_id: str,
        *,
        status: str = "succeeded",
        kind: str = "book",
        family: str = "storymint",
        title: str = "The Moon Fox",
    ) -> str:
        job_id = secrets.token_hex(20)
        result: dict[str, Any] | None = None
        if status == "succeeded":
            result = {"title": title, "format": "picture", "cover": f"jobs/{job_id}/cover.jpg"}
        async with self.db.write() as conn:
            await conn.execute(
                insert(Job).values(
                    id=job_id,
                    account_id=account_id,
                    family=family,
                    kind=kind,
                    status=status,
                    params={"format": "picture"},
                    progress={},
                    result=result,
                    created_at=T0,
                    updated_at=T0,
                )
            )
        return job_id

    async def count(self, table: Any) -> int:
        async with self.db.read() as conn:
            return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


@pytest.fixture
def env(db: Database) -> Env:
    clock = Clock()
    return Env(db, TeamService(db, clock=clock), clock)


async def test_create_makes_the_owner_a_member(env: Env) -> None:
    owner = await env.account()
    team = await env.teams.create(owner, "storymint", "  Oakwood Elementary ", "school", 10)
    assert team.id.startswith("team_")
    assert (team.name, team.workspace_type, team.max_seats) == ("Oakwood Elementary", "school", 10)
    assert team.owner_account_id == owner
    assert [(m.account_id, m.role) for m in team.members] == [(owner, "owner")]
    assert team.seats_used == 1 and team.pending_invites == ()
    assert team.created_at.tzinfo is not None
    assert await env.teams.get(team.id, owner) == team


@pytest.mark.parametrize(
    ("name", "kind", "seats"),
    [("", "school", 10), ("x" * 201, "school", 10), ("ok", "", 10), ("ok", "school", 0)],
)
async def test_create_rejects_bad_input_and_writes_nothing(
    env: Env, name: str, kind: str, seats: int
) -> None:
    owner = await env.account()
    with pytest.raises(InvalidInput):
        await env.teams.create(owner, "storymint", name, kind, seats)
    assert await env.count(TeamMember) == 0


async def test_teams_are_invisible_to_non_members(env: Env) -> None:
    owner, stranger = await env.account(), await env.account()
    team = await env.teams.create(owner, "storymint", "Oakwood", "school", 10)
    other = await env.teams.create(stranger, "storymint", "Elm", "school", 10)
    assert [t.id for t in (await env.teams.list_for(owner))[0]] == [team.id]
    assert [t.id for t in (await env.teams.list_for(stranger))[0]] == [other.id]
    assert await env.teams.list_for(owner, family="childrenbooks") == ([], None)
    for call in (
        env.teams.get(team.id, stranger),
        env.teams.invite(team.id, stranger, "a@b.c"),
        env.teams.library(team.id, stranger),
        env.teams.get("team_nope", owner),
    ):
        with pytest.raises(NotFound):
            await call


async def test_invite_accept_flow(env: Env) -> None:
    owner, teacher = await env.account(), await env.account()
    team = await env.teams.create(owner, "storymint", "Oakwood", "school", 10)
    invite = await env.teams.invite(team.id, owner, " Teacher@School.EDU ")
    assert invite.email == "teacher@school.edu"
    assert invite.status == "pending" and invite.team_id == team.id
    assert invite.id.startswith("inv_") and len(invite.id) == 4 + 32  # 128 random bits
    # Inviting the same address again reuses the pending invite and takes no extra seat.
    again = await env.teams.invite(team.id, owner, "teacher@school.edu")
    assert again.id == invite.id
    pending = await env.teams.get(team.id, owner)
    assert [i.id for i in pending.pending_invites] == [invite.id]
    assert pending.seats_used == 2

    joined = await env.teams.accept(invite.id, teacher)
    assert [(m.account_id, m.role) for m in joined.members] == [
        (owner, "owner"),
        (teacher, "member"),
    ]
    assert joined.pending_invites == () and joined.seats_used == 2
    assert [t.id for t in (await env.teams.list_for(teacher))[0]] == [team.id]
    # Idempotent for the same account; refused for another; unknown ids are not found.
    assert await env.teams.accept(invite.id, teacher) == joined
    with pytest.raises(Conflict):
        await env.teams.accept(invite.id, await env.account())
    with pytest.raises(NotFound):
        await env.teams.accept("inv_" + "0" * 32, teacher)
    # A plain member cannot invite.
    with pytest.raises(Forbidden):
        await env.teams.invite(team.id, teacher, "x@y.z")
    assert await env.count(TeamMember) == 2


async def test_bad_email_is_refused(env: Env) -> None:
    owner = await env.account()
    team = await env.teams.create(owner, "storymint", "Oakwood", "school", 10)
    for bad in ("", "no-at-sign", "a@", "two@@x", "sp ace@x.y", None):
        with pytest.raises(InvalidInput):
            await env.teams.invite(team.id, owner, bad)  # type: ignore[arg-type]
    assert await env.count(TeamInvite) == 0


async def test_seats_count_members_and_pending_invites(env: Env) -> None:
    owner = await env.account()
    team = await env.teams.create(owner, "storymint", "Tiny", "school", 3)
    first = await env.teams.invite(team.id, owner, "one@x.y")
    await env.teams.invite(team.id, owner, "two@x.y")
    with pytest.raises(Forbidden, match="no seats left"):
        await env.teams.invite(team.id, owner, "three@x.y")
    # Accepting moves a seat from "pending" to "member": still full.
    await env.teams.accept(first.id, await env.account())
    with pytest.raises(Forbidden, match="no seats left"):
        await env.teams.invite(team.id, owner, "three@x.y")
    assert (await env.teams.get(team.id, owner)).seats_used == 3


async def test_concurrent_invites_never_oversell_seats(env: Env) -> None:
    owner = await env.account()
    team = await env.teams.create(owner, "storymint", "Race", "school", 4)
    results = await asyncio.gather(
        *(env.teams.invite(team.id, owner, f"t{i}@x.y") for i in range(8)),
        return_exceptions=True,
    )
    made = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, Forbidden)]
    assert len(made) == 3 and len(refused) == 5
    assert (await env.teams.get(team.id, owner)).seats_used == 4


async def test_concurrent_accepts_have_one_winner(env: Env) -> None:
    owner = await env.account()
    team = await env.teams.create(owner, "storymint", "Race", "school", 10)
    invite = await env.teams.invite(team.id, owner, "t@x.y")
    rivals = [await env.account() for _ in range(5)]
    results = await asyncio.gather(
        *(env.teams.accept(invite.id, acc) for acc in rivals), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert sum(isinstance(r, Conflict) for r in results) == 4
    assert len((await env.teams.get(team.id, owner)).members) == 2


async def test_share_and_library(env: Env) -> None:
    owner, teacher = await env.account(), await env.account()
    team = await env.teams.create(owner, "storymint", "Oakwood", "school", 10)
    await env.teams.accept((await env.teams.invite(team.id, owner, "t@x.y")).id, teacher)
    first = await env.job(owner, title="First")
    second = await env.job(teacher, title="Second")

    shared = await env.teams.share(team.id, owner, first)
    assert (shared.job_id, shared.title, shared.format) == (first, "First", "picture")
    assert shared.shared_by == owner and shared.cover == f"jobs/{first}/cover.jpg"
    # Sharing again changes nothing, not even the time.
    assert await env.teams.share(team.id, owner, first) == shared
    await env.teams.share(team.id, teacher, second)

    for member in (owner, teacher):
        books, after = await env.teams.library(team.id, member)
        assert [(b.job_id, b.shared_by) for b in books] == [(second, teacher), (first, owner)]
        assert after is None
    entry = await env.teams.library_entry(team.id, teacher, first)
    assert entry == shared
    with pytest.raises(NotFound):
        await env.teams.library_entry(team.id, teacher, await env.job(owner))
    assert await env.count(TeamBook) == 2


async def test_share_refuses_foreign_and_unfinished_jobs(env: Env) -> None:
    owner, member, stranger = await env.account(), await env.account(), await env.account()
    team = await env.teams.create(owner, "storymint", "Oakwood", "school", 10)
    await env.teams.accept((await env.teams.invite(team.id, owner, "m@x.y")).id, member)
    # Someone else's book (even a team member's), another family's, or no job at all: 404.
    for job_id in (
        await env.job(member),
        await env.job(owner, family="childrenbooks"),
        "f" * 40,
    ):
        with pytest.raises(NotFound):
            await env.teams.share(team.id, owner, job_id)
    # The caller's own job, but not a finished book.
    for job_id in (await env.job(owner, status="running"), await env.job(owner, kind="image")):
        with pytest.raises(InvalidState):
            await env.teams.share(team.id, owner, job_id)
    # A non-member cannot share even their own finished book.
    with pytest.raises(NotFound):
        await env.teams.share(team.id, stranger, await env.job(stranger))
    assert await env.count(TeamBook) == 0


async def test_odd_ids_and_nul_text_are_refused_cleanly(env: Env) -> None:
    """PostgreSQL rejects NUL in text outright; that must surface as not-found or bad input."""
    owner = await env.account()
    team = await env.teams.create(owner, "storymint", "Oakwood", "school", 10)
    for odd in ("team\x00", "x" * 65, ""):
        with pytest.raises(NotFound):
            await env.teams.get(odd, owner)
        with pytest.raises(NotFound):
            await env.teams.accept(odd, owner)
        with pytest.raises(NotFound):
            await env.teams.share(team.id, owner, odd)
        with pytest.raises(NotFound):
            await env.teams.library_entry(team.id, owner, odd)
    with pytest.raises(InvalidInput):
        await env.teams.create(owner, "storymint", "bad\x00name", "school", 10)
    with pytest.raises(InvalidInput):
        await env.teams.invite(team.id, owner, "nul\x00@x.y")


async def _walk_teams(env: Env, account_id: str, size: int) -> list[str]:
    seen: list[str] = []
    after: Cursor | None = None
    for _ in range(20):
        page: list[TeamInfo]
        page, after = await env.teams.list_for(account_id, "storymint", limit=size, after=after)
        assert len(page) <= size
        seen += [t.id for t in page]
        if after is None:
            return seen
    raise AssertionError("paging never ended")


async def test_team_pages_walk_every_team_once_across_equal_timestamps(env: Env) -> None:
    owner, stranger = await env.account(), await env.account()
    early = await env.teams.create(owner, "storymint", "Early", "school", 10)
    env.clock.freeze()  # the next five are created in one instant
    tied = [await env.teams.create(owner, "storymint", f"T{i}", "school", 10) for i in range(5)]
    env.clock.frozen = False
    # A team the owner joined rather than created counts; a stranger's and another family's
    # do not.
    joined = await env.teams.create(stranger, "storymint", "Joined", "school", 10)
    await env.teams.accept((await env.teams.invite(joined.id, stranger, "o@x.y")).id, owner)
    await env.teams.create(stranger, "storymint", "Not mine", "school", 10)
    await env.teams.create(owner, "childrenbooks", "Other family", "school", 10)

    oldest_first = [early.id, *sorted(t.id for t in tied), joined.id]
    for size in (1, 2, 3, 7, 100):
        assert await _walk_teams(env, owner, size) == oldest_first, size
    page, after = await env.teams.list_for(owner, "storymint", limit=7)
    assert len(page) == 7 and after is None


async def test_library_pages_walk_every_book_once_across_equal_timestamps(env: Env) -> None:
    owner = await env.account()
    team = await env.teams.create(owner, "storymint", "Oakwood", "school", 10)
    first = await env.job(owner)
    await env.teams.share(team.id, owner, first)
    env.clock.freeze()  # shared in one instant, after the first
    tied = [await env.job(owner) for _ in range(5)]
    for job_id in tied:
        await env.teams.share(team.id, owner, job_id)

    newest_first = [*sorted(tied, reverse=True), first]
    for size in (1, 2, 4, 6):
        seen: list[str] = []
        after: Cursor | None = None
        for _ in range(20):
            page: list[LibraryEntry]
            page, after = await env.teams.library(team.id, owner, limit=size, after=after)
            assert len(page) <= size
            seen += [b.job_id for b in page]
            if after is None:
                break
        assert seen == newest_first, size
    # A cursor past the oldest book is an empty last page; a non-member still sees no team.
    past = Cursor(T0 - timedelta(days=1), "0")
    assert await env.teams.library(team.id, owner, after=past) == ([], None)
    with pytest.raises(NotFound):
        await env.teams.library(team.id, await env.account(), after=past)
