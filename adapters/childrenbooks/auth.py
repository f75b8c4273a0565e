"""Who is calling: a ``cbk_live_`` key in ``x-api-key`` (preferred) or ``Authorization: Bearer``.

No key is UNAUTHORIZED; an unknown, revoked, expired or other-family key is INVALID_API_KEY; a key
whose IP allow-list excludes the caller, or that lacks a route's scope, is FORBIDDEN. A key the
core revoked because its account moved to a plan without API access (the reference: "Downgrading
to Free instantly revokes the key") is answered PLAN_REQUIRED, which tells its owner what to do.
"""

from __future__ import annotations

from typing import Any

from adapters.childrenbooks.errors import ChildrenBooksError
from adapters.common import callers
from adapters.common.callers import Caller
from adapters.common.credentials import KeySources, client_ip
from contracts.childrenbooks import ErrorCode
from gateway.core.errors import NotFound, Unauthenticated
from gateway.runtime import Runtime

__all__ = ["FAMILY", "Caller", "authenticate", "client_ip", "raw_key", "require_scope"]

FAMILY = "childrenbooks"
KEYS = KeySources(headers=("x-api-key",), bearer=True)
# Scopes a key may be limited to; a key with no scopes may do everything.
SCOPE_READ = "stories:read"
SCOPE_WRITE = "stories:write"
_SCOPE_ALL = ("*", "stories:*")


def raw_key(request: Any) -> str | None:
    return KEYS.raw_key(request)


def plan_required() -> ChildrenBooksError:
    return ChildrenBooksError(
        ErrorCode.PLAN_REQUIRED,
        "The API is available on Pro and Premium plans. Upgrade to use this key.",
    )


async def _revoked_by_downgrade(runtime: Runtime, raw: str) -> bool:
    """Whether a revoked key belongs to an account whose plan no longer has API access."""
    account_id = await runtime.keys.revoked_owner(raw, FAMILY)
    if account_id is None:
        return False
    try:
        plan = await runtime.accounts.plan_of(account_id, FAMILY)
    except NotFound:
        return False
    return not plan.api_access


async def authenticate(runtime: Runtime, raw: str | None, ip: str | None) -> Caller:
    try:
        caller = await callers.authenticate(runtime, FAMILY, raw, ip)
    except Unauthenticated as exc:
        if exc.reason == "missing":
            raise ChildrenBooksError(
                ErrorCode.UNAUTHORIZED,
                "Missing API key. Send x-api-key: cbk_live_… or Authorization: Bearer cbk_live_….",
            ) from None
        if exc.reason == "ip_not_allowed":
            raise ChildrenBooksError(
                ErrorCode.FORBIDDEN, "This API key may not be used from this IP address."
            ) from None
        if exc.reason == "revoked" and raw and await _revoked_by_downgrade(runtime, raw):
            raise plan_required() from None
        raise ChildrenBooksError(ErrorCode.INVALID_API_KEY, "Invalid API key.") from None
    if not caller.plan.api_access:
        raise plan_required()
    return caller


def require_scope(caller: Caller, scope: str) -> None:
    scopes = caller.key.scopes
    if not scopes or scope in scopes or any(s in scopes for s in _SCOPE_ALL):
        return
    raise ChildrenBooksError(
        ErrorCode.FORBIDDEN,
        f"This API key lacks the {scope} scope.",
        meta={"requiredScope": scope},
    )
