"""Account routes: the publisher profile and the account's own StoryMint API keys.

The profile lives in the account's shared profile document as top-level ``display_name``,
``bio`` and ``website`` keys, so a PUT is one atomic shallow merge in the core and two clients
changing different fields never lose each other's change. Keys are listed and revoked only
within the caller's account and only for StoryMint: any other key id is simply not there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Request, delete, get, post, put
from litestar.openapi.spec import Operation, RequestBody
from litestar.params import Parameter

from adapters.common.jobs import plausible_id
from adapters.common.pages import next_cursor, page_cursor, page_limit
from adapters.storymint import gate
from adapters.storymint.auth import FAMILY, Caller
from adapters.storymint.errors import StoryMintError
from contracts.storymint import (
    KeyCreated,
    KeyCreateRequest,
    KeyList,
    KeyListItem,
    KeyRevoked,
    Profile,
    ProfileUpdate,
    decode,
)
from gateway.core.errors import InvalidInput, NotFound
from gateway.core.keys import KeyInfo
from gateway.core.pages import CURSOR_PATTERN, Cursor
from gateway.runtime import Runtime

TAGS = ["Account"]
_PROFILE_FIELDS = ("display_name", "bio", "website")

# The reference documents no paging, so both parameters are optional and a client that sends
# neither gets the first PAGE_SIZE rows. They are read as text so that a bad value reaches
# page_query and gets StoryMint's envelope; schema_extra documents them as what they mean
# (``one_of`` drops the generated string-or-null alternative).
PAGE_SIZE = 100
PageLimit = Annotated[
    str | None,
    Parameter(
        description=f"Page size, 1 to {PAGE_SIZE}.",
        schema_extra={
            "one_of": None,
            "type": "integer",
            "minimum": 1,
            "maximum": PAGE_SIZE,
            "default": PAGE_SIZE,
        },
    ),
]
PageCursor = Annotated[
    str | None,
    Parameter(
        description="The next_cursor of the previous page; left out for the first page.",
        schema_extra={"one_of": None, "type": "string", "pattern": CURSOR_PATTERN},
    ),
]


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def no_nul(**fields: str | None) -> None:
    """PostgreSQL cannot store NUL in text; refuse it as bad input rather than fail later."""
    for name, value in fields.items():
        if value is not None and "\x00" in value:
            raise StoryMintError(400, "Invalid request", f"{name}: must not contain NUL characters")


def page_query(limit: str | None, cursor: str | None) -> tuple[int, Cursor | None]:
    """The checked paging parameters; a bad one is StoryMint's 400 naming it."""
    try:
        return page_limit(limit, default=PAGE_SIZE, maximum=PAGE_SIZE), page_cursor(cursor)
    except InvalidInput as exc:
        field = str(exc.details.get("field", "query"))
        detail = f"{field}: {exc.message.removeprefix(field + ' ')}"
        raise StoryMintError(400, "Invalid request", detail) from None


def _profile(stored: dict[str, Any]) -> Profile:
    return Profile(**{name: str(stored.get(name) or "") for name in _PROFILE_FIELDS})


def _key_item(key: KeyInfo, now: datetime) -> KeyListItem:
    if key.revoked_at is not None:
        status = "revoked"
    elif key.expires_at is not None and key.expires_at <= now:
        status = "expired"
    else:
        status = "active"
    return KeyListItem(
        key_id=key.id,
        prefix=key.prefix,
        label=key.label,
        created_at=iso(key.created_at),
        last_used_at=iso(key.last_used_at) if key.last_used_at else None,
        status=status,
    )


async def _read_profile(runtime: Runtime, caller: Caller) -> Profile:
    account = await runtime.accounts.get(caller.account_id)
    return _profile(account.profile)


async def _own_key(runtime: Runtime, caller: Caller, key_id: str) -> KeyInfo:
    missing = StoryMintError(404, "API key not found", f"No API key with id {key_id!r}")
    if not plausible_id(key_id):
        raise missing
    try:
        key = await runtime.keys.get(key_id, caller.account_id)
    except NotFound:
        raise missing from None
    if key.family != FAMILY:
        raise missing
    return key


@dataclass
class OptionalBodyOperation(Operation):
    """Litestar documents every declared body as required; this one may be left out."""

    def __post_init__(self) -> None:
        if isinstance(self.request_body, RequestBody):
            self.request_body.required = False


# -- profile ---------------------------------------------------------------------------------


@get(
    "/profile",
    summary="Get publisher profile",
    description="Display name, bio and website shown on marketplace listings.",
    tags=TAGS,
    responses=gate.error_responses(400, 401, 429),
)
async def get_profile(caller: Caller, runtime: Runtime) -> Profile:
    return await _read_profile(runtime, caller)


@put(
    "/profile",
    status_code=200,
    summary="Update publisher profile",
    description=(
        "Merges the given fields into the profile and returns the whole profile; omitted or "
        'null fields are left as they are, "" clears one.'
    ),
    tags=TAGS,
    responses=gate.error_responses(400, 401, 429),
)
async def put_profile(
    request: Request[Any, Any, Any], data: ProfileUpdate, caller: Caller, runtime: Runtime
) -> Profile:
    strict: ProfileUpdate = decode(await request.body(), ProfileUpdate)
    changes = {
        name: getattr(strict, name) for name in _PROFILE_FIELDS if getattr(strict, name) is not None
    }
    no_nul(**changes)
    if not changes:
        return await _read_profile(runtime, caller)
    account = await runtime.accounts.update_profile(caller.account_id, changes)
    return _profile(account.profile)


# -- keys ------------------------------------------------------------------------------------


@get(
    "/keys",
    summary="List API keys",
    description=(
        "Every StoryMint key of the account, newest first: prefix, label, created and last-used "
        "times (UTC, minute resolution) and status. The raw key is never shown again. Paged: "
        f"at most limit keys (default {PAGE_SIZE}); pass next_cursor back as cursor for the "
        "next page, which is null after the last."
    ),
    tags=TAGS,
    responses=gate.error_responses(400, 401, 429),
)
async def list_keys(
    caller: Caller, runtime: Runtime, limit: PageLimit = None, cursor: PageCursor = None
) -> KeyList:
    size, after = page_query(limit, cursor)
    now = datetime.now(UTC)
    keys, more = await runtime.keys.page(caller.account_id, FAMILY, limit=size, after=after)
    return KeyList(keys=[_key_item(k, now) for k in keys], next_cursor=next_cursor(more))


@post(
    "/keys",
    status_code=201,
    summary="Create an API key",
    description=(
        "The raw key (sm_...) is in this response only: save it immediately. The body, and "
        "its label, may be left out."
    ),
    tags=TAGS,
    operation_class=OptionalBodyOperation,
    responses=gate.error_responses(400, 401, 403, 429),
)
async def create_key(
    request: Request[Any, Any, Any],
    caller: Caller,
    runtime: Runtime,
    data: KeyCreateRequest | None = None,
) -> KeyCreated:
    # No body, or a JSON null, means no label.
    body = (await request.body()).strip()
    given: KeyCreateRequest | None = decode(body, KeyCreateRequest | None)  # type: ignore[arg-type]
    strict = given or KeyCreateRequest()
    label = strict.label.strip()
    no_nul(label=label)
    issued = await runtime.keys.create(caller.account_id, FAMILY, label=label)
    return KeyCreated(key=issued.raw, key_id=issued.info.id, label=issued.info.label)


@delete(
    "/keys/{key_id:str}",
    status_code=200,
    summary="Revoke an API key",
    description=(
        "The key becomes permanently inactive at once (a key may revoke itself). Revoking a "
        "revoked key answers the same again."
    ),
    tags=TAGS,
    responses=gate.error_responses(400, 401, 404, 429),
)
async def revoke_key(key_id: str, caller: Caller, runtime: Runtime) -> KeyRevoked:
    await _own_key(runtime, caller, key_id)
    key = await runtime.keys.revoke(key_id, caller.account_id)
    assert key.revoked_at is not None
    return KeyRevoked(key_id=key.id, status="revoked", revoked_at=iso(key.revoked_at))


ROUTES = [get_profile, put_profile, list_keys, create_key, revoke_key]
