"""Admission for every ``/v1/stories`` request, and the rendering of every failure.

Each request is counted against one per-minute bucket: its key's (Pro 60, Premium 200) when it
carries a usable key, otherwise its client IP's (60, so a flood of bad keys is throttled too).
The decision is kept in the request scope, so that whatever answers — a handler, the router's
exception handler, or the app's handler for an unknown path or a wrong method — renders the
same x-ratelimit-* headers. An error raised before any decision exists (no handler ran) gets a
``DeferredError``: a response whose ASGI call first admits the request, asynchronously, and then
renders the envelope with its headers.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any, cast

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.response.base import ASGIResponse
from litestar.types import Receive, Scope, Send

from adapters.childrenbooks.auth import (
    FAMILY,
    Caller,
    authenticate,
    client_ip,
    raw_key,
    require_scope,
)
from adapters.childrenbooks.errors import (
    ChildrenBooksError,
    envelope,
    from_core,
    from_status,
    ratelimit_headers,
)
from adapters.common.limits import outage, per_minute
from contracts.childrenbooks import ErrorCode
from gateway.core.errors import CoreError, Unavailable
from gateway.core.outages import unavailable
from gateway.core.ratelimit import Decision
from gateway.runtime import Runtime

log = logging.getLogger("storygate.childrenbooks")

# Requests a minute per key, and books a day per account, by plan (the reference's table).
PER_MINUTE = {"pro": 60, "premium": 200}
BOOKS_PER_DAY = {"pro": 50, "premium": 200}

_DECISION = "childrenbooks.ratelimit"


@dataclass(frozen=True, slots=True)
class Admitted:
    caller: Caller
    decision: Decision


# Requests refused for their key are counted per client IP at this figure (compat.md), unless
# the operator turned keyless metering off (STORYGATE_ANONYMOUS_PER_MINUTE=0).
UNKEYED_PER_MINUTE = 60


def unkeyed_per_minute(runtime: Runtime) -> int:
    return 0 if runtime.settings.anonymous_per_minute == 0 else UNKEYED_PER_MINUTE


def minute_limit(caller: Caller) -> int:
    return caller.limit(PER_MINUTE.get(caller.plan.id, PER_MINUTE["pro"]))


def books_per_day(caller: Caller) -> int:
    return BOOKS_PER_DAY.get(caller.plan.id, BOOKS_PER_DAY["pro"])


def request_id(request: Request[Any, Any, Any]) -> str:
    rid = request.scope.get("state", {}).get("request_id")
    return str(rid) if rid else uuid.uuid4().hex


def _remember(request: Request[Any, Any, Any], decision: Decision) -> None:
    request.scope.setdefault("state", {})[_DECISION] = decision


def recalled(request: Request[Any, Any, Any]) -> Decision | None:
    found = request.scope.get("state", {}).get(_DECISION)
    return found if isinstance(found, Decision) else None


async def count(
    request: Request[Any, Any, Any], runtime: Runtime, bucket: str, limit: int
) -> Decision:
    """One hit on a per-minute bucket; a limiter outage (on_error=deny) is a 503."""
    try:
        decision = await per_minute(runtime, bucket, limit)
    except Unavailable:
        _remember(request, outage(limit))
        raise ChildrenBooksError(
            ErrorCode.EXTERNAL_SERVICE_ERROR,
            "Rate limiting is temporarily unavailable; retry shortly.",
        ) from None
    _remember(request, decision)
    if not decision.allowed:
        raise ChildrenBooksError(
            ErrorCode.RATE_LIMIT_EXCEEDED,
            f"Rate limit of {decision.limit} requests per minute exceeded.",
            meta={"limit": decision.limit, "window": "minute"},
        )
    return decision


async def admit(
    request: Request[Any, Any, Any], runtime: Runtime, scope: str | None = None
) -> Admitted:
    """Authenticate, check the plan, count the request; the order decides which error wins."""
    ip = client_ip(request)
    try:
        caller = await authenticate(runtime, raw_key(request), ip)
    except ChildrenBooksError:
        await count(request, runtime, f"{FAMILY}:ip:{ip}", unkeyed_per_minute(runtime))
        raise
    decision = await count(request, runtime, f"{FAMILY}:key:{caller.key.id}", minute_limit(caller))
    if scope is not None:
        require_scope(caller, scope)
    return Admitted(caller, decision)


def to_error(exc: BaseException) -> ChildrenBooksError:
    if isinstance(exc, ChildrenBooksError):
        return exc
    exc = unavailable(exc) or exc
    if isinstance(exc, CoreError):
        return from_core(exc)
    if isinstance(exc, HTTPException):
        return from_status(exc.status_code, exc.detail)
    return ChildrenBooksError(ErrorCode.INTERNAL_ERROR, "Internal server error.")


def render(request: Request[Any, Any, Any], err: ChildrenBooksError) -> Response[Any]:
    decision = recalled(request)
    if decision is None:
        return DeferredError(err)
    return envelope(request_id(request), err, ratelimit_headers(decision))


def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The router's exception handler."""
    err = to_error(exc)
    if err.code is ErrorCode.INTERNAL_ERROR:
        log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    elif err.status >= 500:
        log.warning("%s %s failed: %s", request.method, request.url.path, exc)
    return render(request, err)


_ALLOW = {"stories": "GET, POST", "story": "GET", "asset": "GET"}


def allow_header(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    if parts[:2] != ["v1", "stories"]:
        return _ALLOW["story"]
    if len(parts) == 2:
        return _ALLOW["stories"]
    return _ALLOW["story"] if len(parts) == 3 else _ALLOW["asset"]


def render_app_error(
    request: Request[Any, Any, Any], status: int, detail: str | None, headers: Any = None
) -> Response[Any]:
    """For ``adapters.render_error``: an unknown path, a wrong method or a crash outside any
    handler, in the ChildrenBooks envelope."""
    err = from_status(status, detail)
    if err.code is ErrorCode.METHOD_NOT_ALLOWED:
        err.message = f"Method {request.method} is not allowed here."
        err.headers["allow"] = allow_header(request.url.path)
    elif err.code is ErrorCode.NOT_FOUND:
        err.message = "No such endpoint."
    return render(request, err)


class DeferredError(Response[Any]):
    """An error response that counts its request before it is sent (see the module doc)."""

    def __init__(self, err: ChildrenBooksError) -> None:
        super().__init__(content=None, status_code=err.status)
        self.err = err

    def to_asgi_response(
        self, app: Any, request: Request[Any, Any, Any], **kwargs: Any
    ) -> ASGIResponse:
        return cast(ASGIResponse, _AdmitThenSend(self.err, request))


class _AdmitThenSend:
    def __init__(self, err: ChildrenBooksError, request: Request[Any, Any, Any]) -> None:
        self.err = err
        self.request = request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        err, request = self.err, self.request
        runtime = getattr(request.app.state, "runtime", None)
        if runtime is not None and recalled(request) is None:
            try:
                await admit(request, runtime)
            except ChildrenBooksError as refused:
                # Being over the limit outranks the original answer; a bad key does not
                # (an unknown path is 404 whoever asks).
                if refused.status in (429, 503) and err.status < 500:
                    err = refused
            except Exception:
                log.exception("admitting a failed request raised")
        response = envelope(request_id(request), err, ratelimit_headers(recalled(request)))
        if request.method == "HEAD":
            response.content = b""
        await response.to_asgi_response(None, request)(scope, receive, send)
