"""A test backend that can kill itself: a model call that answers, fails, hangs or dies by a
signal, as llama.cpp built for another CPU dies with SIGILL.

Loaded through STORYGATE_TASK_MODULES (``register``), it adds the job kind ``test.model``,
whose task makes one call of ``act`` on the process's model lane (``backends.models``): in the
model process when the lane isolates models, so the signal kills that process and not the
gateway or worker running the job. A crash asked of a lane that does not isolate (models on a
thread of the server) is refused: it would kill the server. ``params["after"]`` names jobs
this one waits for before its call, so a test can order calls on the one lane.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import threading
import time
from pathlib import Path
from typing import Any

from gateway.core.errors import ModelUnavailable
from workers.backends.model_thread import Models
from workers.tasks import TaskContext, TaskError

# How long a job waits for the jobs it comes after, in seconds.
AFTER_S = 60.0
# What ``act`` does that ends the process it runs in.
SIGNALS = {"segv": signal.SIGSEGV, "ill": signal.SIGILL, "abort": signal.SIGABRT}
CRASHES = frozenset({*SIGNALS, "hang"})


def act(models: Models, action: str, value: Any = None) -> dict[str, Any]:
    """One model call: ``answer`` returns where it ran and how often its "model" was loaded;
    ``fail`` raises the error a backend raises for a model that cannot run; ``segv``, ``ill``
    and ``abort`` kill this process with that signal; ``hang`` never returns (touching the
    file ``value`` names, if any, first)."""
    loads = models.get("loads", lambda: [0])
    if action in SIGNALS:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a test leaves no core file behind
        os.kill(os.getpid(), SIGNALS[action])
    if action == "hang":
        if value:  # a file that says the call is under way
            Path(str(value)).touch()
        threading.Event().wait()
    if action == "fail":
        raise ModelUnavailable("test_model_failed", f"the test model refused {value!r}")
    if action == "load":
        loads[0] += 1
    return {"pid": os.getpid(), "value": value, "loads": loads[0]}


async def model(ctx: TaskContext) -> dict[str, Any]:
    action = str(ctx.job.params.get("action", "answer"))
    lane = ctx.services.backends.models
    if action in CRASHES and not lane.isolated:
        raise TaskError("test_refused", f"{action!r} would stop this server: models run in it")
    for job_id in ctx.job.params.get("after") or ():
        await _finished(ctx, str(job_id))
    await ctx.progress(pct=10, step="modelling", message=action)
    answer: dict[str, Any] = await lane.call(act, action, ctx.job.params.get("value"))
    return {"action": action, **answer}


async def _finished(ctx: TaskContext, job_id: str) -> None:
    deadline = time.monotonic() + AFTER_S
    while not (await ctx.services.jobs.get(job_id)).final:
        if time.monotonic() > deadline:
            raise TaskError("test_timeout", f"job {job_id} did not finish within {AFTER_S:g} s")
        await asyncio.sleep(0.05)


def register(registry: Any) -> None:
    registry.register("test.model", model)
