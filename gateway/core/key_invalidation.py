"""How a key revocation reaches every replica's verification cache at once.

In one process the service hears its own revocations directly; across replicas they travel over
Redis pub/sub. After a lost connection the listener asks for the whole cache to be dropped,
because whatever was published meanwhile was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# Sentinel hash meaning "evict every cached key".
EVICT_ALL = "*"


class KeyInvalidation(Protocol):
    async def publish(self, key_hash: str) -> None: ...

    async def start(self, on_revoked: Callable[[str], None]) -> None: ...

    async def close(self) -> None: ...


class _Fanout:
    def __init__(self) -> None:
        self._callbacks: list[Callable[[str], None]] = []

    def _emit(self, key_hash: str) -> None:
        for callback in list(self._callbacks):
            try:
                callback(key_hash)
            except Exception:
                log.exception("key revocation callback failed")


class LocalInvalidation(_Fanout):
    """One process: every service started on it hears every revocation directly."""

    async def publish(self, key_hash: str) -> None:
        self._emit(key_hash)

    async def start(self, on_revoked: Callable[[str], None]) -> None:
        self._callbacks.append(on_revoked)

    async def close(self) -> None:
        self._callbacks.clear()


class RedisInvalidation(_Fanout):
    """Redis pub/sub across replicas; the Redis client belongs to the caller and stays open."""

    def __init__(self, redis: aioredis.Redis, *, prefix: str, retry_seconds: float = 1.0) -> None:
        super().__init__()
        self._redis = redis
        self.channel = f"{prefix}:keys:revoked"
        self._retry = retry_seconds
        self._task: asyncio.Task[None] | None = None

    async def publish(self, key_hash: str) -> None:
        await self._redis.publish(self.channel, key_hash)

    async def start(self, on_revoked: Callable[[str], None]) -> None:
        self._callbacks.append(on_revoked)
        if self._task is None:
            # Subscribe before returning, so a revocation published right after start is heard.
            try:
                pubsub = await self._subscribe()
            except (RedisError, OSError) as exc:
                log.warning("key revocation channel unavailable, will retry: %s", exc)
                pubsub = None
            self._task = asyncio.create_task(self._listen(pubsub), name="key-invalidation")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._callbacks.clear()

    async def _subscribe(self) -> Any:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
        except BaseException:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            raise
        return pubsub

    async def _listen(self, pubsub: Any) -> None:
        try:
            while True:
                try:
                    if pubsub is None:
                        await asyncio.sleep(self._retry)
                        pubsub = await self._subscribe()
                        self._emit(EVICT_ALL)  # whatever was published meanwhile was missed
                    message = await pubsub.get_message(timeout=1.0)
                except (RedisError, OSError) as exc:
                    log.warning("key revocation channel lost, reconnecting: %s", exc)
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
                    pubsub = None
                    continue
                if message and message.get("type") == "message":
                    data = message["data"]
                    self._emit(data.decode() if isinstance(data, bytes) else str(data))
        finally:
            if pubsub is not None:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
