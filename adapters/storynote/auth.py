"""Who is calling: an ``sk_live_`` key as ``Authorization: Bearer`` (preferred) or ``X-API-Key``.

Any key that cannot be used — missing, unknown, revoked, expired, another family's, refused
for its IP, or on a plan without API access — is the reference's one 401.
"""

from __future__ import annotations

from typing import Any

from adapters.common import callers
from adapters.common.callers import Caller
from adapters.common.credentials import KeySources, client_ip
from adapters.storynote.errors import StoryNoteError
from gateway.core.errors import Unauthenticated
from gateway.runtime import Runtime

__all__ = ["FAMILY", "Caller", "authenticate", "client_ip", "raw_key"]

FAMILY = "storynote"
KEYS = KeySources(headers=("x-api-key",), bearer=True, bearer_first=True)


def raw_key(request: Any) -> str | None:
    return KEYS.raw_key(request)


async def authenticate(runtime: Runtime, raw: str | None, ip: str | None) -> Caller:
    try:
        caller = await callers.authenticate(runtime, FAMILY, raw, ip)
    except Unauthenticated:
        raise StoryNoteError(401, "Invalid or missing API key") from None
    if not caller.plan.api_access:
        raise StoryNoteError(401, "Invalid or missing API key")
    return caller
