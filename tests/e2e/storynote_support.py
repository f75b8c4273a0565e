"""Shared pieces of the StoryNote end-to-end tests: a real `storygate serve` per module, tenants
made straight in the server's database (role "cli"), the reference's bodies, and helpers that
poll jobs, fetch their results without a key, decode what they hold and assert the family's
one error shape, ``{"error": "<message>", "code": <status>}``."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np

from gateway.runtime import Runtime, open_runtime
from gateway.settings import load_settings
from tests.e2e.conftest import REPO, Server, start_server

T = TypeVar("T")

FAMILY = "storynote"
UNIT = "storynote.credits"
REFERENCE = REPO.parent / "shared" / "seeds" / "storynote-api.txt"
# The reference's image call, word for word (Flux 2, 2 credits a picture).
REFERENCE_IMAGE: dict[str, Any] = {
    "directPrompt": "A fox reading a book in a cozy library",
    "modelId": "fal-ai/flux-2",
    "aspectRatio": "16:9",
}
# The cheapest picture: Z-Image Turbo, 1 credit.
CHEAP: dict[str, Any] = {"directPrompt": "a lighthouse at dusk", "modelId": "fal-ai/z-image/turbo"}
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
FINAL = ("completed", "failed")


@dataclass(frozen=True)
class Tenant:
    account_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        """The reference's recommended form."""
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class StoryNote:
    server: Server
    data_dir: Path

    @property
    def base(self) -> str:
        return self.server.base_url

    def client(self, tenant: Tenant | None = None, root: str = "/v1") -> httpx.Client:
        headers = tenant.headers if tenant else {}
        return httpx.Client(base_url=self.base + root, headers=headers, timeout=60)

    def core(self, action: Callable[[Runtime], Awaitable[T]]) -> T:
        """Run ``action`` against the server's database from this process (role "cli")."""
        settings = load_settings(env={}, backends="instant", data_dir=self.data_dir, demo=False)

        async def main() -> T:
            async with open_runtime(settings, role="cli") as runtime:
                return await action(runtime)

        return asyncio.run(main())

    def tenants(
        self, count: int = 1, plan: str = "pro", *, credits: int | None = None, unmetered=False
    ) -> list[Tenant]:
        """``count`` accounts with a key each, made in one runtime. ``credits``: exactly that
        many (the monthly allowance set to 0, then granted); ``unmetered``: the operator lifts
        the per-minute limits (``set_rate(..., 0)``)."""

        async def make(rt: Runtime) -> list[Tenant]:
            made = []
            for _ in range(count):
                account = await rt.accounts.create(f"sn-{uuid.uuid4().hex[:8]}", {FAMILY: plan})
                if credits is not None:
                    await rt.accounts.allocate(account.id, UNIT, 0)
                    if credits:
                        await rt.ledger.grant(account.id, UNIT, credits)
                if unmetered:
                    await rt.accounts.set_rate(account.id, FAMILY, 0)
                issued = await rt.keys.create(account.id, FAMILY)
                made.append(Tenant(account.id, issued.raw))
            return made

        return self.core(make)

    def tenant(self, plan: str = "pro", *, credits: int | None = None, unmetered=False) -> Tenant:
        return self.tenants(1, plan, credits=credits, unmetered=unmetered)[0]

    def spendable(self, tenant: Tenant) -> int:
        async def read(rt: Runtime) -> int:
            balance = await rt.ledger.balance(tenant.account_id, UNIT)
            assert balance.spendable is not None
            return balance.spendable

        return self.core(read)

    def job_ids(self, tenant: Tenant) -> list[str]:
        async def read(rt: Runtime) -> list[str]:
            return [j.id for j in await rt.jobs.list(tenant.account_id, family=FAMILY, limit=1000)]

        return self.core(read)

    def held(self, tenant: Tenant) -> tuple[int, int]:
        """(spendable credits, jobs): what a refused request must leave as it was."""
        return self.spendable(tenant), len(self.job_ids(tenant))

    def audit(self, tenant: Tenant) -> bool:
        return self.core(lambda rt: rt.ledger.audit(tenant.account_id, UNIT))

    def hold_states(self, tenant: Tenant) -> list[str]:
        """The state of every credit hold of the tenant's jobs."""

        async def read(rt: Runtime) -> list[str]:
            jobs = await rt.jobs.list(tenant.account_id, family=FAMILY, limit=1000)
            return [h.state for j in jobs for h in await rt.ledger.holds_of_job(j.id)]

        return self.core(read)

    def settled(self, tenant: Tenant, timeout: float = 60) -> None:
        """Wait until every job of the tenant is final and every hold of theirs is settled."""

        async def open_work(rt: Runtime) -> int:
            jobs = await rt.jobs.list(tenant.account_id, family=FAMILY, limit=1000)
            holds = [h for j in jobs for h in await rt.ledger.holds_of_job(j.id)]
            return sum(not j.final for j in jobs) + sum(h.state == "held" for h in holds)

        deadline = time.monotonic() + timeout
        while self.core(open_work):
            assert time.monotonic() < deadline, "jobs or holds did not settle"
            time.sleep(0.05)

    def stop(self, settle_seconds: float = 20) -> None:
        """Let running jobs finish first, so the server stops without its grace period."""

        async def busy(rt: Runtime) -> int:
            return len(await rt.jobs.unfinished("inprocess"))

        deadline = time.monotonic() + settle_seconds
        while self.server.proc.poll() is None and time.monotonic() < deadline:
            if not self.core(busy):
                break
            time.sleep(0.1)
        self.server.stop()


def start(tmp: Path, env: dict[str, str] | None = None) -> StoryNote:
    """A server on the instant set unless ``env`` names another (``STORYGATE_BACKENDS``)."""
    data_dir = tmp / "data"
    server = start_server(data_dir, {"STORYGATE_DEMO": "0", **(env or {})}, tag="sn")
    return StoryNote(server, data_dir)


# -- requests ----------------------------------------------------------------------------------


def new_project(client: httpx.Client, name: str = "My First Project") -> str:
    answer = client.post("/projects", json={"name": name})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["name"] == name and set(body) == {"id", "name", "createdAt"}, body
    return str(body["id"])


def accepted(answer: httpx.Response) -> str:
    """The ``jobId`` of a 202."""
    assert answer.status_code == 202, answer.text
    return str(answer.json()["jobId"])


def wait_job(client: httpx.Client, job_id: str, timeout: float = 120) -> dict[str, Any]:
    """Poll ``GET /jobs/{id}`` as the reference's example does, until completed or failed."""
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(f"/jobs/{job_id}")
        assert answer.status_code == 200, answer.text
        job = dict(answer.json())
        if job["status"] in FINAL:
            return job
        assert time.monotonic() < deadline, f"job still {job['status']} after {timeout} s: {job}"
        time.sleep(0.05)


def download(url: str) -> bytes:
    """A result link loads with no key at all."""
    answer = httpx.get(url, timeout=30)
    assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
    return answer.content


def without_links(job: dict[str, Any]) -> dict[str, Any]:
    """A job as JSON with its signed links cut to their path (each read signs afresh)."""
    return {
        k: (v.split("?", 1)[0] if k.endswith("Url") and isinstance(v, str) else v)
        for k, v in job.items()
    }


def seconds_left_in_minute() -> float:
    return 60 - time.time() % 60


def fresh_window(needed: float) -> None:
    """Rate windows are aligned to the minute: wait for the next one unless ``needed`` seconds
    of this one are left."""
    if seconds_left_in_minute() < needed:
        time.sleep(seconds_left_in_minute() + 0.2)


# -- answers -----------------------------------------------------------------------------------


def assert_error(answer: httpx.Response, status: int, message: str | None = None) -> str:
    """The family's one error shape, exactly; the message it carries."""
    assert answer.status_code == status, (status, answer.status_code, answer.text)
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    body = answer.json()
    assert set(body) == {"error", "code"}, body
    assert body["code"] == status, body
    assert isinstance(body["error"], str) and body["error"], body
    if message is not None:
        assert body["error"] == message, body
    return str(body["error"])


def assert_rate_headers(answer: httpx.Response, limit: int | None = None) -> None:
    for name in RATE_HEADERS:
        assert answer.headers.get(name, "").isdigit(), (name, dict(answer.headers))
    assert int(answer.headers["x-ratelimit-remaining"]) <= int(answer.headers["x-ratelimit-limit"])
    assert 1 <= int(answer.headers["x-ratelimit-reset"]) <= 60
    if limit is not None:
        assert int(answer.headers["x-ratelimit-limit"]) == limit, dict(answer.headers)


# -- media -------------------------------------------------------------------------------------


def video_facts(data: bytes) -> tuple[str, float, int, int]:
    """(codec, seconds, width, height) of an MP4, from its decoded frames."""
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        rate = float(stream.average_rate or 0)
        assert rate > 0, "the stream states no frame rate"
        return stream.codec_context.name, frames / rate, stream.width, stream.height


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """Mono float samples in [-1, 1] and their rate, decoded by PyAV (FFmpeg's MP3 decoder)."""
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        chunks = []
        for frame in container.decode(stream):
            array = frame.to_ndarray().astype(np.float64)
            if array.ndim == 2 and array.shape[0] > 1 and frame.format.is_planar:
                array = array.mean(axis=0)  # planar channels: average them
            chunks.append(array.reshape(-1))
        rate = int(stream.rate)
    samples = np.concatenate(chunks)
    if np.abs(samples).max(initial=0) > 1.5:  # integer samples
        samples /= 32768.0
    return samples, rate


def audio_features(samples: np.ndarray, rate: int) -> tuple[float, float, float]:
    """(zero-crossing rate per second, RMS, coefficient of variation of the 20 ms RMS
    envelope): steady noise crosses zero often with a flat envelope; a knock is a few
    transients in silence."""
    hop = max(1, rate // 50)
    usable = samples[: len(samples) // hop * hop]
    envelope = np.sqrt((usable.reshape(-1, hop) ** 2).mean(axis=1))
    crossings = float(np.count_nonzero(np.diff(np.signbit(samples)))) / (len(samples) / rate)
    rms = float(np.sqrt((samples**2).mean()))
    variation = float(envelope.std() / max(envelope.mean(), 1e-9))
    return crossings, rms, variation


# -- the event stream --------------------------------------------------------------------------


@dataclass
class EventReader:
    """``GET /v1/jobs/events/stream`` read with httpx in a thread: it records every ``job``
    event (and every comment) until the job named by ``stop_after`` has completed."""

    url: str
    headers: dict[str, str]
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    status: int | None = None
    error: BaseException | None = None
    live: threading.Event = field(default_factory=threading.Event)
    stop_after: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self, timeout: float = 20) -> EventReader:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self.live.wait(timeout) or self.done.is_set(), "the stream never said it was live"
        assert self.error is None, self.error
        return self

    def join(self, timeout: float = 30) -> None:
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the reader did not see its last event"
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            with httpx.stream(
                "GET", self.url, headers=self.headers, timeout=httpx.Timeout(60, connect=10)
            ) as answer:
                self.status = answer.status_code
                if answer.status_code != 200:
                    answer.read()
                    return
                for event, data in self._messages(answer.iter_lines()):
                    if event is None:
                        continue
                    self.events.append((event, data))
                    if data.get("id") == self.stop_after and data.get("status") in FINAL:
                        return
        except BaseException as exc:  # handed to the test by join()
            self.error = exc
        finally:
            self.done.set()
            self.live.set()

    def _messages(self, lines: Iterator[str]) -> Iterator[tuple[str | None, dict[str, Any]]]:
        event: str | None = None
        data: list[str] = []
        for line in lines:
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                if line[1:].strip() == "connected":
                    self.live.set()
            elif line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data.append(line.split(":", 1)[1].removeprefix(" "))
            elif line == "":
                if data:
                    yield event or "message", json.loads("\n".join(data))
                event, data = None, []

    def of(self, job_id: str) -> list[dict[str, Any]]:
        return [data for event, data in self.events if data.get("id") == job_id]
