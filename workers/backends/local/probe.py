"""A start-up check that llama.cpp can evaluate a model on this CPU, run in a child process.

A llama.cpp built for the build host's CPU (``GGML_NATIVE``) can hold instructions this CPU
cannot execute; some Xeon VMs advertise AMX without enabling it, and the first evaluation then
dies with SIGILL (``tileloadd``). A signal cannot be caught in Python, so in-process it would
take the whole gateway down with every request in flight. The probe makes that first
evaluation in a throwaway interpreter instead and turns its death into ``ModelUnavailable``
(``text_unavailable``): one line saying what happened and how to fix it, which the CLI prints
as is. (Not the registry's ``BackendUnavailable``: importing the registry would reach the hosted
SDKs, which local backends may not.)

pip caches built wheels by the sdist URL alone, so a portable reinstall must bypass the cache;
the fix in the message says so. ``llama_cpp`` is imported only by the child.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from gateway.core.errors import ModelUnavailable

__all__ = ["PORTABLE_REINSTALL", "PROBE_CODE", "LlamaProbe", "probe_environment", "probe_llama"]

TEXT_UNAVAILABLE = "text_unavailable"  # the code LlamaWriter refuses calls with

PORTABLE_REINSTALL = (
    'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" '
    "pip install --no-cache-dir --force-reinstall llama-cpp-python"
)

# Run as ``python -c PROBE_CODE MODEL``. An 8-token batch and then one more token: ggml picks
# its matrix kernels by batch size (AMX tiles for several rows, VNNI for one), and a load alone
# runs none of them. The prompt is plain text so any GGUF's vocabulary has it. One thread runs
# the same kernels, and the probe stays out of the way on a machine that is already busy.
PROBE_CODE = """\
import sys
from llama_cpp import Llama

llm = Llama(model_path=sys.argv[1], n_ctx=64, n_batch=16, n_threads=1, verbose=False)
tokens = llm.tokenize(b"Once upon a time a small fox found a red kite by the river, and", True)
tokens = (tokens * 8)[:8]
llm.eval(tokens)
llm.eval(tokens[-1:])
llm.close()
"""

# What ``probe_environment`` keeps: how to find Python, its packages and shared libraries, and
# llama.cpp's own knobs (``LLAMA_CPP_LIB_PATH`` picks the very library the probe must test).
# Keys, URLs and every STORYGATE_* setting stay behind.
KEPT_VARIABLES = frozenset(
    {
        "PATH",
        "HOME",
        "TMPDIR",
        "TEMP",
        "TMP",
        "LANG",
        "LD_LIBRARY_PATH",
        "DYLD_LIBRARY_PATH",
        "DYLD_FALLBACK_LIBRARY_PATH",
        "PYTHONPATH",
        "PYTHONHOME",
        "VIRTUAL_ENV",
        "SYSTEMROOT",
        "WINDIR",
        "CUDA_VISIBLE_DEVICES",
        "HIP_VISIBLE_DEVICES",
    }
)
KEPT_PREFIXES = ("LC_", "GGML_", "LLAMA_", "OMP_")
# Windows reports an illegal instruction as this exit status rather than a signal.
WINDOWS_ILLEGAL_INSTRUCTION = 0xC000001D
STDERR_CHARS = 200


def probe_environment(source: Mapping[str, str]) -> dict[str, str]:
    """The part of an environment a probe child needs, for callers that want to pass no more.

    Only ``gateway.settings`` reads this process's environment, so the caller hands it in.
    """
    return {k: v for k, v in source.items() if k in KEPT_VARIABLES or k.startswith(KEPT_PREFIXES)}


def _last_line(stderr: str) -> str:
    """The child's last non-empty stderr line, printable and short (a traceback's verdict)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return ""
    line = "".join(ch if ch.isprintable() else " " for ch in lines[-1])
    return line if len(line) <= STDERR_CHARS else line[: STDERR_CHARS - 3] + "..."


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _verdict(model: str, returncode: int, stderr: str) -> str:
    """The one-line failure for a finished child, or "" when it passed."""
    if returncode == 0:
        return ""
    last = _last_line(stderr)
    said = f": {last}" if last else ""
    if returncode == -signal.SIGILL or returncode == WINDOWS_ILLEGAL_INSTRUCTION:
        return (
            "llama.cpp in this environment was built for instructions this CPU cannot run "
            f"(SIGILL); reinstall it portably: {PORTABLE_REINSTALL}"
        )
    if returncode < 0:
        name = _signal_name(-returncode)
        hint = " (out of memory?)" if -returncode == getattr(signal, "SIGKILL", 9) else ""
        return (
            f"llama.cpp died with {name}{hint} evaluating {model} in a start-up probe{said}; "
            f"if it persists, reinstall it portably: {PORTABLE_REINSTALL}"
        )
    return f"llama.cpp could not evaluate {model} in a start-up probe (exit {returncode}){said}"


def _run(
    model_path: str,
    timeout: float,
    command: Sequence[str] | None,
    env: Mapping[str, str] | None,
) -> tuple[bool, str]:
    """(whether the verdict can be remembered, the failure or "") for one child run."""
    model = Path(model_path).name or model_path
    argv = list(command) if command is not None else [sys.executable, "-c", PROBE_CODE, model_path]
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter and code, no shell
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            env=env,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        # A busy machine can be slow once; the next probe may pass, so this is not remembered.
        return False, (
            f"llama.cpp did not finish evaluating {model} within {timeout:g} s in a start-up "
            "probe; the machine may be overloaded or the model too large for it"
        )
    except OSError as exc:
        return True, f"the llama.cpp start-up probe could not start: {exc.strerror or exc}"
    return True, _verdict(model, done.returncode, done.stderr)


def probe_llama(
    model_path: str,
    *,
    timeout: float = 60.0,
    command: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Evaluate ``model_path`` once in a child process; raise ``ModelUnavailable`` if it fails.

    ``env`` is the child's whole environment (``probe_environment`` trims one down); None
    inherits this process's, so the child loads exactly the library this process would.
    ``command`` replaces the child's command line (tests use it to stand in for a crash). The
    real probe takes about a second with the default SmolLM2 model.
    """
    _, failure = _run(model_path, timeout, command, env)
    if failure:
        raise ModelUnavailable(TEXT_UNAVAILABLE, failure)


class LlamaProbe:
    """``probe_llama`` that remembers each model's verdict, so a process probes a model once.

    A pass or a crash is kept (the installed library does not change under a running process);
    a timeout is not, so a later call tries again.
    """

    def __init__(
        self,
        *,
        timeout: float = 60.0,
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.timeout = timeout
        self.command = tuple(command) if command is not None else None
        self.env = dict(env) if env is not None else None
        self._verdicts: dict[str, str] = {}
        self.runs = 0  # how many children were started

    def __call__(self, model_path: str) -> None:
        key = str(Path(model_path).expanduser().resolve())
        if key not in self._verdicts:
            self.runs += 1
            keep, failure = _run(model_path, self.timeout, self.command, self.env)
            if not keep:
                raise ModelUnavailable(TEXT_UNAVAILABLE, failure)
            self._verdicts[key] = failure
        if self._verdicts[key]:
            raise ModelUnavailable(TEXT_UNAVAILABLE, self._verdicts[key])
