"""Admission of every StoryNote request: the key, then the reference's two per-key limits.

Every request counts against the key's global bucket (300 a minute); image, video and audio
requests also against its generation bucket (20 a minute). A refusal is 429 with
``Retry-After``; every answer carries the X-RateLimit-* figures of the tighter bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.common.limits import RateHeaders, outage, per_minute
from adapters.storynote.auth import FAMILY, Caller, authenticate, client_ip, raw_key
from adapters.storynote.errors import StoryNoteError
from gateway.core.errors import Unavailable
from gateway.core.ratelimit import Decision
from gateway.runtime import Runtime

GLOBAL_PER_MINUTE = 300
GENERATION_PER_MINUTE = 20

HEADERS = RateHeaders("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@dataclass(frozen=True, slots=True)
class Admitted:
    caller: Caller
    decision: Decision

    @property
    def headers(self) -> dict[str, str]:
        return HEADERS.render(self.decision)


async def _count(runtime: Runtime, bucket: str, limit: int) -> Decision:
    try:
        decision = await per_minute(runtime, bucket, limit)
    except Unavailable:
        decision = outage(limit)
        raise StoryNoteError(
            503, "Rate limiting is temporarily unavailable; retry shortly", HEADERS.render(decision)
        ) from None
    if not decision.allowed:
        raise StoryNoteError(
            429,
            f"Rate limit exceeded: {decision.limit} requests per minute",
            HEADERS.render(decision),
        )
    return decision


_ADMITTED = "storynote.admitted"


async def before_request(request: Any) -> None:
    """The router's hook: runs before the body is decoded, so a request without a usable key
    is a 401 and one over its limit a 429 whatever its body. A route that admits by itself
    (signed files, which need no key) says so with ``opt={"admission": "self"}``."""
    opt = request.route_handler.opt
    if opt.get("admission") == "self":
        return
    runtime = request.app.state.runtime
    admitted = await admit(request, runtime, generation=bool(opt.get("generation")))
    request.scope.setdefault("state", {})[_ADMITTED] = admitted


def admitted(request: Any) -> Admitted:
    found = request.scope.get("state", {}).get(_ADMITTED)
    if not isinstance(found, Admitted):
        raise RuntimeError("the StoryNote router admits every request before its handler")
    return found


async def admit(request: Any, runtime: Runtime, *, generation: bool = False) -> Admitted:
    caller = await authenticate(runtime, raw_key(request), client_ip(request))
    key = caller.key.id
    decision = await _count(runtime, f"{FAMILY}:key:{key}", caller.limit(GLOBAL_PER_MINUTE))
    if generation:
        # An operator who lifted the account's limit (per minute 0) lifted both.
        limit = 0 if caller.per_minute == 0 else GENERATION_PER_MINUTE
        tighter = await _count(runtime, f"{FAMILY}:gen:{key}", limit)
        if tighter.remaining < decision.remaining:
            decision = tighter
    return Admitted(caller, decision)
