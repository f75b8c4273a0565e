"""Remembering that a backing service is down, so callers stop waiting on it.

A paused or partitioned Redis accepts connections and never answers: every call then costs a
whole timeout. After one failure a ``Breaker`` says "skip" for ``retry_seconds``; then it lets
exactly one call through as a probe (the others still skip) until a call succeeds. An outage
thus costs one timeout per ``retry_seconds`` instead of one per request, and service resumes
within ``retry_seconds`` of the service returning. One line is logged when it goes down and
one when it comes back, not one per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Breaker:
    def __init__(
        self,
        what: str,
        *,
        retry_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if retry_seconds < 0:
            raise ValueError("retry_seconds must not be negative")
        self.what = what
        self.retry_seconds = retry_seconds
        self._monotonic = monotonic
        # 0.0 while the service answers; otherwise when it may be tried again.
        self._down_until = 0.0
        self._probing = False

    @property
    def down(self) -> bool:
        return self._down_until != 0.0

    def skip(self) -> bool:
        """Whether to go without the service now. ``False`` when the caller should call it;
        while down, that caller is the one probe and must end with ``failed`` or
        ``succeeded``."""
        if not self._down_until:
            return False
        if self._probing or self._monotonic() < self._down_until:
            return True
        self._probing = True
        return False

    def failed(self, exc: BaseException) -> None:
        if not self._down_until:
            log.warning("%s unreachable (%s); going without it", self.what, type(exc).__name__)
        self._down_until = self._monotonic() + self.retry_seconds
        self._probing = False

    def succeeded(self) -> None:
        if self._down_until:
            log.warning("%s reachable again", self.what)
        self._down_until = 0.0
        self._probing = False

    def abandoned(self) -> None:
        """The call ended otherwise (cancelled): someone else may probe."""
        self._probing = False


async def guarded(
    breaker: Breaker | None,
    call: Callable[[], Awaitable[T]],
    *,
    seconds: float,
    errors: tuple[type[BaseException], ...],
    refusal: Callable[[], Exception],
) -> T:
    """``call()`` within ``seconds``, through ``breaker``: ``refusal()`` is raised at once while
    the service is known down, and in place of any of ``errors`` (a timeout included)."""
    if breaker is not None and breaker.skip():
        raise refusal()
    caught: tuple[type[BaseException], ...] = (*errors, TimeoutError)
    try:
        async with asyncio.timeout(seconds):
            result = await call()
    except caught as exc:
        if breaker is not None:
            breaker.failed(exc)
        raise refusal() from exc
    except BaseException:
        if breaker is not None:
            breaker.abandoned()
        raise
    if breaker is not None:
        breaker.succeeded()
    return result
