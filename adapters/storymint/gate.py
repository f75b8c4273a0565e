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
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from adapters.storymint import errors
from adapters.storymint.auth import Caller, authenticate, raw_key
from adapters.storymint.errors import StoryMintError
from contracts.storymint import ErrorBody
from gateway.core.ratelimit import Decision, Window
from gateway.runtime import Runtime

log = logging.getLogger("storygate.storymint")

# One generous window for every plan: the reference lists no per-minute figure.
RATE_LIMIT = Window("minute", 120, 60)
_CALLER = "storymint_caller"
_DECISION = "storymint_rate"


def runtime_of(request: Request[Any, Any, Any]) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def client_ip(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


def rate_headers(decision: Decision) -> dict[str, str]:
    headers = {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(decision.reset_seconds),
    }
    if not decision.allowed:
        headers["Retry-After"] = str(decision.retry_after)
    return headers


async def admit(request: Request[Any, Any, Any], caller: Caller) -> None:
    """Count this request against the caller's key; 429 in the envelope when over."""
    decision = await runtime_of(request).ratelimit.hit(
        f"storymint:key:{caller.key.id}", [RATE_LIMIT]
    )
    request.state[_DECISION] = decision
    if not decision.allowed:
        raise StoryMintError(
            429,
            "Rate limit exceeded",
            f"{decision.limit} requests per minute per API key; retry in {decision.retry_after} s",
            rate_headers(decision),
        )


async def identify(request: Request[Any, Any, Any], raw: str | None) -> Caller:
    caller = await authenticate(runtime_of(request), raw, client_ip(request))
    request.state[_CALLER] = caller
    return caller


async def before_request(request: Request[Any, Any, Any]) -> None:
    if request.route_handler.opt.get("auth") == "optional":
        return None
    caller = await identify(request, raw_key(request))
    await admit(request, caller)
    return None


async def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    """The ``caller`` dependency: whoever ``before_request`` authenticated."""
    caller = request.state.get(_CALLER)
    if isinstance(caller, Caller):
        return caller
    caller = await identify(request, raw_key(request))
    await admit(request, caller)
    return caller


def _with_rate(request: Request[Any, Any, Any], response: Response[Any]) -> Response[Any]:
    decision = request.state.get(_DECISION)
    if isinstance(decision, Decision):
        for name, value in rate_headers(decision).items():
            response.headers.setdefault(name, value)
    return response


def rate_headers_middleware(app: ASGIApp) -> ASGIApp:
    """Stamps the limit's headers on successful responses (errors get them in ``handle``)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            decision = scope.get("state", {}).get(_DECISION)
            if message["type"] == "http.response.start" and isinstance(decision, Decision):
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [
                    (k.lower().encode(), v.encode())
                    for k, v in rate_headers(decision).items()
                    if k.lower().encode() not in present
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware


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
    429: "Too many requests: rate limited (see Retry-After)",
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
