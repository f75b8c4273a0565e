"""The hosted providers over local fakes at the client boundary (no provider is reachable here).

The fakes have the methods the wrappers call on ``fal_client.AsyncClient`` and
``elevenlabs.AsyncElevenLabs``; the ElevenLabs fake's ``convert`` is an async generator, lazy
like the SDK's, so nothing happens until the answer is iterated. Result files are fetched
through a real ``httpx.AsyncClient`` on a mock transport. Where the SDKs are installed, their
own signatures are checked against the calls the wrappers make.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import inspect
import io
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from PIL import Image

from gateway.core.errors import UpstreamError
from tests.conftest import need
from workers.backends.base import Animator, ImagePrompt, Pcm, VideoRequest
from workers.backends.hosted import provider_call, redact
from workers.backends.hosted.elevenlabs import (
    OUTPUT_FORMAT,
    RATE,
    ElevenLabsAudio,
    ElevenLabsNarrator,
    split_text,
)
from workers.backends.hosted.fal import FalIllustrator, FalVideo

KEY = "fal-secret-key-0123456789abcdef"
XI_KEY = "xi-secret-key-abcdef0123456789"
IMAGE_URL = "https://v3.fal.media/files/pic.jpg"
VIDEO_URL = "https://v3.fal.media/files/clip.mp4"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64


def jpeg(size: tuple[int, int], color: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG")
    return out.getvalue()


def prompt(n: int = 0, size: tuple[int, int] = (96, 64)) -> ImagePrompt:
    return ImagePrompt(
        text=f"watercolor fox, page {n}",
        characters=(),
        setting="forest",
        style="watercolor",
        seed=2**40 + n,
        width=size[0],
        height=size[1],
    )


class FakeFal:
    """``subscribe`` and ``upload`` as fal_client.AsyncClient has them."""

    def __init__(
        self,
        result: dict[str, Any] | None = None,
        *,
        fail: Exception | None = None,
        fail_on: str = "",
        delay: float = 0.0,
        honour_timeout: bool = True,
    ) -> None:
        self.result = result or {"images": [{"url": IMAGE_URL, "content_type": "image/jpeg"}]}
        self.fail = fail
        self.fail_on = fail_on
        self.delay = delay
        self.honour_timeout = honour_timeout
        self.calls: list[tuple[str, dict[str, Any], float | None]] = []
        self.uploads: list[tuple[bytes, str, str | None]] = []
        self.cancelled = 0

    async def subscribe(
        self, application: str, arguments: dict[str, Any], *, client_timeout: float | None = None
    ) -> dict[str, Any]:
        self.calls.append((application, arguments, client_timeout))
        if self.fail is not None and self.fail_on in arguments.get("prompt", ""):
            raise self.fail
        try:
            if self.delay:
                wait = client_timeout if self.honour_timeout else None
                await asyncio.wait_for(asyncio.sleep(self.delay), wait)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return self.result

    async def upload(self, data: bytes, content_type: str, file_name: str | None = None) -> str:
        self.uploads.append((data, content_type, file_name))
        return "https://v3.fal.media/files/frame.png"


def files(mapping: dict[str, tuple[int, bytes]]) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        status, body = mapping.get(str(request.url), (404, b"no such file"))
        return httpx.Response(status, content=body)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def assert_secret_free(exc: BaseException, caplog: pytest.LogCaptureFixture, *keys: str) -> None:
    text = " ".join([str(exc), repr(exc), repr(getattr(exc, "details", "")), caplog.text])
    for key in keys:
        assert key not in text
    # Not chained either, so no traceback printer reaches the SDK's own message.
    assert exc.__cause__ is None and exc.__suppress_context__


# --- fal pictures ---------------------------------------------------------------------------


async def test_fal_draws_pictures_at_the_requested_size() -> None:
    fal = FakeFal()
    async with files({IMAGE_URL: (200, jpeg((128, 80)))}) as http:
        illustrator = FalIllustrator(
            KEY, model="fal-ai/flux/dev", timeout=30, client=fal, http=http
        )
        pictures = await illustrator.draw([prompt(0), prompt(1, (40, 30))])
    assert [p.mode for p in pictures] == ["RGB", "RGB"]
    assert [p.size for p in pictures] == [(96, 64), (40, 30)]
    app, arguments, client_timeout = fal.calls[0]
    assert app == "fal-ai/flux/dev" and client_timeout == 30
    assert arguments["prompt"] == "watercolor fox, page 0"
    assert arguments["image_size"] == {"width": 96, "height": 64}
    assert arguments["seed"] == (2**40) % 2**32 and arguments["num_images"] == 1


async def test_a_picture_may_name_its_own_fal_model() -> None:
    """A StoryNote modelId reaches fal as the endpoint of that one picture."""
    fal = FakeFal()
    async with files({IMAGE_URL: (200, jpeg((96, 64)))}) as http:
        illustrator = FalIllustrator(KEY, model="fal-ai/flux/dev", client=fal, http=http)
        await illustrator.draw([replace(prompt(0), model="fal-ai/flux-2"), prompt(1)])
    assert sorted(call[0] for call in fal.calls) == ["fal-ai/flux-2", "fal-ai/flux/dev"]


async def test_fal_accepts_a_data_uri_result() -> None:
    payload = base64.b64encode(jpeg((96, 64))).decode()
    fal = FakeFal({"images": [{"url": f"data:image/jpeg;base64,{payload}"}]})
    # No HTTP client at all: a data URI must not be fetched.
    (picture,) = await FalIllustrator(KEY, client=fal, http=files({})).draw([prompt()])
    assert picture.mode == "RGB" and picture.size == (96, 64)


@pytest.mark.parametrize(
    ("result", "served"),
    [
        ({"images": []}, {}),
        ({"detail": "nsfw"}, {}),
        (None, {IMAGE_URL: (500, b"oops")}),
        (None, {IMAGE_URL: (200, b"<html>not an image</html>")}),
    ],
    ids=["no-images", "no-field", "fetch-500", "not-an-image"],
)
async def test_fal_bad_answers_are_upstream_errors(
    result: dict[str, Any] | None, served: dict[str, tuple[int, bytes]]
) -> None:
    async with files(served) as http:
        illustrator = FalIllustrator(KEY, client=FakeFal(result), http=http)
        with pytest.raises(UpstreamError) as caught:
            await illustrator.draw([prompt()])
    assert caught.value.code == "upstream_error"
    assert "fal.ai" in caught.value.message


async def test_fal_failure_fails_the_batch_and_hides_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    error = RuntimeError(f"401 Unauthorized: key {KEY} is not valid")
    fal = FakeFal(fail=error, fail_on="page 1", delay=5)
    async with files({IMAGE_URL: (200, jpeg((96, 64)))}) as http:
        illustrator = FalIllustrator(KEY, client=fal, http=http, concurrency=2)
        with pytest.raises(UpstreamError) as caught:
            await illustrator.draw([prompt(n) for n in range(6)])
    # The error itself, not an ExceptionGroup, and every other page in flight is cancelled
    # rather than left running (and billed) after the book has failed.
    assert "RuntimeError" in caught.value.message
    assert fal.cancelled == len(fal.calls) - 1 >= 1
    assert_secret_free(caught.value, caplog, KEY)
    assert "[redacted]" in caplog.text  # the operator still sees what happened


# The outer bound in the two tests below is no speed check: it only turns "the 0.2 s timeout
# never fired" (a wait for an answer that comes after 30 s, or never) into a failure.


async def test_fal_timeout_is_an_upstream_error() -> None:
    fal = FakeFal(delay=30)
    illustrator = FalIllustrator(KEY, timeout=0.2, client=fal, http=files({}))
    async with asyncio.timeout(15):
        with pytest.raises(UpstreamError, match=r"did not answer within 0\.2 seconds"):
            await illustrator.draw([prompt()])


async def test_local_deadline_backs_up_a_client_that_ignores_its_timeout() -> None:
    never = asyncio.Event()  # a client that would wait forever
    async with asyncio.timeout(15):
        with pytest.raises(UpstreamError, match="did not answer"):
            async with provider_call("fal.ai", "picture", seconds=0.1, grace=0.1):
                await never.wait()


def test_fal_capability_and_repr() -> None:
    illustrator = FalIllustrator(KEY, model="fal-ai/flux/schnell", client=FakeFal())
    cap = illustrator.capability()
    assert (cap.kind, cap.backend, cap.model, cap.available) == (
        "image",
        "fal",
        "fal-ai/flux/schnell",
        True,
    )
    missing = FalIllustrator("", client=FakeFal()).capability()
    assert not missing.available and "STORYGATE_FAL_KEY" in missing.note
    assert KEY not in repr(illustrator) and KEY not in repr(cap)


# --- fal video ------------------------------------------------------------------------------


async def test_fal_video_uploads_the_frame_and_returns_mp4() -> None:
    fal = FakeFal({"video": {"url": VIDEO_URL, "content_type": "video/mp4"}})
    frame = jpeg((64, 64))
    async with files({VIDEO_URL: (200, MP4)}) as http:
        video = FalVideo(KEY, model="fal-ai/some-video", client=fal, http=http)
        clip = await video.image_to_video(frame, "the fox waves", seconds=9)
        assert clip == MP4
        assert fal.uploads == [(frame, "image/png", "frame.png")]
        app, arguments, _ = fal.calls[0]
        assert app == "fal-ai/some-video"
        assert arguments["image_url"] == "https://v3.fal.media/files/frame.png"
        assert (arguments["prompt"], arguments["duration"]) == ("the fox waves", "10")
        assert video.capability().kind == "video"


async def test_fal_video_rejects_a_non_mp4_answer() -> None:
    fal = FakeFal({"video": {"url": VIDEO_URL}})
    async with files({VIDEO_URL: (200, b"<html>error page</html>")}) as http:
        with pytest.raises(UpstreamError, match="no MP4"):
            await FalVideo(KEY, client=fal, http=http).image_to_video(b"png", "waves")


# --- ElevenLabs -----------------------------------------------------------------------------


def tone(frames: int) -> bytes:
    return b"".join(
        ((i * 37) % 2000 - 1000).to_bytes(2, "little", signed=True) for i in range(frames)
    )


class FakeStream:
    """Chunks cut at odd byte offsets, as a network stream may deliver them."""

    def __init__(self, owner: FakeElevenLabs, audio: bytes) -> None:
        self.owner = owner
        self.audio = audio

    async def convert(self, *args: Any, **kwargs: Any) -> AsyncIterator[bytes]:
        self.owner.calls.append((args, kwargs))
        # Like the SDK's: an async generator, so no work happens until iteration.
        self.owner.started += 1
        for start in range(0, len(self.audio), 333):
            if self.owner.delay:
                await asyncio.sleep(self.owner.delay)
            if self.owner.fail is not None and start > 0:
                raise self.owner.fail
            yield self.audio[start : start + 333]

    compose = convert


class FakeElevenLabs:
    def __init__(
        self, audio: bytes = b"", *, fail: Exception | None = None, delay: float = 0.0
    ) -> None:
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.started = 0
        self.fail = fail
        self.delay = delay
        stream = FakeStream(self, audio or tone(4000))
        self.text_to_speech = stream
        self.text_to_sound_effects = stream
        self.music = stream


async def test_elevenlabs_speaks_pcm_from_a_lazy_stream() -> None:
    audio = tone(4000) + b"\x07"  # a stray byte at the end of the stream
    fake = FakeElevenLabs(audio)
    narrator = ElevenLabsNarrator(XI_KEY, voice="voice-1", model="eleven_test", client=fake)
    pcm = await narrator.speak("Once upon a time, a fox found a lantern.", seed=2**33 + 5)
    assert isinstance(pcm, Pcm) and pcm.rate == RATE == 22050
    assert pcm.samples == audio[:-1] and pcm.frames == 4000
    assert fake.started == 1
    (_, kwargs) = fake.calls[0][0], fake.calls[0][1]
    assert kwargs == {
        "voice_id": "voice-1",
        "text": "Once upon a time, a fox found a lantern.",
        "model_id": "eleven_test",
        "output_format": OUTPUT_FORMAT,
        "seed": 5,
    }
    cap = narrator.capability()
    assert (cap.kind, cap.backend, cap.available) == ("speech", "elevenlabs", True)
    assert "eleven_test" in cap.model and "voice-1" in cap.model


async def test_elevenlabs_long_text_is_spoken_in_pieces() -> None:
    fake = FakeElevenLabs(tone(100))
    sentence = "The little fox walked all the way to the river and back again. "
    pcm = await ElevenLabsNarrator(XI_KEY, client=fake).speak(sentence * 150)
    assert len(fake.calls) >= 3
    assert all(len(kw["text"]) <= 4000 for _, kw in fake.calls)
    # Every piece's audio is in the result, with short pauses between them.
    assert pcm.frames > 100 * len(fake.calls)
    assert await ElevenLabsNarrator(XI_KEY, client=fake).speak("   ") == Pcm(b"", RATE)


def test_split_text_keeps_sentences_and_limits() -> None:
    assert split_text("One. Two! Three?", limit=9) == ["One. Two!", "Three?"]
    pieces = split_text("word " * 50, limit=40)
    assert all(0 < len(p) <= 40 for p in pieces)
    assert " ".join(pieces).split() == ["word"] * 50


async def test_elevenlabs_errors_mid_stream_are_upstream_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeElevenLabs(fail=ConnectionError(f"reset while sending xi-api-key {XI_KEY}"))
    with pytest.raises(UpstreamError) as caught:
        await ElevenLabsNarrator(XI_KEY, client=fake).speak("Hello there.")
    assert "ElevenLabs" in caught.value.message
    assert_secret_free(caught.value, caplog, XI_KEY)


async def test_elevenlabs_timeout_while_streaming() -> None:
    fake = FakeElevenLabs(delay=0.5)
    narrator = ElevenLabsNarrator(XI_KEY, timeout=0.2, client=fake)
    with pytest.raises(UpstreamError, match="did not answer within"):
        await narrator.speak("Hello there.")


async def test_elevenlabs_sound_and_music_clamp_their_lengths() -> None:
    fake = FakeElevenLabs(tone(500))
    audio = ElevenLabsAudio(XI_KEY, client=fake)
    effect = await audio.sound_effect("a door creaks", 90)
    song = await audio.music("a gentle lullaby", 1)
    assert effect.rate == song.rate == RATE and effect.frames == song.frames == 500
    (_, effect_kw), (_, music_kw) = fake.calls
    assert effect_kw["duration_seconds"] == 30 and effect_kw["text"] == "a door creaks"
    assert music_kw["music_length_ms"] == 3000 and music_kw["prompt"] == "a gentle lullaby"
    assert {c.kind for c in audio.capabilities()} == {"sfx", "music"}
    unkeyed = ElevenLabsAudio("", client=fake).capabilities()
    assert not any(c.available for c in unkeyed)
    assert "STORYGATE_ELEVENLABS_KEY" in unkeyed[0].note


def test_redact_replaces_every_secret() -> None:
    text = f"Authorization: Key {KEY}; xi-api-key: {XI_KEY}; short: abc"
    clean = redact(text, [KEY, XI_KEY, "abc", ""])
    assert KEY not in clean and XI_KEY not in clean
    assert clean.count("[redacted]") == 2 and "short: abc" in clean


# --- the real SDKs, without a network ---------------------------------------------------------


def test_calls_match_the_installed_fal_client() -> None:
    need(None if importlib.util.find_spec("fal_client") else "fal-client is not installed")
    import fal_client

    illustrator = FalIllustrator(KEY)
    client = illustrator._fal()
    assert isinstance(client, fal_client.AsyncClient)
    assert KEY not in repr(client) and KEY not in repr(illustrator)
    inspect.signature(client.subscribe).bind(
        "fal-ai/flux/schnell", arguments={"prompt": "x"}, client_timeout=1.0
    )
    inspect.signature(client.upload).bind(b"png", "image/png", file_name="frame.png")


def test_calls_match_the_installed_elevenlabs_sdk() -> None:
    need(None if importlib.util.find_spec("elevenlabs") else "elevenlabs is not installed")
    narrator = ElevenLabsNarrator(XI_KEY)
    sdk = narrator._sdk()
    convert = sdk.text_to_speech.convert
    # The SDK's convert is an async generator function: calling it must not send anything.
    assert inspect.isasyncgenfunction(convert)
    inspect.signature(convert).bind(
        voice_id="v", text="t", model_id="m", output_format=OUTPUT_FORMAT, seed=1
    )
    inspect.signature(sdk.text_to_sound_effects.convert).bind(
        text="t", duration_seconds=1.0, output_format=OUTPUT_FORMAT
    )
    inspect.signature(sdk.music.compose).bind(
        prompt="p", music_length_ms=3000, output_format=OUTPUT_FORMAT
    )
    assert XI_KEY not in repr(narrator)


# --- fal video as an Animator ----------------------------------------------------------------


def video_request(**changes: Any) -> VideoRequest:
    fields: dict[str, Any] = {
        "prompt": "the fox waves",
        "first": Image.new("RGB", (64, 36), (200, 80, 40)),
        "seconds": 3.0,
        "width": 64,
        "height": 36,
        "seed": 2**40 + 5,
    }
    return VideoRequest(**{**fields, **changes})


def png_color(data: bytes) -> object:
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.format == "PNG"
        return opened.convert("RGB").getpixel((0, 0))


async def test_fal_video_animates_from_the_first_frame() -> None:
    fal = FakeFal({"video": {"url": VIDEO_URL, "content_type": "video/mp4"}})
    async with files({VIDEO_URL: (200, MP4)}) as http:
        video = FalVideo(
            KEY, model="fal-ai/kling-video/v1/standard/image-to-video", client=fal, http=http
        )
        assert isinstance(video, Animator)
        clip = await video.animate(video_request())
    assert clip == MP4
    assert len(fal.uploads) == 1
    data, content_type, name = fal.uploads[0]
    assert (content_type, name) == ("image/png", "frame.png") and png_color(data) == (200, 80, 40)
    app, arguments, _ = fal.calls[0]
    assert app == "fal-ai/kling-video/v1/standard/image-to-video"
    assert arguments["image_url"] == "https://v3.fal.media/files/frame.png"
    assert "tail_image_url" not in arguments
    assert (arguments["prompt"], arguments["duration"]) == ("the fox waves", "5")
    assert arguments["seed"] == (2**40 + 5) % 2**32


async def test_fal_video_keyframes_go_up_as_the_tail_image() -> None:
    fal = FakeFal({"video": {"url": VIDEO_URL}})
    last = Image.new("RGB", (64, 36), (10, 40, 220))
    async with files({VIDEO_URL: (200, MP4)}) as http:
        video = FalVideo(KEY, client=fal, http=http)
        clip = await video.animate(video_request(last=last, seconds=9.0, model="fal-ai/other"))
    assert clip == MP4
    assert [png_color(data) for data, _, _ in fal.uploads] == [(200, 80, 40), (10, 40, 220)]
    assert [name for _, _, name in fal.uploads] == ["frame.png", "last.png"]
    app, arguments, _ = fal.calls[0]
    # The request's model is this clip's endpoint; the configured one stays as it was.
    assert app == "fal-ai/other" != video.model
    assert arguments["image_url"] == arguments["tail_image_url"]  # the fake's one URL
    assert arguments["duration"] == "10"


async def test_fal_video_animate_checks_the_answer_and_hides_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fal = FakeFal({"video": {"url": VIDEO_URL}})
    async with files({VIDEO_URL: (200, b"<html>error page</html>")}) as http:
        with pytest.raises(UpstreamError, match="no MP4"):
            await FalVideo(KEY, client=fal, http=http).animate(video_request())
    failing = FakeFal(fail=RuntimeError(f"401 bad key {KEY}"))
    with pytest.raises(UpstreamError) as caught:
        await FalVideo(KEY, client=failing).animate(video_request())
    assert_secret_free(caught.value, caplog, KEY)
