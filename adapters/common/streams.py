"""Admission of event streams: keyless ones are metered per client IP, and every stream takes
one of the process's slots for its job's account (``gateway.core.streams``) until it ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeVar

from adapters.common.limits import per_minute
from gateway.core.ratelimit import Decision
from gateway.runtime import Runtime

T = TypeVar("T")


async def meter_anonymous(runtime: Runtime, family: str, route: str, ip: str | None) -> Decision:
    """One hit on the per-IP bucket of a keyless route class (SSE, signed files)."""
    bucket = f"{family}:anon:{route}:{ip or 'unknown'}"
    return await per_minute(runtime, bucket, runtime.settings.anonymous_per_minute)


class Slotted(AsyncIterator[T]):
    """``events`` holding one stream slot of ``account_id``: taken when this is made (in the
    handler, so a full server answers with an error instead of a stream), given back exactly
    once when the stream ends, is closed, or is dropped unstarted (a client gone early)."""

    def __init__(self, runtime: Runtime, account_id: str, events: AsyncIterator[T]) -> None:
        runtime.streams.take(account_id)  # RateLimited when none is free
        self._runtime: Runtime | None = runtime
        self._account_id = account_id
        self._events = events

    def _give_back(self) -> None:
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            runtime.streams.give_back(self._account_id)

    def __aiter__(self) -> Slotted[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await anext(self._events)
        except BaseException:
            self._give_back()
            raise

    async def aclose(self) -> None:
        self._give_back()
        aclose: Any = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()

    def __del__(self) -> None:
        self._give_back()
