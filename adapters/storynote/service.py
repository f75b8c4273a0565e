"""StoryNote's policies over the shared core: projects, credits per model, one job per output.

A generation request is checked whole (project, model, parameters, frames) before anything is
written; then one core admission holds every job's price and creates every job, or none (eight
pictures that can pay for seven get a 402 and nothing else). A frame given by URL is read from
storage when it is a link this server signed, and otherwise fetched through the core's SSRF-safe
fetcher and kept in the new job's folder, so the job itself never reaches the network.
"""

from __future__ import annotations

import asyncio
import io
import math
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from adapters.common.jobs import find_job, plausible_id
from adapters.common.links import link_valid
from adapters.storynote.auth import FAMILY, Caller
from adapters.storynote.catalogue import Entry, resolve
from adapters.storynote.errors import StoryNoteError
from adapters.storynote.views import (
    KINDS,
    Linker,
    graph_of,
    job_of,
    project_of,
)
from contracts.storynote import (
    BATCH_MAX,
    SEED_MAX,
    AudioRequest,
    Frame,
    ImageAccepted,
    ImageRequest,
    Job,
    JobAccepted,
    JobBatch,
    MusicRequest,
    Project,
    ProjectGraph,
    SfxRequest,
    SpeechRequest,
    VideoRequest,
)
from gateway.core import layout
from gateway.core.admission import Charge, Order
from gateway.core.errors import NotFound
from gateway.core.ids import new_job_id
from gateway.core.jobs import JobStatus
from gateway.core.projects import ProjectInfo
from gateway.runtime import Runtime

UNIT = "storynote.credits"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
IMAGE_SIZES = {
    "1:1": (1024, 1024),
    "16:9": (1024, 576),
    "9:16": (576, 1024),
    "4:3": (1024, 768),
    "3:4": (768, 1024),
}
VIDEO_SIZES = {
    "1:1": (720, 720),
    "16:9": (960, 540),
    "9:16": (540, 960),
    "4:3": (960, 720),
    "3:4": (720, 960),
}
DEFAULT_SECONDS = {"sfx": 5.0, "music": 30.0}
_OUR_FILE = re.compile(r"^(?:/api)?/v1/files/([^/]+)/([^/]+)$")


@dataclass(frozen=True, slots=True)
class FrameSource:
    """Where a frame is stored, and the image job it came from when it is in this project."""

    account: str
    path: str
    url: str
    job_id: str | None = None
    # Bytes fetched from elsewhere, stored under the new job's folder once its id is known.
    data: bytes | None = None
    content_type: str = ""

    def param(self) -> dict[str, Any]:
        return {"account": self.account, "path": self.path, "url": self.url, "job_id": self.job_id}


def fal_endpoint(model_id: str) -> str:
    """The fal endpoint a hosted backend calls for a catalogue model (``nano-banana`` is
    ``fal-ai/nano-banana`` there); local backends ignore it."""
    return model_id if model_id.startswith("fal-ai/") else f"fal-ai/{model_id}"


def _seed(value: Any) -> int:
    return int(value) if isinstance(value, int) else secrets.randbelow(2**31)


def _nearest_aspect(width: int, height: int) -> str:
    ratio = width / max(1, height)
    return min(VIDEO_SIZES, key=lambda a: abs(math.log(ratio / _ratio(a))))


def _ratio(aspect: str) -> float:
    w, _, h = aspect.partition(":")
    return int(w) / int(h)


def _image_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as picture:
        picture.verify()
        return picture.size


class StoryNote:
    """One request's view of the family; holds no state of its own."""

    def __init__(self, runtime: Runtime, caller: Caller, base_url: str) -> None:
        self.rt = runtime
        self.caller = caller
        settings = runtime.settings
        self.linker = Linker(
            runtime.storage, settings.public_base_url or base_url, settings.signed_url_seconds
        )

    # -- projects ---------------------------------------------------------------------------

    async def create_project(self, name: str) -> Project:
        project = await self.rt.projects.create(self.caller.account_id, FAMILY, name)
        return project_of(project)

    async def projects(self) -> list[Project]:
        found, after = await self.rt.projects.page(self.caller.account_id, FAMILY, limit=1000)
        out = [project_of(p) for p in found]
        while after is not None:
            more, after = await self.rt.projects.page(
                self.caller.account_id, FAMILY, limit=1000, after=after
            )
            out += [project_of(p) for p in more]
        return out

    async def _project(self, project_id: str) -> ProjectInfo:
        if not plausible_id(project_id):
            raise StoryNoteError(404, "Project not found")
        try:
            return await self.rt.projects.get(project_id, self.caller.account_id, FAMILY)
        except NotFound:
            raise StoryNoteError(404, "Project not found") from None

    async def project(self, project_id: str) -> ProjectGraph:
        project = await self._project(project_id)
        jobs = await self.rt.jobs.of_subject(self.caller.account_id, project.id, family=FAMILY)
        return graph_of(project, jobs, self.linker)

    # -- generation -------------------------------------------------------------------------

    def _model(self, kind: str, model_id: Any) -> Entry:
        return resolve(kind, model_id or None, self.rt.backends.capabilities())

    async def image(self, project_id: str, body: ImageRequest) -> ImageAccepted:
        project = await self._project(project_id)
        model = self._model("image", body.modelId or None)
        aspect = str(body.aspectRatio or "1:1")
        width, height = IMAGE_SIZES[aspect]
        seed = _seed(body.seed)
        orders = [
            Order(
                {
                    "prompt": body.directPrompt,
                    "model": model.id,
                    "provider_model": fal_endpoint(model.id),
                    "seed": (seed + i) % (SEED_MAX + 1),
                    "aspect_ratio": aspect,
                    "width": width,
                    "height": height,
                },
                [Charge(UNIT, model.credits)],
            )
            for i in range(body.numImages)
        ]
        jobs = await self.rt.admission.admit_all(
            self.caller.account_id, FAMILY, "image", orders, subject_id=project.id
        )
        return ImageAccepted(jobId=jobs[0].id, jobIds=[j.id for j in jobs])

    async def video(self, project_id: str, body: VideoRequest) -> JobAccepted:
        project = await self._project(project_id)
        model = self._model("video", body.modelId or None)
        first = await self._frame(body.firstFrame, "firstFrame", project.id)
        last = await self._frame(body.lastFrame, "lastFrame", project.id)
        if body.aspectRatio:
            aspect = str(body.aspectRatio)
        elif first is not None or last is not None:
            aspect = _nearest_aspect(*(first or last).size)  # type: ignore[union-attr]
        else:
            aspect = "16:9"
        width, height = VIDEO_SIZES[aspect]
        seconds = float(body.durationSec)
        job_id = new_job_id()
        try:
            frames = {
                role: await self._keep(source.source, job_id, role) if source else None
                for role, source in (("first", first), ("last", last))
            }
            params = {
                "prompt": body.directPrompt,
                "model": model.id,
                "provider_model": fal_endpoint(model.id),
                "seed": _seed(body.seed),
                "seconds": seconds,
                "aspect_ratio": aspect,
                "width": width,
                "height": height,
                "mode": "keyframe" if last else "image-to-video" if first else "text-to-video",
                # Only a last frame: the first is painted from the prompt, then the passage.
                **frames,
            }
            price = model.credits * math.ceil(seconds)
            await self._admit_one("video", params, price, project.id, job_id)
        except BaseException:
            # The frames kept for the job that never was.
            await self.rt.storage.delete_prefix(self.caller.account_id, layout.job_folder(job_id))
            raise
        return JobAccepted(jobId=job_id)

    async def audio(self, project_id: str, body: AudioRequest) -> JobAccepted:
        """The body's type (by ``soundType``) already holds its required fields and bounds."""
        project = await self._project(project_id)
        kind = {SpeechRequest: "speech", SfxRequest: "sfx", MusicRequest: "music"}[type(body)]
        model = self._model(kind, body.modelId or None)
        params: dict[str, Any] = {"sound_type": kind, "model": model.id}
        if isinstance(body, SpeechRequest):
            params.update(text=body.text, voice_id=body.voiceId or None, seed=0)
        else:
            given = body.duration
            seconds = float(given) if isinstance(given, int | float) else DEFAULT_SECONDS[kind]
            params.update(prompt=body.prompt, seconds=seconds)
        job_id = new_job_id()
        await self._admit_one("audio", params, model.credits, project.id, job_id)
        return JobAccepted(jobId=job_id)

    async def _admit_one(
        self, kind: str, params: dict[str, Any], price: int, project_id: str, job_id: str
    ) -> None:
        await self.rt.admission.admit(
            self.caller.account_id,
            FAMILY,
            kind,
            params,
            charges=[Charge(UNIT, price)],
            subject_id=project_id,
            job_id=job_id,
        )

    # -- frames -----------------------------------------------------------------------------

    async def _frame(self, frame: Any, role: str, project_id: str) -> _Frame | None:
        if not isinstance(frame, Frame):
            return None
        what = f"{role}.imageUrl"
        source = await self._ours(frame.imageUrl, what, project_id)
        if source is None:
            fetched = await self.rt.fetcher.fetch(frame.imageUrl, accept=IMAGE_TYPES, what=what)
            source = FrameSource(
                self.caller.account_id,
                "",
                frame.imageUrl,
                data=fetched.data,
                content_type=fetched.content_type,
            )
            data = fetched.data
        else:
            _info, data = await self.rt.storage.get(source.account, source.path)
        try:
            size = await asyncio.to_thread(_image_size, data)
        except Exception:
            raise StoryNoteError(400, f"{what} is not an image this server can read") from None
        return _Frame(source, size)

    async def _ours(self, url: str, what: str, project_id: str) -> FrameSource | None:
        """The stored picture a link this server signed names; ``None`` for any other URL."""
        try:
            parts = urlsplit(url)
        except ValueError:  # "http://[": not a link of ours; the fetcher words the refusal
            return None
        match = _OUR_FILE.match(parts.path)
        query = parse_qs(parts.query)
        if match is None or "sig" not in query:
            return None
        job_id, name = match.groups()
        try:
            job = await find_job(self.rt, job_id, None, family=FAMILY, kinds=("image",))
        except NotFound:
            job = None
        path = str((job.result or {}).get("path", "")) if job else ""
        expires = query["expires"][0] if query.get("expires") else None
        if (
            job is None
            or job.status is not JobStatus.SUCCEEDED
            or not path.endswith("/" + name)
            or not link_valid(self.rt.storage, job.account_id, path, expires, query["sig"][0])
        ):
            raise StoryNoteError(400, f"{what} is an expired or invalid link; fetch the job again")
        mine = job.account_id == self.caller.account_id and job.subject_id == project_id
        return FrameSource(job.account_id, path, url, job.id if mine else None)

    async def _keep(self, source: FrameSource, job_id: str, role: str) -> dict[str, Any]:
        if source.data is None:
            return source.param()
        ext = {"image/jpeg": "jpg", "image/webp": "webp"}.get(source.content_type, "png")
        path = layout.job_file(job_id, f"{role}-frame.{ext}")
        account = self.caller.account_id
        await self.rt.storage.put(account, path, source.data, source.content_type, job_id=job_id)
        return {"account": account, "path": path, "url": source.url, "job_id": None}

    # -- jobs -------------------------------------------------------------------------------

    async def job(self, job_id: str) -> Job:
        try:
            job = await find_job(
                self.rt, job_id, self.caller.account_id, family=FAMILY, kinds=KINDS
            )
        except NotFound:
            raise StoryNoteError(404, "Job not found") from None
        return job_of(job, self.linker)

    async def batch(self, ids_text: str | None) -> JobBatch:
        ids = [i.strip() for i in (ids_text or "").split(",") if i.strip()]
        if len(ids) > BATCH_MAX:
            raise StoryNoteError(400, f"At most {BATCH_MAX} job ids per request")
        wanted = [i for i in ids if plausible_id(i)]
        jobs = await self.rt.jobs.many(wanted, self.caller.account_id, family=FAMILY)
        return JobBatch(jobs={j.id: job_of(j, self.linker) for j in jobs if j.kind in KINDS})


async def result_file(
    runtime: Runtime,
    job_id: str,
    name: str,
    *,
    account_id: str | None,
    expires: str | None,
    signature: str | None,
) -> tuple[Any, bytes]:
    """A job's stored result, for its owner's key (``account_id``) or a valid signed link."""
    try:
        job = await find_job(runtime, job_id, account_id, family=FAMILY, kinds=KINDS)
    except NotFound:
        raise StoryNoteError(404, "File not found") from None
    path = str((job.result or {}).get("path", ""))
    if not path or not path.endswith("/" + name):
        raise StoryNoteError(404, "File not found")
    if account_id is None and not link_valid(
        runtime.storage, job.account_id, path, expires, signature
    ):
        raise StoryNoteError(401, "This link is invalid or has expired; fetch the job again")
    return await runtime.storage.get(job.account_id, path)


@dataclass(frozen=True, slots=True)
class _Frame:
    source: FrameSource
    size: tuple[int, int]
