"""Task functions and the registry that maps a job's kind to one.

A task is a plain ``async def task(ctx: TaskContext) -> dict`` that returns the job's result.
Tasks never touch the jobs table or the runner: they report through ``ctx.progress`` and end by
returning (success), raising ``TaskError`` (a clean, user-facing failure) or raising anything
else (an internal error). The same function therefore runs unchanged in the embedded runner
and in an arq worker.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gateway.core.jobs import JobInfo


class TaskError(Exception):
    """A failure the client may see verbatim: ``code`` lands in the job's ``error_code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class JobCanceled(Exception):
    """Raised inside a task by ``ctx.progress`` once its job is no longer running.

    The job was canceled (or failed by someone else) while the task worked; the task should
    stop. It is an ``Exception`` so ordinary clean-up runs, and the runner treats it as a quiet
    end: the job's final state was already written by whoever stopped it.
    """

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} is no longer running")
        self.job_id = job_id


@dataclass(slots=True)
class TaskContext:
    job: JobInfo
    # The wiring's service bundle: at least ``.jobs``; pipelines also use ``.storage``,
    # ``.ledger`` and ``.backends``. Typed loosely so workers stay independent of the wiring.
    services: Any

    async def progress(
        self,
        pct: int | None = None,
        step: str | None = None,
        message: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        applied = await self.services.jobs.progress(
            self.job.id, pct=pct, step=step, message=message, data=data
        )
        if not applied:
            raise JobCanceled(self.job.id)


TaskFn = Callable[[TaskContext], Awaitable[dict[str, Any]]]


class TaskRegistry:
    """Kind -> task function. One per process, built by the wiring; never module-level state."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskFn] = {}
        self._lazy: dict[str, str] = {}

    def register(self, kind: str, fn: TaskFn) -> None:
        if kind in self._lazy:
            raise ValueError(f"task kind {kind!r} is already registered")
        existing = self._tasks.get(kind)
        if existing is not None and existing is not fn:
            raise ValueError(f"task kind {kind!r} is already registered")
        self._tasks[kind] = fn

    def register_lazy(self, kind: str, target: str) -> None:
        """Register ``"package.module:function"``, imported when a job of ``kind`` first runs.

        The pipelines pull in PDF, audio and video libraries; a gateway that only enqueues (or
        has not run a job yet) should not carry them: an idle gateway stays small.
        """
        if kind in self._tasks or kind in self._lazy:
            raise ValueError(f"task kind {kind!r} is already registered")
        self._lazy[kind] = target

    def get(self, kind: str) -> TaskFn:
        target = self._lazy.get(kind)
        if target is not None:
            module, _, name = target.partition(":")
            self._tasks[kind] = getattr(importlib.import_module(module), name)
            del self._lazy[kind]
        try:
            return self._tasks[kind]
        except KeyError:
            known = ", ".join(self.kinds()) or "none"
            raise KeyError(f"no task registered for kind {kind!r} (registered: {known})") from None

    def preload(self) -> None:
        """Import every lazily registered task now (a worker, before its first job)."""
        for kind in list(self._lazy):
            self.get(kind)

    def kinds(self) -> list[str]:
        return sorted([*self._tasks, *self._lazy])

    def __contains__(self, kind: object) -> bool:
        return kind in self._tasks or kind in self._lazy

    def load_modules(self, names: Iterable[str]) -> None:
        """Import each module and let it register its tasks through ``register(registry)``."""
        for name in names:
            module = importlib.import_module(name)
            hook = getattr(module, "register", None)
            if not callable(hook):
                raise TypeError(f"task module {name!r} has no register(registry) function")
            hook(self)
