"""Job progress fan-out: an in-process broadcast (embedded) or Redis pub/sub (distributed).

Events are hints for live clients, never the record of truth: the jobs table is. So both buses
prefer dropping an event over slowing the publisher down, and a client that missed something
can always re-read the job.

Either way a process holds its subscribers in memory and fans each event out to them; the
Redis bus holds ONE pattern subscription per process, however many streams are open, so a
thousand SSE clients cost a thousand small queues, not a thousand Redis connections. Watchers
(``watch``) see every event of the process, which is how caches of job state stay fresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.core.breaker import Breaker

log = logging.getLogger(__name__)

# A watcher is called with (channel, event) for every event, and with (RESET, {}) when the
# bus may have missed events (a lost Redis connection): whatever it derived must be dropped.
RESET = "*"
Watcher = Callable[[str, dict[str, Any]], None]


class EventBus(Protocol):
    async def publish(self, channel: str, event: dict[str, Any]) -> None: ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]:
        """``async with bus.subscribe(ch) as events: async for ev in events``.

        The subscription is live once ``__aenter__`` returns, so a caller can subscribe first,
        then read the current state, and miss nothing in between.
        """
        ...

    def watch(self, watcher: Watcher) -> None: ...

    async def close(self) -> None: ...


class _Closed:
    """Sentinel pushed into subscriber queues so their iterators end when the bus closes."""


_CLOSED = _Closed()
Queue = asyncio.Queue[dict[str, Any] | _Closed]


class _Fanout:
    """This process's subscribers: a bounded queue each, and the watchers.

    A subscriber that falls behind loses its oldest events rather than blocking the job that
    publishes them (a stalled SSE client must never stall generation).
    """

    def __init__(self, queue_size: int) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._queue_size = queue_size
        self._subscribers: dict[str, set[Queue]] = {}
        self._watchers: list[Watcher] = []
        self._closed = False

    @property
    def open_subscriptions(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    def watch(self, watcher: Watcher) -> None:
        self._watchers.append(watcher)

    def deliver(self, channel: str, event: dict[str, Any]) -> None:
        for watcher in self._watchers:
            try:
                watcher(channel, event)
            except Exception:
                log.exception("event watcher failed")
        for queue in list(self._subscribers.get(channel, ())):
            _put_dropping_oldest(queue, dict(event))

    def reset(self) -> None:
        self.deliver(RESET, {})

    @asynccontextmanager
    async def subscription(self, channel: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        queue: Queue = asyncio.Queue(maxsize=self._queue_size)
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

    def close(self) -> None:
        self._closed = True
        for subs in self._subscribers.values():
            for queue in subs:
                _put_dropping_oldest(queue, _CLOSED)
        self._subscribers.clear()
        self._watchers.clear()


class MemoryEventBus:
    """Broadcast within one process."""

    def __init__(self, *, queue_size: int = 256) -> None:
        self._fanout = _Fanout(queue_size)

    @property
    def open_subscriptions(self) -> int:
        return self._fanout.open_subscriptions

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        self._fanout.deliver(channel, event)

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]:
        return self._fanout.subscription(channel)

    def watch(self, watcher: Watcher) -> None:
        self._fanout.watch(watcher)

    async def close(self) -> None:
        self._fanout.close()


def _put_dropping_oldest(queue: Queue, item: dict[str, Any] | _Closed) -> None:
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

    def __init__(self, queue: Queue) -> None:
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

    One pattern subscription (``{prefix}:ev:*``) per process, opened on first use and reopened
    after a lost connection (watchers are then told to reset). The client is owned by whoever
    passed it in and is not closed here.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str,
        queue_size: int = 256,
        retry_seconds: float = 1.0,
        timeout_seconds: float = 2.0,
        breaker: Breaker | None = None,
    ) -> None:
        self._redis = redis
        self._timeout = timeout_seconds
        # For publishing; shared with the process's other users of this Redis when given.
        self._breaker = breaker or Breaker("Redis (events)", retry_seconds=retry_seconds)
        self._prefix = prefix
        self._pattern = f"{prefix}:ev:*"
        self._fanout = _Fanout(queue_size)
        self._retry = retry_seconds
        self._listener: asyncio.Task[None] | None = None
        # Set while the pattern subscription is confirmed and its connection up.
        self._live = asyncio.Event()
        self._ever_live = False
        # Cuts the listener's wait between reconnection attempts short (a new subscriber).
        self._wake = asyncio.Event()

    @property
    def open_subscriptions(self) -> int:
        return self._fanout.open_subscriptions

    def _name(self, channel: str) -> str:
        return f"{self._prefix}:ev:{channel}"

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        """At most ``timeout_seconds`` (a paused Redis never answers); while Redis is known to
        be down (``gateway.core.breaker``) the event is dropped at once, as a full subscriber
        queue would drop it: a job's progress must not wait on its hints."""
        if self._breaker.skip():
            return
        payload = json.dumps(event, default=str, separators=(",", ":"))
        try:
            async with asyncio.timeout(self._timeout):
                await self._redis.publish(self._name(channel), payload)
        except (RedisError, OSError) as exc:  # TimeoutError is an OSError
            self._breaker.failed(exc)
            raise
        except BaseException:
            self._breaker.abandoned()
            raise
        self._breaker.succeeded()

    @property
    def live(self) -> bool:
        """Whether the subscription is up, so events published now reach this process."""
        return self._live.is_set()

    async def start(self) -> None:
        """Listen; returns once Redis confirmed the pattern, so nothing published later is
        missed. After a lost connection it asks the listener to try again at once and waits a
        little (a subscriber that arrives just after Redis returned must see every later
        event); while Redis stays unreachable it then returns anyway: subscribers see no
        events meanwhile and fall back to reading the job (events are hints)."""
        if self._listener is None or self._listener.done():
            self._live.clear()
            self._listener = asyncio.create_task(self._listen(), name="storygate-events")
        if self._live.is_set():
            return
        self._wake.set()
        wait = self._timeout if self._ever_live else 5.0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._live.wait(), wait)

    @asynccontextmanager
    async def _subscription(self, channel: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        await self.start()
        async with self._fanout.subscription(channel) as events:
            yield events

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]:
        return self._subscription(channel)

    def watch(self, watcher: Watcher) -> None:
        self._fanout.watch(watcher)

    async def _open(self) -> Any:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.psubscribe(self._pattern)
            while True:
                message = await pubsub.get_message(timeout=5.0)
                if message is None:
                    raise TimeoutError("Redis did not confirm the event subscription")
                if message.get("type") == "psubscribe":
                    return pubsub
        except BaseException:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            raise

    async def _listen(self) -> None:
        skip = len(self._prefix) + len(":ev:")
        pubsub = None
        try:
            while True:
                try:
                    if pubsub is None:
                        pubsub = await self._open()
                        if self._ever_live:
                            self._fanout.reset()  # events published meanwhile were missed
                            log.warning("event subscription restored")
                        self._ever_live = True
                        self._live.set()
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                except (RedisError, OSError) as exc:
                    # Before anything awaits: a subscriber arriving from now on (it sees the
                    # subscription down) wakes the wait below.
                    self._wake.clear()
                    if self._live.is_set():
                        log.warning("event subscription lost, reconnecting: %s", exc)
                    self._live.clear()
                    if pubsub is not None:
                        with contextlib.suppress(Exception):
                            await pubsub.aclose()
                    pubsub = None
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._retry)
                    continue
                if message is None or message.get("type") != "pmessage":
                    continue
                channel = message["channel"]
                if isinstance(channel, bytes):
                    channel = channel.decode()
                try:
                    event = json.loads(message["data"])
                except (TypeError, ValueError):
                    log.warning("dropping a malformed event on %r", channel)
                    continue
                if isinstance(event, dict):
                    self._fanout.deliver(channel[skip:], event)
        finally:
            if pubsub is not None:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
        self._fanout.close()
