"""One long-lived thread per loaded model, which every call into that model runs on.

llama.cpp (ggml) and torch parallelise with OpenMP, and an OpenMP runtime keeps a team of
worker threads for each thread that calls into it. Calls handed to the event loop's shared pool
(``asyncio.to_thread``) land on whichever of its threads is free, so every pool thread grows a
team of its own and the teams contend for the same cores: llama.cpp wrote about 40% fewer
tokens a second that way on this project's two-core machine than from a single thread. So a
model is loaded and run on one long-lived thread, which also serialises its calls: neither
library may be entered from two threads at once.

Two models on separate threads are no better: once torch had run on one thread, llama.cpp on
another wrote about a third fewer tokens a second here (the process has one OpenMP runtime,
and its teams get in each other's way). So the backend registry gives every CPU-bound model of
a process the same thread, and they take turns; each turn has every core to itself.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["ModelThread"]

T = TypeVar("T")


class ModelThread:
    """Runs callables one at a time, in order, on one thread, started at the first call.

    A call whose awaiting caller is cancelled still runs to its end on the thread, so the next
    call can never overlap it. The thread ends with its owner, or at interpreter exit.
    """

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        weakref.finalize(self, self._executor.shutdown, wait=False)

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)
