"""The router's hooks: who is calling, how fast, and the envelope every failure leaves in.

Authentication and the rate limit run in ``before_request``, ahead of body parsing, so a keyless
or throttled client gets 401/429 whatever it sent. Handlers marked ``opt={"auth": "optional"}``
(the SSE stream and page images, which browsers load without headers) authenticate themselves.
The limit's headers ride on every response of an authenticated request, errors included.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec

from adapters.common.credentials import client_ip
from adapters.common.limits import EXTRA_HEADERS, RateHeaders, per_minute
from adapters.common.streams import meter_anonymous
from adapters.storymint import errors
from adapters.storymint.auth import FAMILY, Caller, authenticate, raw_key
from adapters.storymint.errors import StoryMintError
from contracts.storymint import ErrorBody
from gateway.core.ratelimit import Decision
from gateway.runtime import Runtime

log = logging.getLogger("storygate.storymint")

# One generous figure for every plan: the reference lists none per minute.
PER_MINUTE = 120
HEADERS = RateHeaders("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
_CALLER = "storymint_caller"
_DECISION = "storymint_rate"


def _state(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The request's state dict itself: ``request.state`` builds a wrapper on every access."""
    state: dict[str, Any] = request.scope.setdefault("state", {})
    return state


def _remember(request: Request[Any, Any, Any], decision: Decision) -> None:
    """Keep the decision for the error handler, and hand its headers to the app's response
    wrapper, which adds them to whatever answers (``gateway.app``)."""
    state = _state(request)
    state[_DECISION] = decision
    state[EXTRA_HEADERS] = HEADERS.raw(decision)


def runtime_of(request: Request[Any, Any, Any]) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def rate_headers(decision: Decision) -> dict[str, str]:
    return HEADERS.render(decision)


def _refuse(decision: Decision, what: str) -> None:
    if not decision.allowed:
        raise StoryMintError(
            429,
            "Rate limit exceeded",
            f"{decision.limit} requests per minute {what}; retry in {decision.retry_after} s",
            rate_headers(decision),
        )


async def admit(request: Request[Any, Any, Any], caller: Caller) -> None:
    """Count this request against the caller's key; 429 in the envelope when over."""
    limit = caller.limit(PER_MINUTE)
    decision = await per_minute(runtime_of(request), f"{FAMILY}:key:{caller.key.id}", limit)
    _remember(request, decision)
    _refuse(decision, "per API key")


async def admit_anonymous(request: Request[Any, Any, Any], route: str) -> None:
    """Count a keyless request (SSE, signed image) against its client IP."""
    decision = await meter_anonymous(runtime_of(request), FAMILY, route, client_ip(request))
    _remember(request, decision)
    _refuse(decision, "per client address without a key")


async def identify(request: Request[Any, Any, Any], raw: str | None) -> Caller:
    caller = await authenticate(runtime_of(request), raw, client_ip(request))
    _state(request)[_CALLER] = caller
    return caller


async def before_request(request: Request[Any, Any, Any]) -> None:
    if request.route_handler.opt.get("auth") == "optional":
        return None
    caller = await identify(request, raw_key(request))
    await admit(request, caller)
    return None


def provide_caller(request: Request[Any, Any, Any], runtime: Runtime) -> Caller:
    """The ``caller`` dependency: whoever ``before_request`` authenticated (routes marked
    ``auth: optional`` authenticate themselves and take no ``caller``).

    It names ``runtime`` though it does not use it: that makes it depend on it, so Litestar
    resolves the two one after the other instead of in a task group per request.
    """
    caller = _state(request).get(_CALLER)
    if not isinstance(caller, Caller):
        raise RuntimeError("a route taking `caller` must not be marked auth: optional")
    return caller


def _with_rate(request: Request[Any, Any, Any], response: Response[Any]) -> Response[Any]:
    decision = _state(request).get(_DECISION)
    if isinstance(decision, Decision):
        for name, value in rate_headers(decision).items():
            response.headers.setdefault(name, value)
    return response


def _validation_detail(exc: ValidationException) -> str:
    parts: list[str] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict):
            where = item.get("key")
            message = str(item.get("message", "invalid value"))
            if where == "data":  # the body as a whole; Litestar reports a missing one as "'data'"
                where = "body"
                if message == "'data'":
                    message = "a JSON request body is required"
            parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or str(exc.detail)


def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The router's one exception handler: every failure in StoryMint's envelope."""
    if isinstance(exc, ValidationException):
        exc = StoryMintError(400, "Invalid request", _validation_detail(exc))
    elif isinstance(exc, HTTPException) and exc.status_code == 400:
        exc = StoryMintError(400, "Invalid request body", str(exc.detail))
    try:
        response = errors.handle(request, exc)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        response = errors.envelope(500, "Internal server error", "Retry after a few seconds")
    return _with_rate(request, response)


_DESCRIPTIONS = {
    400: "Bad request: missing or invalid parameters, or the book is not done yet",
    401: "Unauthorized: missing or invalid API key",
    403: "Forbidden: quota exceeded or feature not available on your plan",
    404: "Not found: invalid job_id or resource",
    409: "Conflict: another edit of this book is in progress",
    429: "Too many requests: rate limited (see Retry-After)",
    500: "The work failed; retry after a few seconds",
    503: "A model or service is unavailable, or the work outlasted the request; retry later",
}


def error_responses(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the envelope errors a route can answer with.

    400 is always listed: Litestar documents its own validation error for every route with
    parameters, and here that error is rendered in StoryMint's envelope instead.
    """
    return {
        code: ResponseSpec(ErrorBody, description=_DESCRIPTIONS[code], generate_examples=False)
        for code in sorted({400, *codes})
    }
