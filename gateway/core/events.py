"""Job progress fan-out for SSE: an in-process broadcast (embedded) or Redis pub/sub (distributed).

Events are hints for live clients, never the record of truth: the jobs table is. So both buses
prefer dropping an event over slowing the publisher down, and a client that missed something
can always re-read the job.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)


class EventBus(Protocol):
    async def publish(self, channel: str, event: dict[str, Any]) -> None: ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]:
        """``async with bus.subscribe(ch) as events: async for ev in events``.

        The subscription is live once ``__aenter__`` returns, so a caller can subscribe first,
        then read the current state, and miss nothing in between.
        """
        ...

    async def close(self) -> None: ...


class _Closed:
    """Sentinel pushed into subscriber queues so their iterators end when the bus closes."""


_CLOSED = _Closed()


class MemoryEventBus:
    """Broadcast within one process: a bounded queue per subscriber.

    A subscriber that falls behind loses its oldest events rather than blocking the job that
    publishes them (a stalled SSE client must never stall generation).
    """

    def __init__(self, *, queue_size: int = 256) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._queue_size = queue_size
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any] | _Closed]]] = {}
        self._closed = False

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        for queue in list(self._subscribers.get(channel, ())):
            _put_dropping_oldest(queue, dict(event))

    @asynccontextmanager
    async def _subscription(self, channel: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any] | _Closed] = asyncio.Queue(maxsize=self._queue_size)
        if self._closed:
            queue.put_nowait(_CLOSED)
        else:
            self._subscribers.setdefault(channel, set()).add(queue)
        try:
            yield _QueueEvents(queue)
        finally:
            subs = self._subscribers.get(channel)
            if subs is not None:
                subs.discard(queue)
                if not subs:
                    del self._subscribers[channel]

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]:
        return self._subscription(channel)

    async def close(self) -> None:
        self._closed = True
        for subs in self._subscribers.values():
            for queue in subs:
                _put_dropping_oldest(queue, _CLOSED)
        self._subscribers.clear()


def _put_dropping_oldest(
    queue: asyncio.Queue[dict[str, Any] | _Closed], item: dict[str, Any] | _Closed
) -> None:
    while True:
        try:
            queue.put_nowait(item)
            return
        except asyncio.QueueFull:
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:  # pragma: no cover - only with a concurrent reader
                pass


class _QueueEvents:
    """Iterator over one subscriber's queue.

    A class rather than an async generator so that cancelling one ``__anext__`` (an SSE
    handler waiting with a keep-alive timeout) leaves the iterator usable.
    """

    def __init__(self, queue: asyncio.Queue[dict[str, Any] | _Closed]) -> None:
        self._queue = queue
        self._done = False

    def __aiter__(self) -> _QueueEvents:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self._done:
            raise StopAsyncIteration
        item = await self._queue.get()
        if isinstance(item, _Closed):
            self._done = True
            raise StopAsyncIteration
        return item


class RedisEventBus:
    """Redis pub/sub, so an SSE client on any replica sees progress from a worker anywhere.

    Each subscription holds its own pub/sub connection from the client's pool; the client is
    owned by whoever passed it in and is not closed here.
    """

    def __init__(self, redis: aioredis.Redis, *, prefix: str, poll_interval: float = 0.5) -> None:
        self._redis = redis
        self._prefix = prefix
        # How often a waiting subscriber checks whether the bus was closed; events themselves
        # are delivered as soon as they arrive.
        self._poll_interval = poll_interval
        self._closed = asyncio.Event()

    def _name(self, channel: str) -> str:
        return f"{self._prefix}:ev:{channel}"

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        payload = json.dumps(event, default=str, separators=(",", ":"))
        await self._redis.publish(self._name(channel), payload)

    @asynccontextmanager
    async def _subscription(self, channel: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        name = self._name(channel)
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(name)
            await self._await_confirmation(pubsub)
            yield _RedisEvents(pubsub, self._closed, self._poll_interval)
        finally:
            try:
                await pubsub.unsubscribe(name)
            except Exception:
                log.debug("unsubscribe from %s failed", name, exc_info=True)
            await pubsub.aclose()

    async def _await_confirmation(self, pubsub: PubSub) -> None:
        """Wait for Redis to acknowledge SUBSCRIBE, so nothing published afterwards is missed."""
        while True:
            message = await pubsub.get_message(timeout=5.0)
            if message is None:
                raise TimeoutError("Redis did not confirm the subscription")
            if message.get("type") == "subscribe":
                return

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]:
        return self._subscription(channel)

    async def close(self) -> None:
        self._closed.set()


class _RedisEvents:
    """Iterator over one pub/sub connection; like ``_QueueEvents``, it survives a cancelled
    ``__anext__`` (redis-py reconnects and re-subscribes a connection interrupted mid-read)."""

    def __init__(self, pubsub: PubSub, closed: asyncio.Event, poll_interval: float) -> None:
        self._pubsub = pubsub
        self._closed = closed
        self._poll_interval = poll_interval

    def __aiter__(self) -> _RedisEvents:
        return self

    async def __anext__(self) -> dict[str, Any]:
        while not self._closed.is_set():
            message = await self._pubsub.get_message(
                ignore_subscribe_messages=True, timeout=self._poll_interval
            )
            if message is None or message.get("type") != "message":
                continue
            try:
                event = json.loads(message["data"])
            except (TypeError, ValueError):
                log.warning("dropping a malformed event on %r", message.get("channel"))
                continue
            if isinstance(event, dict):
                return event
        raise StopAsyncIteration
