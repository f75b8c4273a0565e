"""``storygate worker``: an arq worker process that runs the jobs the gateways enqueue.

It opens the same runtime as a gateway (role "worker": no runner of its own) and hands it to
the shared ``execute_job`` through arq's context, so a job runs the same task function
whether the in-process runner or a worker machine picks it up.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Worker

from gateway.logs import configure_logging
from gateway.runtime import open_runtime, queue_name
from gateway.settings import Settings
from workers.runner import worker_settings

log = logging.getLogger("storygate.worker")


def build_worker(settings: Settings, *, burst: bool = False) -> Worker:
    async def on_startup(ctx: dict[str, Any]) -> None:
        stack = AsyncExitStack()
        runtime = await stack.enter_async_context(open_runtime(settings, role="worker"))
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
        worker = build_worker(settings, burst=burst)
        try:
            await worker.async_run()
        finally:
            await worker.close()

    asyncio.run(main())
