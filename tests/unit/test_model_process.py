"""Model lanes: the in-process thread and the model process answer alike; only the process
survives a model that kills itself, and is started again for the next call."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.core.errors import ModelCrashed, ModelUnavailable
from gateway.settings import Settings
from tests.conftest import need
from tests.support.crashy import act
from workers.backends.base import ImagePrompt
from workers.backends.model_process import ModelProcess, describe_exit
from workers.backends.model_thread import ModelLane, Models, ModelThread
from workers.backends.registry import build_backends


def children() -> set[int]:
    """This process's child processes, from /proc (no helper library to trust)."""
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(pid) for pid in text)
    return found


def gone(pid: int) -> bool:
    """Ended and reaped: no zombie left behind."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def ended(pid: int) -> bool:
    """Ended, reaped or not."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.fixture(params=["thread", "process"])
def lane(request: pytest.FixtureRequest) -> Iterator[ModelLane]:
    made: ModelLane = ModelThread("t-lane") if request.param == "thread" else ModelProcess("t-lane")
    yield made
    made.close()


@pytest.fixture
def process() -> Iterator[ModelProcess]:
    made = ModelProcess("t-proc", call_seconds=30)
    yield made
    made.close()


def slow_echo(models: Models, value: str, seconds: float) -> str:
    time.sleep(seconds)
    return value


def unpicklable(models: Models) -> object:
    return lambda: None


def raise_value_error(models: Models, text: str) -> None:
    raise ValueError(text)


# -- both lanes -------------------------------------------------------------------------------


async def test_both_lanes_answer_and_keep_their_models(lane: ModelLane) -> None:
    first = await lane.call(act, "load", 7)
    second = await lane.call(act, "load", 8)
    assert (first["value"], second["value"]) == (7, 8)
    assert (first["loads"], second["loads"]) == (1, 2)  # one cache, kept between calls
    assert first["pid"] == second["pid"]
    assert (first["pid"] != os.getpid()) is lane.isolated


async def test_an_ordinary_error_comes_back_as_itself(lane: ModelLane) -> None:
    with pytest.raises(ModelUnavailable) as raised:
        await lane.call(act, "fail", "page 3")
    assert not isinstance(raised.value, ModelCrashed)
    assert raised.value.code == "test_model_failed"
    assert raised.value.message == "the test model refused 'page 3'"
    with pytest.raises(ValueError, match="bad input"):
        await lane.call(raise_value_error, "bad input")
    assert (await lane.call(act, "answer", 1))["value"] == 1  # and the lane goes on


async def test_a_cancelled_caller_does_not_hand_its_answer_to_the_next(lane: ModelLane) -> None:
    await lane.call(act, "answer")  # started: only the calls below are timed
    first = asyncio.create_task(lane.call(slow_echo, "first", 0.4))
    await asyncio.sleep(0.1)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await lane.call(slow_echo, "second", 0) == "second"
    assert await lane.call(slow_echo, "third", 0) == "third"


async def test_a_result_that_cannot_travel_is_an_error_not_a_crash(lane: ModelLane) -> None:
    if lane.isolated:
        with pytest.raises(Exception) as raised:
            await lane.call(unpicklable)
        assert not isinstance(raised.value, ModelCrashed)
    else:
        assert callable(await lane.call(unpicklable))  # nothing travels in-process
    assert (await lane.call(act, "answer", 2))["value"] == 2


# -- the model process ------------------------------------------------------------------------


async def test_no_child_before_the_first_call() -> None:
    before = children()
    made = ModelProcess("t-lazy")
    try:
        assert made.pid is None and made.starts == 0
        assert children() == before
        answer = await made.call(act, "answer")
        assert made.pid == answer["pid"] and answer["pid"] in children() - before
    finally:
        made.close()
    assert gone(answer["pid"]) and made.pid is None


@pytest.mark.parametrize(("action", "signal_name"), [("segv", "SIGSEGV"), ("ill", "SIGILL")])
async def test_a_model_killed_by_a_signal_fails_its_call_and_is_restarted(
    process: ModelProcess, action: str, signal_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    before = await process.call(act, "load")
    with caplog.at_level(logging.WARNING, logger="workers.backends.model_process"):
        with pytest.raises(ModelCrashed) as raised:
            await process.call(act, action)
    assert raised.value.code == "model_crashed"
    assert f"the local model process stopped with {signal_name}" in raised.value.message
    assert gone(before["pid"]) and process.pid is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and signal_name in warnings[0].getMessage()
    after = await process.call(act, "load")
    assert after["pid"] != before["pid"] and process.starts == 2
    assert after["loads"] == 1  # a fresh process loads its models anew


async def test_a_hung_model_is_killed_after_call_seconds() -> None:
    made = ModelProcess("t-hang", call_seconds=2.0)
    try:
        pid = (await made.call(act, "answer"))["pid"]  # the start is not counted in a call
        started = time.monotonic()
        with pytest.raises(ModelCrashed, match="did not answer within 2 s"):
            await made.call(act, "hang")
        assert 2.0 <= time.monotonic() - started < 15
        assert gone(pid) and made.pid is None
        assert (await made.call(act, "answer", 3))["value"] == 3
    finally:
        made.close()


async def test_a_child_that_died_between_calls_is_replaced_quietly(
    process: ModelProcess, caplog: pytest.LogCaptureFixture
) -> None:
    pid = (await process.call(act, "answer"))["pid"]
    os.kill(pid, 9)  # as the out-of-memory killer would, while no call is running
    deadline = time.monotonic() + 10
    while not ended(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    with caplog.at_level(logging.WARNING, logger="workers.backends.model_process"):
        answer = await process.call(act, "answer", 4)  # no call was running: nothing fails
    assert answer["value"] == 4 and answer["pid"] != pid and gone(pid)
    # One warning; other records (the fresh child's INFO line, when an earlier test configured
    # logging at INFO) may be captured beside it.
    (warning,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.getMessage().startswith("local model process stopped with SIGKILL")


OWNER = """
import asyncio, sys
from tests.support.crashy import act
from workers.backends.model_process import ModelProcess

async def main():
    lane = ModelProcess("owner")
    print((await lane.call(act, "answer"))["pid"], flush=True)
    await lane.call(act, "hang", sys.argv[1])

if __name__ == "__main__":
    asyncio.run(main())
"""


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_no_model_process_outlives_its_owner(tmp_path: Path, how: signal.Signals) -> None:
    """Not even one busy in a call, which would never read the closed pipe."""
    script, busy = tmp_path / "owner.py", tmp_path / "busy"
    script.write_text(OWNER)
    root = Path(__file__).resolve().parents[2]
    owner = subprocess.Popen(
        [sys.executable, str(script), str(busy)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        child = int(owner.stdout.readline())
        deadline = time.monotonic() + 30
        while not busy.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert busy.exists() and not ended(child)
        owner.send_signal(how)
        owner.wait(timeout=30)
        deadline = time.monotonic() + 10
        while not ended(child) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ended(child), f"model process {child} outlived its owner ({how.name})"
    finally:
        owner.kill()
        owner.wait()


def test_exit_descriptions_name_the_signal() -> None:
    assert describe_exit(-11) == "SIGSEGV"
    assert describe_exit(-4) == "SIGILL"
    assert describe_exit(-9).startswith("SIGKILL (killed from outside")
    assert describe_exit(3) == "exit status 3"


# -- the registry -----------------------------------------------------------------------------


def test_the_registry_gives_every_local_model_one_lane_of_the_configured_kind() -> None:
    before = children()
    isolated = build_backends(Settings(backends="instant", model_call_seconds=42))
    lane = isolated.models
    assert isinstance(lane, ModelProcess) and lane.isolated and lane.call_seconds == 42
    assert lane.pid is None and children() == before  # nothing starts with the server
    in_process = build_backends(Settings(backends="instant", model_isolation="thread")).models
    assert isinstance(in_process, ModelThread) and not in_process.isolated

    need(None if _local_installed() else "the 'local' extra is not installed")
    from workers.backends.local.llama import LlamaWriter
    from workers.backends.local.piper_voice import PiperNarrator

    local = build_backends(Settings(backends="local", text_threads=1))
    assert isinstance(local.writer, LlamaWriter) and isinstance(local.narrator, PiperNarrator)
    assert local.writer.lane is local.narrator.lane is local.models
    assert isinstance(local.models, ModelProcess) and local.models.pid is None


def _local_installed() -> bool:
    from workers.backends.local.models import default_gguf
    from workers.backends.local.piper_voice import default_voice

    return bool(importlib.util.find_spec("llama_cpp") and default_gguf() and default_voice())


# -- the real local backends, in one model process --------------------------------------------


@pytest.fixture(scope="module")
def shared() -> Iterator[ModelProcess]:
    """One model process for every backend below, as the registry gives a server."""
    made = ModelProcess("t-models", call_seconds=120)
    yield made
    made.close()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for package in ("torch", "diffusers", "transformers"):
        if importlib.util.find_spec(package) is None:
            need(f"{package} is not installed (pip install storygate[diffusion])")
    from workers.backends.local.tiny_pipeline import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd") / "tiny-sd")


async def test_local_backends_run_in_the_model_process_and_survive_its_crash(
    shared: ModelProcess, tiny: Path
) -> None:
    need(None if _local_installed() else "the 'local' extra is not installed")
    from workers.backends.local.diffusion import DiffusersIllustrator
    from workers.backends.local.llama import LlamaWriter
    from workers.backends.local.piper_voice import PiperNarrator

    writer = LlamaWriter(n_threads=1, lane=shared)
    narrator = PiperNarrator(lane=shared)
    illustrator = DiffusersIllustrator(str(tiny), size=64, steps=2, threads=1, lane=shared)
    messages = [{"role": "user", "content": "Say hello to a fox."}]

    async def complete() -> str:
        reply = await writer._complete(messages, max_tokens=8, temperature=0.0, seed=1, schema=None)
        assert reply.tokens > 0
        return reply.text

    first = await complete()
    assert first.strip() and writer.loads == 1
    assert await complete() == first and writer.loads == 1  # loaded once, in the child
    pcm = await narrator.speak("The little fox found a shiny red kite.")
    assert 0.5 < pcm.duration_s < 10 and pcm.rate == 22050
    (picture,) = await illustrator.draw([ImagePrompt("a fox", (), "meadow", "flat", 3, 96, 80)])
    assert picture.size == (96, 80)
    assert illustrator.device == "cpu" and illustrator._pipe is None  # it lives in the child
    assert illustrator.sampling.steps == 2 and shared.starts == 1

    with pytest.raises(ModelCrashed, match="SIGSEGV"):
        await shared.call(act, "segv")
    assert await complete() == first and writer.loads == 2  # a fresh child loads it again
    assert (await narrator.speak("Again.")).duration_s > 0.2
    assert shared.starts == 2
