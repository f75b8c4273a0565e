"""Discovery: ``/api/v1/capabilities`` (a key with story:read), and, with no key, the family's
OpenAPI document, the recipe catalogue and ``/llms.txt`` / ``/llms-full.txt`` at the root.

The OpenAPI document is exactly what ``storygate openapi`` writes for SleeperHit (the same
``family_openapi`` split of the app's own schema), computed once per app and kept on its state;
the llms documents are built from it, so neither can drift from the routes.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, MediaType, Response, get
from litestar.openapi import ResponseSpec

from adapters.sleeperhit import discovery, llms
from adapters.sleeperhit import examples as recipes
from adapters.sleeperhit.routing import API, TAGS, AnyRequest, base_url, errors, route_opt
from contracts import sleeperhit_views as out
from contracts.sleeperhit import ErrorResponse

FAMILY = "sleeperhit"
_OPENAPI = "sleeperhit.openapi"
_TEXT = MediaType.TEXT  # Litestar adds "; charset=utf-8"
PUBLIC = route_opt(None, "discovery")
# A public route is metered per IP, so it can answer rate_limited, besides internal_error.
PUBLIC_ERRORS = {
    s: ResponseSpec(ErrorResponse, description="Error", generate_examples=False) for s in (429, 500)
}


def _capability_list(backends: Any) -> list[Any]:
    """The backends' own list with the script writer's first: it writes the table reads."""
    caps = list(backends.capabilities())
    scripter = getattr(backends, "scripter", None)
    if scripter is not None:
        cap = scripter.capability()
        caps = [cap, *(c for c in caps if c != cap)]
    return caps


def family_document(app: Litestar) -> dict[str, Any]:
    found = app.state.get(_OPENAPI)
    if found is None:
        # The app hands its documents over (gateway.app); a family never imports the app.
        found = app.state["family_openapi"]()[FAMILY]
        app.state[_OPENAPI] = found
    return dict(found)


def scopes_of(app: Litestar) -> dict[str, str | None]:
    """operationId -> the scope its route demands (None: public), from the routes' own opt."""
    found: dict[str, str | None] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            op_id = getattr(handler, "operation_id", None)
            if isinstance(op_id, str) and "group" in handler.opt:
                found[op_id] = handler.opt.get("scope")
    return found


@get(
    f"{API}/capabilities",
    tags=TAGS,
    summary="The live feature manifest: what this server makes, and with which models",
    operation_id="getCapabilities",
    opt=route_opt("story:read", "discovery"),
    responses=errors(),
)
async def capabilities(request: AnyRequest) -> Response[out.Capabilities]:
    runtime = request.app.state.runtime
    found = discovery.capabilities(
        _capability_list(runtime.backends),
        base=base_url(request),
        voices=runtime.backends.voices(),
        fetch_max_bytes=runtime.settings.fetch_max_bytes,
    )
    # Sent as the dict: converting to the Struct would drop the extras (backends, plans, ...).
    return Response(found, media_type="application/json")  # type: ignore[arg-type]


@get(f"{API}/openapi.json", include_in_schema=False, opt=PUBLIC)
async def openapi_document(request: AnyRequest) -> Response[dict[str, Any]]:
    return Response(family_document(request.app), media_type="application/json")


@get(
    f"{API}/examples",
    tags=TAGS,
    summary="Recipe catalogue: curl and Node snippets for every live flow (no key)",
    operation_id="getExamples",
    opt=PUBLIC,
    responses=PUBLIC_ERRORS,
)
async def examples(request: AnyRequest) -> dict[str, Any]:
    return recipes.examples(base_url(request))


@get("/llms.txt", include_in_schema=False, opt=PUBLIC)
async def llms_txt(request: AnyRequest) -> Response[str]:
    text = llms.llms_txt(base_url(request), family_document(request.app))
    return Response(text, media_type=_TEXT)


@get("/llms-full.txt", include_in_schema=False, opt=PUBLIC)
async def llms_full(request: AnyRequest) -> Response[str]:
    app = request.app
    text = llms.llms_full(base_url(request), family_document(app), scopes_of(app))
    return Response(text, media_type=_TEXT)


HANDLERS: list[Any] = [capabilities, openapi_document, examples, llms_txt, llms_full]
