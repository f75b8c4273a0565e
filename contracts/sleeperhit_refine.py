"""SleeperHit's refine of a table read: ``POST /artifacts/{id}/refine``'s request and answer.

The request decodes strictly like every other SleeperHit request (``contracts.sleeperhit``);
the answer is ``{"storyJob": <job>}``, the refine as a story job of the same shape as
``POST /story-jobs`` answers (``contracts.sleeperhit_views.Job``), polled at
``GET /story-jobs/{id}``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

from contracts.common import VISIBLE
from contracts.sleeperhit_views import Job

__all__ = ["INSTRUCTION_MAX", "RefineAccepted", "RefineRequest", "RefineScope"]

# storygate: the reference gives no bound for an instruction.
INSTRUCTION_MAX = 4000
RefineScope = Literal["auto", "screenplay", "plan"]
Instruction = Annotated[str, Meta(min_length=1, max_length=INSTRUCTION_MAX, pattern=VISIBLE)]


class RefineRequest(Struct):
    """``instruction``: free-form ("rename the host to Dana and drop the narrator; make the
    skeptic warmer"). ``scope``: ``screenplay`` rewrites the cast and screenplay only, ``plan``
    goes back to the plan's sources first, ``auto`` (or ``null``) lets the writer choose."""

    instruction: Instruction
    scope: RefineScope | None = "auto"


class RefineAccepted(Struct):
    storyJob: Job
