"""A table read as a video: a title card, then each line's speaker and words over its scene's
backdrop, cut to the voices, with the read's audio under it (H.264 + AAC in an MP4).

The picture changes only where a line starts, so each distinct picture (a "shot") is drawn
and converted to YUV once and the same frame is handed to x264 again for every tick it stays
up; at a few frames a second x264 spends almost nothing on the repeats (they are all skipped
macroblocks). The audio is the MP3 decoded and encoded again as AAC, every sample kept, so the
video is exactly as long as what a player hears from the MP3.

PyAV and Pillow are imported on first use only, like ``animation``.
"""

from __future__ import annotations

import io
import math
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.core.errors import ModelUnavailable
from workers.backends.base import exact_size
from workers.backends.local.animation import x264_options

if TYPE_CHECKING:
    from PIL import Image, ImageFont

__all__ = [
    "FONT_DIR",
    "FPS",
    "HEIGHT",
    "WIDTH",
    "Caption",
    "Cut",
    "Rendered",
    "Scene",
    "font_source",
    "render_read",
    "shot_starts",
]

WIDTH, HEIGHT, FPS = 1280, 720, 6
# The title card stays up this long (or until the first line starts, if later); a line that
# starts under it has its words on the card, so no caption ever lags its voice.
TITLE_MS = 3000
# A keyframe at least this often, so a player can seek anywhere in a long read.
KEYFRAME_S = 4
AUDIO_BITRATE = 96_000
# Debian's fonts-dejavu-core; without it, Pillow's own bundled face.
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_REGULAR, _BOLD = "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"
ACCENT = (255, 204, 102)
INK = (250, 250, 245)
MAX_CAPTION_LINES = 4


@dataclass(frozen=True, slots=True)
class Scene:
    """One scene's heading and backdrop (``None``: a plain dark backdrop)."""

    title: str
    backdrop: Image.Image | None = None


@dataclass(frozen=True, slots=True)
class Caption:
    """One line on screen from ``start_ms`` until the next one starts."""

    start_ms: int
    speaker: str
    text: str
    scene: int  # index into Cut.scenes


@dataclass(frozen=True, slots=True)
class Cut:
    """Everything on screen. Width and height must be even (yuv420p)."""

    title: str
    subtitle: str
    scenes: tuple[Scene, ...]
    captions: tuple[Caption, ...]
    width: int = WIDTH
    height: int = HEIGHT
    fps: int = FPS


@dataclass(frozen=True, slots=True)
class Rendered:
    data: bytes
    duration_ms: int  # the audio's, which the video track never outlasts
    frames: int
    shots: int
    audio_codec: str


@dataclass(frozen=True, slots=True)
class _Shot:
    frame: int  # the first frame it is on
    title: bool
    caption: int | None
    scene: int


def font_source() -> str:
    """Which face draws the words: ``"dejavu"`` or ``"pillow-default"``."""
    return "dejavu" if (FONT_DIR / _REGULAR).is_file() else "pillow-default"


class _Fonts:
    """Faces by (size, bold) for one render."""

    def __init__(self) -> None:
        self._faces: dict[tuple[int, bool], ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}

    def __call__(self, size: int, bold: bool = False) -> Any:
        from PIL import ImageFont

        key = (size, bold)
        if key not in self._faces:
            path = FONT_DIR / (_BOLD if bold else _REGULAR)
            self._faces[key] = (
                ImageFont.truetype(str(path), size)
                if path.is_file()
                else ImageFont.load_default(size=size)
            )
        return self._faces[key]


def _wrap(font: Any, text: str, width: float) -> list[str]:
    """Greedy word wrap; a word wider than a line is cut where it must be."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        while font.getlength(word) > width and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and font.getlength(word[:cut]) > width:
                cut -= 1
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:cut])
            word = word[cut:]
        candidate = f"{line} {word}" if line else word
        if line and font.getlength(candidate) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


def _fit(fonts: _Fonts, text: str, width: float, sizes: Sequence[int], most: int) -> Any:
    """The largest of ``sizes`` at which ``text`` wraps into ``most`` lines, and those lines
    (the smallest size's first lines, ending in an ellipsis, when none fits)."""
    for size in sizes:
        lines = _wrap(fonts(size), text, width)
        if len(lines) <= most:
            return fonts(size), lines
    font = fonts(sizes[-1])
    lines = _wrap(font, text, width)[:most]
    if lines:
        lines[-1] = lines[-1].rstrip(" .,;:") + "\u2026"
    return font, lines


def _line_height(font: Any) -> int:
    ascent, descent = font.getmetrics() if hasattr(font, "getmetrics") else (font.size, 0)
    return int((ascent + descent) * 1.15)


def _backdrop(scene: Scene | None, width: int, height: int, dim: float) -> Image.Image:
    from PIL import Image, ImageEnhance

    if scene is None or scene.backdrop is None:
        return Image.new("RGB", (width, height), (24, 26, 34))
    picture = exact_size(scene.backdrop, width, height)
    return ImageEnhance.Brightness(picture).enhance(dim)


class _Painter:
    """Draws the shots of one cut, each scene's prepared backdrops kept for its lines."""

    def __init__(self, cut: Cut) -> None:
        self.cut = cut
        self.fonts = _Fonts()
        self._plates: dict[tuple[int, bool], Image.Image] = {}

    def _plate(self, scene: int, title: bool) -> Image.Image:
        from PIL import ImageFilter

        key = (scene, title)
        if key not in self._plates:
            found = self.cut.scenes[scene] if 0 <= scene < len(self.cut.scenes) else None
            plate = _backdrop(found, self.cut.width, self.cut.height, 0.45 if title else 0.8)
            if title:
                plate = plate.filter(ImageFilter.GaussianBlur(self.cut.height / 90))
            self._plates[key] = plate.convert("RGBA")
        return self._plates[key]

    def shot(self, shot: _Shot) -> Image.Image:
        from PIL import Image, ImageDraw

        cut = self.cut
        w, h = cut.width, cut.height
        layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        if shot.title:
            self._title(draw)
        elif 0 <= shot.scene < len(cut.scenes) and cut.scenes[shot.scene].title:
            self._heading(draw, shot.scene)
        if shot.caption is not None:
            self._caption(draw, cut.captions[shot.caption])
        return Image.alpha_composite(self._plate(shot.scene, shot.title), layer).convert("RGB")

    def _title(self, draw: Any) -> None:
        w, h = self.cut.width, self.cut.height
        font, lines = _fit(
            self.fonts,
            self.cut.title or "Table read",
            w * 0.8,
            [round(h * f) for f in (0.1, 0.085, 0.07, 0.06)],
            3,
        )
        sub_font, sub_lines = _fit(
            self.fonts, self.cut.subtitle, w * 0.7, [round(h * 0.04), round(h * 0.033)], 2
        )
        step, sub_step = _line_height(font), _line_height(sub_font)
        total = step * len(lines) + (h * 0.03 + sub_step * len(sub_lines) if sub_lines else 0)
        # Centred in the upper part, clear of a caption under it.
        y = max(h * 0.08, h * 0.36 - total / 2)
        for line in lines:
            draw.text(
                (w / 2, y),
                line,
                font=font,
                fill=INK,
                anchor="ma",
                stroke_width=max(1, h // 360),
                stroke_fill=(0, 0, 0),
            )
            y += step
        y += h * 0.03
        for line in sub_lines:
            draw.text((w / 2, y), line, font=sub_font, fill=ACCENT, anchor="ma")
            y += sub_step

    def _heading(self, draw: Any, scene: int) -> None:
        h = self.cut.height
        font = self.fonts(round(h * 0.028), bold=True)
        text = f"SCENE {scene + 1} \u00b7 {self.cut.scenes[scene].title}".upper()
        text = _fit(self.fonts, text, self.cut.width * 0.6, [round(h * 0.028)], 1)[1][0]
        pad, x, y = h * 0.012, h * 0.04, h * 0.04
        box = draw.textbbox((x, y), text, font=font)
        draw.rounded_rectangle(
            (box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad),
            radius=pad,
            fill=(0, 0, 0, 140),
        )
        draw.text((x, y), text, font=font, fill=INK)

    def _caption(self, draw: Any, caption: Caption) -> None:
        w, h = self.cut.width, self.cut.height
        margin, pad = w * 0.06, h * 0.03
        name_font = self.fonts(round(h * 0.042), bold=True)
        font, lines = _fit(
            self.fonts,
            caption.text,
            w - 2 * (margin + pad),
            [round(h * f) for f in (0.052, 0.045, 0.039, 0.034)],
            MAX_CAPTION_LINES,
        )
        name_step, step = _line_height(name_font), _line_height(font)
        height = name_step + step * len(lines) + 2 * pad
        top = h * 0.94 - height
        draw.rounded_rectangle(
            (margin, top, w - margin, h * 0.94), radius=pad, fill=(8, 8, 12, 178)
        )
        x, y = margin + pad, top + pad
        draw.text((x, y), caption.speaker, font=name_font, fill=ACCENT)
        y += name_step
        for line in lines:
            draw.text((x, y), line, font=font, fill=INK)
            y += step


def shot_starts(cut: Cut, frames: int) -> list[_Shot]:
    """The distinct pictures in order, each with the frame it first shows on: a line shows
    from the frame nearest its start; the title card for :data:`TITLE_MS` (or until the first
    line starts, if later)."""
    fps = cut.fps
    first = cut.captions[0].start_ms if cut.captions else 0
    title_end = round(max(TITLE_MS, first) * fps / 1000)
    starts: list[tuple[int, int | None]] = [(0, None)]
    for i, caption in enumerate(cut.captions):
        starts.append((max(0, round(caption.start_ms * fps / 1000)), i))
    shots: list[_Shot] = []
    cuts = sorted({0, title_end, *(f for f, _ in starts)})
    for frame in cuts:
        if frame >= frames:
            break
        showing = [c for f, c in starts if f <= frame][-1]
        scene = cut.captions[showing].scene if showing is not None else 0
        shots.append(_Shot(frame, frame < title_end, showing, scene))
    return shots


def _decode_audio(av: Any, audio: bytes) -> tuple[list[Any], int, int]:
    """Every decoded frame of the MP3, its rate and its length in samples."""
    frames: list[Any] = []
    with av.open(io.BytesIO(audio), mode="r") as source:
        stream = source.streams.audio[0]
        for frame in source.decode(stream):
            frame.pts = None
            frames.append(frame)
    if not frames:
        raise ValueError("no audio in the read")
    rate = int(frames[0].sample_rate)
    return frames, rate, sum(int(f.samples) for f in frames)


def _audio_codec(av: Any) -> str:
    for name in ("aac", "libmp3lame"):
        try:
            av.Codec(name, "w")
        except Exception:  # PyAV's UnknownCodecError and friends  # noqa: S112
            continue
        return name
    raise ModelUnavailable("video_unavailable", "PyAV has neither an AAC nor an MP3 encoder")


def render_read(cut: Cut, audio: bytes) -> Rendered:
    """The whole MP4, synchronously (CPU work: callers on an event loop use a thread)."""
    if cut.width <= 0 or cut.height <= 0 or cut.width % 2 or cut.height % 2:
        raise ValueError(f"video size must be positive and even, not {cut.width}x{cut.height}")
    if cut.fps <= 0:
        raise ValueError(f"frame rate must be positive, not {cut.fps}")
    try:
        import av
    except ImportError:
        raise ModelUnavailable("video_unavailable", "video needs PyAV: pip install av") from None
    if "libx264" not in av.codecs_available:
        raise ModelUnavailable("video_unavailable", "video needs PyAV with libx264")
    from av.video.reformatter import ColorRange, Colorspace

    sound, rate, samples = _decode_audio(av, audio)
    duration_s = samples / rate
    # Never longer than the sound: the last picture stays up to its end in every player.
    count = max(1, math.floor(duration_s * cut.fps))
    shots = shot_starts(cut, count)
    painter = _Painter(cut)
    codec = _audio_codec(av)

    def converted(shot: _Shot) -> Any:
        return av.VideoFrame.from_image(painter.shot(shot)).reformat(
            format="yuv420p",
            src_colorspace=Colorspace.ITU709,
            dst_colorspace=Colorspace.ITU709,
            src_color_range=ColorRange.JPEG,
            dst_color_range=ColorRange.MPEG,
        )

    def pictures() -> Iterator[tuple[float, Any]]:
        bounds = [s.frame for s in shots[1:]] + [count]
        for shot, end in zip(shots, bounds, strict=True):
            frame = converted(shot)
            for index in range(shot.frame, end):
                frame.pts, frame.time_base = index, Fraction(1, cut.fps)
                yield index / cut.fps, frame

    def sounds() -> Iterator[tuple[float, Any]]:
        at = 0
        for frame in sound:
            yield at / rate, frame
            at += int(frame.samples)

    with tempfile.TemporaryDirectory(prefix="storygate-read-video-") as scratch:
        path = Path(scratch) / "read.mp4"
        with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            video = out.add_stream("libx264", rate=cut.fps, options=x264_options(cut.width))
            video.width, video.height, video.pix_fmt = cut.width, cut.height, "yuv420p"
            context = video.codec_context
            context.colorspace = context.color_primaries = context.color_trc = 1
            context.color_range = int(ColorRange.MPEG)
            context.gop_size = cut.fps * KEYFRAME_S
            track: Any = out.add_stream(codec, rate=rate)
            track.layout = "mono"
            track.bit_rate = AUDIO_BITRATE
            # Interleaved in time, so a player streaming the file gets sound and picture
            # together rather than one whole track after the other.
            streams = (pictures(), sounds())
            heads: list[tuple[float, Any] | None] = [next(s, None) for s in streams]
            while any(h is not None for h in heads):
                pick = min(
                    (i for i, h in enumerate(heads) if h is not None),
                    key=lambda i: heads[i][0],  # type: ignore[index]
                )
                item = heads[pick]
                assert item is not None
                out.mux((video, track)[pick].encode(item[1]))
                heads[pick] = next(streams[pick], None)
            out.mux(video.encode(None))
            out.mux(track.encode(None))
        data = path.read_bytes()
    return Rendered(data, round(duration_s * 1000), count, len(shots), codec)
