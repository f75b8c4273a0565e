"""``GET /v1/jobs/events/stream``: every status change of every job of the caller's account.

One connection per client: it subscribes to the account's channel (the core publishes each job
change there too) and sends ``event: job`` with the same JSON a poll of ``/v1/jobs/{id}`` gives,
read when the event arrives, once per status a job reaches (progress within a status is not
sent), so a client never sees a state the poll would not show. Only the
account's own StoryNote jobs are on that channel. Each stream holds one of the account's stream
slots (``STORYGATE_STREAMS_PER_ACCOUNT``); over that, 429. A comment line every 15 s keeps
proxies from closing an idle connection.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import msgspec
from litestar import Request, get
from litestar.openapi import ResponseSpec
from litestar.response import ServerSentEvent, ServerSentEventMessage

from adapters.common.streams import Slotted
from adapters.storynote.auth import FAMILY
from adapters.storynote.gate import admitted
from adapters.storynote.paths import both, operation_id
from adapters.storynote.views import KINDS, Linker, job_of
from contracts.storynote import ErrorResponse, Job
from gateway.core.errors import NotFound
from gateway.core.jobs import FINAL, JobInfo, JobStatus, account_channel_of
from gateway.runtime import Runtime

KEEPALIVE_SECONDS = 15.0
REMEMBERED = 10_000


def as_of(job: JobInfo, status: object) -> JobInfo:
    """The job as the event saw it: events can reach us after the job moved on, and each
    status a job passed through is sent once, in order, with what the poll showed then."""
    try:
        seen = JobStatus(str(status))
    except ValueError:
        return job
    if seen is job.status:
        return job
    final = seen in FINAL
    return replace(
        job,
        status=seen,
        result=job.result if seen is JobStatus.SUCCEEDED else None,
        error_code=job.error_code if final else None,
        error_message=job.error_message if final else None,
    )


async def account_events(
    runtime: Runtime, account_id: str, linker: Linker
) -> AsyncIterator[ServerSentEventMessage]:
    channel = account_channel_of(account_id, FAMILY)
    # The last status sent per job: progress within a status is not a change (bounded).
    sent: OrderedDict[str, str] = OrderedDict()
    async with runtime.events.subscribe(channel) as events:
        # The subscription is live: say so, so a client knows from when it sees every change.
        yield ServerSentEventMessage(data=None, comment="connected")
        incoming = aiter(events)
        while True:
            try:
                message = await asyncio.wait_for(anext(incoming), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ServerSentEventMessage(data=None, comment="keep-alive")
                continue
            except StopAsyncIteration:
                return  # the bus closed: the server is shutting down
            job_id = str(message.get("job_id") or "")
            if sent.get(job_id) == message.get("status"):
                continue
            try:
                job = await runtime.jobs.get(job_id, account_id)
            except NotFound:
                continue  # discarded before it ran (an undone admission)
            if job.family != FAMILY or job.kind not in KINDS:
                continue
            job = as_of(job, message.get("status"))
            sent[job_id] = job.status.value
            sent.move_to_end(job_id)
            if len(sent) > REMEMBERED:
                sent.popitem(last=False)
            wire = job_of(job, linker)
            yield ServerSentEventMessage(
                data=msgspec.json.encode(wire).decode(), event="job", id=f"{job.id}:{job.status}"
            )


@get(
    both("/jobs/events/stream"),
    tags=["StoryNote"],
    summary="Server-Sent Events for all your jobs",
    description=(
        "One connection receives `event: job` with the job's JSON (as `GET /v1/jobs/{id}`) for "
        "every status change of every job of the account. Open streams are capped per account "
        "(429)."
    ),
    operation_id=operation_id("streamJobEvents"),
    media_type="text/event-stream",
    responses={
        200: ResponseSpec(
            Job,
            description="Event stream: each `job` event's data is a Job as JSON",
            media_type="text/event-stream",
            generate_examples=False,
        ),
        401: ResponseSpec(ErrorResponse, description="Error", generate_examples=False),
        429: ResponseSpec(ErrorResponse, description="Error", generate_examples=False),
    },
)
async def job_events(request: Request[Any, Any, Any], runtime: Runtime) -> ServerSentEvent:
    admission = admitted(request)
    settings = runtime.settings
    base = settings.public_base_url or str(request.base_url).rstrip("/")
    linker = Linker(runtime.storage, base, settings.signed_url_seconds)
    account = admission.caller.account_id
    events = Slotted(runtime, account, account_events(runtime, account, linker))
    return ServerSentEvent(events, headers={"X-Accel-Buffering": "no", **admission.headers})
