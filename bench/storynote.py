"""StoryNote on a real server: how long each kind of job takes, and how fast a poll answers.

Starts ``storygate serve`` (embedded, the ``local`` set unless ``--backends``), makes a Pro
account with credits, then times from the 202 to ``completed``: one 16:9 image, a 3 s
image-to-video clip made from it, a short speech, a 5 s sound effect and a 10 s music piece —
each the median of ``--runs``. Finally wrk drives ``GET /v1/jobs/{id}`` of the finished image
for ``--duration`` s at ``--connections`` (the account's limit lifted), beside ``/healthz`` of
the same server for reference.

    .venv/bin/python bench/storynote.py [--backends local] [--runs 3] [--duration 10]

Needs wrk (``apt-get install wrk``) for the poll figure; without it that line says so.
A benchmark, not a test: figures depend on the host.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import start_server, storygate  # noqa: E402

SPEECH = "The little fox opened the old book and began to read aloud."


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="local", choices=("instant", "local", "hosted"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    return parser.parse_args()


def cli(data: Path, *args: str) -> str:
    done = storygate(list(args), {"STORYGATE_DATA_DIR": str(data)})
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return done.stdout.strip().splitlines()[-1]


def until_done(client: httpx.Client, job_id: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed"):
            if job["status"] == "failed":
                raise SystemExit(f"job {job_id} failed: {job['error']}")
            return job
        time.sleep(0.02)
    raise SystemExit(f"job {job_id} did not finish in {timeout} s")


def timed(client: httpx.Client, path: str, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    answer = client.post(path, json=body)
    if answer.status_code != 202:
        raise SystemExit(f"{path}: {answer.status_code} {answer.text}")
    job = until_done(client, answer.json()["jobId"])
    return time.perf_counter() - started, job


def wrk(url: str, key: str, args: argparse.Namespace) -> str:
    if shutil.which("wrk") is None:
        return "wrk not installed (apt-get install wrk)"
    out = subprocess.run(
        [
            "wrk",
            f"-t{2}",
            f"-c{args.connections}",
            f"-d{args.duration}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {key}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (
        f"{float(rps.group(1)) if rps else 0:,.0f} req/s, p50 {p50.group(1) if p50 else '?'}, "
        f"p99 {p99.group(1) if p99 else '?'}, non-2xx {bad.group(1) if bad else 0}"
    )


def main() -> int:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sn-bench-"))
    data = tmp / "data"
    server = start_server(data, {"STORYGATE_BACKENDS": args.backends, "STORYGATE_DEMO": "0"})
    try:
        account = cli(data, "accounts", "create", "bench", "--plan", "storynote=studio")
        cli(data, "accounts", "set-rate", account, "storynote", "0")
        key = cli(data, "keys", "create", account, "storynote")
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as client:
            project = client.post("/v1/projects", json={"name": "bench"}).json()["id"]
            base = f"/v1/projects/{project}"
            image_body = {"directPrompt": "A fox reading a book in a cozy library"}
            cases: list[tuple[str, Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]]] = [
                (
                    "image 16:9 (Flux 2)",
                    lambda _: (f"{base}/image", {**image_body, "aspectRatio": "16:9"}),
                ),
                (
                    "video 3 s from that image",
                    lambda img: (
                        f"{base}/video",
                        {
                            "directPrompt": "slow push in",
                            "durationSec": 3,
                            "firstFrame": {"imageUrl": img["imageUrl"]},
                        },
                    ),
                ),
                (
                    "speech, 12 words",
                    lambda _: (f"{base}/audio", {"soundType": "speech", "text": SPEECH}),
                ),
                (
                    "sfx 5 s",
                    lambda _: (
                        f"{base}/audio",
                        {"soundType": "sfx", "prompt": "rain on a tin roof", "duration": 5},
                    ),
                ),
                (
                    "music 10 s",
                    lambda _: (
                        f"{base}/audio",
                        {"soundType": "music", "prompt": "calm piano lullaby", "duration": 10},
                    ),
                ),
            ]
            print(f"storynote on {args.backends}: median of {args.runs} runs, 202 -> completed")
            image: dict[str, Any] = {}
            for label, make in cases:
                times = []
                for _ in range(args.runs):
                    path, body = make(image)
                    seconds, job = timed(client, path, body)
                    times.append(seconds)
                    if not image and job.get("imageUrl"):
                        image = job
                print(f"  {label:28s} {statistics.median(times):7.3f} s")
            poll = f"{server.base_url}/v1/jobs/{image['id']}"
            print(f"  GET /v1/jobs/{{id}}: {wrk(poll, key, args)}")
            print(f"  GET /healthz (same server): {wrk(server.base_url + '/healthz', key, args)}")
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
