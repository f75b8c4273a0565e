"""Where a request's API key and client address come from; each family names its headers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class KeySources:
    """Headers that may carry the key, in the family's order of preference, and whether an
    ``Authorization: Bearer`` token counts (and before or after the headers)."""

    headers: tuple[str, ...] = ("x-api-key",)
    bearer: bool = True
    bearer_first: bool = False

    def raw_key(self, request: Any) -> str | None:
        # One pass over the raw ASGI headers: building the framework's header mapping for two
        # lookups costs more than the rest of authentication.
        found: dict[str, str] = {}
        wanted = self._wanted
        for name, value in request.scope["headers"]:
            lowered = name.lower()
            if lowered in wanted and lowered.decode() not in found:
                found[lowered.decode()] = value.decode("latin-1")
        if self.bearer and self.bearer_first:
            token = _bearer(found.get("authorization"))
            if token:
                return token
        for name in self.headers:
            value = (found.get(name) or "").strip()
            if value:
                return value
        if self.bearer and not self.bearer_first:
            return _bearer(found.get("authorization"))
        return None

    @property
    def _wanted(self) -> frozenset[bytes]:
        return frozenset(
            [h.encode() for h in self.headers] + ([b"authorization"] if self.bearer else [])
        )


def _bearer(value: str | None) -> str | None:
    scheme, _, token = (value or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def client_ip(request: Any) -> str | None:
    """The peer address the server saw (behind a proxy, the server's proxy-header handling
    decides what that is)."""
    client = request.client
    return client.host if client else None
