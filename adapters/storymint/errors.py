"""StoryMint's error envelope: ``{"error": "...", "detail": "..."}`` with the documented status.

Every failure inside ``/api`` — a core error, a malformed body, an unknown path — is rendered
here, so a client's ``resp.json().get("error")`` always works.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException

from adapters.common.decoding import readable
from adapters.common.statuses import status_of
from contracts.storymint import ErrorBody
from gateway.core.errors import (
    CoreError,
    InsufficientFunds,
    InvalidState,
    QuotaExceeded,
    Unauthenticated,
)
from gateway.core.outages import unavailable


class StoryMintError(Exception):
    """Raised by handlers for a documented StoryMint error."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers or {}


# Where the reference differs from the shared table: spent quota is 403, a book that is not
# ready is 400.
_OVERRIDES: dict[type[CoreError], int] = {
    InsufficientFunds: 403,
    QuotaExceeded: 403,
    InvalidState: 400,
}

_GENERIC = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def envelope(
    status: int, error: str, detail: str | None = None, headers: Any = None
) -> Response[Any]:
    body = msgspec.json.encode(ErrorBody(error=error, detail=detail))
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def from_core(exc: CoreError) -> StoryMintError:
    if isinstance(exc, Unauthenticated):
        return StoryMintError(401, "Invalid or missing API key", exc.message)
    status = status_of(exc, _OVERRIDES)
    if status == 500:
        return StoryMintError(500, "Internal server error")
    return StoryMintError(status, exc.message, None)


def from_decode(exc: Exception) -> StoryMintError:
    """msgspec's message already names the field: "Expected `int`, got `str` - at `$.num_pages`"."""
    return StoryMintError(400, "Invalid request body", readable(str(exc)))


def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The router's one exception handler."""
    exc = unavailable(exc) or exc
    if isinstance(exc, CoreError):
        exc = from_core(exc)
    if isinstance(exc, StoryMintError):
        return envelope(exc.status, exc.error, exc.detail, exc.headers)
    if isinstance(exc, msgspec.ValidationError | msgspec.DecodeError):
        err = from_decode(exc)
        return envelope(err.status, err.error, err.detail)
    if isinstance(exc, HTTPException):
        return render(exc.status_code, exc.detail, getattr(exc, "headers", None))
    raise exc  # the app's handler logs it and answers 500 in this envelope


def render(status: int, detail: str | None = None, headers: Any = None) -> Response[Any]:
    """The envelope for errors raised outside any StoryMint handler (unknown path, method)."""
    error = _GENERIC.get(status, "Error")
    return envelope(status, error, detail if detail and detail != error else None, headers)
