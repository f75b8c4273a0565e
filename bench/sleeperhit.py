"""SleeperHit's real-client flow on a real server: the wall time of each stage and the total.

Starts ``storygate serve`` (embedded, the ``local`` set unless ``--backends``), makes a Studio
account with every scope, then runs the flow a nightly client runs — text source until READY
(digest included), plan until REQUIRES_APPROVAL, approve, job until READY, finalize until the
recording URL — then the artifact operations a weekly producer runs on that read: refine
(revision 2 READY), recast one voice (live read remixed), music on every scene (all beds ready),
finalize audio again (the new mix) and finalize video (the MP4) — ``--runs`` times, and prints
each stage's median with the read's length.

    .venv/bin/python bench/sleeperhit.py [--backends local] [--runs 3] [--seconds 90]

A benchmark, not a test: figures depend on the host.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.sleeperhit_harness import poll, post, start  # noqa: E402

SOURCE = (
    "Amara Osei keeps the lighthouse on Cape Lumen. Every night she climbs the hundred steps "
    "and lights the lamp for the fishing boats. Her brother Kofi Osei repairs the nets in the "
    "harbour below and worries about the winter storms. One evening the old keeper, Ruth "
    "Fielding, returns to the cape with a warning: the lamp's lens is cracked. \"The light must "
    'not go dark," Ruth says. Amara and Kofi work through the night to mend it.'
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="local", choices=("instant", "local", "hosted"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=90, help="durationSeconds of the read")
    return parser.parse_args()


def timed(stages: dict[str, list[float]], name: str, step: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    value = step()
    stages.setdefault(name, []).append(time.perf_counter() - started)
    return value


def one_run(c: httpx.Client, seconds: int, stages: dict[str, list[float]]) -> float:
    started = time.perf_counter()
    project = post(c, "/story-projects", {"name": "bench"}).json()["project"]["id"]

    def source() -> str:
        made = post(c, f"/story-projects/{project}/sources", {"type": "text", "content": SOURCE})
        sid = str(made.json()["source"]["id"])
        poll(
            c,
            f"/story-projects/{project}/sources/{sid}",
            lambda b: b["source"]["digestStatus"] in ("READY", "FAILED", "SKIPPED"),
            timeout=600,
            every=0.05,
        )
        return sid

    sid = timed(stages, "source (READY + digest)", source)

    def plan() -> str:
        body = {
            "target": {"audience": "families", "objective": "the saved light", "outcome": "awe"},
            "artifactRequests": [
                {"type": "table_read", "mode": "drama", "durationSeconds": seconds}
            ],
            "sourceIds": [sid],
            "creativeBrief": "two siblings and the old keeper, one stormy night",
        }
        pid = post(c, f"/story-projects/{project}/story-plans", body).json()["plan"]["id"]
        poll(
            c,
            f"/story-plans/{pid}",
            lambda b: b["plan"]["status"] != "PENDING" and b["plan"]["status"] != "RUNNING",
            timeout=600,
            every=0.05,
        )
        post(c, f"/story-plans/{pid}/approve")
        return str(pid)

    pid = timed(stages, "plan (to APPROVED)", plan)

    def job() -> dict[str, Any]:
        jid = post(c, "/story-jobs", {"storyPlanId": pid}).json()["job"]["id"]
        done = poll(
            c,
            f"/story-jobs/{jid}",
            lambda b: b["job"]["status"] in ("READY", "FAILED"),
            timeout=1200,
            every=0.1,
        )["job"]
        if done["status"] != "READY":
            raise SystemExit(f"job failed: {done['failureMessage']}")
        return dict(done["artifacts"][0])

    artifact = timed(stages, "job (table read READY)", job)

    def finalize() -> int:
        post(c, f"/artifacts/{artifact['id']}/finalize", {"mode": "audio"})
        found = poll(
            c,
            f"/artifacts/{artifact['id']}",
            lambda b: bool(b["artifact"]["manifest"]["audio"]["recordingUrl"]),
            timeout=600,
            every=0.05,
        )
        return int(found["artifact"]["manifest"]["audio"]["recordingDurationMs"])

    length_ms = timed(stages, "finalize (MP3 ready)", finalize)
    stages.setdefault("total", []).append(time.perf_counter() - started)
    operations(c, f"/artifacts/{artifact['id']}", stages)
    return length_ms / 1000


def _live(c: httpx.Client, path: str) -> None:
    """Wait until the live read is the artifact's current state's."""

    def done(b: dict[str, Any]) -> bool:
        remix = b["artifact"]["manifest"]["audio"]["remix"]
        if remix["status"] == "failed":
            raise SystemExit(f"remix failed: {remix}")
        return bool(remix["liveStateVersion"] >= remix["stateVersion"])

    poll(c, path, done, timeout=1200, every=0.05)


def operations(c: httpx.Client, path: str, stages: dict[str, list[float]]) -> None:
    """The artifact operations, each timed from its POST to its result being ready."""

    def refine() -> None:
        body = {"instruction": "rename the first speaker to Dana", "scope": "screenplay"}
        jid = post(c, f"{path}/refine", body).json()["storyJob"]["id"]
        done = poll(
            c,
            f"/story-jobs/{jid}",
            lambda b: b["job"]["status"] in ("READY", "FAILED"),
            timeout=1200,
            every=0.05,
        )["job"]
        if done["status"] != "READY":
            raise SystemExit(f"refine failed: {done['failureMessage']}")

    timed(stages, "refine (revision READY)", refine)

    def recast() -> None:
        cast = c.get(f"{path}/cast").json()["cast"]
        member = cast[-1]
        voices = [v["id"] for v in c.get("/voices").json()["voices"]]
        other = next(v for v in voices if v != member["voiceId"])
        body = {"character": member["character"], "voiceId": other, "voiceName": "Recast"}
        post(c, f"{path}/voice", body)
        _live(c, path)

    timed(stages, "voice recast (live read)", recast)

    def music() -> None:
        post(c, f"{path}/music", {"musicCoveragePercent": 1})
        poll(
            c, f"{path}/music", lambda b: b["music"]["status"] == "ready", timeout=1200, every=0.05
        )
        _live(c, path)

    timed(stages, "music (every scene ready)", music)

    def finalize_audio() -> None:
        post(c, f"{path}/finalize", {"mode": "audio"})

        def done(b: dict[str, Any]) -> bool:
            state = b["artifact"]["manifest"]["audio"]["finalize"]
            return bool(state["status"] in ("complete", "failed") and not state["stale"])

        poll(c, path, done, timeout=1200, every=0.05)

    timed(stages, "finalize audio (new mix)", finalize_audio)

    def finalize_video() -> None:
        post(c, f"{path}/finalize", {"mode": "video"})
        poll(
            c,
            path,
            lambda b: b["artifact"]["manifest"]["video"]["status"] in ("complete", "failed"),
            timeout=1200,
            every=0.05,
        )

    timed(stages, "finalize video (MP4)", finalize_video)


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sh = start(Path(tmp), backends=args.backends)
        try:
            c = sh.client(sh.tenant())
            stages: dict[str, list[float]] = {}
            lengths = [one_run(c, args.seconds, stages) for _ in range(args.runs)]
        finally:
            sh.server.stop()
    print(f"SleeperHit flow on {args.backends}, {args.runs} run(s), read asked {args.seconds} s")
    for name, values in stages.items():
        print(
            f"  {name:<28} median {statistics.median(values):7.2f} s   "
            f"(min {min(values):.2f}, max {max(values):.2f})"
        )
    print(f"  read length                 median {statistics.median(lengths):7.2f} s")


if __name__ == "__main__":
    main()
