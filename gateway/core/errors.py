"""Errors the core raises; each family maps them to its own envelope in its own router."""

from __future__ import annotations

from typing import Any


class CoreError(Exception):
    """Base class; ``code`` is stable and machine-readable, the message is for humans."""

    code = "core_error"

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.details = details


class NotFound(CoreError):
    """The resource does not exist or belongs to another account (never distinguished)."""

    code = "not_found"


class InvalidInput(CoreError):
    code = "invalid_input"


class Unauthenticated(CoreError):
    """No key, an unknown key, or a key that cannot be used (revoked, expired, wrong family).

    ``reason`` is one of: missing, invalid, revoked, expired, ip_not_allowed.
    """

    code = "unauthenticated"

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or f"API key {reason.replace('_', ' ')}", reason=reason)
        self.reason = reason


class Forbidden(CoreError):
    code = "forbidden"


class InsufficientFunds(CoreError):
    """A reservation larger than the wallet's spendable balance."""

    code = "insufficient_funds"

    def __init__(self, unit: str, required: int, available: int) -> None:
        super().__init__(
            f"{required} {unit} required, {available} available",
            unit=unit,
            required=required,
            available=available,
        )
        self.unit = unit
        self.required = required
        self.available = available


class Conflict(CoreError):
    code = "conflict"


class InvalidState(CoreError):
    """An operation the resource's current state does not allow (e.g. download before done)."""

    code = "invalid_state"


class RateLimited(CoreError):
    code = "rate_limited"


class UpstreamError(CoreError):
    """A generation provider failed or timed out."""

    code = "upstream_error"


class Unavailable(CoreError):
    """A backing service (database, Redis) is unreachable."""

    code = "unavailable"


class QuotaExceeded(CoreError):
    """A count-based allowance is spent for its window (e.g. books a day)."""

    code = "quota_exceeded"

    def __init__(self, message: str, *, limit: int, window: str) -> None:
        super().__init__(message, limit=limit, window=window)
        self.limit = limit
        self.window = window


class ModelUnavailable(CoreError):
    """A generation backend cannot run (its model or library is missing or failed to load);
    ``code`` names which kind (``text_unavailable``, ``speech_unavailable``, ...)."""

    code = "backend_unavailable"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ModelCrashed(ModelUnavailable):
    """The process running the local models died (a signal, an out-of-memory kill) or hung
    and was stopped while serving a job's call. It fails that job like any model failure; the
    model process is started afresh for the next call."""

    code = "model_crashed"

    def __init__(self, message: str) -> None:
        super().__init__(self.code, message)
