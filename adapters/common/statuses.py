"""The one table from core errors to HTTP statuses; a family overrides an entry only where its
reference says otherwise (StoryMint answers spent funds with 403, ChildrenBooks with 402)."""

from __future__ import annotations

from collections.abc import Mapping

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

CORE_STATUS: tuple[tuple[type[CoreError], int], ...] = (
    (NotFound, 404),
    (InvalidInput, 400),
    (InvalidState, 409),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (InsufficientFunds, 402),
    (QuotaExceeded, 429),
    (Conflict, 409),
    (RateLimited, 429),
    (UpstreamError, 502),
    (ModelUnavailable, 503),
    (Unavailable, 503),
)


def status_of(exc: CoreError, overrides: Mapping[type[CoreError], int] | None = None) -> int:
    for kind, status in CORE_STATUS:
        if isinstance(exc, kind):
            if overrides:
                for special, changed in overrides.items():
                    if isinstance(exc, special):
                        return changed
            return status
    return 500
