"""StoryMint (``/api/...``): one Litestar router over the shared core.

The router owns authentication and the per-key rate limit (``gate``), StoryMint's error
envelope for everything under ``/api`` (``errors``), and mounts the book, stream, meta, account
and team routes. ``render_error`` gives app-level failures (unknown path, wrong method) under
``/api`` the same envelope.
"""

from __future__ import annotations

from typing import Any

from litestar import Router
from litestar.datastructures import ResponseHeader
from litestar.di import Provide

from adapters.common.family import Family
from adapters.storymint import account, books, errors, gate, meta, stream, teams

__all__ = ["FAMILY", "render_error", "router"]

_RATE_HEADERS = [
    ResponseHeader(
        name="X-RateLimit-Limit",
        description="Requests allowed per minute for this API key",
        documentation_only=True,
    ),
    ResponseHeader(
        name="X-RateLimit-Remaining",
        description="Requests left in the current minute",
        documentation_only=True,
    ),
    ResponseHeader(
        name="X-RateLimit-Reset",
        description="Seconds until the current window resets",
        documentation_only=True,
    ),
]

router = Router(
    path="/api",
    route_handlers=[
        *books.ROUTES,
        *stream.ROUTES,
        *meta.ROUTES,
        *account.ROUTES,
        *teams.ROUTES,
    ],
    dependencies={"caller": Provide(gate.provide_caller, sync_to_thread=False)},
    before_request=gate.before_request,
    exception_handlers={Exception: gate.handle},
    response_headers=_RATE_HEADERS,
)


def render_error(request: Any, status: int, detail: str | None = None, headers: Any = None) -> Any:
    """StoryMint's envelope for an error raised before any StoryMint route ran (no route for
    the path, or not for the method: then with the ``Allow`` header the router named)."""
    where = f"{request.method} {request.url.path}"
    if status == 404:
        detail = f"No endpoint {where}; see the API docs for the paths under /api"
    elif status == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return errors.render(status, detail, headers)


FAMILY = Family("storymint", ("/api/",), router, render_error)
