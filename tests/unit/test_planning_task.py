"""The ``sleeperhit.plan`` task: the brief it hands the writer, where its digests come from, and
the plan envelope it returns, with a fake writer and with the instant one."""

from __future__ import annotations

import secrets
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import insert

from gateway.core.errors import NotFound
from gateway.core.storage import LocalBlobStore, Storage
from gateway.db.engine import Database
from gateway.db.models import Account, utcnow
from workers.backends.base import Capability
from workers.backends.scripts import (
    CastMember,
    Digest,
    PlanBrief,
    PlanDraft,
    SceneOutline,
    ScriptWriter,
)
from workers.pipelines.planning import blueprints, plan_task
from workers.tasks import TaskContext, TaskError

SOURCE_TEXT = (
    "Lowmere rebuilt its seawall in the spring. Mayor Ada Brandt said the work finished early. "
    "Engineers from Harwick poured the footings through the night. The lower market stayed dry "
    "through the high water for the first time in a decade."
)
TARGET = {
    "audience": "harbor towns",
    "objective": "explain the seawall",
    "outcome": "fund the next one",
    "tone": None,
}
ENVELOPE_KEYS = {
    "version",
    "title",
    "logline",
    "audiencePromise",
    "target",
    "creativeBrief",
    "beats",
    "cast",
    "scenes",
    "artifactBlueprints",
    "sourceIds",
    "sourceDigests",
}

DRAFT = PlanDraft(
    title="The Wall Holds",
    logline="A town bets on concrete.",
    audience_promise="You will know why the wall matters.",
    beats=("The storm", "The build", "The tide"),
    cast=(
        CastMember("NARRATOR", "narrator", "even storyteller"),
        CastMember("ADA", "protagonist", "brisk alto"),
        CastMember("OWEN", "skeptic", "gravelly bass"),
    ),
    scenes=(
        SceneOutline("Storm", "The old wall fails.", ("NARRATOR", "ADA")),
        SceneOutline("Build", "Night shifts.", ("ADA", "OWEN")),
    ),
)


class FakeWriter:
    name = "fake"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.briefs: list[PlanBrief] = []
        self.digested: list[str] = []

    def capability(self) -> Capability:
        return Capability(kind="text", backend="local", model="fake-7b", available=True)

    async def digest(self, text: str, *, seed: int = 0) -> Digest:
        self.digested.append(text)
        return Digest(summary="digested now: " + text[:20], people=("Ada Brandt",))

    async def plan(self, brief: PlanBrief) -> PlanDraft:
        self.briefs.append(brief)
        if self.fail:
            raise RuntimeError("out of memory at 0xdeadbeef")
        return DRAFT

    async def screenplay(self, request: Any) -> Any:
        raise NotImplementedError


@dataclass
class Jobs:
    account: str
    results: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)

    async def progress(self, job_id: str, **kw: Any) -> bool:
        self.steps.append(kw.get("step") or "")
        return True

    async def get(self, job_id: str, account_id: str | None = None) -> Any:
        # Another account's job is as absent as a job that never was.
        if job_id not in self.results or account_id != self.account:
            raise NotFound("job not found")
        return SimpleNamespace(id=job_id, account_id=self.account, result=self.results[job_id])


@dataclass
class Env:
    storage: Storage
    account: str
    jobs: Jobs
    writer: Any

    async def run(self, **params: Any) -> dict[str, Any]:
        job = SimpleNamespace(id="plan_" + secrets.token_hex(4), account_id=self.account)
        job.params = {
            "project_id": "proj1",
            "title": None,
            "target": TARGET,
            "creative_brief": "Make it feel like a town meeting.",
            "style": {"musicPolicy": "none"},
            "artifact_requests": [{"type": "table_read"}],
            "sources": [],
            "auto_approve": False,
            "seed": 11,
            **params,
        }
        services = SimpleNamespace(
            jobs=self.jobs, storage=self.storage, backends=SimpleNamespace(scripter=self.writer)
        )
        return await plan_task(TaskContext(job=job, services=services))  # type: ignore[arg-type]


@pytest.fixture
async def env(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Env]:
    db = Database(sqlite_url)
    account = "acc_" + secrets.token_hex(6)
    async with db.write() as conn:
        await conn.execute(
            insert(Account).values(id=account, name="t", profile={}, created_at=utcnow())
        )
    storage = Storage(db, LocalBlobStore(tmp_path / "files"), secret="s")
    try:
        yield Env(storage, account, Jobs(account), FakeWriter())
    finally:
        await db.close()


@pytest.fixture
def fake_voices(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in voice catalogue, so the task's own logic is tested whatever voices.py does."""
    module = ModuleType("workers.backends.voices")

    def assign_voices(names: Any) -> dict[str, Any]:
        return {
            n: SimpleNamespace(id=f"v-{n.lower()}", name=f"Voice {n}", description="d")
            for n in names
        }

    module.assign_voices = assign_voices  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "workers.backends.voices", module)


async def test_envelope_from_a_draft(env: Env, fake_voices: None) -> None:
    result = await env.run()
    assert set(result) == {"plan", "modelUsed", "providerUsed"}
    assert (result["modelUsed"], result["providerUsed"]) == ("fake-7b", "local")
    plan = result["plan"]
    assert set(plan) == ENVELOPE_KEYS
    assert plan["version"] == 1
    assert plan["title"] == "The Wall Holds"
    assert plan["logline"] == DRAFT.logline and plan["audiencePromise"] == DRAFT.audience_promise
    assert plan["target"] == TARGET
    assert plan["creativeBrief"] == "Make it feel like a town meeting."
    assert plan["beats"] == [
        {"index": 0, "text": "The storm"},
        {"index": 1, "text": "The build"},
        {"index": 2, "text": "The tide"},
    ]
    assert plan["cast"][1] == {
        "name": "ADA",
        "role": "protagonist",
        "voiceDescription": "brisk alto",
        "voice": {"voiceId": "v-ada", "voiceName": "Voice ADA"},
    }
    assert plan["scenes"] == [
        {
            "index": 0,
            "title": "Storm",
            "summary": "The old wall fails.",
            "characters": ["NARRATOR", "ADA"],
        },
        {"index": 1, "title": "Build", "summary": "Night shifts.", "characters": ["ADA", "OWEN"]},
    ]
    assert plan["artifactBlueprints"] == [
        {
            "type": "table_read",
            "mode": "documentary",
            "narrationPolicy": "auto",
            "durationSeconds": 60,
            "notes": "",
            "sceneIndexes": [0, 1],
        }
    ]
    assert plan["sourceIds"] == [] and plan["sourceDigests"] == []
    assert env.jobs.steps == ["planning", "casting"]

    (brief,) = env.writer.briefs
    assert brief.title == "" and brief.seed == 11 and brief.digests == ()
    assert dict(brief.target) == {k: v for k, v in TARGET.items() if v is not None}
    assert brief.creative_brief == "Make it feel like a town meeting."
    assert dict(brief.style) == {"musicPolicy": "none"}
    assert [dict(a) for a in brief.artifacts] == [{"type": "table_read"}]


async def test_client_title_wins_and_empty_brief_is_null(env: Env, fake_voices: None) -> None:
    plan = (await env.run(title="Seawall", creative_brief=""))["plan"]
    assert plan["title"] == "Seawall" and plan["creativeBrief"] is None
    assert env.writer.briefs[0].title == "Seawall"


def test_blueprints_fill_defaults_per_request() -> None:
    requests = [
        {"type": "table_read", "mode": "drama", "narrationPolicy": "suppress",
         "durationSeconds": 90, "notes": "collaboration angle"},
        {"type": "table_read", "durationSeconds": 2},
        {"type": "pitch_deck", "includePdf": True},
    ]  # fmt: skip
    assert blueprints(requests, 3) == [
        {
            "type": "table_read",
            "mode": "drama",
            "narrationPolicy": "suppress",
            "durationSeconds": 90,
            "notes": "collaboration angle",
            "sceneIndexes": [0, 1, 2],
        },
        {
            "type": "table_read",
            "mode": "documentary",
            "narrationPolicy": "auto",
            "durationSeconds": 5,
            "notes": "",
            "sceneIndexes": [0, 1, 2],
        },
        {
            "type": "pitch_deck",
            "mode": None,
            "narrationPolicy": "auto",
            "durationSeconds": 60,
            "notes": "",
            "sceneIndexes": [0, 1, 2],
        },
    ]
    assert blueprints([{"type": "table_read"}], 0)[0]["sceneIndexes"] == []


async def test_digests_from_jobs_then_stored_text(env: Env, fake_voices: None) -> None:
    ready = Digest(summary="from the job", key_points=("k",), quotes=("q",))
    env.jobs.results = {
        "job-a": {"digest": ready.wire(), "digestFailure": None},
        "job-b": {"digest": None, "digestFailure": {"code": "digest_failed", "message": "x"}},
        "job-c": {"digest": None},
    }
    await env.storage.put(env.account, "sources/b/text.txt", SOURCE_TEXT.encode(), "text/plain")
    sources = [
        {"id": "a", "job_id": "job-a", "text_path": "sources/a/text.txt"},  # never read
        {"id": "b", "job_id": "job-b", "text_path": "sources/b/text.txt"},
        {"id": "c", "job_id": "job-c", "text_path": None},  # nothing to digest: skipped
        {"id": "d", "job_id": "job-elsewhere", "text_path": "sources/d/text.txt"},  # gone
    ]
    plan = (await env.run(sources=sources))["plan"]
    assert env.writer.digested == [SOURCE_TEXT]
    assert plan["sourceIds"] == ["a", "b", "c", "d"]
    assert plan["sourceDigests"] == [
        {"sourceId": "a", **ready.wire()},
        {"sourceId": "b", **Digest(summary="digested now: " + SOURCE_TEXT[:20],
                                   people=("Ada Brandt",)).wire()},
    ]  # fmt: skip
    (brief,) = env.writer.briefs
    summaries = [d.summary for d in brief.digests]
    assert summaries == ["from the job", "digested now: " + SOURCE_TEXT[:20]]
    assert env.jobs.steps == ["digesting", "planning", "casting"]


async def test_writer_failure_is_a_clean_task_error(env: Env, fake_voices: None) -> None:
    env.writer = FakeWriter(fail=True)
    with pytest.raises(TaskError) as caught:
        await env.run()
    assert caught.value.code == "plan_generation_failed"
    assert "0xdeadbeef" not in caught.value.message


async def test_cast_voices_from_the_catalogue(env: Env) -> None:
    from workers.backends.voices import assign_voices

    plan = (await env.run())["plan"]
    expected = assign_voices([c.name for c in DRAFT.cast])
    for member in plan["cast"]:
        voice = expected[member["name"]]
        assert member["voice"] == {"voiceId": voice.id, "voiceName": voice.name}
    assert len({m["voice"]["voiceId"] for m in plan["cast"]}) == len(DRAFT.cast)


async def test_with_the_instant_writer(env: Env) -> None:
    from workers.backends.instant.script import InstantScriptWriter

    writer = InstantScriptWriter()
    assert isinstance(writer, ScriptWriter)
    env.writer = writer
    await env.storage.put(env.account, "sources/s/text.txt", SOURCE_TEXT.encode(), "text/plain")
    requests = [
        {"type": "table_read", "mode": "podcast", "durationSeconds": 45},
        {"type": "table_read"},
    ]
    result = await env.run(
        title="Seawall",
        artifact_requests=requests,
        sources=[{"id": "s", "job_id": "job-missing", "text_path": "sources/s/text.txt"}],
    )
    assert result["providerUsed"] == "instant" and result["modelUsed"]
    plan = result["plan"]
    assert set(plan) == ENVELOPE_KEYS and plan["title"] == "Seawall"
    assert plan["logline"] and plan["beats"] and plan["cast"] and plan["scenes"]
    assert [s["index"] for s in plan["scenes"]] == list(range(len(plan["scenes"])))
    names = {m["name"] for m in plan["cast"]}
    for scene in plan["scenes"]:
        assert set(scene["characters"]) <= names
    for member in plan["cast"]:
        assert member["voice"]["voiceId"] and member["voiceDescription"]
    modes = [(b["mode"], b["durationSeconds"]) for b in plan["artifactBlueprints"]]
    assert modes == [("podcast", 45), ("documentary", 60)]
    for blueprint in plan["artifactBlueprints"]:
        assert blueprint["sceneIndexes"] == [s["index"] for s in plan["scenes"]]
    (digest,) = plan["sourceDigests"]
    assert digest["sourceId"] == "s" and digest["summary"]
    # The instant writer quotes only what the source says.
    assert all(q in SOURCE_TEXT for q in digest["quotableLines"])
