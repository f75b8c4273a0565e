"""Job tasks for tests that need a task known to a separate worker process.

Loaded through STORYGATE_TASK_MODULES, the plugin mechanism operators use for their own tasks.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any


async def walk(ctx: Any) -> dict[str, Any]:
    """Reports progress in steps, optionally pausing, and returns what it was asked to echo."""
    steps = int(ctx.job.params.get("steps", 3))
    pause = float(ctx.job.params.get("pause", 0.05))
    for i in range(1, steps + 1):
        await ctx.progress(pct=int(i * 100 / (steps + 1)), step="walking", message=f"step {i}")
        await asyncio.sleep(pause)
    return {"echo": ctx.job.params.get("echo"), "steps": steps}


async def hang(ctx: Any) -> dict[str, Any]:
    """Blocks until the process stops: the job it runs is interrupted."""
    await ctx.progress(pct=10, step="hanging", message="waiting forever")
    await asyncio.Event().wait()
    return {}


async def wait_file(ctx: Any) -> dict[str, Any]:
    """Runs until the file named in ``params["path"]`` exists: a test decides when it ends, from
    this process or another."""
    path = Path(str(ctx.job.params["path"]))
    await ctx.progress(pct=10, step="waiting", message=str(path.name))
    while not path.exists():
        await asyncio.sleep(0.05)
    return {"waited": path.name}


def register(registry: Any) -> None:
    registry.register("test.wait_file", wait_file)
    registry.register("test.walk", walk)
    registry.register("test.hang", hang)
