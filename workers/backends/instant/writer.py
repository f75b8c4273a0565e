"""The instant story writer: templated, seeded, offline text in ten languages."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from workers.backends.base import Capability, StoryPlan, StoryRequest
from workers.backends.instant.compose import dialogue_lines, layout, render_page
from workers.backends.instant.editing import edit_book
from workers.backends.instant.story import Page, World, build_plan, world_of

_REMEMBERED = 8  # books whose page layout is kept between write() calls

__all__ = ["InstantWriter"]


class InstantWriter:
    """Writes a whole book from templates in microseconds; the same request, the same words.

    The plan comes from the prompt's premise (workers/backends/premise.py: its characters and
    their roles, names, place, event and lesson), pages follow a beginning/middle/end arc with
    the event where the story turns, and the text is shaped by age band, tone and language.
    """

    name = "instant"

    def __init__(self) -> None:
        # The layout of a whole book is chosen at once (so pages never repeat each other); it is
        # kept for the few books being written now, or a 200-page comic would recompute it 200
        # times. It is a pure function of the request, so sharing it across callers leaks nothing.
        self._layouts: OrderedDict[StoryRequest, tuple[World, list[Page]]] = OrderedDict()

    def _layout(self, request: StoryRequest) -> tuple[World, list[Page]]:
        found = self._layouts.pop(request, None)
        if found is None:
            world = world_of(request)
            found = (world, layout(request, world))
        self._layouts[request] = found
        while len(self._layouts) > _REMEMBERED:
            self._layouts.popitem(last=False)
        return found

    def capability(self) -> Capability:
        return Capability(
            kind="text",
            backend="instant",
            model="instant-templates-v1",
            available=True,
            note="deterministic templated stories in 10 languages; no model needed",
        )

    async def plan(self, request: StoryRequest) -> StoryPlan:
        return build_plan(request)

    async def write(
        self, request: StoryRequest, plan: StoryPlan, index: int, previous: Sequence[str]
    ) -> str:
        if not 0 <= index < request.units:
            raise IndexError(f"page {index} is outside a {request.units}-unit book")
        world, pages = self._layout(request)
        return render_page(world, plan, index, pages[index])

    async def dialogue(
        self, request: StoryRequest, plan: StoryPlan, index: int, panels: int
    ) -> list[str]:
        world, _pages = self._layout(request)  # the premise is read once per book, not per page
        return dialogue_lines(request, world, plan, index, panels)

    async def edit(
        self, request: StoryRequest, plan: StoryPlan, pages: Sequence[str], instruction: str
    ) -> tuple[str, dict[int, str]]:
        return edit_book(request, plan, pages, instruction)
