"""Identifiers: opaque, prefixed, and unguessable where a URL may carry them alone."""

from __future__ import annotations

import secrets


def new_id(prefix: str, nbytes: int = 12) -> str:
    """``prefix_`` + url-safe random; 12 bytes = 96 bits is plenty for internal row ids."""
    return f"{prefix}_{secrets.token_hex(nbytes)}"


def new_job_id() -> str:
    """Job ids travel in unauthenticated SSE URLs, so they carry 160 bits of randomness."""
    return secrets.token_hex(20)
