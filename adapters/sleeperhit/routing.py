"""What every SleeperHit route shares: the path root, OpenAPI error entries, the caller and
base URL of the request, and strict decoding of its body."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.openapi import ResponseSpec

from adapters.sleeperhit.gate import caller_of
from adapters.sleeperhit.production import Production
from contracts.common import decode_strict
from contracts.sleeperhit import ERROR_CODES, ErrorResponse

API = "/api/v1"
TAGS = ["SleeperHit"]
MAX_BODY = 64 * 1024
AnyRequest = Request[Any, Any, Any]
T = TypeVar("T")
# Every keyed route can answer these.
_KEYED = (
    "authentication_required",
    "invalid_api_key",
    "insufficient_scope",
    "rate_limited",
    "internal_error",
)


def errors(*codes: str) -> dict[int, ResponseSpec]:
    """The OpenAPI responses for the codes a route may answer (grouped by status)."""
    statuses = sorted({ERROR_CODES[c] for c in (*_KEYED, *codes)})
    return {
        s: ResponseSpec(ErrorResponse, description="Error", generate_examples=False)
        for s in statuses
    }


class ShapeError(RuntimeError):
    """An answer that does not fit its documented shape: the server's fault, so the client gets
    ``internal_error`` (never ``validation_failed``, which msgspec's own error would become)."""


def shaped(value: Any, type_: type[T]) -> T:
    """``value`` (plain data) as the route's documented response type."""
    try:
        return msgspec.convert(value, type_)
    except msgspec.ValidationError as exc:
        raise ShapeError(f"a {type_.__name__} answer failed its contract: {exc}") from None


def route_opt(scope: str | None, group: str) -> dict[str, Any]:
    return {"scope": scope, "group": group}


def base_url(request: AnyRequest) -> str:
    configured = request.app.state.runtime.settings.public_base_url
    return (configured or str(request.base_url)).rstrip("/")


def caller(request: AnyRequest) -> Any:
    return caller_of(request)


def production_of(request: AnyRequest) -> Production:
    """The request's story jobs and artifacts service (every artifact route builds on it)."""
    return Production(request.app.state.runtime, caller(request), base_url(request))


async def body_of(request: AnyRequest, type_: Any, *, optional: bool = False) -> Any:
    """The body decoded strictly; an ``optional`` one (documented as the object or ``null``)
    may be left out or sent as ``null``, both meaning the object's defaults."""
    raw = await request.body()
    if optional and raw.strip() in (b"", b"null"):
        raw = b"{}"
    return decode_strict(raw, type_)
