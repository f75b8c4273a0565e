"""StoryNote over real HTTP against a real `storygate serve`: the reference's walk-through on the
default `local` set (picture, clip, speech, effects, music), the event stream, credits under
concurrency, batch reads, limits, errors and the frame fetcher's refusals."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from gateway.core.errors import UpstreamError
from gateway.core.jobs import account_channel_of
from gateway.runtime import Runtime, open_runtime
from gateway.settings import load_settings
from tests.e2e.storynote_harness import (
    FAMILY,
    UNIT,
    StoryNoteServer,
    Tenant,
    assert_error,
    decode_audio,
    download,
    project,
    start,
    wait_job,
)
from workers.backends.audio import mp3_duration
from workers.backends.base import VideoRequest

# The reference's image call, word for word.
REFERENCE_IMAGE = {
    "directPrompt": "A fox reading a book in a cozy library",
    "modelId": "fal-ai/flux-2",
    "aspectRatio": "16:9",
}
CHEAP = {"directPrompt": "a lighthouse at dusk", "modelId": "fal-ai/z-image/turbo"}


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoryNoteServer]:
    service = start(tmp_path_factory.mktemp("sn-local"), {"STORYGATE_BACKENDS": "local"})
    yield service
    service.server.stop()


@pytest.fixture(scope="module")
def instant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoryNoteServer]:
    service = start(tmp_path_factory.mktemp("sn-instant"))
    yield service
    service.server.stop()


def video_facts(data: bytes) -> tuple[str, float, int, int]:
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        rate = float(stream.average_rate or 24)
        return stream.codec_context.name, frames / rate, stream.width, stream.height


def test_the_reference_walk_through_on_the_local_set(local: StoryNoteServer) -> None:
    tenant = local.tenant("studio")
    with local.client(tenant) as client:
        pid = project(client)
        answer = client.post(f"/projects/{pid}/image", json=REFERENCE_IMAGE)
        assert answer.status_code == 202, answer.text
        accepted = answer.json()
        assert accepted["jobIds"] == [accepted["jobId"]]
        image = wait_job(client, accepted["jobId"])
        assert image["status"] == "completed", image
        assert image["model"] == "fal-ai/flux-2" and image["videoUrl"] is None
        picture = Image.open(io.BytesIO(download(image["imageUrl"])))
        assert picture.format == "PNG"
        assert picture.width * 9 == picture.height * 16

        clip = client.post(
            f"/projects/{pid}/video",
            json={
                "directPrompt": "slow push in",
                "firstFrame": {"imageUrl": image["imageUrl"]},
                "durationSec": 3,
            },
        )
        assert clip.status_code == 202, clip.text
        video = wait_job(client, clip.json()["jobId"])
        assert video["status"] == "completed", video
        codec, seconds, width, height = video_facts(download(video["videoUrl"]))
        assert codec == "h264" and abs(seconds - 3.0) <= 0.1
        assert width * 9 == height * 16

        graph = client.get(f"/projects/{pid}").json()
        types = {node["jobId"]: node["type"] for node in graph["nodes"]}
        assert types == {image["id"]: "image", video["id"]: "video"}
        assert [(e["source"], e["target"], e["type"]) for e in graph["edges"]] == [
            (image["id"], video["id"], "firstFrame")
        ]

        text = "The little fox opened the old book."
        speech = wait_job(
            client,
            client.post(
                f"/projects/{pid}/audio", json={"soundType": "speech", "text": text}
            ).json()["jobId"],
        )
        assert speech["status"] == "completed", speech
        spoken = mp3_duration(download(speech["audioUrl"]))
        assert 1.0 < spoken < 8.0  # seven words, as a person says them

        sounds = {}
        for kind, prompt, seconds in (
            ("sfx", "heavy rain on a tin roof", 2.0),
            ("sfx", "a single door knock", 2.0),
            ("music", "calm piano lullaby", 4.0),
        ):
            body = {"soundType": kind, "prompt": prompt, "duration": seconds}
            job = wait_job(client, client.post(f"/projects/{pid}/audio", json=body).json()["jobId"])
            assert job["status"] == "completed", job
            data = download(job["audioUrl"])
            assert abs(mp3_duration(data) - seconds) <= 0.2
            sounds[prompt] = decode_audio(data)[0]
    rain, knock = sounds["heavy rain on a tin roof"], sounds["a single door knock"]
    crossings = [float((np.diff(np.sign(x)) != 0).mean()) for x in (rain, knock)]
    assert crossings[0] > 5 * crossings[1]


def test_the_api_v1_twin_serves_the_same_routes(instant: StoryNoteServer) -> None:
    tenant = instant.tenant()
    with instant.client(tenant, root="/api/v1") as client:
        pid = project(client)
        answer = client.post(f"/projects/{pid}/image", json=CHEAP)
        assert answer.status_code == 202
        assert wait_job(client, answer.json()["jobId"])["status"] == "completed"


def read_events(
    instant: StoryNoteServer,
    tenant: Tenant,
    seen: list[dict[str, Any]],
    live: threading.Event,
    stop: threading.Event,
    done: threading.Event,
) -> None:
    import json

    url = instant.base + "/v1/jobs/events/stream"
    with httpx.stream("GET", url, headers=tenant.headers, timeout=60) as answer:
        assert answer.status_code == 200
        event = ""
        for line in answer.iter_lines():
            if line.startswith(": connected"):
                live.set()
            elif line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "job":
                seen.append(json.loads(line.split(":", 1)[1]))
                if sum(e["status"] == "completed" for e in seen) >= 3:
                    done.set()
            if stop.is_set():
                return


def test_one_stream_sees_every_change_of_the_accounts_jobs_only(
    instant: StoryNoteServer,
) -> None:
    tenant, other = instant.tenant(), instant.tenant()
    seen: list[dict[str, Any]] = []
    live, stop, done = threading.Event(), threading.Event(), threading.Event()
    reader = threading.Thread(target=read_events, args=(instant, tenant, seen, live, stop, done))
    reader.start()
    assert live.wait(20)
    with instant.client(tenant) as mine, instant.client(other) as theirs:
        pid, foreign = project(mine), project(theirs)
        ids = [mine.post(f"/projects/{pid}/image", json=CHEAP).json()["jobId"] for _ in range(3)]
        alien = theirs.post(f"/projects/{foreign}/image", json=CHEAP).json()["jobId"]
        for job_id in ids:
            wait_job(mine, job_id)
        wait_job(theirs, alien)
        polled = {job_id: mine.get(f"/jobs/{job_id}").json() for job_id in ids}
    done.wait(10)
    stop.set()
    for job_id in ids:
        statuses = [e["status"] for e in seen if e["id"] == job_id]
        assert statuses == ["queued", "processing", "completed"], (job_id, statuses)
        last = next(e for e in reversed(seen) if e["id"] == job_id)
        assert {k: v for k, v in last.items() if k != "imageUrl"} == {
            k: v for k, v in polled[job_id].items() if k != "imageUrl"
        }
    assert alien not in {e["id"] for e in seen}
    # Wake the reader with one more event of the tenant's own so it sees ``stop``.
    with instant.client(tenant) as mine:
        mine.post(f"/projects/{pid}/image", json=CHEAP)
    reader.join(30)


def test_a_last_frame_alone_passes_from_a_painted_opening(instant: StoryNoteServer) -> None:
    tenant = instant.tenant()
    with instant.client(tenant) as client:
        pid = project(client)
        image = wait_job(client, client.post(f"/projects/{pid}/image", json=CHEAP).json()["jobId"])
        body = {
            "directPrompt": "dawn",
            "lastFrame": {"imageUrl": image["imageUrl"]},
            "durationSec": 1,
        }
        answer = client.post(f"/projects/{pid}/video", json=body)
        assert answer.status_code == 202, answer.text
        video = wait_job(client, answer.json()["jobId"])
        assert video["status"] == "completed", video
        graph = client.get(f"/projects/{pid}").json()
        assert [(e["source"], e["type"]) for e in graph["edges"]] == [(image["id"], "lastFrame")]
        _codec, _seconds, width, height = video_facts(download(video["videoUrl"]))
        assert width == height  # the last frame's 1:1, not the 16:9 of text-to-video


def test_fifty_concurrent_requests_against_ten_credits(instant: StoryNoteServer) -> None:
    tenant = instant.tenant(credits=10, unmetered=True)
    with instant.client(tenant) as client:
        pid = project(client)

        def one(_: int) -> httpx.Response:
            return client.post(f"/projects/{pid}/image", json=CHEAP)

        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(one, range(50)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(202) == 10 and statuses.count(402) == 40, statuses
    for refused in (a for a in answers if a.status_code == 402):
        assert refused.json() == {"error": "Insufficient credits", "code": 402}
    instant.settled(tenant)
    assert instant.spendable(tenant) == 0
    assert instant.jobs(tenant) == 10


def test_eight_pictures_that_can_pay_for_seven_create_nothing(instant: StoryNoteServer) -> None:
    tenant = instant.tenant(credits=7)
    with instant.client(tenant) as client:
        pid = project(client)
        answer = client.post(f"/projects/{pid}/image", json={**CHEAP, "numImages": 8})
        assert_error(answer, 402)
        assert instant.spendable(tenant) == 7 and instant.jobs(tenant) == 0
        many = client.post(f"/projects/{pid}/image", json={**CHEAP, "numImages": 7, "seed": 5})
        assert many.status_code == 202
        assert len(many.json()["jobIds"]) == 7
        seeds = [wait_job(client, j)["seed"] for j in many.json()["jobIds"]]
        assert seeds == list(range(5, 12))
    instant.settled(tenant)
    assert instant.spendable(tenant) == 0


async def test_a_failed_job_gives_its_credits_back_once(tmp_path: Path) -> None:
    class Broken:
        name = "broken"

        def capability(self) -> Any:
            return self.inner.capability()

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def animate(self, request: VideoRequest) -> bytes:
            raise UpstreamError("the video provider is down")

    settings = load_settings(env={}, backends="instant", data_dir=tmp_path / "d", demo=False)
    async with open_runtime(settings, role="gateway") as rt:
        rt.backends = replace(rt.backends, animator=Broken(rt.backends.animator))
        account = await rt.accounts.create("broken", {FAMILY: "pro"})
        before = (await rt.ledger.balance(account.id, UNIT)).spendable
        from adapters.storynote.auth import Caller
        from adapters.storynote.service import StoryNote
        from contracts.storynote import VideoRequest as Body

        key = await rt.keys.create(account.id, FAMILY)
        info = await rt.keys.verify(key.raw, FAMILY)
        standing = await rt.accounts.standing(account.id, FAMILY)
        service = StoryNote(rt, Caller(account.id, info, standing.plan), "http://x")
        pid = (await service.create_project("p")).id
        async with rt.events.subscribe(account_channel_of(account.id, FAMILY)) as events:
            job_id = (await service.video(pid, Body(directPrompt="a castle", durationSec=2))).jobId
            async with asyncio.timeout(30):
                async for event in events:
                    if event["job_id"] == job_id and event["final"]:
                        break
        job = await rt.jobs.get(job_id)
        assert job.status.value == "failed"
        assert (await rt.ledger.balance(account.id, UNIT)).spendable == before
        assert await rt.ledger.settle_job(job_id, capture=False) == 0  # nothing left to release
        assert (await rt.ledger.balance(account.id, UNIT)).spendable == before
        assert await rt.ledger.audit(account.id, UNIT)


def test_batch_reads_only_the_callers_jobs(instant: StoryNoteServer) -> None:
    tenant, other = instant.tenant(), instant.tenant()
    with instant.client(tenant) as mine, instant.client(other) as theirs:
        pid, foreign = project(mine), project(theirs)
        own = mine.post(f"/projects/{pid}/image", json={**CHEAP, "numImages": 2}).json()["jobIds"]
        alien = theirs.post(f"/projects/{foreign}/image", json=CHEAP).json()["jobId"]
        ids = [*own, alien, *(f"{i:040x}" for i in range(253))]
        assert len(ids) == 256
        answer = mine.get("/jobs/batch", params={"jobIds": ",".join(ids)})
        assert answer.status_code == 200, answer.text
        assert set(answer.json()["jobs"]) == set(own)
        assert_error(mine.get("/jobs/batch", params={"jobIds": ",".join([*ids, "x"])}), 400)
        assert_error(mine.get(f"/projects/{foreign}"), 404)
        assert_error(mine.post(f"/projects/{foreign}/image", json=CHEAP), 404)
        assert_error(mine.get(f"/jobs/{alien}"), 404)


def test_the_twenty_first_generation_in_a_minute_is_refused(instant: StoryNoteServer) -> None:
    """Twenty accepted in one window, the next refused. Windows are fixed minutes, so when one
    rolls over mid-run the count starts again from the response that says so."""
    tenant = instant.tenant("studio")
    with instant.client(tenant) as client:
        pid = project(client)
        accepted = 0
        for _ in range(41):
            answer = client.post(f"/projects/{pid}/image", json=CHEAP)
            if answer.status_code == 429:
                break
            assert answer.status_code == 202, answer.text
            assert answer.headers["x-ratelimit-limit"] == "20"
            remaining = int(answer.headers["x-ratelimit-remaining"])
            accepted = 1 if remaining == 19 else accepted + 1
            assert remaining == 20 - accepted
        assert accepted == 20
        assert_error(answer, 429)
        assert int(answer.headers["retry-after"]) >= 1
        assert client.get("/projects").status_code == 200  # the global bucket still has room


def test_errors_in_the_family_shape_change_nothing(instant: StoryNoteServer) -> None:
    tenant = instant.tenant(credits=100)
    cbk = instant.core(_childrenbooks_key)
    with instant.client(tenant) as client:
        pid = project(client)
        for headers in (
            {},
            {"Authorization": "Bearer sk_live_" + "x" * 40},
            {"Authorization": f"Bearer {cbk}"},
            {"X-API-Key": "nope"},
        ):
            assert_error(httpx.get(instant.base + "/v1/projects", headers=headers), 401)
        bad_bodies = [
            {"modelId": "fal-ai/flux-2"},
            {**CHEAP, "numImages": 9},
            {**CHEAP, "aspectRatio": "2:1"},
            {**CHEAP, "modelId": "no-such-model"},
            {**CHEAP, "modelId": "elevenlabs/tts"},
            {**CHEAP, "modelId": "default", "seed": -1},
            {**CHEAP, "modelId": "tools/image-upscale"},
        ]
        for body in bad_bodies:
            assert_error(client.post(f"/projects/{pid}/image", json=body), 400)
        assert_error(client.post(f"/projects/{pid}/audio", json={"soundType": "speech"}), 400)
        assert_error(
            client.post(
                f"/projects/{pid}/audio", json={"soundType": "sfx", "prompt": "x", "duration": 31}
            ),
            400,
        )
        for url in (
            "http://127.0.0.1:1/x.png",
            "http://169.254.169.254/latest",
            "file:///etc/passwd",
            "http://[::ffff:127.0.0.1]/a.png",
        ):
            refused = assert_error(
                client.post(f"/projects/{pid}/video", json={"firstFrame": {"imageUrl": url}}), 400
            )
            assert "firstFrame.imageUrl" in refused["error"]
        assert_error(client.get(f"/projects/{pid}/nothing/here"), 404)
        wrong = client.delete("/jobs/abc")
        assert_error(wrong, 405)
        assert "GET" in wrong.headers["allow"]
    assert instant.spendable(tenant) == 100 and instant.jobs(tenant) == 0


async def _childrenbooks_key(rt: Runtime) -> str:
    account = await rt.accounts.create("cb", {"childrenbooks": "pro"})
    return (await rt.keys.create(account.id, "childrenbooks")).raw


def test_models_tell_what_runs_here(instant: StoryNoteServer) -> None:
    tenant = instant.tenant()
    with instant.client(tenant) as client:
        listing = client.get("/models/available").json()
    assert set(listing) == {"image", "video", "audio", "tools"}
    flux = next(m for m in listing["image"] if m["id"] == "fal-ai/flux-2")
    assert (flux["credits"], flux["tier"], flux["available"], flux["runsOn"]) == (
        2,
        "fast",
        True,
        "local",
    )
    kling = next(m for m in listing["video"] if "kling" in m["id"])
    assert kling["credits"] == 10 and kling["creditsPer"] == "second"
    assert all(not tool["available"] and tool["note"] for tool in listing["tools"])


def test_the_wire_model_ids_are_the_catalogues() -> None:
    from typing import get_args

    from adapters.storynote.catalogue import CATALOGUE, DEFAULTS
    from contracts import storynote as wire

    kinds = {
        "image": wire.ImageModelId,
        "video": wire.VideoModelId,
        "speech": wire.SpeechModelId,
        "sfx": wire.SfxModelId,
        "music": wire.MusicModelId,
    }
    for kind, literal in kinds.items():
        ids = {entry.id for entry in CATALOGUE if entry.kind == kind}
        assert set(get_args(literal)) == ids | {"default"}, kind
        assert DEFAULTS[kind] in ids
