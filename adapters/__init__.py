"""The four API families, each a thin adapter over the shared core.

``ROUTERS`` is what ``gateway.app`` mounts; ``family_of`` tells which family owns a path (the
references fix the mount points), so errors raised before any family router runs — an unknown
path, a wrong method — still come back in that family's envelope.
"""

from __future__ import annotations

from typing import Any

from adapters import childrenbooks, storymint

# Family routers are added here as each family lands.
ROUTERS: tuple[Any, ...] = (storymint.router, childrenbooks.router)

# Longest prefix first: SleeperHit's /api/v1 sits inside StoryMint's /api.
_MOUNTS: tuple[tuple[str, str], ...] = (
    ("/api/v1/", "sleeperhit"),
    ("/api/", "storymint"),
    ("/v1/stories", "childrenbooks"),
    ("/v1/projects", "storynote"),
    ("/v1/jobs", "storynote"),
    ("/v1/models", "storynote"),
)


def family_of(path: str) -> str | None:
    for prefix, family in _MOUNTS:
        if path.startswith(prefix) or path == prefix.rstrip("/"):
            return family
    return None


def render_error(request: Any, status: int, detail: str) -> Any | None:
    """The owning family's envelope for an error no family router handled, if it has one."""
    family = family_of(str(request.url.path))
    if family == "storymint":
        return storymint.render_error(request, status, detail)
    if family == "childrenbooks":
        return childrenbooks.render_error(request, status, detail)
    return None
