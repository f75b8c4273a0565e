"""The API families, each a thin adapter over the shared core, found by discovery.

Every package here that exports ``FAMILY`` (an ``adapters.common.family.Family``) is a family:
``gateway.app`` mounts its router, and ``family_of`` tells which family owns a path (longest
prefix wins, so SleeperHit's ``/api/v1`` may sit inside StoryMint's ``/api``), so errors raised
before any family router runs — an unknown path, a wrong method — still come back in that
family's envelope. Adding a family is adding a folder; no list here changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

from adapters.common.family import Family

_NOT_FAMILIES = frozenset({"common"})


@cache
def families() -> tuple[Family, ...]:
    found: list[Family] = []
    for module in pkgutil.iter_modules(__path__):
        if not module.ispkg or module.name in _NOT_FAMILIES:
            continue
        family = getattr(importlib.import_module(f"{__name__}.{module.name}"), "FAMILY", None)
        if isinstance(family, Family):
            found.append(family)
    return tuple(sorted(found, key=lambda f: f.name))


def routers() -> list[Any]:
    return [family.router for family in families()]


def family_of(path: str) -> Family | None:
    best: Family | None = None
    length = 0
    for family in families():
        owned = family.owns(path)
        if owned > length:
            best, length = family, owned
    return best


def render_error(request: Any, status: int, detail: str | None, headers: Any = None) -> Any | None:
    """The owning family's envelope for an error no family router handled, if any owns it."""
    family = family_of(str(request.url.path))
    if family is None:
        return None
    return family.render_error(request, status, detail, headers)
