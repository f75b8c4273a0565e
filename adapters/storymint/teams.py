"""Team routes (Schools & Organizations): workspaces, email invites and the shared library.

Only the Schools & Organizations plan creates workspaces; anyone with a StoryMint key may accept
an invite, since the teachers a school invites bring their own accounts. Teams, invites and
library books of which the caller is not a member answer 404 exactly like unknown ids.
"""

from __future__ import annotations

import posixpath
from typing import Any

from litestar import Request, get, post
from litestar.openapi import ResponseSpec

from adapters.common.jobs import plausible_id
from adapters.common.links import signed_params
from adapters.common.pages import next_cursor
from adapters.storymint import gate
from adapters.storymint.account import PAGE_SIZE, PageCursor, PageLimit, iso, no_nul, page_query
from adapters.storymint.auth import FAMILY, Caller
from adapters.storymint.errors import StoryMintError
from contracts.storymint import (
    ErrorBody,
    InviteCreate,
    Library,
    LibraryBook,
    ShareRequest,
    Team,
    TeamCreate,
    TeamInvite,
    TeamList,
    TeamMember,
    decode,
)
from gateway.core.errors import Forbidden
from gateway.core.teams import ADMIN, OWNER, InviteInfo, LibraryEntry, TeamInfo
from gateway.runtime import Runtime

TAGS = ["Teams"]
# "10 teacher or team seats included"; the owner's own seat is one of them.
INCLUDED_SEATS = 10
TEAMS_PLAN = "schools"


def _conflict() -> dict[int, ResponseSpec]:
    return {
        409: ResponseSpec(
            ErrorBody,
            description="Conflict: the invite was already accepted by another account",
            generate_examples=False,
        )
    }


def _invite(invite: InviteInfo) -> TeamInvite:
    return TeamInvite(
        id=invite.id,
        team_id=invite.team_id,
        email=invite.email,
        status=invite.status,
        created_at=iso(invite.created_at),
    )


def _team(team: TeamInfo, viewer: str) -> Team:
    # Invite ids are what accepts an invite, so only those who may invite see them.
    manager = any(m.account_id == viewer and m.role in (OWNER, ADMIN) for m in team.members)
    return Team(
        id=team.id,
        name=team.name,
        workspace_type=team.workspace_type,
        max_seats=team.max_seats,
        seats_used=team.seats_used,
        owner_account_id=team.owner_account_id,
        members=[TeamMember(m.account_id, m.role, iso(m.joined_at)) for m in team.members],
        pending_invites=[_invite(i) for i in team.pending_invites] if manager else [],
        created_at=iso(team.created_at),
    )


def _book(runtime: Runtime, entry: LibraryEntry) -> LibraryBook:
    cover_url = ""
    if entry.cover:
        # The sharer owns the file; a signed link lets every member load it with no key.
        query = signed_params(
            runtime.storage,
            entry.shared_by,
            entry.cover,
            runtime.settings.signed_url_seconds,
            name_account=True,
        )
        cover_url = f"/api/book/{entry.job_id}/image/{posixpath.basename(entry.cover)}?{query}"
    return LibraryBook(
        job_id=entry.job_id,
        title=entry.title,
        format=entry.format,
        shared_by=entry.shared_by,
        shared_at=iso(entry.shared_at),
        cover_url=cover_url,
    )


def _team_id(team_id: str) -> str:
    if not plausible_id(team_id):
        raise StoryMintError(404, "team not found", f"No team with id {team_id!r}")
    return team_id


@get(
    "/teams",
    summary="List teams",
    description=(
        "Every workspace the caller belongs to, owned or joined, oldest first. Paged: at most "
        f"limit teams (default {PAGE_SIZE}); pass next_cursor back as cursor for the next page, "
        "which is null after the last."
    ),
    tags=TAGS,
    responses=gate.error_responses(400, 401, 429),
)
async def list_teams(
    caller: Caller, runtime: Runtime, limit: PageLimit = None, cursor: PageCursor = None
) -> TeamList:
    size, after = page_query(limit, cursor)
    teams, more = await runtime.teams.list_for(caller.account_id, FAMILY, limit=size, after=after)
    return TeamList(
        teams=[_team(t, caller.account_id) for t in teams], next_cursor=next_cursor(more)
    )


@post(
    "/teams",
    status_code=201,
    summary="Create team",
    description=(
        "Schools & Organizations plan only. workspace_type is school (default) or "
        f"organization; every workspace has {INCLUDED_SEATS} seats, the owner's included."
    ),
    tags=TAGS,
    responses=gate.error_responses(400, 401, 403, 429),
)
async def create_team(
    request: Request[Any, Any, Any], data: TeamCreate, caller: Caller, runtime: Runtime
) -> Team:
    strict: TeamCreate = decode(await request.body(), TeamCreate)
    if caller.plan.id != TEAMS_PLAN:
        raise StoryMintError(
            403,
            "Teams are available on the Schools & Organizations plan only",
            f"Your plan is {caller.plan.display_name}.",
        )
    no_nul(name=strict.name)
    team = await runtime.teams.create(
        caller.account_id, FAMILY, strict.name, strict.workspace_type.value, INCLUDED_SEATS
    )
    return _team(team, caller.account_id)


@post(
    "/teams/{team_id:str}/invite",
    status_code=201,
    summary="Invite a member",
    description=(
        "Owner or admin only. The invite id in the response is what the invited user accepts "
        "with; a pending invite holds a seat, and inviting the same address again returns it."
    ),
    tags=TAGS,
    responses=gate.error_responses(400, 401, 403, 404, 429),
)
async def invite(
    request: Request[Any, Any, Any],
    team_id: str,
    data: InviteCreate,
    caller: Caller,
    runtime: Runtime,
) -> TeamInvite:
    strict: InviteCreate = decode(await request.body(), InviteCreate)
    no_nul(email=strict.email)
    service = runtime.teams
    try:
        made = await service.invite(_team_id(team_id), caller.account_id, strict.email)
    except Forbidden as exc:
        seats = exc.details.get("max_seats")
        detail = (
            f"All {seats} seats are taken by members and pending invites."
            if seats is not None
            else "Ask the team owner to invite this member."
        )
        raise StoryMintError(403, exc.message, detail) from None
    return _invite(made)


@post(
    "/teams/invites/{invite_id:str}/accept",
    status_code=200,
    summary="Accept an invite",
    description="Joins the invite's workspace and returns it; accepting again is harmless.",
    tags=TAGS,
    responses={**gate.error_responses(400, 401, 404, 429), **_conflict()},
)
async def accept_invite(invite_id: str, caller: Caller, runtime: Runtime) -> Team:
    if not plausible_id(invite_id):
        raise StoryMintError(404, "invite not found", f"No invite with id {invite_id!r}")
    team = await runtime.teams.accept(invite_id, caller.account_id)
    return _team(team, caller.account_id)


@get(
    "/teams/{team_id:str}/library",
    summary="Team library",
    description=(
        "Books shared into the workspace, newest first; cover URLs are signed. Paged: at most "
        f"limit books (default {PAGE_SIZE}); pass next_cursor back as cursor for the next page, "
        "which is null after the last."
    ),
    tags=TAGS,
    responses=gate.error_responses(400, 401, 404, 429),
)
async def library(
    team_id: str,
    caller: Caller,
    runtime: Runtime,
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Library:
    team_id = _team_id(team_id)
    size, after = page_query(limit, cursor)
    entries, more = await runtime.teams.library(team_id, caller.account_id, limit=size, after=after)
    return Library(books=[_book(runtime, e) for e in entries], next_cursor=next_cursor(more))


@post(
    "/teams/{team_id:str}/share",
    status_code=200,
    summary="Share a book",
    description=(
        "Puts one of the caller's finished books into the workspace library; sharing it again "
        "changes nothing."
    ),
    tags=TAGS,
    responses=gate.error_responses(400, 401, 404, 429),
)
async def share(
    request: Request[Any, Any, Any],
    team_id: str,
    data: ShareRequest,
    caller: Caller,
    runtime: Runtime,
) -> LibraryBook:
    strict: ShareRequest = decode(await request.body(), ShareRequest)
    team_id = _team_id(team_id)
    if not plausible_id(strict.job_id):
        raise StoryMintError(404, "job not found", f"No job with id {strict.job_id!r}")
    entry = await runtime.teams.share(team_id, caller.account_id, strict.job_id)
    return _book(runtime, entry)


ROUTES = [list_teams, create_team, invite, accept_invite, library, share]
