"""What a family package exports so the app can mount it: ``FAMILY = Family(...)``.

``adapters`` discovers every package that has one, so adding a family is adding a folder.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

# (request, status, detail, headers) -> the family's error response, for errors raised before
# any of its handlers ran (an unknown path under its prefix, a wrong method and its Allow).
RenderError = Callable[[Any, int, str | None, Any], Any]


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    # Path prefixes the family owns, as the reference fixes them ("/api/", "/v1/stories").
    prefixes: tuple[str, ...]
    router: Any
    render_error: RenderError
    # (runtime, client ip) -> header pairs for an answer no route of the family gave (404/405),
    # for a family whose reference puts headers on every response.
    unrouted: Callable[[Any, str | None], Awaitable[list[tuple[bytes, bytes]]]] | None = None

    def owns(self, path: str) -> int:
        """The length of the longest prefix of ``path`` this family owns (0: none)."""
        best = 0
        for prefix in self.prefixes:
            if path.startswith(prefix) or path == prefix.rstrip("/"):
                best = max(best, len(prefix))
        return best
