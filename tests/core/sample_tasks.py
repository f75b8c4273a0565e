"""A tiny task module for the runner tests, loaded through ``TaskRegistry.load_modules``.

The blocking task's gate lives on the test's services object (not in this module), so every
test gets its own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from gateway.core.jobs import JobService
from workers.tasks import TaskContext, TaskError, TaskRegistry


@dataclass
class Gate:
    """Holds ``block`` tasks until released and counts how many run at once."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    active: int = 0
    peak: int = 0
    entered: list[str] = field(default_factory=list)


@dataclass
class Services:
    jobs: JobService
    gate: Gate = field(default_factory=Gate)


async def steps(ctx: TaskContext) -> dict[str, Any]:
    count = int(ctx.job.params.get("steps", 3))
    for i in range(count):
        await ctx.progress(
            pct=int((i + 1) * 100 / (count + 1)),
            step=f"page {i + 1}",
            message=f"writing page {i + 1} of {count}",
            data={"pages_written": i + 1},
        )
        await asyncio.sleep(0)
    return {"pages": count, "title": ctx.job.params.get("title", "untitled")}


async def refuse(ctx: TaskContext) -> dict[str, Any]:
    await ctx.progress(pct=5, step="checking")
    raise TaskError("content_rejected", "the prompt was rejected")


async def crash(ctx: TaskContext) -> dict[str, Any]:
    raise RuntimeError("disk path /srv/secret/key.txt unreadable")


async def block(ctx: TaskContext) -> dict[str, Any]:
    gate: Gate = ctx.services.gate
    gate.active += 1
    gate.peak = max(gate.peak, gate.active)
    gate.entered.append(ctx.job.id)
    try:
        await ctx.progress(pct=10, step="waiting")
        await gate.release.wait()
        await ctx.progress(pct=90, step="released")
    finally:
        gate.active -= 1
    return {"released": True, "attempt": ctx.job.attempts}


def register(registry: TaskRegistry) -> None:
    registry.register("steps", steps)
    registry.register("refuse", refuse)
    registry.register("crash", crash)
    registry.register("block", block)
