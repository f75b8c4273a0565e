"""The table read as an MP4 over real HTTP on a real server (instant backends): a READY read,
its audio finalized, then ``render-video``; ``manifest.video.status`` moves to ``complete``
and ``manifest.video.url`` serves, without a key, an H.264 + AAC MP4 as long as the final MP3.
Twelve credits are charged once: rendering again, or ``finalize {"mode": "video"}``, answers
the render's state. An artifact not yet READY is ``artifact_not_ready`` (its story job held
behind the only worker, as in test_sleeperhit_errors.py); another account's is
``artifact_not_found``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import av
import httpx
import pytest

from tests.e2e.sleeperhit_harness import (
    HoldServer,
    SleeperHitServer,
    Tenant,
    approved_plan,
    balance,
    expect_error,
    extra_key,
    hold_worker,
    poll,
    post,
    start,
    wait_job,
)
from workers.backends.voices import decode_mp3

VIDEO_PRICE = 12


@pytest.fixture(scope="module")
def hold() -> Iterator[HoldServer]:
    found = HoldServer()
    yield found
    found.close()


@pytest.fixture(scope="module")
def sh(tmp_path_factory: pytest.TempPathFactory, hold: HoldServer) -> Iterator[SleeperHitServer]:
    server = start(tmp_path_factory.mktemp("sh-video"), hold.env)
    yield server
    server.server.stop()


@pytest.fixture(scope="module")
def owner(sh: SleeperHitServer) -> Tenant:
    return sh.tenant(credits=200)


def ready_artifact(c: httpx.Client, name: str) -> dict[str, Any]:
    plan = approved_plan(c, name)
    made = post(c, "/story-jobs", {"storyPlanId": plan["id"]})
    assert made.status_code == 200, made.text
    job = wait_job(c, made.json()["job"]["id"], ("READY", "FAILED"))
    assert job["status"] == "READY", job
    (artifact,) = job["artifacts"]
    return dict(artifact)


def test_render_video_of_a_finalized_read(sh: SleeperHitServer, owner: Tenant) -> None:
    with sh.client(owner) as c:
        artifact = ready_artifact(c, "video")
        path = f"/artifacts/{artifact['id']}"
        video = artifact["manifest"]["video"]
        assert video["status"] == "not_rendered" and video["url"] is None
        assert video["renderUrl"] == f"/api/v1{path}/render-video"
        finalized = post(c, f"{path}/finalize", {"mode": "audio"})
        assert finalized.status_code == 200, finalized.text
        audio = poll(
            c,
            path,
            lambda b: (
                b["artifact"]["manifest"]["audio"]["finalize"]["status"] in ("complete", "failed")
            ),
        )["artifact"]["manifest"]["audio"]
        assert audio["finalize"]["status"] == "complete", audio

        before = balance(c)
        key = {"Idempotency-Key": "render-video-1"}
        first = c.post(f"{path}/render-video", headers=key)
        assert first.status_code == 200, first.text
        assert first.json()["artifactId"] == artifact["id"]
        assert first.json()["render"]["status"] in ("queued", "rendering", "complete")
        assert balance(c) == before - VIDEO_PRICE
        replayed = c.post(f"{path}/render-video", headers=key)
        assert replayed.headers.get("idempotency-replayed") == "true"
        assert replayed.content == first.content
        seen: set[str] = set()

        def done(body: dict[str, Any]) -> bool:
            seen.add(body["artifact"]["manifest"]["video"]["status"])
            return body["artifact"]["manifest"]["video"]["status"] in ("complete", "failed")

        manifest = poll(c, path, done, timeout=180)["artifact"]["manifest"]
        video = manifest["video"]
        assert video["status"] == "complete", video
        assert seen <= {"queued", "rendering", "complete"}, seen
        assert video["url"] and video["durationMs"] > 0

        # Again, either way: the same render's state, nothing charged.
        again = post(c, f"{path}/render-video")
        assert again.status_code == 200, again.text
        assert again.json()["render"] == {"status": "complete", "url": video["url"]}
        as_finalize = post(c, f"{path}/finalize", {"mode": "video"})
        assert as_finalize.status_code == 200, as_finalize.text
        assert as_finalize.json() == {
            "artifactId": artifact["id"],
            "mode": "video",
            "finalize": {"status": "complete"},
        }
        assert balance(c) == before - VIDEO_PRICE
        # The audio finalize is untouched by the render.
        assert manifest["audio"]["finalize"]["status"] == "complete"

        # Downloaded without a key, as a player would: an MP4 as long as the final MP3.
        mp4 = httpx.get(video["url"], timeout=60)
        assert mp4.status_code == 200 and mp4.headers["content-type"] == "video/mp4"
        final = decode_mp3(httpx.get(manifest["audio"]["recordingUrl"], timeout=60).content)
        with av.open(io.BytesIO(mp4.content), mode="r") as container:
            assert len(container.streams.video) == 1 and len(container.streams.audio) == 1
            assert container.streams.video[0].codec_context.name == "h264"
            assert container.streams.audio[0].codec_context.name == "aac"
            assert (container.streams.video[0].width, container.streams.video[0].height) == (
                1280,
                720,
            )
            seconds = (container.duration or 0) / 1_000_000
            assert any(True for _ in container.decode(video=0))
        assert abs(seconds - final.duration_s) <= 0.02 * final.duration_s
        assert abs(video["durationMs"] / 1000 - final.duration_s) <= 0.02 * final.duration_s
        # A player seeks with byte ranges.
        part = httpx.get(video["url"], headers={"Range": "bytes=0-99"}, timeout=60)
        assert part.status_code == 206 and part.content == mp4.content[:100]
        # A key without artifact:publish may read, not render.
        reader = extra_key(sh, owner, scopes=["artifact:read", "credits:read"])
        with sh.client(reader) as r:
            expect_error(post(r, f"{path}/render-video"), "insufficient_scope")


def test_render_video_refuses_what_it_cannot_render(
    sh: SleeperHitServer, owner: Tenant, hold: HoldServer
) -> None:
    stranger = sh.tenant(credits=50)
    with sh.client(owner) as c:
        plan = approved_plan(c, "video-early")
        let_go = hold_worker(c, plan["projectId"], hold)
        try:
            made = post(c, "/story-jobs", {"storyPlanId": plan["id"]})
            assert made.status_code == 200, made.text
            (artifact,) = made.json()["job"]["artifacts"]
            assert artifact["status"] == "PENDING", artifact
            path = f"/artifacts/{artifact['id']}"
            spent = balance(c)
            error = expect_error(post(c, f"{path}/render-video"), "artifact_not_ready")
            assert error["details"]["status"] == "PENDING", error
            expect_error(post(c, f"{path}/finalize", {"mode": "video"}), "artifact_not_ready")
            assert balance(c) == spent
        finally:
            let_go()
        wait_job(c, made.json()["job"]["id"], ("READY", "FAILED"))
        with sh.client(stranger) as s:
            for answer in (
                post(s, f"{path}/render-video"),
                post(s, f"{path}/finalize", {"mode": "video"}),
                post(s, "/artifacts/art_missing/render-video"),
            ):
                expect_error(answer, "artifact_not_found")
            assert balance(s) == 50
        got = c.get(path).json()["artifact"]
        assert got["manifest"]["video"]["status"] == "not_rendered", got
