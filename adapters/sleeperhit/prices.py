"""Studio Credit prices: the one table every quote, reservation and charge reads.

The reference names three prices (finalize audio 6, finalize video 12, refine 8) and shows a
table read quoted at 11; planning and source digests are quoted at 0. Types this server does
not make have no price: a plan asking for them is refused before any quote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from adapters.sleeperhit.views import iso

UNIT = "sleeperhit.credits"
ARTIFACT_PRICES = {"table_read": 11}
ARTIFACT_LABELS = {
    "table_read": "Table read",
    "pitch_deck": "Pitch deck",
    "storyboard": "Storyboard",
    "trailer": "Trailer",
    "production_video": "Production video",
}
FINALIZE_AUDIO = 6
FINALIZE_VIDEO = 12
REFINE = 8
# The reference's name for it.
TABLE_READ_REFINE = REFINE


def quote(
    artifact_requests: Sequence[Mapping[str, Any]], sources: int, at: datetime, *, planning: bool
) -> dict[str, Any]:
    """The wire quote: planning and digests (free), then one line per artifact."""
    lines: list[dict[str, Any]] = []
    if planning:
        lines.append({"kind": "planning", "label": "StoryPlan generation", "credits": 0})
        if sources:
            noun = "source" if sources == 1 else "sources"
            lines.append(
                {
                    "kind": "source_digest",
                    "label": f"Source digest ({sources} {noun})",
                    "credits": 0,
                }
            )
    for request in artifact_requests:
        kind = str(request["type"])
        lines.append(
            {"kind": "artifact", "label": ARTIFACT_LABELS[kind], "credits": ARTIFACT_PRICES[kind]}
        )
    return {
        "currency": "studio_credits",
        "total": sum(int(line["credits"]) for line in lines),
        "lineItems": lines,
        "notes": [],
        "computedAt": iso(at),
    }


def refine_quote(at: datetime) -> dict[str, Any]:
    """The quote a refine job shows: TABLE_READ_REFINE, reserved when it is created."""
    return {
        "currency": "studio_credits",
        "total": REFINE,
        "lineItems": [{"kind": "refine", "label": "Table read refine", "credits": REFINE}],
        "notes": [],
        "computedAt": iso(at),
    }
