"""The composition root: ``create_app(settings)`` builds the one Litestar app.

The lifespan owns every connection (through ``open_runtime``); the family routers come from the
family registry (``adapters.routers()``); the request middleware gives every response an
``X-Request-Id``, times it for Prometheus and writes one JSON access line carrying that id.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST

import adapters
from adapters.common.limits import EXTRA_HEADERS
from gateway.logs import REQUEST_ID, AccessLog, access_enabled, configure_logging
from gateway.metrics import Metrics
from gateway.runtime import Runtime, open_runtime
from gateway.settings import Settings, load_settings

error_log = logging.getLogger("storygate.error")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")


class RequestIds:
    """Fresh request ids: 32 hex characters, a random half per process and a counter, unique
    without asking the kernel for randomness per request (``uuid4`` cost more than a cached
    status poll)."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._next = itertools.count(1)

    def new(self) -> str:
        return f"{self._prefix}{next(self._next) & 0xFFFFFFFFFFFFFFFF:016x}"

    def from_headers(self, headers: Any) -> str:
        """Echo a client's id when it is short and printable, otherwise mint one."""
        for name, value in headers:
            if name.lower() == b"x-request-id":
                text = value.decode("latin-1").strip()
                if _SAFE_REQUEST_ID.match(text):
                    return text
        return self.new()


def request_context_middleware(metrics: Metrics, access: AccessLog) -> Any:
    ids = RequestIds()

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            method: str = scope["method"]  # type: ignore[typeddict-item]
            rid = ids.from_headers(scope["headers"])
            token = REQUEST_ID.set(rid)
            scope.setdefault("state", {})["request_id"] = rid
            started = time.perf_counter()
            status = 500
            rid_header = (b"x-request-id", rid.encode())

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    # Nothing else sets this header, so it is appended, not replaced.
                    headers = [*message.get("headers", ()), rid_header]
                    extra = scope["state"].get(EXTRA_HEADERS)
                    if not extra and status in (404, 405):
                        extra = await _unrouted_headers(scope)
                    if extra:
                        headers = _add_missing(headers, extra)
                    if method == "OPTIONS" and status == 204:
                        headers = _allow_every_method(app_of(scope), scope, headers)
                    message = {**message, "headers": headers}
                await send(message)

            try:
                await app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                path = scope["path"]
                owner = adapters.family_of(path)
                family = owner.name if owner is not None else "gateway"
                route = scope.get("path_template") or _route_label(scope)
                metrics.observe_request(family, method, route, status, elapsed)
                access.write(method, path, status, round(elapsed * 1000, 2), family, rid)
                REQUEST_ID.reset(token)

        return middleware

    return factory


def _add_missing(
    headers: list[tuple[bytes, bytes]], extra: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """Headers a family asked for on every answer of the request (its rate limit), where the
    answer did not set them itself (an error already carrying them)."""
    present = {name.lower() for name, _ in headers}
    return headers + [(name, value) for name, value in extra if name not in present]


async def _unrouted_headers(scope: Scope) -> list[tuple[bytes, bytes]] | None:
    """What the owning family adds to an answer no route gave, if it adds anything."""
    owner = adapters.family_of(scope["path"])
    app = app_of(scope)
    if owner is None or owner.unrouted is None or app is None:
        return None
    client = scope.get("client")
    try:
        return await owner.unrouted(app.state.runtime, client[0] if client else None)
    except Exception as exc:  # metering must not turn a 404 into a crash
        error_log.warning("could not meter an unrouted request: %s", exc)
        return None


def app_of(scope: Scope) -> Litestar | None:
    app = scope.get("litestar_app") or scope.get("app")
    return app if isinstance(app, Litestar) else None


def _allow_every_method(
    app: Litestar | None, scope: Scope, headers: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """Litestar's automatic OPTIONS answer lists only the methods of the first handler on a
    path; ``Allow`` must name every method the path takes."""
    template = scope.get("path_template")
    methods: Any = None
    if app is not None and template:
        # The map is keyed by the declared path ("/{id:str}"), the scope by its format ("/{id}").
        methods = app.route_handler_method_map.get(template) or next(
            (
                methods
                for path, methods in app.route_handler_method_map.items()
                if re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path) == template
            ),
            None,
        )
    if not methods:
        return headers
    allowed = ", ".join(sorted({*methods, "OPTIONS"}))
    return [(k, v) for k, v in headers if k.lower() != b"allow"] + [(b"allow", allowed.encode())]


def _route_label(scope: Scope) -> str:
    """A bounded label: the matched route template, never the raw path (ids would explode it)."""
    handler = scope.get("route_handler")
    paths = getattr(handler, "paths", None)
    if paths:
        return sorted(paths)[0]
    return "unmatched"


@get("/healthz", include_in_schema=False, sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", include_in_schema=False)
async def readyz(runtime: Runtime, metrics: Metrics) -> Response[dict[str, Any]]:
    checks = await runtime.readiness()
    ready = all(v == "ok" for v in checks.values())
    metrics.ready.set(1 if ready else 0)
    body = {
        "status": "ready" if ready else "unavailable",
        "checks": checks,
        # What generates, and what stands in for what is missing: never a silent fallback.
        "backends": [dataclasses.asdict(c) for c in runtime.backends.capabilities()],
    }
    return Response(body, status_code=200 if ready else 503)


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics_endpoint(metrics: Metrics) -> Response[bytes]:
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


def _unhandled(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Errors no family router claimed: unknown paths and crashes, in the owning family's
    envelope when the path belongs to one, otherwise a plain JSON error."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status >= 500:
        error_log.exception("unhandled error", exc_info=exc)
    detail = exc.detail if isinstance(exc, HTTPException) else "Internal server error"
    headers = getattr(exc, "headers", None) if isinstance(exc, HTTPException) else None
    rendered = adapters.render_error(request, status, detail, headers)
    if rendered is not None:
        return rendered
    return Response({"error": detail, "status": status}, status_code=status, headers=headers)


def openapi_config() -> OpenAPIConfig:
    """Served at /openapi (JSON at /openapi/openapi.json), outside every family's prefix."""
    return OpenAPIConfig(
        title="storygate",
        version=_version(),
        description="One gateway, four story-generation APIs; `storygate openapi` writes one "
        "document per family.",
        path="/openapi",
        render_plugins=[JsonRenderPlugin(), SwaggerRenderPlugin()],
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("storygate")
    except PackageNotFoundError:
        return "0.0.0"


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _rename_refs(node: Any, names: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {k: _rename_refs(v, names) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            out["$ref"] = "#/components/schemas/" + names.get(name, name)
        return out
    if isinstance(node, list):
        return [_rename_refs(v, names) for v in node]
    return node


def _sorted_headers(node: Any) -> Any:
    """Response headers in name order: Litestar merges them through a set, and a document
    that reorders itself on every run would never stay checked in."""
    if isinstance(node, dict):
        out = {k: _sorted_headers(v) for k, v in node.items()}
        headers = out.get("headers")
        if isinstance(headers, dict):
            out["headers"] = dict(sorted(headers.items(), key=lambda kv: kv[0].lower()))
        return out
    if isinstance(node, list):
        return [_sorted_headers(v) for v in node]
    return node


def family_openapi(app: Litestar) -> dict[str, dict[str, Any]]:
    """One OpenAPI document per family that has routes, split by path prefix.

    Each keeps only the component schemas its operations reach, under their short names (Litestar
    prefixes a name with its module only when two families share it, and that must not rename
    one family's schemas because another family gained a class).
    """
    whole = app.openapi_schema.to_schema()
    schemas: dict[str, Any] = whole.get("components", {}).get("schemas", {})
    paths: dict[str, dict[str, Any]] = {}
    for path, item in whole.get("paths", {}).items():
        owner = adapters.family_of(path)
        if owner is not None:
            paths.setdefault(owner.name, {})[path] = item
    documents: dict[str, dict[str, Any]] = {}
    for family, family_paths in sorted(paths.items()):
        used: set[str] = set()
        _refs(family_paths, used)
        pending = list(used)
        while pending:
            found: set[str] = set()
            _refs(schemas.get(pending.pop(), {}), found)
            pending.extend(found - used)
            used |= found
        names = {n: n.split("_", 1)[1] for n in used if n.startswith(f"{family}_")}
        if len(set(names.values()) | (used - set(names))) != len(used):
            names = {}  # a short name would clash: keep Litestar's
        component_schemas = {names.get(n, n): _rename_refs(schemas[n], names) for n in used}
        documents[family] = {
            "openapi": whole.get("openapi", "3.1.0"),
            "info": {**whole.get("info", {}), "title": f"storygate: {family}"},
            "servers": whole.get("servers", [{"url": "/"}]),
            "paths": _sorted_headers(_rename_refs(family_paths, names)),
            "components": {"schemas": dict(sorted(component_schemas.items()))},
        }
    return documents


def create_app(settings: Settings) -> Litestar:
    configure_logging(settings.log_level, settings.log_json)
    metrics = Metrics()
    access = AccessLog(json_lines=settings.log_json, enabled=access_enabled(settings.log_level))

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        try:
            async with open_runtime(settings, role="gateway") as runtime:
                app.state.runtime = runtime
                yield
        finally:
            access.flush()

    def provide_runtime(state: State) -> Runtime:
        runtime: Runtime = state.runtime
        return runtime

    app = Litestar(
        route_handlers=[healthz, readyz, metrics_endpoint, *adapters.routers()],
        lifespan=[lifespan],
        dependencies={
            "runtime": Provide(provide_runtime, sync_to_thread=False, use_cache=True),
            "metrics": Provide(lambda: metrics, sync_to_thread=False, use_cache=True),
        },
        exception_handlers={Exception: _unhandled},
        state=State({"settings": settings}),
        openapi_config=openapi_config(),
        logging_config=None,
        debug=False,
    )
    # Wrap the whole ASGI handler, not the routes: unmatched paths (404/405) never reach route
    # middleware, yet they too must carry a request id and be counted.
    app.asgi_handler = request_context_middleware(metrics, access)(app.asgi_handler)
    # A family that serves its own document (SleeperHit's /api/v1/openapi.json) asks for it
    # here rather than importing the app.
    app.state["family_openapi"] = lambda: family_openapi(app)
    return app


def app_from_env() -> Any:
    """The app as a server worker process builds it (``storygate serve`` exported its settings
    to the environment first): the import target for granian or uvicorn with ``--workers``.
    Behind trusted proxies under granian, the client address comes from X-Forwarded-For
    (uvicorn does the same itself, told by ``gateway.serve``)."""
    settings = load_settings()
    app = create_app(settings)
    if settings.trusted_proxies and settings.server == "granian":
        from granian.utils.proxies import wrap_asgi_with_proxy_headers

        return wrap_asgi_with_proxy_headers(app, list(settings.trusted_proxies))
    return app
