"""A model lane whose models live in a child process, so a model crash fails one call, not the
server.

llama.cpp, torch and onnxruntime are native code: an illegal instruction (a llama.cpp built for
AMX on a VM that does not enable it dies with SIGILL at its first evaluation), a segfault, an
abort or the kernel's out-of-memory killer ends the whole process that loaded them — in embedded
mode the gateway, with every in-flight request of every family. Run in a child, the same fault
ends the child: the call that was in it fails with ``ModelCrashed`` (its job fails and releases
its credits like any model failure), the next call starts a fresh child, and the gateway or
``storygate worker`` that owns the lane keeps serving. A call that runs past
``model_call_seconds`` is treated the same way: the child is killed, since a hung native call
cannot be interrupted from Python.

The child is started on the first call, never before, so an idle gateway loads no model and
stays small; the models load inside the child. It is started with ``spawn`` (forking a process
that runs an event loop and threads copies locks held by other threads), which imports the
owner's main module again in the child: like every storygate entry point, a script that owns a
lane must keep its work under ``if __name__ == "__main__"``. Calls are serialised
on one parent thread that does the pipe I/O, off the event loop; a cancelled caller's call runs
to its end there, so the next caller never reads the previous one's answer. The child ignores
SIGINT (its owner decides when to stop), leaves when its owner closes the pipe, and is killed
by the kernel when its owner dies (``PR_SET_PDEATHSIG`` on Linux), so no child outlives a
worker that was sent SIGTERM or SIGKILL.

One child holds every local model of its owner, for the reason ``model_thread`` gives. The cost
is a pickled round trip per call: about 0.2 ms against 0.06 ms on a thread, and 2.6 ms with a
megabyte each way (a page's picture or speech), measured on this project's two-core machine;
nothing beside a model call that takes a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import traceback
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from gateway.core.errors import ModelCrashed
from workers.backends.model_thread import ModelLane, Models

__all__ = ["ModelProcess", "describe_exit"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a new child may take to start (an interpreter and this module's imports) before it
# is given up as broken, in seconds; not counted in a call's own time.
START_S = 60.0
# How long a stopping child may take to close its models before it is killed, in seconds.
STOP_GRACE_S = 2.0
# How long a dead child's exit status is waited for after its pipe closed, in seconds.
REAP_S = 5.0
_PR_SET_PDEATHSIG = 1


@dataclass(slots=True)
class _Child:
    process: BaseProcess
    conn: Connection


def describe_exit(exitcode: int | None) -> str:
    """How a child ended, for people: the signal's name where a signal ended it."""
    if exitcode is None:
        return "an unknown cause"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if -exitcode == signal.SIGKILL:
            name += " (killed from outside: the system may have run out of memory)"
        return name
    return f"exit status {exitcode}"


class ModelProcess(ModelLane):
    """Runs ``target(models, *args)`` in a child process started at the first call and started
    again after it dies; ``call_seconds`` bounds one call (the model's load included)."""

    isolated = True

    def __init__(self, name: str = "models", *, call_seconds: float = 600.0) -> None:
        if call_seconds <= 0:
            raise ValueError("call_seconds must be positive")
        self.name = name
        self.call_seconds = call_seconds
        self.starts = 0  # children started so far
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._lock = threading.Lock()
        # The running child sits in a one-item list that the finalizer can reach without the
        # lane: it is stopped when the lane goes, or at interpreter exit.
        self._slot: list[_Child | None] = [None]
        self._finalizer = weakref.finalize(self, _shut, self._executor, self._slot)

    @property
    def pid(self) -> int | None:
        """The running child's process id; None before the first call and after a crash."""
        child = self._slot[0]
        return child.process.pid if child is not None else None

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    def invoke(self, target: Callable[..., T], *args: Any) -> T:
        with self._lock:
            if not self._finalizer.alive:
                raise RuntimeError(f"model lane {self.name!r} is closed")
            child = self._live_child()
            try:
                # Pickled before a byte is written: an argument that cannot travel raises here
                # and leaves the pipe clean.
                child.conn.send((target, args))
            except (BrokenPipeError, ConnectionError, EOFError):
                raise self._crashed(child) from None
            ready = wait([child.conn, child.process.sentinel], timeout=self.call_seconds)
            if not ready:
                raise self._hung(child, self.call_seconds, "answer")
            try:
                if not child.conn.poll():
                    raise EOFError
                reply = child.conn.recv()
            except (EOFError, OSError):
                raise self._crashed(child) from None
        status, value = reply
        if status == "ok":
            result: T = value
            return result
        raise _rebuilt(*value)

    def close(self) -> None:
        self._finalizer()

    # -- the child's life ---------------------------------------------------------------------

    def _live_child(self) -> _Child:
        child = self._slot[0]
        if child is not None and child.process.is_alive():
            return child
        if child is not None:  # died between calls: no call to fail, only a fresh start
            child.process.join(REAP_S)
            log.warning(
                "local model process stopped with %s while idle; a fresh one starts now",
                describe_exit(child.process.exitcode),
                extra={"pid": child.process.pid, "lane": self.name},
            )
            child.conn.close()
        return self._start()

    def _start(self) -> _Child:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(
            target=_serve,
            args=(theirs, os.getpid()),
            name=f"storygate-{self.name}",
            daemon=True,
        )
        process.start()
        theirs.close()
        child = _Child(process, ours)
        self.starts += 1
        # The child says when it is ready, so a slow start (a loaded machine, a cold disk) is
        # not taken for a hung call.
        try:
            if not wait([ours, process.sentinel], timeout=START_S):
                raise self._hung(child, START_S, "start")
            if not ours.poll() or ours.recv() != "ready":
                raise EOFError
        except (EOFError, OSError):
            raise self._crashed(child) from None
        self._slot[0] = child
        log.info("local model process started", extra={"pid": process.pid, "lane": self.name})
        return child

    def _crashed(self, child: _Child) -> ModelCrashed:
        child.process.join(REAP_S)
        if child.process.is_alive():  # its pipe broke but it lives on: it cannot be trusted
            child.process.kill()
            child.process.join(REAP_S)
        why = describe_exit(child.process.exitcode)
        self._forget(child)
        log.warning(
            "local model process stopped with %s during a call; a fresh one starts at the next",
            why,
            extra={"pid": child.process.pid, "lane": self.name},
        )
        return ModelCrashed(
            f"the local model process stopped with {why} while serving this request; "
            "it is restarted for the next one"
        )

    def _hung(self, child: _Child, seconds: float, what: str) -> ModelCrashed:
        child.process.kill()
        child.process.join(REAP_S)
        self._forget(child)
        log.warning(
            "local model process did not %s within %g s and was killed; a fresh one starts at "
            "the next call",
            what,
            seconds,
            extra={"pid": child.process.pid, "lane": self.name},
        )
        return ModelCrashed(
            f"the local model did not {what} within {seconds:g} s; its process was stopped "
            "and is restarted for the next request"
        )

    def _forget(self, child: _Child) -> None:
        child.conn.close()
        if self._slot[0] is child:
            self._slot[0] = None


def _shut(executor: ThreadPoolExecutor, slot: list[_Child | None]) -> None:
    child, slot[0] = slot[0], None
    if child is not None:
        _stop(child)
    executor.shutdown(wait=False)


def _stop(child: _Child) -> None:
    """Close the pipe (an idle child closes its models and leaves), then kill what stays."""
    with contextlib.suppress(OSError):
        child.conn.close()
    child.process.join(STOP_GRACE_S)
    if child.process.is_alive():
        child.process.kill()
        child.process.join(REAP_S)


# -- moving an exception between the processes -------------------------------------------------


def _error_reply(exc: Exception) -> tuple[Any, ...]:
    """The exception as (type, args, attributes, traceback), rebuilt without calling its
    ``__init__`` (whose signature need not match its ``args``: ``ModelUnavailable``'s does not).
    A type or attribute that cannot be pickled comes back as a ``RuntimeError`` naming it."""
    trace = traceback.format_exc()
    reply: tuple[Any, ...] = (type(exc), exc.args, dict(vars(exc)), trace)
    try:
        pickle.dumps(reply)
    except Exception:
        reply = (None, (f"{type(exc).__qualname__}: {exc}",), {}, trace)
    return reply


def _rebuilt(
    cls: type[BaseException] | None, args: tuple[Any, ...], state: dict[str, Any], trace: str
) -> BaseException:
    exc: BaseException
    try:
        if cls is None or not issubclass(cls, Exception):
            raise TypeError(cls)
        exc = cls.__new__(cls)
        exc.args = args
        exc.__dict__.update(state)
    except Exception:
        exc = RuntimeError(*args)
    exc.add_note(f"raised in the local model process:\n{trace}")
    return exc


# -- the child ---------------------------------------------------------------------------------


def _serve(conn: Connection, owner: int) -> None:
    """The child's loop: one call at a time until the owner closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with(owner)
    models = Models()
    conn.send("ready")
    try:
        while True:
            try:
                target, args = conn.recv()
            except EOFError:
                return
            except Exception as exc:  # a request that does not unpickle here
                conn.send(("error", _error_reply(exc)))
                continue
            try:
                reply: tuple[str, Any] = ("ok", target(models, *args))
            except Exception as exc:
                reply = ("error", _error_reply(exc))
            try:
                conn.send(reply)
            except (BrokenPipeError, ConnectionError):
                return  # the owner is gone
            except Exception as exc:  # a result that does not pickle
                conn.send(("error", _error_reply(exc)))
    finally:
        models.close()


def _die_with(owner: int) -> None:
    """Ask the kernel to kill this process when its owner dies (Linux), and leave now if the
    owner died before the request was made."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != owner:
        os._exit(0)
