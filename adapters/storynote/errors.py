"""StoryNote's one error shape: ``{"error": "<message>", "code": <status>}``.

Every failure under the family's prefixes — a core error, a malformed body, an unknown path or
a wrong method — is rendered here, with the status the reference's table gives it.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from adapters.common.decoding import first_problem, readable
from adapters.common.statuses import status_of
from contracts.storynote import ErrorResponse
from gateway.core.errors import CoreError, InsufficientFunds, Unauthenticated
from gateway.core.outages import unavailable

log = logging.getLogger("storygate.storynote")


class StoryNoteError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


_GENERIC = {
    400: "Bad request",
    401: "Unauthorized",
    402: "Insufficient credits",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    429: "Rate limit exceeded",
    500: "Internal server error",
    502: "Upstream provider error",
    503: "Service unavailable",
}


def envelope(status: int, message: str, headers: Any = None) -> Response[Any]:
    body = msgspec.json.encode(ErrorResponse(error=message, code=status))
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def from_core(exc: CoreError) -> StoryNoteError:
    if isinstance(exc, Unauthenticated):
        return StoryNoteError(401, "Invalid or missing API key")
    if isinstance(exc, InsufficientFunds):
        return StoryNoteError(402, "Insufficient credits")
    status = status_of(exc)
    if status == 500:
        return StoryNoteError(500, "Internal server error")
    return StoryNoteError(status, exc.message or _GENERIC.get(status, "Error"))


def from_decode(exc: Exception) -> StoryNoteError:
    """msgspec names the field: "Expected `int` >= 1, got 0 - at `$.numImages`"."""
    return StoryNoteError(400, f"Invalid request body: {readable(str(exc), separator=' ')}")


def to_error(exc: BaseException) -> StoryNoteError | None:
    if isinstance(exc, StoryNoteError):
        return exc
    exc = unavailable(exc) or exc
    if isinstance(exc, CoreError):
        return from_core(exc)
    if isinstance(exc, msgspec.ValidationError | msgspec.DecodeError):
        return from_decode(exc)
    if isinstance(exc, ValidationException):
        return StoryNoteError(400, f"Invalid request body: {first_problem(exc)}")
    if isinstance(exc, HTTPException):
        status = exc.status_code
        return StoryNoteError(status, _GENERIC.get(status, "Error"), dict(exc.headers or {}))
    return None


def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The router's exception handler."""
    err = to_error(exc)
    if err is None:
        log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
        err = StoryNoteError(500, "Internal server error")
    elif err.status >= 500:
        log.warning("%s %s failed: %s", request.method, request.url.path, exc)
    return envelope(err.status, err.message, err.headers)


def render_error(
    request: Request[Any, Any, Any], status: int, detail: str | None, headers: Any = None
) -> Response[Any]:
    """For ``adapters.render_error``: an unknown path, a wrong method (with its ``Allow``) or a
    crash outside any handler."""
    return envelope(status, _GENERIC.get(status, "Error"), headers)
