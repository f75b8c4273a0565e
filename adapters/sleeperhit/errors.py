"""SleeperHit's one error shape: ``{"error": {"code", "message", "requestId", "details"?}}``.

Every failure under ``/api/v1`` is one of the reference's 23 codes with the status its table
gives (routing errors keep HTTP's 404/405 and say ``validation_failed``; see docs/compat.md).
Core errors carry no resource names, so a service that knows which resource was missing raises
``ShError`` itself; ``from_core`` covers the rest.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from adapters.common.decoding import first_problem, readable
from contracts.sleeperhit import ERROR_CODES
from gateway.core.errors import (
    Conflict,
    CoreError,
    InsufficientFunds,
    InvalidInput,
    InvalidState,
    NotFound,
    RateLimited,
    Unauthenticated,
    Unavailable,
)
from gateway.core.outages import unavailable

log = logging.getLogger("storygate.sleeperhit")

# Unauthenticated.reason -> code
_AUTH = {
    "missing": "authentication_required",
    "invalid": "invalid_api_key",
    "revoked": "api_key_revoked",
    "expired": "api_key_expired",
    "ip_not_allowed": "ip_not_allowed",
    "account_disabled": "account_disabled",
}
_AUTH_MESSAGES = {
    "authentication_required": "No bearer key in the Authorization header",
    "invalid_api_key": "The API key is malformed, unknown, or its secret does not match",
    "api_key_revoked": "The API key has been revoked",
    "api_key_expired": "The API key has passed its expiration timestamp",
    "ip_not_allowed": "The request IP is not in the key's allowlist",
    "account_disabled": "The account that owns this key is disabled",
}


class ShError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.status = status or ERROR_CODES[code]


def invalid(message: str, **details: Any) -> ShError:
    return ShError("validation_failed", message, details=details or None)


MAX_INLINE_BYTES = 1_000_000


def too_large() -> ShError:
    return ShError(
        "source_too_large",
        f"Source content exceeds {MAX_INLINE_BYTES} bytes (UTF-8)",
        details={"maxBytes": MAX_INLINE_BYTES},
    )


def _request_id(request: Any) -> str:
    state = request.scope.get("state") or {}
    return str(state.get("request_id") or "")


def envelope(request: Any, err: ShError) -> Response[Any]:
    body: dict[str, Any] = {
        "code": err.code,
        "message": err.message,
        "requestId": _request_id(request),
    }
    if err.details:
        body["details"] = err.details
    return Response(
        msgspec.json.encode({"error": body}),
        status_code=err.status,
        media_type="application/json",
        headers=err.headers,
    )


def from_core(exc: CoreError) -> ShError:
    if isinstance(exc, Unauthenticated):
        code = _AUTH.get(exc.reason, "invalid_api_key")
        return ShError(code, _AUTH_MESSAGES[code])
    if isinstance(exc, InsufficientFunds):
        return ShError(
            "insufficient_credits",
            "The account does not have enough Studio Credits to reserve this job.",
            details={"required": exc.required, "available": exc.available},
        )
    if isinstance(exc, Conflict) and exc.details.get("reason") in ("mismatch", "in_flight"):
        return ShError("idempotency_conflict", exc.message)
    if isinstance(exc, InvalidInput):
        field = exc.details.get("field")
        return invalid(exc.message, **({"field": field} if field else {}))
    if isinstance(exc, RateLimited):
        return ShError("rate_limited", exc.message)
    if isinstance(exc, NotFound):
        # A service that knows the resource says which; a bare NotFound is a project.
        return ShError("project_not_found", "Project not found")
    if isinstance(exc, InvalidState | Conflict):
        return ShError("story_job_state_invalid", exc.message)
    if isinstance(exc, Unavailable):
        # The reference has no code for an outage: its closed set's internal_error, with the
        # status that tells a client to retry later.
        return ShError("internal_error", exc.message, status=503)
    return ShError("internal_error", "Unexpected server failure")


def from_decode(exc: Exception) -> ShError:
    """msgspec names the field: "Expected `int` >= 5, got 4 - at `$.artifactRequests[0]...`"."""
    return invalid(f"Invalid request body: {readable(str(exc), separator=' ')}")


def to_error(exc: BaseException) -> ShError | None:
    if isinstance(exc, ShError):
        return exc
    exc = unavailable(exc) or exc
    if isinstance(exc, CoreError):
        return from_core(exc)
    if isinstance(exc, msgspec.ValidationError | msgspec.DecodeError):
        return from_decode(exc)
    if isinstance(exc, ValidationException):
        return invalid(f"Invalid request body: {first_problem(exc)}")
    if isinstance(exc, HTTPException):
        return _routing(exc.status_code, dict(exc.headers or {}))
    return None


def _routing(status: int, headers: dict[str, str] | None = None) -> ShError:
    if status == 404:
        return ShError("validation_failed", "No such route", status=404, headers=headers)
    if status == 405:
        return ShError(
            "validation_failed", "Method not allowed on this route", status=405, headers=headers
        )
    if status == 413:
        return invalid("Request body too large")
    if status == 401:
        return ShError("authentication_required", _AUTH_MESSAGES["authentication_required"])
    if status == 429:
        return ShError("rate_limited", "Rate limit exceeded", headers=headers)
    if 400 <= status < 500:
        return ShError("validation_failed", "Bad request", status=422, headers=headers)
    return ShError("internal_error", "Unexpected server failure", headers=headers)


def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The router's exception handler."""
    err = to_error(exc)
    if (
        isinstance(exc, HTTPException)
        and exc.status_code == 413
        and request.url.path.endswith("/sources")
    ):
        err = too_large()
    if err is None:
        log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
        err = ShError("internal_error", "Unexpected server failure")
    elif err.status >= 500:
        log.warning("%s %s failed: %s", request.method, request.url.path, exc)
    return envelope(request, err)


def render_error(
    request: Request[Any, Any, Any], status: int, detail: str | None, headers: Any = None
) -> Response[Any]:
    """For ``adapters.render_error``: an unknown path or a wrong method (with its ``Allow``)."""
    return envelope(request, _routing(status, dict(headers or {})))
