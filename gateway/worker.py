"""``storygate worker``: an arq worker process that runs the jobs the gateways enqueue.

It opens the same runtime as a gateway (role "worker": no runner of its own) and hands it to
the shared ``execute_job`` through arq's context, so a job runs the same task function
whether the in-process runner or a worker machine picks it up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AsyncExitStack
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Worker
from redis.exceptions import RedisError

from gateway.logs import configure_logging
from gateway.runtime import open_runtime, queue_name
from gateway.settings import Settings
from workers.runner import worker_settings

log = logging.getLogger("storygate.worker")


def build_worker(settings: Settings, *, burst: bool = False) -> Worker:
    async def on_startup(ctx: dict[str, Any]) -> None:
        stack = AsyncExitStack()
        runtime = await stack.enter_async_context(open_runtime(settings, role="worker"))
        # Gateways import a pipeline at its first job; a worker is there to run them all.
        runtime.registry.preload()
        ctx["stack"] = stack
        ctx["services"] = runtime
        ctx["registry"] = runtime.registry
        log.info("worker ready", extra={"queue": queue_name(settings)})

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        stack: AsyncExitStack | None = ctx.get("stack")
        if stack is not None:
            await stack.aclose()

    config = worker_settings(
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        queue_name=queue_name(settings),
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        max_jobs=settings.job_concurrency,
        max_tries=settings.job_max_attempts,
    )
    options = (
        dict(config)
        if isinstance(config, dict)
        else {k: v for k, v in vars(config).items() if not k.startswith("_")}
    )
    options["burst"] = burst
    return Worker(**options)


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    configure_logging(settings.log_level, settings.log_json)

    async def main() -> None:
        # A worker rides out a Redis outage: arq's poll loop raises when Redis goes away, and
        # the worker starts again once it answers (connecting retries a few times a second
        # apart, so this does not spin). Jobs it was running stop beating; the gateways'
        # recovery pass hands them on.
        while True:
            worker = build_worker(settings, burst=burst)
            try:
                await worker.async_run()
                return
            except asyncio.CancelledError:
                # arq answers SIGTERM/SIGINT by cancelling its main task: a clean stop.
                log.info("worker stopped")
                return
            except (RedisError, OSError) as exc:
                log.warning("worker lost Redis (%s); starting again in 1 s", type(exc).__name__)
            finally:
                with contextlib.suppress(Exception):
                    await worker.close()
            await asyncio.sleep(1.0)

    asyncio.run(main())
