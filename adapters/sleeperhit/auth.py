"""Who is calling: an ``sh_<18 hex>_<64 hex>`` key as ``Authorization: Bearer`` only, and
whether its scopes allow the route. The key's prefix may be logged; the secret never is."""

from __future__ import annotations

from typing import Any

from adapters.common import callers
from adapters.common.callers import Caller
from adapters.common.credentials import KeySources, client_ip
from adapters.sleeperhit.errors import ShError

__all__ = ["FAMILY", "Caller", "authenticate", "client_ip", "raw_key", "require"]

FAMILY = "sleeperhit"
KEYS = KeySources(headers=(), bearer=True, bearer_first=True)


def raw_key(request: Any) -> str | None:
    return KEYS.raw_key(request)


async def authenticate(runtime: Any, raw: str | None, ip: str | None) -> Caller:
    """The core's ``Unauthenticated`` (with its reason) propagates; the family's error table
    turns each reason into its own code."""
    return await callers.authenticate(runtime, FAMILY, raw, ip)


def require(caller: Caller, scope: str) -> None:
    if scope not in caller.key.scopes:
        raise ShError(
            "insufficient_scope",
            f"This key lacks the {scope} scope",
            details={"required": scope, "granted": list(caller.key.scopes)},
        )
