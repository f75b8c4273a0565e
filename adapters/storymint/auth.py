"""Who is calling: an ``sm_`` key in ``X-API-Key`` or ``Authorization: Bearer``.

A key of another family, a revoked or expired key, or none at all is a 401 in StoryMint's
envelope.
"""

from __future__ import annotations

from typing import Any

from adapters.common import callers
from adapters.common.callers import Caller
from adapters.common.credentials import KeySources
from adapters.storymint.errors import StoryMintError
from gateway.core.errors import Unauthenticated
from gateway.runtime import Runtime

__all__ = ["FAMILY", "KEYS", "Caller", "authenticate", "raw_key"]

FAMILY = "storymint"
KEYS = KeySources(headers=("x-api-key",), bearer=True)


def raw_key(request: Any) -> str | None:
    return KEYS.raw_key(request)


async def authenticate(runtime: Runtime, raw: str | None, ip: str | None) -> Caller:
    try:
        return await callers.authenticate(runtime, FAMILY, raw, ip)
    except Unauthenticated as exc:
        raise StoryMintError(401, "Invalid or missing API key", exc.message) from None
