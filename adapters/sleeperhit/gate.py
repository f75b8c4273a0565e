"""Admission of every SleeperHit request: the key, the route family's rate, then the scope.

The reference meters per key and client IP per route family: 120 requests a minute, 600 for an
elevated key (an operator's per-minute setting on the account wins over both). Public routes
(discovery documents, share links) are metered per IP. The ``RateLimit-*`` headers are handed to
the app's response wrapper, so every answer carries them — an error included.
"""

from __future__ import annotations

from typing import Any

from adapters.common.limits import EXTRA_HEADERS, RateHeaders, outage, per_minute
from adapters.common.streams import meter_anonymous
from adapters.sleeperhit.auth import FAMILY, Caller, authenticate, client_ip, raw_key, require
from adapters.sleeperhit.errors import ShError
from gateway.core.errors import Unauthenticated, Unavailable
from gateway.core.ratelimit import Decision

DEFAULT_PER_MINUTE = 120
ELEVATED_PER_MINUTE = 600
HEADERS = RateHeaders("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
_CALLER = "sleeperhit.caller"


def _refuse_if_spent(decision: Decision) -> None:
    if not decision.allowed:
        raise ShError(
            "rate_limited",
            f"Rate limit exceeded: {decision.limit} requests per minute; "
            f"retry in {max(1, decision.retry_after)} s",
            headers=HEADERS.render(decision),
        )


async def _meter(runtime: Any, bucket: str, limit: int) -> Decision:
    try:
        return await per_minute(runtime, bucket, limit)
    except Unavailable:
        decision = outage(limit)
        raise ShError(
            "internal_error",
            "Rate limiting is temporarily unavailable; retry shortly",
            headers=HEADERS.render(decision),
            status=503,
        ) from None


def _hand_over(request: Any, decision: Decision) -> None:
    request.scope.setdefault("state", {})[EXTRA_HEADERS] = HEADERS.raw(decision)


async def before_request(request: Any) -> None:
    """The router's hook, before any body is read. Routes say what they need in ``opt``:
    ``scope`` (none: public) and ``group`` (the route family the rate is counted in)."""
    opt = request.route_handler.opt
    runtime = request.app.state.runtime
    group = str(opt.get("group") or "api")
    ip = client_ip(request)
    scope = opt.get("scope")
    if scope is None:
        decision = await meter_anonymous(runtime, FAMILY, group, ip)
        _hand_over(request, decision)
        _refuse_if_spent(decision)
        return
    try:
        caller = await authenticate(runtime, raw_key(request), ip)
    except Unauthenticated:
        # No key to count against: the refusal is metered per IP, and says so in its headers.
        _hand_over(request, await meter_anonymous(runtime, FAMILY, group, ip))
        raise
    default = ELEVATED_PER_MINUTE if caller.key.elevated else DEFAULT_PER_MINUTE
    decision = await _meter(
        runtime, f"{FAMILY}:{caller.key.id}:{ip or '-'}:{group}", caller.limit(default)
    )
    _hand_over(request, decision)
    _refuse_if_spent(decision)
    require(caller, str(scope))
    request.scope["state"][_CALLER] = caller
    precheck = opt.get("precheck")
    if precheck is not None:
        # Before the body is decoded: a check whose error the decoder would otherwise hide.
        await precheck(request)


async def unrouted(runtime: Any, ip: str | None) -> list[tuple[bytes, bytes]]:
    """The headers of an answer no route gave (an unknown path, a wrong method): metered per
    IP like any keyless request (``Family.unrouted``)."""
    return HEADERS.raw(await meter_anonymous(runtime, FAMILY, "unrouted", ip))


def caller_of(request: Any) -> Caller:
    found = request.scope.get("state", {}).get(_CALLER)
    if not isinstance(found, Caller):
        raise RuntimeError("the SleeperHit router admits every keyed request before its handler")
    return found
