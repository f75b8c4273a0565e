"""SleeperHit Story API: ``/api/v1/...`` with scoped ``sh_`` keys, the reference's 23 error
codes, cursor pages and idempotent POSTs; plus the keyless share links of its table reads
(``/share/...``) and its discovery documents at the root (``/llms.txt``)."""

from __future__ import annotations

from litestar import Router

from adapters.common.family import Family
from adapters.sleeperhit.errors import handle, render_error
from adapters.sleeperhit.gate import before_request, unrouted
from adapters.sleeperhit.routes_coverage import HANDLERS as COVERAGE
from adapters.sleeperhit.routes_discovery import HANDLERS as DISCOVERY
from adapters.sleeperhit.routes_edits import HANDLERS as EDITS
from adapters.sleeperhit.routes_recast import HANDLERS as RECAST
from adapters.sleeperhit.routes_refine import HANDLERS as REFINE
from adapters.sleeperhit.routes_resume import HANDLERS as RESUME
from adapters.sleeperhit.routes_script import HANDLERS as SCRIPT
from adapters.sleeperhit.routes_share import HANDLERS as SHARE
from adapters.sleeperhit.routes_story import HANDLERS as STORY
from adapters.sleeperhit.routes_video import HANDLERS as VIDEO
from adapters.sleeperhit.routes_workspace import HANDLERS as WORKSPACE

router = Router(
    path="/",
    route_handlers=[
        *WORKSPACE,
        *STORY,
        *RESUME,
        *VIDEO,
        *COVERAGE,
        *SCRIPT,
        *RECAST,
        *REFINE,
        *EDITS,
        *SHARE,
        *DISCOVERY,
    ],
    exception_handlers={Exception: handle},
    before_request=before_request,
)

FAMILY = Family("sleeperhit", ("/api/v1/",), router, render_error, unrouted)

__all__ = ["FAMILY", "render_error", "router"]
