"""How often a pipeline reports per-unit progress.

Every report is a database write and an event to every stream subscriber. A page that takes a
model seconds is worth reporting on its own; a page the instant backends make in a millisecond
is not, and reporting each of them would cost more than making the book. So a loop reports a
unit when enough time has passed since its last report, and always reports its last unit,
which carries everything the skipped ones would have said.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["REPORT_EVERY_S", "Pace"]

REPORT_EVERY_S = 0.1


class Pace:
    """One loop's reporting rhythm; the loop's own start counts as its first report."""

    def __init__(
        self, every: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._every = REPORT_EVERY_S if every is None else every
        self._clock = clock
        self._last = clock()

    def due(self, *, last: bool = False) -> bool:
        now = self._clock()
        if last or now - self._last >= self._every:
            self._last = now
            return True
        return False
