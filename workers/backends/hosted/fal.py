"""fal.ai pictures (:class:`FalIllustrator`) and image-to-video clips (:class:`FalVideo`).

Both talk to fal through ``fal_client.AsyncClient`` (created on first use, so the SDK is
imported only by a process that actually draws) and fetch the finished file from the URL fal
returns. The SDK client and the HTTP client are constructor arguments: tests hand in local
fakes with the same methods, since no provider is reachable from a test machine.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from PIL import Image

from gateway.core.errors import UpstreamError
from workers.backends.base import Capability, ImagePrompt, VideoRequest, exact_size
from workers.backends.hosted import MISSING_EXTRA, provider_call

__all__ = [
    "DEFAULT_IMAGE_MODEL",
    "DEFAULT_VIDEO_MODEL",
    "FalClient",
    "FalIllustrator",
    "FalVideo",
    "HttpClient",
]

log = logging.getLogger("storygate.backends.fal")

DEFAULT_IMAGE_MODEL = "fal-ai/flux/schnell"
DEFAULT_VIDEO_MODEL = "fal-ai/kling-video/v1/standard/image-to-video"
PROVIDER = "fal.ai"
# Requests in flight at once per illustrator: fal queues the rest anyway, and a book's pages
# arriving together would otherwise all wait on the same timeout.
DEFAULT_CONCURRENCY = 4
_SEED_RANGE = 2**32
_LOCAL_GRACE_S = 2.0
_MP4_MARK = b"ftyp"


class FalClient(Protocol):
    """The part of ``fal_client.AsyncClient`` these wrappers use."""

    async def subscribe(
        self, application: str, arguments: dict[str, Any], *, client_timeout: float | None = None
    ) -> dict[str, Any]: ...

    async def upload(self, data: bytes, content_type: str, file_name: str | None = None) -> str: ...


class HttpResponse(Protocol):
    content: bytes

    def raise_for_status(self) -> Any: ...


class HttpClient(Protocol):
    """The part of ``httpx.AsyncClient`` used to fetch a result file."""

    async def get(self, url: str) -> Any: ...


class _FalBase:
    """Key handling, lazy SDK client and result download shared by pictures and video."""

    def __init__(
        self,
        key: str,
        *,
        model: str,
        timeout: float,
        client: FalClient | None,
        http: HttpClient | None,
    ) -> None:
        self._key = key
        self.model = model
        self.timeout = timeout
        self._client = client
        self._http = http

    def __repr__(self) -> str:
        # Never the key, whatever prints this object.
        return f"{type(self).__name__}(model={self.model!r})"

    def _fal(self) -> FalClient:
        if self._client is None:
            import fal_client

            self._client = fal_client.AsyncClient(key=self._key)
        return self._client

    def _unavailable_note(self) -> str:
        if not self._key:
            return "no fal.ai key configured (STORYGATE_FAL_KEY)"
        if self._client is None:
            import importlib.util

            if importlib.util.find_spec("fal_client") is None:
                return f"fal.ai {MISSING_EXTRA}"
        return ""

    async def _run(
        self, what: str, arguments: dict[str, Any], *, model: str = ""
    ) -> dict[str, Any]:
        # fal's own client timeout also cancels the queued request, so it is given the first
        # chance to fire; a fal run left going after we gave up would still be billed.
        async with provider_call(
            PROVIDER, what, seconds=self.timeout, secrets=(self._key,), grace=_LOCAL_GRACE_S
        ):
            result = await self._fal().subscribe(
                model or self.model, arguments=arguments, client_timeout=self.timeout
            )
        if not isinstance(result, Mapping):
            raise UpstreamError(f"the {what} provider ({PROVIDER}) returned no result")
        return dict(result)

    async def _fetch(self, what: str, url: str) -> bytes:
        """The bytes behind a result URL; fal answers in sync mode with a data URI instead."""
        if url.startswith("data:"):
            try:
                header, _, payload = url.partition(",")
                if header.endswith(";base64"):
                    return base64.b64decode(payload, validate=True)
                return payload.encode()
            except ValueError:
                raise UpstreamError(
                    f"the {what} provider ({PROVIDER}) returned an unreadable file"
                ) from None
        async with provider_call(PROVIDER, what, seconds=self.timeout, secrets=(self._key,)):
            if self._http is not None:
                return await _download(self._http, url)
            import httpx

            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=True) as http:
                return await _download(http, url)


async def _download(http: HttpClient, url: str) -> bytes:
    response = await http.get(url)
    response.raise_for_status()
    return bytes(response.content)


def _file_url(result: Mapping[str, Any], field: str, what: str) -> str:
    """``result[field]`` is either a list of file objects (images) or one file (video)."""
    value = result.get(field)
    if isinstance(value, list):
        value = value[0] if value else None
    url = value.get("url") if isinstance(value, Mapping) else None
    if not isinstance(url, str) or not url:
        raise UpstreamError(f"the {what} provider ({PROVIDER}) returned no {field}")
    return url


def _to_picture(data: bytes, width: int, height: int) -> Image.Image:
    """Whatever fal sent (PNG, JPEG, WebP) as an RGB picture of exactly the asked size.

    Models round sizes to their own multiples; the pipelines lay pages out for the size they
    asked for, so the picture is brought to it here.
    """
    try:
        with Image.open(io.BytesIO(data)) as source:
            picture = source.convert("RGB")
    except Exception:
        raise UpstreamError(
            f"the picture provider ({PROVIDER}) returned no readable image"
        ) from None
    return exact_size(picture, width, height)


class FalIllustrator(_FalBase):
    """Pictures from a fal text-to-image model (FLUX schnell unless configured otherwise)."""

    name = "fal"

    def __init__(
        self,
        key: str,
        *,
        model: str = DEFAULT_IMAGE_MODEL,
        timeout: float = 120.0,
        concurrency: int = DEFAULT_CONCURRENCY,
        client: FalClient | None = None,
        http: HttpClient | None = None,
    ) -> None:
        super().__init__(key, model=model, timeout=timeout, client=client, http=http)
        self._concurrency = max(1, concurrency)

    def capability(self) -> Capability:
        note = self._unavailable_note()
        return Capability(
            kind="image",
            backend="fal",
            model=self.model,
            available=not note,
            note=note or "hosted text-to-image on fal.ai",
        )

    async def draw(self, prompts: Sequence[ImagePrompt]) -> list[Image.Image]:
        gate = asyncio.Semaphore(self._concurrency)

        async def one(prompt: ImagePrompt) -> Image.Image:
            async with gate:
                return await self._picture(prompt)

        # A failed page fails the batch with its own error (a TaskGroup would wrap it in an
        # ExceptionGroup), and the pages still being drawn are cancelled.
        tasks = [asyncio.create_task(one(p)) for p in prompts]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _picture(self, prompt: ImagePrompt) -> Image.Image:
        arguments = {
            "prompt": prompt.text,
            "image_size": {"width": prompt.width, "height": prompt.height},
            "seed": prompt.seed % _SEED_RANGE,
            "num_images": 1,
            "output_format": "png",
            "enable_safety_checker": True,
        }
        result = await self._run("picture", arguments, model=prompt.model)
        data = await self._fetch("picture", _file_url(result, "images", "picture"))
        return await asyncio.to_thread(_to_picture, data, prompt.width, prompt.height)


class FalVideo(_FalBase):
    """Short clips from a still picture, or between two (Kling image-to-video unless configured)."""

    name = "fal-video"

    def __init__(
        self,
        key: str,
        *,
        model: str = DEFAULT_VIDEO_MODEL,
        timeout: float = 300.0,
        client: FalClient | None = None,
        http: HttpClient | None = None,
    ) -> None:
        super().__init__(key, model=model, timeout=timeout, client=client, http=http)

    def capability(self) -> Capability:
        note = self._unavailable_note()
        return Capability(
            kind="video",
            backend="fal",
            model=self.model,
            available=not note,
            note=note or "hosted image-to-video on fal.ai (5 or 10 second clips)",
        )

    async def image_to_video(
        self, image_png: bytes, prompt: str, *, seconds: float = 5.0, seed: int = 0
    ) -> bytes:
        """An MP4 clip that starts from ``image_png`` and moves as ``prompt`` says."""
        return await self._clip(prompt, image_png, None, seconds=seconds, seed=seed, model="")

    async def animate(self, request: VideoRequest) -> bytes:
        """The :class:`~workers.backends.base.Animator` form: a clip from ``request.first``,
        ending on ``request.last`` when given (Kling's ``tail_image_url``; a model without end
        frames refuses it). ``request.model`` picks another fal endpoint for this one clip.

        fal sends back its own size at 5 or 10 s; the clip is returned as it came.
        """
        first, last = await asyncio.to_thread(_pngs, request.first, request.last)
        return await self._clip(
            request.prompt,
            first,
            last,
            seconds=request.seconds,
            seed=request.seed,
            model=request.model,
        )

    async def _clip(
        self,
        prompt: str,
        first_png: bytes,
        last_png: bytes | None,
        *,
        seconds: float,
        seed: int,
        model: str,
    ) -> bytes:
        """The pictures go up through fal's CDN upload, since the models take image URLs.
        Video models offer a few fixed lengths; the nearest one (5 or 10 s) is asked for."""
        async with provider_call(PROVIDER, "video", seconds=self.timeout, secrets=(self._key,)):
            fal = self._fal()
            arguments: dict[str, Any] = {
                "prompt": prompt,
                "image_url": await fal.upload(first_png, "image/png", file_name="frame.png"),
                "duration": "10" if seconds > 7.5 else "5",
                "seed": seed % _SEED_RANGE,
            }
            if last_png is not None:
                arguments["tail_image_url"] = await fal.upload(
                    last_png, "image/png", file_name="last.png"
                )
        result = await self._run("video", arguments, model=model)
        data = await self._fetch("video", _file_url(result, "video", "video"))
        if data[4:8] != _MP4_MARK:
            raise UpstreamError(f"the video provider ({PROVIDER}) returned no MP4 file")
        return data


def _pngs(first: Image.Image, last: Image.Image | None) -> tuple[bytes, bytes | None]:
    def png(picture: Image.Image) -> bytes:
        out = io.BytesIO()
        picture.save(out, format="PNG")
        return out.getvalue()

    return png(first), None if last is None else png(last)
