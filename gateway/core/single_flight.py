"""Concurrent cache misses for one key share one read.

When a cached entry expires under load, every request in flight misses at once; without this,
each would query the database for the same row, and the burst would show as a tail-latency
spike every cache lifetime. The first caller reads, the others await its result (or error).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._flights: dict[Hashable, asyncio.Future[T]] = {}

    async def run(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        while (flight := self._flights.get(key)) is not None:
            try:
                return await asyncio.shield(flight)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not flight.cancelled() or (task is not None and task.cancelling()):
                    raise
                # The reader was cancelled (its client left), not this caller: read again.
        flight = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        try:
            value = await read()
        except Exception as exc:
            flight.set_exception(exc)
            flight.exception()  # retrieved: no warning when nobody else was waiting
            raise
        except BaseException:
            flight.cancel()
            raise
        else:
            flight.set_result(value)
            return value
        finally:
            del self._flights[key]
