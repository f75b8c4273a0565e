"""StoryNote Developer API: ``/v1/projects``, ``/v1/jobs``, ``/v1/models`` (and the same under
``/api/v1``, where clients in the wild call them), answered as ``{"error", "code"}`` on failure."""

from __future__ import annotations

from litestar import Router

from adapters.common.family import Family
from adapters.storynote.errors import handle, render_error
from adapters.storynote.gate import before_request
from adapters.storynote.paths import ROOTS
from adapters.storynote.routes import HANDLERS

router = Router(
    path="/",
    route_handlers=HANDLERS,
    exception_handlers={Exception: handle},
    before_request=before_request,
)

PREFIXES = tuple(
    f"{root}{part}" for root in ROOTS for part in ("/projects", "/jobs", "/models", "/files")
)

FAMILY = Family("storynote", PREFIXES, router, render_error)

__all__ = ["FAMILY", "render_error", "router"]
