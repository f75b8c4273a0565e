"""ChildrenBooks Developer API v1: ``/v1/stories``, answered in the ``ok``/``data``/``error``
envelope with x-ratelimit-* headers on every response."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router

from adapters.childrenbooks.gate import handle, render_app_error
from adapters.childrenbooks.routes import HANDLERS
from adapters.common.family import Family

router = Router(
    path="/v1/stories",
    route_handlers=HANDLERS,
    exception_handlers={Exception: handle},
)


def render_error(
    request: Request[Any, Any, Any], status: int, detail: str | None, headers: Any = None
) -> Response[Any]:
    """The envelope for an unknown path, a wrong method or a crash outside any handler."""
    return render_app_error(request, status, detail, headers)


FAMILY = Family("childrenbooks", ("/v1/stories",), router, render_error)

__all__ = ["FAMILY", "render_error", "router"]
