"""The table read as a video: the encoder (workers/backends/local/read_video.py) and the
``sleeperhit.video`` task over a read voiced by the instant backends."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from tests.unit.test_table_read import ACCOUNT, FakeScriptWriter, Jobs, Store, run_story
from workers.backends.audio import pcm_to_mp3
from workers.backends.base import Pcm
from workers.backends.instant import InstantIllustrator
from workers.backends.local.read_video import (
    TITLE_MS,
    Caption,
    Cut,
    Scene,
    font_source,
    render_read,
    shot_starts,
)
from workers.backends.voices import decode_mp3
from workers.pipelines.read_video import read_video_task
from workers.tasks import TaskContext, TaskError


def probe(data: bytes) -> dict[str, Any]:
    """What a player sees in the MP4: its streams, duration, size and decoded frames."""
    with av.open(io.BytesIO(data), mode="r") as container:
        assert container.format.name.startswith("mov,mp4")
        video, audio = container.streams.video, container.streams.audio
        found = {
            "videos": len(video),
            "audios": len(audio),
            "codecs": (video[0].codec_context.name, audio[0].codec_context.name),
            "size": (video[0].width, video[0].height),
            "duration_s": (container.duration or 0) / 1_000_000,
        }
        pictures = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    found["frames"] = pictures
    return found


def tone(seconds: float, rate: int = 22050) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)
    return pcm_to_mp3(Pcm((wave * 32767).astype("<i2").tobytes(), rate))


def mp3_seconds(data: bytes) -> float:
    return decode_mp3(data).duration_s


def test_encoder_cuts_each_line_at_its_start() -> None:
    audio = tone(12.0)
    red, blue = Image.new("RGB", (64, 64), (200, 30, 30)), Image.new("RGB", (96, 64), (30, 30, 200))
    captions = (
        Caption(4000, "ADA", "The wall holds.", 0),
        Caption(7000, "OWEN", "For now. " * 40, 1),  # too long: shrunk, then cut short
        Caption(9500, "ADA", "Every tide since.", 1),
    )
    cut = Cut(
        "The Wall Holds",
        "A table read",
        (Scene("Storm", red), Scene("Build", blue)),
        captions,
        width=640,
        height=360,
        fps=4,
    )
    rendered = render_read(cut, audio)
    seen = probe(rendered.data)
    assert (seen["videos"], seen["audios"]) == (1, 1)
    assert seen["codecs"] == ("h264", rendered.audio_codec) and rendered.audio_codec == "aac"
    assert seen["size"] == (640, 360)
    assert abs(seen["duration_s"] - mp3_seconds(audio)) <= mp3_seconds(audio) * 0.02
    assert abs(rendered.duration_ms / 1000 - mp3_seconds(audio)) < 0.01
    # Title card (blurred, dimmed red; up until the first line) -> line 1 on red -> line 2
    # on blue -> line 3 on blue.
    frames = seen["frames"]
    assert len(frames) == rendered.frames == int(mp3_seconds(audio) * 4)
    assert rendered.shots == 4
    assert TITLE_MS < captions[0].start_ms

    def backdrop(i: int) -> np.ndarray:
        return np.asarray(frames[i][20:40, 300:340].reshape(-1, 3).mean(axis=0))

    assert backdrop(27)[0] > 120 and backdrop(27)[2] < 60  # red scene, line 2 not yet on
    assert backdrop(29)[2] > 120 and backdrop(29)[0] < 60  # blue from the frame of 7000 ms
    assert backdrop(5)[0] < backdrop(20)[0] * 0.75  # the title card dims its backdrop
    # The caption panel changes exactly where each line starts (frames at 4 fps).
    panel = [float(f[300:340, 40:600].mean()) for f in frames]
    for start in (4000, 7000, 9500):
        k = round(start * 4 / 1000)
        assert panel[k] != pytest.approx(panel[k - 1], abs=0.5), start
        assert panel[k] == pytest.approx(panel[k + 1], abs=0.5), start


def test_shots_start_at_the_nearest_frame_and_the_title_covers_early_lines() -> None:
    captions = (
        Caption(50, "A", "one", 0),
        Caption(2000, "B", "two", 0),
        Caption(5100, "A", "x", 0),
    )
    cut = Cut("T", "", (Scene("s"),), captions, width=64, height=36, fps=6)
    shots = shot_starts(cut, 60)
    assert [(s.frame, s.title, s.caption) for s in shots] == [
        (0, True, 0),  # the first line is on the title card: its words never lag its voice
        (12, True, 1),
        (18, False, 1),
        (31, False, 2),
    ]


def test_odd_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        render_read(Cut("T", "", (), (), width=641, height=360), tone(1.0))


def test_font_is_named() -> None:
    assert font_source() in ("dejavu", "pillow-default")


def services(jobs: Jobs, store: Store) -> Any:
    backends = SimpleNamespace(illustrator=InstantIllustrator())
    return SimpleNamespace(
        jobs=SimpleNamespace(progress=jobs.progress_call, get=jobs.get),
        storage=store,
        backends=backends,
    )


async def test_task_renders_the_read_over_its_audio() -> None:
    jobs, store = Jobs(), Store()
    artifacts: list[dict[str, Any]] = [
        {"id": "doc", "type": "table_read", "mode": "documentary", "durationSeconds": 20}
    ]
    result = await run_story(FakeScriptWriter(), artifacts, jobs, store)
    content = result["artifacts"]["doc"]
    read = store.files[(ACCOUNT, content["audio"]["path"])][0]
    job = SimpleNamespace(
        id="job_video1",
        account_id=ACCOUNT,
        params={
            "artifact_id": "doc",
            "story_job_id": "job_story1",
            "audio_path": content["audio"]["path"],
            "seed": 7,
            "width": 640,
            "height": 360,
        },
    )
    runs = Jobs(results=jobs.results)
    done = await read_video_task(TaskContext(job=job, services=services(runs, store)))  # type: ignore[arg-type]
    assert done["path"] == "jobs/job_video1/video.mp4"
    assert (done["width"], done["height"]) == (640, 360)
    data, content_type = store.files[(ACCOUNT, done["path"])]
    assert content_type == "video/mp4"
    seen = probe(data)
    assert (seen["videos"], seen["audios"]) == (1, 1)
    assert seen["size"] == (640, 360)
    heard = mp3_seconds(read)
    assert abs(seen["duration_s"] - heard) <= heard * 0.02
    assert abs(done["durationMs"] / 1000 - heard) <= heard * 0.02
    entries = sum(len(s["entries"]) for s in content["scenes"])
    assert done["shots"] >= entries  # every line on screen (the first may share the title)
    steps = [c.get("step") for c in runs.progress]
    assert steps[0] == "rendering" and steps[-1] == "uploading"


async def test_task_without_its_story_fails_cleanly() -> None:
    job = SimpleNamespace(
        id="j",
        account_id=ACCOUNT,
        params={"artifact_id": "a", "story_job_id": "gone", "audio_path": "x.mp3", "seed": 1},
    )
    with pytest.raises(TaskError) as caught:
        await read_video_task(TaskContext(job=job, services=services(Jobs(), Store())))  # type: ignore[arg-type]
    assert caught.value.code == "artifact_missing"
