"""ChildrenBooks' error envelope and the one place statuses and codes are paired.

``{"ok": false, "requestId", "error": {"code", "message", "fields"?, "meta"?}}``: clients
branch on ``error.code``, so every core error, framework error and crash inside ``/v1/stories``
is translated here into one of the reference's codes with its documented status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Response

from adapters.common.limits import RateHeaders
from contracts.childrenbooks import ErrorCode, ErrorDetail, ErrorResponse
from gateway.core.errors import (
    Conflict,
    CoreError,
    Forbidden,
    InsufficientFunds,
    InvalidInput,
    InvalidState,
    ModelUnavailable,
    NotFound,
    QuotaExceeded,
    RateLimited,
    Unauthenticated,
    Unavailable,
    UpstreamError,
)
from gateway.core.ratelimit import Decision

STATUS: dict[ErrorCode, int] = {
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.INVALID_API_KEY: 401,
    ErrorCode.PLAN_REQUIRED: 403,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.ALREADY_EXISTS: 409,
    ErrorCode.RATE_LIMIT_EXCEEDED: 429,
    ErrorCode.DAILY_CAP_EXCEEDED: 429,
    ErrorCode.INSUFFICIENT_CREDITS: 402,
    ErrorCode.EXTERNAL_SERVICE_ERROR: 503,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.IDEMPOTENCY_CONFLICT: 409,
}

_BY_HTTP_STATUS: dict[int, tuple[ErrorCode, str]] = {
    400: (ErrorCode.BAD_REQUEST, "Bad request."),
    401: (ErrorCode.UNAUTHORIZED, "Missing API key."),
    403: (ErrorCode.FORBIDDEN, "Forbidden."),
    404: (ErrorCode.NOT_FOUND, "Not found."),
    405: (ErrorCode.METHOD_NOT_ALLOWED, "Method not allowed."),
    413: (ErrorCode.BAD_REQUEST, "Request body too large."),
    429: (ErrorCode.RATE_LIMIT_EXCEEDED, "Too many requests."),
    500: (ErrorCode.INTERNAL_ERROR, "Internal server error."),
    502: (ErrorCode.EXTERNAL_SERVICE_ERROR, "An upstream service failed."),
    503: (ErrorCode.EXTERNAL_SERVICE_ERROR, "A backing service is unavailable."),
}


class ChildrenBooksError(Exception):
    """A documented failure; handlers raise it and the router renders it."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        status: int | None = None,
        fields: Mapping[str, str] | None = None,
        meta: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else STATUS[code]
        self.fields = dict(fields) if fields else None
        self.meta = dict(meta) if meta else None
        self.headers = dict(headers or {})


def validation_error(
    fields: Mapping[str, str], message: str = "Request body failed validation."
) -> ChildrenBooksError:
    return ChildrenBooksError(ErrorCode.VALIDATION_ERROR, message, fields=fields)


# x-ratelimit-reset is seconds until the window resets (like retry-after), not an epoch.
RATE_HEADERS = RateHeaders(
    "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after"
)


def ratelimit_headers(decision: Decision | None) -> dict[str, str]:
    return RATE_HEADERS.render(decision)


def from_core(exc: CoreError) -> ChildrenBooksError:
    if isinstance(exc, NotFound):
        return ChildrenBooksError(ErrorCode.NOT_FOUND, "Story not found.")
    if isinstance(exc, InsufficientFunds):
        return ChildrenBooksError(
            ErrorCode.INSUFFICIENT_CREDITS,
            f"Not enough credits: this book needs {exc.required}, {exc.available} left.",
            meta={"required": exc.required, "available": exc.available},
        )
    if isinstance(exc, Conflict):
        if exc.details.get("reason") == "mismatch":
            return ChildrenBooksError(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                "Idempotency-Key was already used with a different request body.",
            )
        return ChildrenBooksError(
            ErrorCode.ALREADY_EXISTS,
            "A request with this Idempotency-Key is still being processed; retry shortly.",
        )
    if isinstance(exc, Unauthenticated):
        return ChildrenBooksError(ErrorCode.INVALID_API_KEY, "Invalid API key.")
    if isinstance(exc, Forbidden):
        return ChildrenBooksError(ErrorCode.FORBIDDEN, exc.message)
    if isinstance(exc, QuotaExceeded):
        return ChildrenBooksError(
            ErrorCode.DAILY_CAP_EXCEEDED,
            exc.message,
            meta={"limit": exc.limit, "window": exc.window},
        )
    if isinstance(exc, RateLimited):
        return ChildrenBooksError(ErrorCode.RATE_LIMIT_EXCEEDED, exc.message)
    if isinstance(exc, UpstreamError):
        return ChildrenBooksError(ErrorCode.EXTERNAL_SERVICE_ERROR, exc.message, status=502)
    if isinstance(exc, Unavailable | ModelUnavailable):
        return ChildrenBooksError(
            ErrorCode.EXTERNAL_SERVICE_ERROR, "A backing service is unavailable; retry shortly."
        )
    if isinstance(exc, InvalidInput) and isinstance(exc.details.get("field"), str):
        return validation_error({exc.details["field"]: exc.message}, "Request failed validation.")
    if isinstance(exc, InvalidInput | InvalidState):
        return ChildrenBooksError(ErrorCode.BAD_REQUEST, exc.message)
    return ChildrenBooksError(ErrorCode.INTERNAL_ERROR, "Internal server error.")


def from_status(status: int, detail: str | None = None) -> ChildrenBooksError:
    """An error raised by the framework (unknown path, wrong method, oversized body)."""
    code, message = _BY_HTTP_STATUS.get(
        status,
        (ErrorCode.INTERNAL_ERROR, "Internal server error.")
        if status >= 500
        else (ErrorCode.BAD_REQUEST, "Bad request."),
    )
    if code is ErrorCode.BAD_REQUEST and detail and status == 400:
        message = detail if detail.endswith(".") else f"{detail}."
    return ChildrenBooksError(code, message, status=status)


def envelope(request_id: str, err: ChildrenBooksError, extra: Mapping[str, str]) -> Response[Any]:
    body = ErrorResponse(
        requestId=request_id,
        error=ErrorDetail(
            code=err.code,
            message=err.message,
            fields=err.fields if err.fields is not None else msgspec.UNSET,
            meta=err.meta if err.meta is not None else msgspec.UNSET,
        ),
    )
    headers = {**extra, **err.headers}
    return Response(
        msgspec.json.encode(body),
        status_code=err.status,
        media_type="application/json",
        headers=headers,
    )
