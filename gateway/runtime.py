"""Builds the core services for one process from settings, and tears them down.

``create_app`` (the web composition root), the ``storygate worker`` process and the CLI all
enter ``open_runtime``, so every process wires the same services the same way: embedded
(SQLite + in-process state) or distributed (PostgreSQL + Redis + arq) by settings alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from datetime import timedelta
from typing import Any, Literal

from redis.exceptions import RedisError

from gateway.core.accounts import AccountService
from gateway.core.admission import Admission
from gateway.core.breaker import Breaker, guarded
from gateway.core.errors import Unavailable
from gateway.core.events import EventBus, MemoryEventBus, RedisEventBus
from gateway.core.fetcher import fetcher_from
from gateway.core.idempotency import (
    Idempotency,
    IdempotencyStore,
    SqlIdempotencyStore,
)
from gateway.core.idempotency_redis import RedisIdempotencyStore
from gateway.core.job_cache import JobCache
from gateway.core.jobs import JobService
from gateway.core.key_invalidation import KeyInvalidation, LocalInvalidation, RedisInvalidation
from gateway.core.keys import KeyService
from gateway.core.leases import Leases
from gateway.core.ledger import Ledger
from gateway.core.projects import ProjectService
from gateway.core.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from gateway.core.storage import BlobStore, LocalBlobStore, Storage
from gateway.core.story_plans import ArtifactRecords, PlanRecords
from gateway.core.story_sources import SourceRecords
from gateway.core.streams import StreamSlots
from gateway.core.teams import TeamService
from gateway.db.engine import Database
from gateway.db.migrate import current_revision, head_revision, upgrade
from gateway.db.models import utcnow
from gateway.settings import Settings, ensure_secret
from workers.backends.registry import Backends, build_backends
from workers.runner import ArqRunner, InProcessRunner
from workers.tasks import TaskRegistry

log = logging.getLogger("storygate.runtime")

Role = Literal["gateway", "worker", "cli"]

# Task modules every process loads.
BUILTIN_TASK_MODULES: tuple[str, ...] = ("workers.pipelines",)


class Runtime:
    """Everything a request handler, a task or a CLI command needs; one per process.

    A plain class rather than a dataclass: Litestar would otherwise try to validate it field by
    field every time it is injected into a handler.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        redis: Any,
        ledger: Ledger,
        keys: KeyService,
        accounts: AccountService,
        jobs: JobService,
        events: EventBus,
        idempotency: Idempotency,
        ratelimit: RateLimiter,
        storage: Storage,
        registry: TaskRegistry,
        backends: Backends,
        leases: Leases,
        redis_breaker: Breaker | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.redis = redis
        self.redis_breaker = redis_breaker
        self.ledger = ledger
        self.keys = keys
        self.accounts = accounts
        self.jobs = jobs
        self.events = events
        self.idempotency = idempotency
        self.ratelimit = ratelimit
        self.storage = storage
        self.registry = registry
        self.backends = backends
        self.leases = leases
        self.job_cache = JobCache(jobs, events)
        self.teams = TeamService(db)
        self.projects = ProjectService(db)
        self.story_sources = SourceRecords(db)
        self.story_plans = PlanRecords(db)
        self.story_artifacts = ArtifactRecords(db)
        # Reads URLs clients hand us (a video's first frame), refusing private addresses.
        self.fetcher = fetcher_from(settings)
        self.streams = StreamSlots(
            per_process=settings.streams_per_process, per_account=settings.streams_per_account
        )
        # Through a lambda, so whatever ``submit`` is at the time (a test's stand-in) is used.
        self.admission = Admission(
            ledger, jobs, lambda job_id: self.submit(job_id), runner=self.runner_name
        )
        self.runner: InProcessRunner | ArqRunner | None = None
        self.background: list[asyncio.Task[None]] = []

    async def submit(self, job_id: str) -> None:
        if self.runner is None:
            raise Unavailable("this process does not run jobs")
        if not self.settings.distributed:
            await self.runner.submit(job_id)
            return
        # Admission undoes the job when this raises, so the client gets its family's
        # "unavailable" answer and nothing is charged.
        runner = self.runner
        await guarded(
            self.redis_breaker,
            lambda: runner.submit(job_id),
            seconds=self.settings.redis_timeout_seconds * 2,
            errors=(RedisError, OSError),
            refusal=lambda: Unavailable("the job queue (Redis) is unreachable"),
        )

    @property
    def runner_name(self) -> str:
        return "arq" if self.settings.distributed else "inprocess"

    async def readiness(self) -> dict[str, str]:
        """Each backing service and whether it answers; used by /readyz."""
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(self.db.ping(), 2)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        if self.redis is not None:
            try:
                await asyncio.wait_for(self.redis.ping(), 2)
                checks["redis"] = "ok"
            except Exception as exc:
                checks["redis"] = f"error: {type(exc).__name__}"
        return checks


async def _prepare_schema(settings: Settings, db: Database) -> None:
    if db.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await upgrade(db.writer)
        return
    current, head = await current_revision(db.writer), head_revision()
    if current != head:
        raise Unavailable(
            f"database schema is at {current or 'nothing'}, not {head}: run `storygate migrate`"
        )


def _blob_store(settings: Settings) -> BlobStore:
    """The local directory, or the S3-compatible bucket every replica reads (``files_url``)."""
    if not settings.files_url:
        return LocalBlobStore(settings.files_dir)
    from gateway.core.blobs_s3 import S3BlobStore

    return S3BlobStore(
        settings.files_url,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key,
    )


async def _sweep(rt: Runtime, every: float) -> None:
    """Settle holds whose lease ran out by their job's state, and forget expired idempotency
    records."""
    while True:
        await asyncio.sleep(every)
        try:
            report = await rt.leases.sweep()
            if report.captured or report.released or report.jobs_failed:
                log.info(
                    "settled expired holds",
                    extra={
                        "captured": report.captured,
                        "released": report.released,
                        "jobs_failed": report.jobs_failed,
                    },
                )
            await rt.idempotency.purge_expired()
        except Exception:
            log.exception("sweeper pass failed")


# Every this many recovery passes, queued jobs are handed to arq again (a no-op for those it
# holds): Redis may have restarted empty.
_REQUEUE_EVERY = 6


async def _recover(rt: Runtime, runner: ArqRunner) -> None:
    """Take jobs from workers that died (killed, out of memory, machine lost) within a few
    heartbeats, instead of leaving them to arq's hour-long job timeout."""
    every = rt.leases.beat_seconds
    passes = 0
    while True:
        await asyncio.sleep(every)
        passes += 1
        try:
            await rt.leases.recover_stalled(
                runner.name, rt.settings.job_max_attempts, runner.redeliver
            )
            if passes % _REQUEUE_EVERY == 0:
                cutoff = utcnow() - timedelta(seconds=every * _REQUEUE_EVERY)
                if found := await runner.resubmit_queued(rt.jobs, cutoff):
                    log.warning("queued %d job(s) again that Redis had lost", found)
        except Exception:
            log.exception("recovery of stalled jobs failed")


@asynccontextmanager
async def open_runtime(settings: Settings, *, role: Role = "gateway") -> AsyncIterator[Runtime]:
    settings = ensure_secret(settings)
    async with AsyncExitStack() as stack:
        db = Database(settings.effective_database_url)
        stack.push_async_callback(db.close)
        await _prepare_schema(settings, db)

        redis = None
        breaker: Breaker | None = None
        events: EventBus
        invalidation: KeyInvalidation
        store: IdempotencyStore
        limiter: RateLimiter
        prefix = settings.redis_prefix
        if settings.redis_url:
            import redis.asyncio as aioredis

            # Pub/sub reads pass their own timeout, so the listeners are not cut by this one.
            redis = aioredis.from_url(
                settings.redis_url,
                socket_connect_timeout=settings.redis_timeout_seconds,
                socket_timeout=settings.redis_timeout_seconds,
            )
            stack.push_async_callback(redis.aclose)
            # One per process: every user of this client skips Redis together while it is
            # known down, so an outage costs one timeout a second, not one per request.
            breaker = Breaker("Redis")
            timeout = settings.redis_timeout_seconds
            events = RedisEventBus(redis, prefix=prefix, timeout_seconds=timeout, breaker=breaker)
            if role == "gateway":
                await events.start()
            invalidation = RedisInvalidation(redis, prefix=prefix)
            store = RedisIdempotencyStore(
                redis,
                prefix=prefix,
                ttl_seconds=settings.idempotency_ttl_seconds,
                lock_seconds=settings.idempotency_lock_seconds,
                timeout_seconds=timeout,
                breaker=breaker,
            )
            limiter = RedisRateLimiter(
                redis,
                prefix=prefix,
                on_error=settings.ratelimit_on_redis_error,
                timeout_seconds=timeout,
                breaker=breaker,
            )
        else:
            events = MemoryEventBus()
            invalidation = LocalInvalidation()
            store = SqlIdempotencyStore(
                db,
                ttl_seconds=settings.idempotency_ttl_seconds,
                lock_seconds=settings.idempotency_lock_seconds,
            )
            limiter = MemoryRateLimiter()
        stack.push_async_callback(events.close)
        stack.push_async_callback(limiter.close)
        stack.push_async_callback(store.close)

        ledger = Ledger(db, hold_seconds=settings.hold_seconds)
        keys = KeyService(
            db,
            invalidation,
            cache_seconds=settings.key_cache_seconds,
            cache_size=settings.key_cache_size,
        )
        await keys.start()
        stack.push_async_callback(keys.close)
        jobs = JobService(
            db, events, settle=lambda job_id, capture: ledger.settle_job(job_id, capture=capture)
        )
        registry = TaskRegistry()
        registry.load_modules(BUILTIN_TASK_MODULES + settings.task_modules)

        accounts = AccountService(
            db,
            ledger,
            keys,
            invalidation=invalidation,
            cache_seconds=settings.key_cache_seconds,
            cache_size=settings.key_cache_size,
        )
        await accounts.start()
        rt = Runtime(
            settings=settings,
            db=db,
            redis=redis,
            ledger=ledger,
            keys=keys,
            accounts=accounts,
            jobs=jobs,
            events=events,
            idempotency=Idempotency(
                store,
                cache_seconds=min(60.0, settings.idempotency_ttl_seconds / 100),
                secret=settings.secret,
            ),
            ratelimit=limiter,
            storage=Storage(db, _blob_store(settings), secret=settings.secret),
            registry=registry,
            backends=build_backends(settings),
            redis_breaker=breaker,
            leases=Leases(
                db,
                ledger,
                jobs,
                seconds=settings.hold_seconds,
                beat_seconds=settings.job_heartbeat_seconds,
            ),
        )
        if role == "gateway":
            if settings.distributed:
                from arq.connections import RedisSettings

                rt.runner = ArqRunner(
                    RedisSettings.from_dsn(settings.redis_url),
                    queue_name=queue_name(settings),
                    jobs=rt.jobs,
                )
            else:
                rt.runner = InProcessRunner(
                    rt,
                    registry,
                    concurrency=settings.job_concurrency,
                    max_attempts=settings.job_max_attempts,
                )
            await rt.runner.start()
            stack.push_async_callback(rt.runner.stop)
            sweep_every = max(0.1, rt.leases.renew_seconds)
            rt.background.append(asyncio.create_task(_sweep(rt, sweep_every)))
            if isinstance(rt.runner, ArqRunner):
                rt.background.append(asyncio.create_task(_recover(rt, rt.runner)))

        try:
            yield rt
        finally:
            for task in rt.background:
                task.cancel()
                with suppress(asyncio.CancelledError, Exception):
                    await task


def queue_name(settings: Settings) -> str:
    return f"{settings.redis_prefix}:queue"
