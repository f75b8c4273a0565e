"""ASGI targets ``bench/load.py`` serves: the bare-Litestar floor, the same routes with Litestar's
own request features turned on, and storygate built from ``STORYGATE_*`` settings.

``bare`` answers storygate's benchmarked paths (``GET /api/status/{job_id}``,
``GET /v1/stories/{id}``, ``POST /api/generate``) with small dicts and nothing else, so that
server + Litestar cost the same on both sides of a ratio. ``featured`` puts those handlers in a
router with a router-level dependency, a ``before_request`` hook and one ASGI middleware (the
features storygate's routers use), chosen by ``BENCH_FEATURES`` (``dep,hook,mw``; default all).
storygate itself is started as operators start it (``storygate serve --server ...``).
"""

from __future__ import annotations

import os
from typing import Any

from litestar import Litestar, Request, Router, get, post
from litestar.di import Provide
from litestar.types import ASGIApp, Message, Receive, Scope, Send

ALL_FEATURES = ("dep", "hook", "mw")


@get("/api/status/{job_id:str}")
async def bare_status(job_id: str) -> dict[str, Any]:
    return {"status": "done", "step": "done", "job_id": job_id, "pct": 100}


@get("/v1/stories/{id:str}")
async def bare_story(id: str) -> dict[str, Any]:
    return {"ok": True, "data": {"id": id, "status": "completed", "progress": 100}}


@post("/api/generate", status_code=200)
async def bare_generate(data: dict[str, Any]) -> dict[str, Any]:
    return {"job_id": str(len(data)), "status": "running"}


def bare() -> Litestar:
    return Litestar(route_handlers=[bare_status, bare_story, bare_generate], logging_config=None)


async def provide_caller(request: Request[Any, Any, Any]) -> str:
    return request.headers.get("x-api-key", "")


async def before_request(request: Request[Any, Any, Any]) -> None:
    request.state["seen"] = True


def header_middleware(app: ASGIApp) -> ASGIApp:
    """Appends a header to every response start, as storygate's rate-limit middleware does."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-bench", b"1")]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_header)

    return middleware


@get("/api/status/{job_id:str}")
async def featured_status(job_id: str, caller: str) -> dict[str, Any]:
    return {"status": "done", "step": "done", "job_id": job_id, "pct": 100, "who": len(caller)}


@get("/v1/stories/{id:str}")
async def featured_story(id: str, caller: str) -> dict[str, Any]:
    return {"ok": True, "data": {"id": id, "status": "completed", "who": len(caller)}}


@post("/api/generate", status_code=200)
async def featured_generate(data: dict[str, Any], caller: str) -> dict[str, Any]:
    return {"job_id": str(len(data)), "status": "running", "who": len(caller)}


def featured() -> Litestar:
    chosen = {
        f.strip() for f in os.environ.get("BENCH_FEATURES", ",".join(ALL_FEATURES)).split(",")
    }
    handlers = (
        [featured_status, featured_story, featured_generate]
        if "dep" in chosen
        else [bare_status, bare_story, bare_generate]
    )
    router = Router(
        path="/",
        route_handlers=handlers,
        dependencies={"caller": Provide(provide_caller)} if "dep" in chosen else None,
        before_request=before_request if "hook" in chosen else None,
        middleware=[header_middleware] if "mw" in chosen else None,
    )
    return Litestar(route_handlers=[router], logging_config=None)
