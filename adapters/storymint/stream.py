"""``GET /api/stream/{job_id}``: job progress as Server-Sent Events.

The reference's browser example opens ``new EventSource(url)``, which cannot send headers, so
the stream also answers without a key: job ids carry 160 random bits, and the events hold only
progress text. A key (header or ``?api_key=``) is checked when given, and then the job must be
the caller's.

The subscription is opened before the job is read, so no change between the read and the first
event is lost; the current state goes out first, and the stream ends with a final "done" or
"error" event. Events are hints (a bus may drop them), so the job row is re-read whenever the
bus is quiet, and a comment line keeps proxies from closing an idle connection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Request, get
from litestar.openapi import ResponseSpec
from litestar.response import ServerSentEvent, ServerSentEventMessage

from adapters.common.streams import Slotted
from adapters.storymint import gate
from adapters.storymint.auth import raw_key
from adapters.storymint.service import DONE_MSG, error_message, find_job
from contracts.storymint import StreamEvent, StreamMessage
from gateway.core.jobs import JobInfo, JobStatus, channel_of
from gateway.runtime import Runtime

KEEPALIVE_SECONDS = 15.0
# How long the bus may stay quiet before the job row is read again.
RECHECK_SECONDS = 5.0

# The reference's stream speaks in short step names ("generating", "illustrating"); the
# pipeline's steps are the long ones /api/status shows.
_STEPS = {
    "planning story": "planning",
    "writing story": "generating",
    "generating illustrations": "illustrating",
    "designing cover": "cover",
    "assembling book": "assembling",
}


def _short(step: str) -> str:
    low = step.strip().lower()
    return _STEPS.get(low) or low.replace(" ", "_")


def event_of_job(job: JobInfo) -> tuple[StreamEvent, bool]:
    """(event, final) for a job row."""
    return _event(job.status, job.step, job.message, job.pct, error_message(job))


def event_of_message(message: dict[str, Any]) -> tuple[StreamEvent, bool] | None:
    try:
        status = JobStatus(str(message.get("status")))
    except ValueError:
        return None
    text = str(message.get("error_message") or "Generation failed")
    if status is JobStatus.CANCELED:
        text = "The job was canceled"
    return _event(
        status,
        str(message.get("step") or ""),
        str(message.get("message") or ""),
        int(message.get("pct") or 0),
        text,
    )


def _event(
    status: JobStatus, step: str, msg: str, pct: int, failure: str
) -> tuple[StreamEvent, bool]:
    if status is JobStatus.SUCCEEDED:
        return StreamEvent(step="done", msg=DONE_MSG, pct=100), True
    if status in (JobStatus.FAILED, JobStatus.CANCELED):
        return StreamEvent(step="error", msg=failure, pct=pct), True
    if status is JobStatus.QUEUED:
        return StreamEvent(step="queued", msg=msg or "Waiting to start...", pct=pct), False
    if not step:
        return StreamEvent(step="starting", msg=msg or "Starting...", pct=pct), False
    return StreamEvent(step=_short(step), msg=msg, pct=pct), False


def _data(event: StreamEvent) -> str:
    return msgspec.json.encode(event).decode()


async def progress_events(
    runtime: Runtime, job_id: str, account_id: str | None
) -> AsyncIterator[str | ServerSentEventMessage]:
    async with runtime.events.subscribe(channel_of(job_id)) as events:
        event, final = event_of_job(await find_job(runtime, job_id, account_id))
        yield _data(event)
        last, written = event, time.monotonic()
        incoming = aiter(events)
        while not final:
            try:
                message = await asyncio.wait_for(anext(incoming), RECHECK_SECONDS)
                seen = event_of_message(message)
                if seen is None:
                    continue
                event, final = seen
                if not final and event.pct < last.pct:
                    continue  # an event older than the state already sent
            except TimeoutError:
                event, final = event_of_job(await find_job(runtime, job_id, account_id))
            except StopAsyncIteration:
                return  # the bus closed: the server is shutting down
            if event != last or final:
                yield _data(event)
                last, written = event, time.monotonic()
            elif time.monotonic() - written >= KEEPALIVE_SECONDS:
                yield ServerSentEventMessage(data=None, comment="keep-alive")
                written = time.monotonic()


@get(
    "/stream/{job_id:str}",
    summary="SSE progress stream",
    description=(
        'Server-Sent Events: `data: {"step","msg","pct"}` lines, ending with step "done" or '
        '"error". Works without a key (browser EventSource; metered per client address); a key '
        "in the header or `?api_key=` is checked when given. Open streams are capped per "
        "account (429)."
    ),
    tags=["StoryMint"],
    opt={"auth": "optional"},
    media_type="text/event-stream",
    responses={
        200: ResponseSpec(
            StreamMessage,
            description="Event stream: each event's data is a StreamEvent as JSON",
            media_type="text/event-stream",
            generate_examples=False,
        ),
        **gate.error_responses(401, 404, 429),
    },
)
async def stream(
    request: Request[Any, Any, Any], runtime: Runtime, job_id: str, api_key: str | None = None
) -> ServerSentEvent:
    raw = raw_key(request) or (api_key.strip() if api_key else None)
    account_id = None
    if raw:
        caller = await gate.identify(request, raw)
        await gate.admit(request, caller)
        account_id = caller.account_id
    else:
        await gate.admit_anonymous(request, "stream")
    job = await find_job(runtime, job_id, account_id)
    events = Slotted(runtime, job.account_id, progress_events(runtime, job_id, account_id))
    return ServerSentEvent(
        events, headers={"X-Accel-Buffering": "no", "Access-Control-Allow-Origin": "*"}
    )


ROUTES: list[Any] = [stream]
