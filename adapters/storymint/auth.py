"""Who is calling: an ``sm_`` key in ``X-API-Key`` or ``Authorization: Bearer``.

Resolved once per request as the ``caller`` dependency; a key of another family, a revoked or
expired key, or none at all is a 401 in StoryMint's envelope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request

from adapters.storymint.errors import StoryMintError
from gateway.core.errors import Unauthenticated
from gateway.core.keys import KeyInfo
from gateway.core.plans import Plan
from gateway.runtime import Runtime

FAMILY = "storymint"


@dataclass(frozen=True, slots=True)
class Caller:
    account_id: str
    key: KeyInfo
    plan: Plan


def raw_key(request: Request[Any, Any, Any]) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def authenticate(runtime: Runtime, raw: str | None, ip: str | None) -> Caller:
    try:
        key = await runtime.keys.verify(raw, FAMILY, ip=ip)
    except Unauthenticated as exc:
        raise StoryMintError(401, "Invalid or missing API key", exc.message) from None
    plan = await runtime.accounts.plan_of(key.account_id, FAMILY)
    return Caller(key.account_id, key, plan)


async def provide_caller(request: Request[Any, Any, Any], runtime: Runtime) -> Caller:
    client = request.client.host if request.client else None
    return await authenticate(runtime, raw_key(request), client)
