"""Model lanes: where a process's local models are loaded and run, one call at a time.

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
a process the same lane, and they take turns; each turn has every core to itself.

A lane is the interface (``ModelLane``); this module has the in-process one (``ModelThread``)
and ``model_process.ModelProcess`` runs the models in a child process, so that a crash of a
model library fails one call instead of the server. A backend asks a lane for
``target(models, *args)``, where ``target`` is a module-level function (it must pickle by
reference) and ``models`` the lane's cache of loaded models, living where the lane runs them.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["ModelLane", "ModelThread", "Models"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class Models:
    """The models one lane has loaded, by key (a model's whole configuration): each loaded
    once, on first use, by the lane's thread, and closed with the lane."""

    def __init__(self) -> None:
        self._loaded: dict[Hashable, Any] = {}

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        if key not in self._loaded:
            self._loaded[key] = load()
        model: T = self._loaded[key]
        return model

    def peek(self, key: Hashable) -> Any | None:
        """The model loaded under ``key``, or None; loads nothing."""
        return self._loaded.get(key)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._loaded

    def close(self) -> None:
        """Close every model that can be closed (llama.cpp frees its memory only then)."""
        loaded, self._loaded = self._loaded, {}
        for model in loaded.values():
            close = getattr(model, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:
                    log.warning("a local model failed to close", exc_info=True)


class ModelLane(ABC):
    """One lane of model calls: run in order, one at a time, on one thread of this process.

    ``run`` hands a blocking function to that thread; ``invoke``, called from such a function,
    runs ``target(models, *args)`` wherever the lane keeps its models; ``call`` is both at once.
    A call whose awaiting caller is cancelled still runs to its end, so the next call can never
    overlap it or receive its answer. Arguments and results of ``invoke`` must pickle.
    """

    #: Whether a crash inside a model stays out of this process.
    isolated: bool = False

    @abstractmethod
    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """``func(*args)`` on the lane's thread, after every call queued before it."""

    @abstractmethod
    def invoke(self, target: Callable[..., T], *args: Any) -> T:
        """``target(models, *args)`` where the models live; blocking, from the lane's thread."""

    async def call(self, target: Callable[..., T], *args: Any) -> T:
        return await self.run(self.invoke, target, *args)

    @abstractmethod
    def close(self) -> None:
        """Stop the lane and free its models; a later call is refused or starts afresh."""


class ModelThread(ModelLane):
    """The models live in this process, run on one thread started at the first call.

    ``models`` lets a second lane run the same loaded models on a thread of its own (the
    diffusers GPU thread). The thread and the models go with the lane, or at interpreter exit.
    """

    isolated = False

    def __init__(self, name: str, *, models: Models | None = None) -> None:
        self.name = name
        self.models = models if models is not None else Models()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        # A lane that shares another's models leaves closing them to the owner.
        owned = self.models if models is None else None
        self._finalizer = weakref.finalize(self, _shut, self._executor, owned)

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    def invoke(self, target: Callable[..., T], *args: Any) -> T:
        return target(self.models, *args)

    def close(self) -> None:
        self._finalizer()


def _shut(executor: ThreadPoolExecutor, models: Models | None) -> None:
    """Close the models on the lane's thread after the calls already queued, then end it."""
    if models is not None:
        try:
            executor.submit(models.close)
        except RuntimeError:  # interpreter exit: the thread has already been joined
            models.close()
    executor.shutdown(wait=False)
