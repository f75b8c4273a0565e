"""Per-minute metering, and the one decision object every family renders its headers from."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache

from gateway.core.ratelimit import Decision, Window
from gateway.runtime import Runtime

MINUTE = 60
# Key of the request scope's state under which a family leaves (name, value) byte pairs for the
# app's response wrapper to add to the answer, whatever produces it.
EXTRA_HEADERS = "storygate.extra_headers"
# What the headers say for a caller whose per-minute limit an operator lifted.
UNMETERED = 1_000_000_000


@dataclass(frozen=True, slots=True)
class RateHeaders:
    """A family's names for the limit's headers; ``retry_after`` is sent only on refusal."""

    limit: str
    remaining: str
    reset: str
    retry_after: str = "Retry-After"

    def render(self, decision: Decision | None) -> dict[str, str]:
        if decision is None:
            return {}
        headers = {
            self.limit: str(decision.limit),
            self.remaining: str(decision.remaining),
            self.reset: str(decision.reset_seconds),
        }
        if not decision.allowed:
            headers[self.retry_after] = str(max(1, decision.retry_after))
        return headers

    def raw(self, decision: Decision) -> list[tuple[bytes, bytes]]:
        """The same headers as ASGI byte pairs, names lower-cased."""
        return [(k.lower().encode(), v.encode()) for k, v in self.render(decision).items()]


@lru_cache(maxsize=4)
def _unmetered_at(second: int) -> Decision:
    reset_at = (second // MINUTE + 1) * MINUTE
    return Decision(True, UNMETERED, UNMETERED, max(1, reset_at - second), reset_at, 0, "minute")


def unmetered(now: float | None = None) -> Decision:
    """The decision for a caller whose limit was lifted (the same object for a whole second)."""
    return _unmetered_at(math.floor(time.time() if now is None else now))


def outage(limit: int) -> Decision:
    """What the headers say while the limiter's store is unreachable: nothing left, retry at
    the next window."""
    now = time.time()
    reset_at = (math.floor(now / MINUTE) + 1) * MINUTE
    wait = max(1, math.ceil(reset_at - now))
    return Decision(False, limit, 0, wait, reset_at, wait, "minute")


async def per_minute(runtime: Runtime, bucket: str, limit: int) -> Decision:
    """One hit on a per-minute bucket; ``limit`` 0 means not metered. The limiter's own
    ``Unavailable`` (Redis down, on_error=deny) propagates."""
    if limit == 0:
        return unmetered()
    return await runtime.ratelimit.hit(bucket, [Window("minute", limit, MINUTE)])
