"""Share links: the theater page and the read's audio, opened with a share token and no key.

The token is the capability (``adapters.sleeperhit.share``); a wrong or expired one is a 404
page, never a hint that the artifact exists. Audio answers byte ranges, so a player can seek.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from litestar import Response, get
from litestar.params import Parameter

from adapters.sleeperhit import theater
from adapters.sleeperhit.edits import rendered
from adapters.sleeperhit.job_views import Renderer, artifact_status
from adapters.sleeperhit.live import live_content
from adapters.sleeperhit.production import FINALIZE_KIND, STORY_KIND, VIDEO_KIND
from adapters.sleeperhit.routing import AnyRequest, base_url, route_opt
from adapters.sleeperhit.sfx import cue_sound
from adapters.sleeperhit.share import Shared, open_token
from adapters.sleeperhit.views import iso
from gateway.core.errors import NotFound
from gateway.core.jobs import JobInfo, JobStatus
from gateway.core.story_plans import ArtifactRecord

SHARE = route_opt(None, "share")


class _Gone(Exception):
    pass


async def _shared(request: AnyRequest, token: str) -> tuple[Shared, ArtifactRecord, JobInfo]:
    runtime = request.app.state.runtime
    shared = open_token(runtime.storage, token)
    if shared is None:
        raise _Gone
    try:
        record = await runtime.story_artifacts.get(shared.artifact_id, shared.account_id)
        job = await runtime.jobs.get(record.job_id, shared.account_id)
    except NotFound:
        raise _Gone from None
    if job.kind != STORY_KIND or artifact_status(job, record.id) != "READY":
        raise _Gone
    return shared, record, job


def _page_headers() -> dict[str, str]:
    return {
        "cache-control": "private, no-store",
        "referrer-policy": "no-referrer",
        "content-security-policy": theater.content_security_policy(),
    }


def _missing() -> Response[str]:
    return Response(
        theater.expired_page(), status_code=404, media_type="text/html", headers=_page_headers()
    )


def _ranged(request: AnyRequest, data: bytes, content_type: str) -> Response[bytes]:
    headers = {"accept-ranges": "bytes", "cache-control": "private, max-age=300"}
    wanted = request.headers.get("range", "")
    if wanted.startswith("bytes=") and "," not in wanted:
        first, _, last = wanted[6:].partition("-")
        try:
            start = int(first) if first else max(0, len(data) - int(last))
            end = min(int(last), len(data) - 1) if first and last else len(data) - 1
        except ValueError:
            start, end = 0, -1
        if 0 <= start <= end:
            headers["content-range"] = f"bytes {start}-{end}/{len(data)}"
            return Response(
                data[start : end + 1], status_code=206, media_type=content_type, headers=headers
            )
        headers["content-range"] = f"bytes */{len(data)}"
        return Response(b"", status_code=416, media_type=content_type, headers=headers)
    return Response(data, media_type=content_type, headers=headers)


@get("/share/table-read/{token:str}", include_in_schema=False, opt=SHARE)
async def theater_page(
    request: AnyRequest,
    token: str,
    view: Annotated[str | None, Parameter(query="view", required=False)] = None,
) -> Response[str]:
    try:
        shared, record, job = await _shared(request, token)
    except _Gone:
        return _missing()
    base = base_url(request)
    live = await live_content(request.app.state.runtime, shared.account_id, record, job)
    page = theater.render_theater(
        live,
        audio_url=f"{base}/share/table-read-audio/{token}",
        fullscreen=view == "fullscreen",
        fullscreen_url=f"{base}/share/table-read/{token}?view=fullscreen",
        expires_at=iso(shared.expires_at) or "",
    )
    return Response(page, media_type="text/html", headers=_page_headers())


async def _audio(request: AnyRequest, account_id: str, path: str | None) -> Response[Any]:
    if not path:
        return _missing()
    try:
        info, data = await request.app.state.runtime.storage.get(account_id, path)
    except NotFound:
        return _missing()
    return _ranged(request, data, info.content_type)


@get("/share/table-read-audio/{token:str}", include_in_schema=False, opt=SHARE)
async def read_audio(request: AnyRequest, token: str) -> Response[Any]:
    try:
        shared, record, job = await _shared(request, token)
    except _Gone:
        return _missing()
    live = await live_content(request.app.state.runtime, shared.account_id, record, job)
    audio = live.get("audio") or {}
    return await _audio(request, shared.account_id, audio.get("path"))


@get("/share/table-read-recording/{token:str}", include_in_schema=False, opt=SHARE)
async def recording(request: AnyRequest, token: str) -> Response[Any]:
    try:
        shared, record, _job = await _shared(request, token)
    except _Gone:
        return _missing()
    runtime = request.app.state.runtime
    runs = [
        j
        for j in await runtime.jobs.of_subject(shared.account_id, record.id, family="sleeperhit")
        if j.kind == FINALIZE_KIND and j.status == JobStatus.SUCCEEDED
    ]
    if not runs:
        return _missing()
    return await _audio(request, shared.account_id, (runs[-1].result or {}).get("path"))


@get("/share/table-read-video/{token:str}", include_in_schema=False, opt=SHARE)
async def video(request: AnyRequest, token: str) -> Response[Any]:
    """The latest complete MP4 render of the read (``manifest.video.url``)."""
    try:
        shared, record, _job = await _shared(request, token)
    except _Gone:
        return _missing()
    runtime = request.app.state.runtime
    runs = [
        j
        for j in await runtime.jobs.of_subject(shared.account_id, record.id, family="sleeperhit")
        if j.kind == VIDEO_KIND and j.status == JobStatus.SUCCEEDED
    ]
    if not runs:
        return _missing()
    return await _audio(request, shared.account_id, (runs[-1].result or {}).get("path"))


@get("/share/table-read-sfx/{token:str}/{cue_id:str}", include_in_schema=False, opt=SHARE)
async def sfx_sound(request: AnyRequest, token: str, cue_id: str) -> Response[Any]:
    """One sound cue's sound alone (a cue's ``soundUrl``), once the live read has it."""
    try:
        shared, record, job = await _shared(request, token)
    except _Gone:
        return _missing()
    runtime = request.app.state.runtime
    live = await live_content(runtime, shared.account_id, record, job)
    done = (await rendered(runtime, shared.account_id, record, live)).get("sfx") or {}
    cues = [c for c in (record.state or {}).get("sfx") or () if isinstance(c, Mapping)]
    cue = next((c for c in cues if c.get("id") == cue_id), None)
    listed = cue_sound(done, cue, live) if cue is not None else None
    return await _audio(request, shared.account_id, listed.get("path") if listed else None)


HANDLERS: list[Any] = [theater_page, read_audio, recording, video, sfx_sound]
__all__ = ["HANDLERS", "Renderer"]
