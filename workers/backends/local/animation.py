"""Video clips made offline from still pictures: camera moves and keyframe cross-fades.

No video model runs here. A clip is the still itself seen through a slowly moving virtual
camera (a Ken Burns zoom and pan whose kind comes from the prompt's words and whose amounts
come from the seed), or, given a second still, an eased cross-fade from the first picture to
the last under a light shared zoom. That is fast enough for the instant set (a 3 s clip in a
fraction of a second), works on any machine, and gives equal clips for equal requests.

PyAV (``av``, whose wheels carry libx264) is imported on first use only, so the registry can
build this animator, and report it unavailable, where PyAV is missing.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import tempfile
from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gateway.core.errors import ModelUnavailable
from workers.backends.base import Capability, VideoRequest, exact_size, stable_seed

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "FPS",
    "Camera",
    "FrameAnimator",
    "Passage",
    "camera_for",
    "encode_mp4",
    "frame_count",
    "render",
    "x264_options",
]

FPS = 24
MODEL = "storygate/frames"
CRF = 23
# ultrafast encodes about a third faster but writes files five or six times the size; past
# veryfast, x264 gets slower for little gain on pictures that only glide.
PRESET = "veryfast"
# One encoder thread: x264's output depends on its thread count, and "auto" would make the bytes
# depend on the machine's cores. The frames are drawn on a second thread meanwhile.
ENCODER_THREADS = "1"
_MISSING = "needs PyAV: pip install av"
T = TypeVar("T")

_WORD_ZOOM_OUT = re.compile(
    r"\b(?:zoom|pull|dolly|draw|track|move|pan)(?:s|es|ing|ies|ying)?\s+(?:out|back|away)\b"
    r"|\bwide(?:n|ns|ning)?\s+(?:out|shot)\b|\breveal(?:s|ing)?\b"
)
_WORD_ZOOM_IN = re.compile(
    r"\b(?:zoom|push|dolly|move|track|close)(?:s|es|ing|ies|ying)?\s+(?:in|closer|forward)\b"
    r"|\bclose[- ]?up\b"
)
_WORD_PAN = re.compile(
    r"\b(?:pan|track|truck|tilt|move|drift|sweep|glide|slide|crane)(?:s|es|ing|ed)?\s+"
    r"(?:to\s+the\s+)?(left|right|up|down)(?:wards?)?\b"
)
# Where the view window travels for each direction word, in slack units (see Camera).
_PAN_TRAVEL = {
    "left": ((1.0, 0.0), (-1.0, 0.0)),
    "right": ((-1.0, 0.0), (1.0, 0.0)),
    "up": ((0.0, 1.0), (0.0, -1.0)),
    "down": ((0.0, -1.0), (0.0, 1.0)),
}


@dataclass(frozen=True, slots=True)
class Camera:
    """A virtual camera's start and end over the still.

    ``zoom`` 1.0 shows the whole picture, 1.2 a window 1/1.2 of its size. The window's centre
    is given in slack units: -1 puts the window against the left (top) edge, +1 against the
    right (bottom) one, 0 centres it. Slack units keep every frame inside the picture whatever
    the zoom, so no frame ever shows a border.
    """

    zoom: tuple[float, float]
    offset: tuple[tuple[float, float], tuple[float, float]]


def frame_count(seconds: float) -> int:
    return max(1, round(seconds * FPS))


def camera_for(prompt: str, seed: int) -> Camera:
    """The move the prompt asks for ("zoom out", "pan left", "push in", ...), or a gentle
    push-in drifting towards a seed-chosen spot when it asks for none; the amounts vary with
    the seed so a book's clips do not all move alike."""
    rng = random.Random(stable_seed("camera", seed, prompt))
    words = prompt.lower()
    amount = rng.uniform(0.10, 0.18)
    pan = _WORD_PAN.search(words)
    if _WORD_ZOOM_OUT.search(words):
        zoom = (1.0 + amount, 1.0)
    elif _WORD_ZOOM_IN.search(words) or pan is None:
        zoom = (1.0, 1.0 + amount)
    else:
        # A pan needs room to travel: the window stays zoomed in by the same amount throughout.
        zoom = (1.0 + amount, 1.0 + amount)
    if pan is not None:
        start, end = _PAN_TRAVEL[pan.group(1)]
        return Camera(zoom=zoom, offset=(start, end))
    drift = (rng.uniform(-0.6, 0.6), rng.uniform(-0.6, 0.6))
    return Camera(zoom=zoom, offset=((0.0, 0.0), drift))


def _ease(t: float) -> float:
    """Smoothstep: a move that starts and stops gently instead of jerking at the cuts."""
    return t * t * (3.0 - 2.0 * t)


def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def _view(picture: Image.Image, zoom: float, ox: float, oy: float) -> Image.Image:
    """The part of ``picture`` the camera sees, scaled back to the picture's size."""
    from PIL import Image

    if abs(zoom - 1.0) < 1e-9:
        return picture
    width, height = picture.size
    scale = 1.0 / zoom
    slack = 0.5 * (1.0 - scale)  # how far the window's centre may move from the middle
    left = ((0.5 + ox * slack) - 0.5 * scale) * width
    top = ((0.5 + oy * slack) - 0.5 * scale) * height
    # A fractional box rather than a whole-pixel crop: slow moves glide instead of stepping a
    # pixel at a time (and resizing a box is several times faster than an affine transform).
    box = (left, top, left + width * scale, top + height * scale)
    return picture.resize(picture.size, Image.Resampling.BILINEAR, box=box)


def camera_frame(picture: Image.Image, camera: Camera, frames: int, index: int) -> Image.Image:
    t = _ease(index / (frames - 1)) if frames > 1 else 0.0
    (sx, sy), (ex, ey) = camera.offset
    zoom = _lerp(camera.zoom[0], camera.zoom[1], t)
    return _view(picture, zoom, _lerp(sx, ex, t), _lerp(sy, ey, t))


@dataclass(frozen=True, slots=True)
class Passage:
    """Keyframe mode's shared framing: how far the zoom swells and towards which spot."""

    amount: float
    offset: tuple[float, float]

    @classmethod
    def for_seed(cls, seed: int) -> Passage:
        rng = random.Random(stable_seed("keyframes", seed))
        return cls(rng.uniform(0.04, 0.08), (rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5)))


def keyframe_frame(
    first: Image.Image, last: Image.Image, passage: Passage, frames: int, index: int
) -> Image.Image:
    """First to last: an eased cross-fade under one shared zoom that swells and settles.

    Both pictures are framed alike at every step, so the fade never doubles an edge the way
    two differently moving pictures would, and the clip's ends are the two pictures
    themselves, so clips chained through shared keyframes join without a jump.
    """
    from PIL import Image

    t = index / (frames - 1) if frames > 1 else 1.0
    mix = _ease(t)
    if mix <= 0.0:
        picture = first
    elif mix >= 1.0:
        picture = last
    else:
        # Blending before framing equals framing both and blending (both are linear), at
        # half the resampling.
        picture = Image.blend(first, last, mix)
    return _view(picture, 1.0 + passage.amount * math.sin(math.pi * t), *passage.offset)


def _ahead(make: Callable[[int], T], count: int, depth: int = 4) -> Generator[T, None, None]:
    """``make(0) .. make(count - 1)`` computed in a helper thread a few items ahead.

    Drawing a frame (Pillow) and encoding one (x264) both run without the GIL, so on two cores
    they overlap; the window keeps memory to a few frames however long the clip.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="storygate-frames") as pool:
        pending = deque(pool.submit(make, i) for i in range(min(depth, count)))
        try:
            for i in range(depth, count + depth):
                item = pending.popleft().result()
                if i < count:
                    pending.append(pool.submit(make, i))
                yield item
        finally:
            for future in pending:
                future.cancel()


def x264_options(width: int) -> dict[str, str]:
    """The encoder's settings for a clip ``width`` pixels wide.

    When the width is no multiple of 32, x264's macroblock-tree pass reads stack memory it never
    wrote (valgrind shows it for 200, 336, 360, 720 wide and not for 256, 320, 352, 416, 640),
    and equal requests came out differently after other clips had run in the same process.
    Those widths (360 for 9:16, 720, ...) go without that pass: their files are two to three
    times larger at the same quality setting, but the same every time.
    """
    options = {"preset": PRESET, "crf": str(CRF), "threads": ENCODER_THREADS}
    if width % 32:
        options["x264-params"] = "mbtree=0"
    return options


def encode_mp4(make: Callable[[int], Image.Image], count: int, width: int, height: int) -> bytes:
    """``count`` pictures, ``make(index)`` each, as H.264 (yuv420p, BT.709 tags) in an MP4 with
    its index up front, for players that stream.

    The muxer writes to a scratch file, not memory: moving the index to the front reopens the
    file by name, which an in-memory buffer does not have.
    """
    try:
        import av
    except ImportError:
        raise ModelUnavailable("video_unavailable", f"offline video {_MISSING}") from None
    if "libx264" not in av.codecs_available:
        # PyAV built against a system FFmpeg without x264; the PyPI wheels carry it.
        raise ModelUnavailable("video_unavailable", "offline video needs PyAV with libx264")
    from av.video.reformatter import ColorRange, Colorspace

    def frame(index: int) -> Any:
        converted = av.VideoFrame.from_image(make(index)).reformat(
            format="yuv420p",
            src_colorspace=Colorspace.ITU709,
            dst_colorspace=Colorspace.ITU709,
            src_color_range=ColorRange.JPEG,
            dst_color_range=ColorRange.MPEG,
            threads=1,
        )
        converted.pts, converted.time_base = index, Fraction(1, FPS)
        return converted

    with tempfile.TemporaryDirectory(prefix="storygate-video-") as scratch:
        path = Path(scratch) / "clip.mp4"
        options = {"movflags": "+faststart"}
        with av.open(str(path), mode="w", format="mp4", options=options) as container:
            stream = container.add_stream("libx264", rate=FPS, options=x264_options(width))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            context = stream.codec_context
            # Tagged as what it is (BT.709, limited range); untagged, players guess, and guess
            # differently for small and HD frames.
            context.colorspace = context.color_primaries = context.color_trc = 1
            context.color_range = int(ColorRange.MPEG)
            with closing(_ahead(frame, count)) as frames:
                for converted in frames:
                    container.mux(stream.encode(converted))
            container.mux(stream.encode(None))
        return path.read_bytes()


def _check(request: VideoRequest) -> None:
    # yuv420p stores colour for 2x2 pixel blocks, so x264 refuses odd sizes; rounding here
    # would hand back a clip of a size nobody asked for, so the caller hears about it instead.
    if request.width <= 0 or request.height <= 0:
        raise ValueError(f"video size must be positive, not {request.width}x{request.height}")
    if request.width % 2 or request.height % 2:
        raise ValueError(
            f"video width and height must be even for H.264 (yuv420p), "
            f"not {request.width}x{request.height}"
        )
    if not math.isfinite(request.seconds) or request.seconds <= 0:
        raise ValueError(f"video length must be a positive number of seconds: {request.seconds}")


def render(request: VideoRequest) -> bytes:
    """The whole clip, synchronously (CPU work: callers on an event loop use a thread)."""
    _check(request)
    size = (request.width, request.height)
    first = exact_size(request.first, *size)
    count = frame_count(request.seconds)
    if request.last is not None:
        last = exact_size(request.last, *size)
        passage = Passage.for_seed(request.seed)
        return encode_mp4(lambda i: keyframe_frame(first, last, passage, count, i), count, *size)
    camera = camera_for(request.prompt, request.seed)
    return encode_mp4(lambda i: camera_frame(first, camera, count, i), count, *size)


class FrameAnimator:
    """The offline :class:`~workers.backends.base.Animator` (instant and local sets).

    Clips are 24 fps and exactly the asked size and length (``round(seconds * 24)`` frames).
    Width and height must be even, as H.264's yuv420p needs; an odd one is a ``ValueError``
    rather than a clip one pixel off. Equal requests give byte-identical files for a given
    PyAV build.
    """

    name = "frames"

    def capability(self) -> Capability:
        import importlib.util

        available = importlib.util.find_spec("av") is not None
        note = (
            "camera moves and keyframe cross-fades over still frames, H.264 MP4"
            if available
            else f"offline video {_MISSING}"
        )
        return Capability(
            kind="video", backend="local", model=MODEL, available=available, note=note
        )

    async def animate(self, request: VideoRequest) -> bytes:
        _check(request)
        return await asyncio.to_thread(render, request)
