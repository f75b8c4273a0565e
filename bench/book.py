"""Wall time of whole book jobs on the instant backends, end to end.

Each run goes through what a request would cause: ``jobs.create`` then ``execute_job`` on a
real runtime (SQLite file, local blob store, in a temporary data directory), so the figure
includes planning, writing, drawing, encoding, every storage write and progress report, the
PDF and the ZIP.

    .venv/bin/python bench/book.py            # 12-page picture book and 10-chapter novel
    .venv/bin/python bench/book.py --runs 9 --case picture:12 --case comic:8
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.core.jobs import JobStatus
from gateway.runtime import open_runtime
from gateway.settings import Settings
from workers.runner import execute_job

DEFAULT_CASES = ("picture:12", "novel:10")
PROMPT = "A brave little raccoon who learns to share with forest friends"


async def _bench(cases: list[tuple[str, int]], runs: int, lookahead: int | None) -> int:
    if lookahead is not None:
        from workers.pipelines import book

        book.LOOKAHEAD = lookahead
    with tempfile.TemporaryDirectory(prefix="storygate-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp), backends="instant", log_json=False)
        async with open_runtime(settings, role="cli") as rt:
            account = await rt.accounts.create("bench")
            for fmt, units in cases:
                times: list[float] = []
                cpu: list[float] = []
                # One warm-up job: imports, font loading and SQLite page cache are not the book.
                for i in range(runs + 1):
                    params = {
                        "prompt": f"{PROMPT} ({i})",
                        "format": fmt,
                        "units": units,
                        "author": "Bench Press",
                        "series": "Timings",
                        "art_style": "watercolor",
                    }
                    job = await rt.jobs.create(account.id, "storymint", "book", params)
                    start, start_cpu = time.perf_counter(), time.process_time()
                    await execute_job(rt, rt.registry, job.id)
                    elapsed = time.perf_counter() - start
                    used = time.process_time() - start_cpu
                    done = await rt.jobs.get(job.id)
                    if done.status is not JobStatus.SUCCEEDED:
                        print(f"{fmt}:{units} failed: {done.error_code} {done.error_message}")
                        return 1
                    if i:
                        times.append(elapsed)
                        cpu.append(used)
                median = statistics.median(times) * 1000
                low, high = min(times) * 1000, max(times) * 1000
                # CPU time (all threads) does not depend on what else the machine is doing,
                # so it is the figure to compare across runs on a shared machine.
                cpu_ms = statistics.median(cpu) * 1000
                print(
                    f"{fmt:>13} x{units:<3} wall median {median:7.1f} ms"
                    f"  (min {low:.1f}, max {high:.1f}, {runs} runs)  cpu median {cpu_ms:7.1f} ms"
                )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--case", action="append", help="format:units, repeatable", default=None)
    parser.add_argument("--lookahead", type=int, default=None, help="override pages drawn ahead")
    args = parser.parse_args(argv)
    cases = []
    for raw in args.case or DEFAULT_CASES:
        fmt, _, units = raw.partition(":")
        cases.append((fmt, int(units or 12)))
    return asyncio.run(_bench(cases, max(1, args.runs), args.lookahead))


if __name__ == "__main__":
    sys.exit(main())
