"""The offline animator's clips, decoded again with PyAV and checked frame by frame."""

from __future__ import annotations

import io
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from workers.backends.base import Animator, VideoRequest
from workers.backends.local.animation import FPS, FrameAnimator, camera_for, x264_options


def picture(width: int, height: int, hue: str) -> Image.Image:
    """A gradient with a few shapes: red-ish or blue-ish, so first and last differ clearly."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    pixels = np.zeros((height, width, 3), np.uint8)
    main, other = (0, 2) if hue == "red" else (2, 0)
    pixels[..., main] = (128 + x / 2).astype(np.uint8)
    pixels[..., 1] = (y / 3).astype(np.uint8)
    pixels[..., other] = 20
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    w, h = width, height
    if hue == "red":
        draw.ellipse((w // 5, h // 5, w // 2, h // 2), fill=(250, 240, 60))
        draw.rectangle((w * 3 // 5, h * 3 // 5, w * 4 // 5, h * 9 // 10), fill=(20, 20, 20))
    else:
        draw.rectangle((w // 10, h // 2, w // 3, h * 4 // 5), fill=(240, 240, 240))
        draw.ellipse((w // 2, h // 8, w * 9 // 10, h // 2), fill=(30, 200, 90))
    return image


def request(
    width: int = 640,
    height: int = 360,
    *,
    seconds: float = 3.0,
    prompt: str = "a fox in the forest",
    seed: int = 7,
    keyframes: bool = False,
) -> VideoRequest:
    return VideoRequest(
        prompt=prompt,
        first=picture(width, height, "red"),
        seconds=seconds,
        width=width,
        height=height,
        seed=seed,
        last=picture(width, height, "blue") if keyframes else None,
    )


def decode(data: bytes) -> tuple[dict[str, Any], list[Any]]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        info = {
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "size": (stream.width, stream.height),
            "rate": stream.average_rate,
            "duration": container.duration / 1_000_000,
        }
    return info, frames


def difference(frame: Any, image: Image.Image) -> float:
    return float(np.abs(frame.astype(np.int16) - np.asarray(image, np.int16)).mean())


async def clip(req: VideoRequest) -> tuple[dict[str, Any], list[Any]]:
    data = await FrameAnimator().animate(req)
    assert data[4:8] == b"ftyp"
    return decode(data)


def test_the_animator_meets_the_protocol() -> None:
    animator = FrameAnimator()
    assert isinstance(animator, Animator)
    capability = animator.capability()
    assert (capability.kind, capability.backend, capability.model) == (
        "video",
        "local",
        "storygate/frames",
    )
    assert capability.available and "H.264" in capability.note


@pytest.mark.parametrize("size", [(640, 360), (360, 640), (480, 480)])
async def test_camera_move_is_h264_of_the_asked_size_and_length(size: tuple[int, int]) -> None:
    req = request(*size)
    info, frames = await clip(req)
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert info["size"] == size and frames[0].shape == (size[1], size[0], 3)
    assert info["rate"] == FPS and len(frames) == 72
    assert info["duration"] == pytest.approx(3.0, abs=0.05)
    # The default move is a push-in from the whole picture, and it does move.
    assert difference(frames[0], req.first) < 4
    assert difference(frames[-1], req.first) > 4
    assert np.abs(frames[0].astype(np.int16) - frames[-1]).mean() > 4


async def test_other_lengths() -> None:
    info, frames = await clip(request(seconds=1.5))
    assert len(frames) == 36 and info["duration"] == pytest.approx(1.5, abs=0.05)
    info, frames = await clip(request(320, 180, seconds=1.01))
    assert len(frames) == 24 and info["duration"] == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("size", [(640, 360), (360, 640)])
async def test_keyframes_pass_from_first_to_last(size: tuple[int, int]) -> None:
    req = request(*size, keyframes=True)
    assert req.last is not None
    info, frames = await clip(req)
    assert info["size"] == size and len(frames) == 72
    assert info["duration"] == pytest.approx(3.0, abs=0.05)
    assert difference(frames[0], req.first) < 4
    assert difference(frames[-1], req.last) < 4
    assert difference(frames[-1], req.first) > 30
    assert difference(frames[0], req.last) > 30
    # Halfway, the picture is a mixture: far from both ends.
    middle = frames[len(frames) // 2]
    assert difference(middle, req.first) > 10 and difference(middle, req.last) > 10


@pytest.mark.parametrize("size", [(640, 360), (360, 640)])
@pytest.mark.parametrize("keyframes", [False, True])
async def test_equal_requests_give_equal_files(size: tuple[int, int], keyframes: bool) -> None:
    animator = FrameAnimator()
    # Another clip between the two, so the second starts from a different process state.
    first = await animator.animate(request(*size, keyframes=keyframes))
    await animator.animate(request(1280, 720, seconds=0.5, keyframes=not keyframes))
    second = await animator.animate(request(*size, keyframes=keyframes))
    assert first == second
    other_seed = await animator.animate(request(*size, seed=8, keyframes=keyframes))
    assert other_seed != first


def test_prompt_words_choose_the_camera_move() -> None:
    push = camera_for("a fox in the forest", 1)
    assert push.zoom[0] == 1.0 and push.zoom[1] > 1.0
    assert camera_for("a fox in the forest", 1) == push
    out = camera_for("slowly zoom out to reveal the valley", 1)
    assert out.zoom[0] > out.zoom[1] == 1.0
    left = camera_for("the camera pans left over the town", 1)
    assert left.zoom[0] == left.zoom[1] > 1.0
    assert left.offset[0][0] > left.offset[1][0]
    right = camera_for("Pan right across the sea", 1)
    assert right.offset[0][0] < right.offset[1][0]
    push_in = camera_for("push in on the lantern", 1)
    assert push_in.zoom[0] < push_in.zoom[1]


async def test_every_named_move_renders_inside_the_picture() -> None:
    for prompt in ("zoom out", "pan left", "tilt up", "pan down and zoom in"):
        info, frames = await clip(request(320, 180, seconds=1.0, prompt=prompt))
        assert info["size"] == (320, 180) and len(frames) == 24
        # No black border creeps in at any edge, whichever way the window travels.
        for frame in (frames[0], frames[-1]):
            assert frame[:, :2].mean() > 15 and frame[:, -2:].mean() > 15


@pytest.mark.parametrize(
    ("width", "height", "seconds"),
    [(641, 360, 3.0), (640, 361, 3.0), (0, 360, 3.0), (640, 360, 0.0)],
)
async def test_bad_sizes_and_lengths_are_value_errors(
    width: int, height: int, seconds: float
) -> None:
    req = VideoRequest(
        prompt="x",
        first=Image.new("RGB", (max(width, 2), height), "red"),
        seconds=seconds,
        width=width,
        height=height,
        seed=0,
    )
    with pytest.raises(ValueError):
        await FrameAnimator().animate(req)


def test_widths_off_the_32_grid_skip_the_macroblock_tree() -> None:
    assert "x264-params" not in x264_options(640)
    assert x264_options(360)["x264-params"] == "mbtree=0"
    assert x264_options(640)["threads"] == "1"
