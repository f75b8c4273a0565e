"""The two ways jobs run, over one function (``execute_job``) and the same task functions.

* ``InProcessRunner`` (embedded): asyncio tasks inside the gateway, bounded by a semaphore.
  Jobs a stopped process left ``running`` are resumed by the next ``start`` or, once their
  attempts are used up, failed so their reservation is released.
* ``ArqRunner`` + ``worker_settings`` (distributed): the gateway enqueues into Redis and
  ``storygate worker`` processes run ``run_job``. arq re-runs a job whose worker stopped or died;
  ``run_job`` then applies the same resume-or-fail rule as the embedded runner.

Whatever the runner, the database decides who runs a job: ``JobService.start`` is a
compare-and-swap, so a duplicate delivery finds the job already claimed and does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix
from arq.worker import func

from gateway.core.errors import ModelUnavailable, NotFound, UpstreamError
from gateway.core.jobs import JobInfo, JobService, JobStatus
from gateway.core.leases import INTERRUPTED
from gateway.db.models import as_utc
from workers.tasks import JobCanceled, TaskContext, TaskError, TaskRegistry

log = logging.getLogger(__name__)

RUN_JOB = "run_job"
# arq's own timeout sits this far above ours, so ours fires first and fails the job cleanly
# instead of arq abandoning it in the 'running' state.
_ARQ_TIMEOUT_GRACE_S = 60.0

StartupShutdown = Callable[[dict[str, Any]], Awaitable[Any]]


async def execute_job(
    services: Any, registry: TaskRegistry, job_id: str, *, time_limit: float | None = None
) -> None:
    """Claim the job, run its task, record the outcome. Both runners call only this.

    A ``CancelledError`` (the runner or worker is stopping) is not an outcome: it propagates
    and leaves the job 'running' for recovery to resume or fail.
    """
    jobs: JobService = services.jobs
    job = await jobs.start(job_id)
    if job is None:
        log.info("job %s was not queued; another runner has it or it is over", job_id)
        return
    try:
        task = registry.get(job.kind)
    except KeyError:
        log.error("job %s has kind %r, which no task handles", job_id, job.kind)
        await jobs.fail(job_id, "unknown_kind", f"this server cannot run jobs of kind {job.kind}")
        return

    scope = asyncio.timeout(time_limit)
    # While the task runs, its heartbeat keeps the job's holds leased (gateway.core.leases).
    leases = getattr(services, "leases", None)
    alive = (
        leases.kept_alive(job_id, job.attempts)
        if leases is not None
        else contextlib.nullcontext(asyncio.Event())
    )
    try:
        async with alive as lost, scope:
            result = await _until_lost(job_id, task(TaskContext(job=job, services=services)), lost)
    except JobCanceled:
        log.info("job %s stopped: it is no longer running", job_id)
        return
    except TaskError as exc:
        await jobs.fail(job_id, exc.code, exc.message)
        return
    except (UpstreamError, ModelUnavailable) as exc:
        # A provider failed or timed out, or a local model cannot run: the client may see that
        # (the message carries no secret), and the job fails like any clean failure, releasing
        # its reservation.
        log.warning("job %s (%s): %s", job_id, job.kind, exc.message)
        await jobs.fail(job_id, exc.code, exc.message)
        return
    except TimeoutError:
        if not scope.expired():
            await _internal_error(jobs, job)
            return
        log.warning("job %s (%s) exceeded %s s", job_id, job.kind, time_limit)
        await jobs.fail(job_id, "timeout", f"the job did not finish within {time_limit:g} seconds")
        return
    except Exception:
        await _internal_error(jobs, job)
        return

    if result is None:
        result = {}
    if not isinstance(result, dict):
        log.error("task %s returned %s, not a dict", job.kind, type(result).__name__)
        await jobs.fail(job_id, "internal_error", "the job produced no usable result")
        return
    if not await jobs.succeed(job_id, result):
        log.info("job %s finished after it was canceled; its result is dropped", job_id)


async def _until_lost(job_id: str, work: Awaitable[Any], lost: asyncio.Event) -> Any:
    """The task's result, or ``JobCanceled`` as soon as the job stops being this run's (canceled,
    or taken over by another worker after this one was thought dead): its work would be
    dropped anyway, and a job must not run in two places."""
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(lost.wait())
    try:
        await asyncio.wait((task, watch), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        raise
    finally:
        watch.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise JobCanceled(job_id)
    return task.result()


async def _internal_error(jobs: JobService, job: JobInfo) -> None:
    # The traceback goes to the log only: exception text can carry paths, URLs or provider
    # details that a client must not see.
    log.exception("job %s (%s) failed unexpectedly", job.id, job.kind)
    await jobs.fail(job.id, "internal_error", "the job failed because of an internal error")


async def resume_or_fail(jobs: JobService, job: JobInfo, max_attempts: int) -> bool:
    """Decide the fate of an unfinished job found after a restart; ``True``: run it (again)."""
    if job.status is JobStatus.QUEUED:
        return True
    if job.status is not JobStatus.RUNNING:
        return False
    if job.attempts < max_attempts:
        log.info("resuming interrupted job %s (attempt %d)", job.id, job.attempts + 1)
        return await jobs.requeue(job.id)
    log.warning("job %s was interrupted %d times; failing it", job.id, job.attempts)
    await jobs.fail(
        job.id, INTERRUPTED, "the job was interrupted by a restart and could not be resumed"
    )
    return False


class InProcessRunner:
    """Runs jobs as asyncio tasks in this process (embedded mode).

    It assumes this process alone runs the 'inprocess' jobs of its database (the embedded
    deployment: one gateway on one SQLite file), which is what lets ``start`` treat every
    'running' job it finds as interrupted.
    """

    name = "inprocess"

    def __init__(
        self,
        services: Any,
        registry: TaskRegistry,
        *,
        concurrency: int = 4,
        max_attempts: int = 2,
        job_timeout: float | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._services = services
        self._registry = registry
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._job_timeout = job_timeout
        self._semaphore: asyncio.Semaphore | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def pending(self) -> int:
        """Jobs submitted and not yet finished (running or waiting for a slot)."""
        return sum(not t.done() for t in self._tasks.values())

    async def start(self) -> None:
        self._semaphore = asyncio.Semaphore(self._concurrency)
        jobs: JobService = self._services.jobs
        for job in await jobs.unfinished(self.name):
            if await resume_or_fail(jobs, job, self._max_attempts):
                await self.submit(job.id)

    async def submit(self, job_id: str) -> None:
        """Schedule a queued job. Before ``start`` or after ``stop`` the job simply stays
        queued, and the next ``start`` picks it up."""
        if self._semaphore is None:
            log.warning("runner is not started; job %s stays queued until it is", job_id)
            return
        current = self._tasks.get(job_id)
        if current is not None and not current.done():
            return
        task = asyncio.create_task(self._run(job_id), name=f"storygate-job-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda t: self._forget(job_id, t))

    def _forget(self, job_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(job_id) is task:
            del self._tasks[job_id]

    async def _run(self, job_id: str) -> None:
        assert self._semaphore is not None
        async with self._semaphore:
            try:
                await execute_job(
                    self._services, self._registry, job_id, time_limit=self._job_timeout
                )
            except Exception:
                # Recording the outcome failed (e.g. the database went away); the job stays
                # as it was and the next start resumes or fails it.
                log.exception("runner could not complete job %s", job_id)

    async def stop(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Stop like a process would: running jobs are abandoned in 'running' for recovery."""
        self._semaphore = None
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            _, still = await asyncio.wait(tasks, timeout=timeout)
            if still:
                log.warning("%d job task(s) did not stop within %s s", len(still), timeout)


class ArqRunner:
    """Enqueues jobs for ``storygate worker`` processes (distributed mode).

    The arq job id is the job's id, so enqueuing a job twice (a retried request, a recovery
    sweep on every replica) queues it once.
    """

    name = "arq"

    def __init__(
        self,
        redis_settings: RedisSettings,
        *,
        queue_name: str,
        jobs: JobService | None = None,
    ) -> None:
        self._redis_settings = redis_settings
        self._queue_name = queue_name
        # With the job service, ``start`` re-enqueues work that never reached Redis or that
        # Redis lost; without it, the runner only enqueues.
        self._jobs = jobs
        self._pool: ArqRedis | None = None

    async def start(self) -> None:
        self._pool = await create_pool(self._redis_settings, default_queue_name=self._queue_name)
        if self._jobs is not None:
            await self.resubmit_unfinished(self._jobs)

    async def resubmit_unfinished(self, jobs: JobService) -> int:
        """Enqueue every unfinished arq job; a no-op for those arq still holds."""
        count = 0
        for job in await jobs.unfinished(self.name):
            # A 'running' job that arq no longer knows had its worker vanish: marking the
            # delivery as a retry makes run_job resume or fail it rather than skip it.
            retry = 2 if job.status is JobStatus.RUNNING else None
            if await self._enqueue(job.id, job_try=retry):
                count += 1
        return count

    async def submit(self, job_id: str) -> None:
        await self._enqueue(job_id)

    async def _enqueue(self, job_id: str, *, job_try: int | None = None) -> bool:
        if self._pool is None:
            raise RuntimeError("ArqRunner.start() must be awaited before submitting jobs")
        queued = await self._pool.enqueue_job(
            RUN_JOB, job_id, _job_id=job_id, _queue_name=self._queue_name, _job_try=job_try
        )
        if queued is None and await self._finished_in_arq(job_id):
            # arq keeps a finished run's result under the job id (keep_result) and refuses the
            # id while it does; a job the database says is open again (a resumed job) must run
            # once more, so the old result is dropped and the job queued.
            await self._pool.delete(result_key_prefix + job_id)
            queued = await self._pool.enqueue_job(
                RUN_JOB, job_id, _job_id=job_id, _queue_name=self._queue_name, _job_try=job_try
            )
        return queued is not None

    async def _finished_in_arq(self, job_id: str) -> bool:
        """arq holds a result of this id and no pending delivery of it, while the database (the
        record of truth, when this runner has it) says the job is queued again."""
        assert self._pool is not None
        if self._jobs is None or await self._pool.exists(job_key_prefix + job_id):
            return False
        if not await self._pool.exists(result_key_prefix + job_id):
            return False
        try:
            job = await self._jobs.get(job_id)
        except NotFound:
            return False
        return job.status is JobStatus.QUEUED

    async def resubmit_queued(self, jobs: JobService, older_than: datetime) -> int:
        """Enqueue again the queued jobs arq should hold by now: a Redis that restarted empty
        lost its queue, and those jobs would otherwise wait for a gateway's restart. Only queued
        jobs: a running one is its worker's until its heartbeats stop."""
        count = 0
        for job in await jobs.unfinished(self.name):
            updated = as_utc(job.updated_at)
            if job.status is JobStatus.QUEUED and updated is not None and updated < older_than:
                if await self._enqueue(job.id):
                    count += 1
        return count

    async def redeliver(self, job_id: str) -> None:
        """Hand a job taken from a dead worker to the live ones now.

        arq keeps the dead worker's delivery marked in progress until its own timeout (an hour);
        dropping that mark lets the next polling worker take the job, as a retry, at once. A job
        arq no longer holds at all is enqueued afresh.
        """
        if self._pool is None:
            raise RuntimeError("ArqRunner.start() must be awaited before submitting jobs")
        await self._pool.delete(in_progress_key_prefix + job_id)
        if not await self._pool.exists(job_key_prefix + job_id):
            await self._enqueue(job_id, job_try=2)

    async def stop(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None


async def run_job(ctx: dict[str, Any], job_id: str) -> None:
    """The arq function. ``ctx['services']`` and ``ctx['registry']`` come from on_startup."""
    services = ctx["services"]
    jobs: JobService = services.jobs
    max_attempts = int(ctx.get("max_attempts", 2))
    job_try = int(ctx.get("job_try", 1))
    if job_try > 1:
        # arq runs a job again only after the previous delivery's worker stopped or died.
        try:
            job = await jobs.get(job_id)
        except NotFound:
            log.warning("arq delivered unknown job %s", job_id)
            return
        if job_try > max_attempts:
            # arq delivers no further try, so finish the job here rather than strand it.
            if not job.final:
                await jobs.fail(
                    job_id, INTERRUPTED, "the job was interrupted too often and was not resumed"
                )
            return
        if not await resume_or_fail(jobs, job, max_attempts):
            return
    await execute_job(services, ctx["registry"], job_id, time_limit=ctx.get("job_timeout"))


def worker_settings(
    *,
    redis_settings: RedisSettings,
    queue_name: str,
    on_startup: StartupShutdown,
    on_shutdown: StartupShutdown,
    max_jobs: int,
    max_tries: int,
    job_timeout: float = 3600.0,
    keep_result: float = 86400.0,
) -> dict[str, Any]:
    """Keyword arguments for ``arq.worker.Worker`` (or ``run_worker``/``create_worker``).

    ``max_tries`` counts runs of one job, as ``InProcessRunner``'s ``max_attempts`` does. arq
    is given one more try than that so the last delivery reaches ``run_job``, which fails the
    job and releases its reservation instead of arq dropping it. ``keep_result`` is how long
    arq remembers a finished job id, i.e. how long a duplicate enqueue stays a no-op.
    """
    if max_tries < 1:
        raise ValueError("max_tries must be at least 1")
    arq_timeout = job_timeout + _ARQ_TIMEOUT_GRACE_S
    return {
        "functions": [func(run_job, name=RUN_JOB, max_tries=max_tries + 1, timeout=arq_timeout)],
        "redis_settings": redis_settings,
        "queue_name": queue_name,
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "max_jobs": max_jobs,
        "max_tries": max_tries + 1,
        "job_timeout": arq_timeout,
        "keep_result": keep_result,
        "retry_jobs": True,
        "health_check_key": f"{queue_name}:health-check",
        "ctx": {"max_attempts": max_tries, "job_timeout": job_timeout},
    }
