"""Wall time of whole book jobs on the instant backends, end to end.

Each run goes through what a request would cause: ``jobs.create`` then ``execute_job`` on a
real runtime (SQLite file, local blob store, in a temporary data directory), so the figure
includes planning, writing, drawing, encoding, every storage write and progress report, the
PDF and the ZIP.

    .venv/bin/python bench/book.py            # 12-page picture book and 10-chapter novel
    .venv/bin/python bench/book.py --runs 9 --case picture:12 --case comic:8

``--local`` instead builds one 12-page picture book and its audiobook on the local backends
(llama.cpp text, procedural pictures unless ``--image-model`` or ``--tiny-diffusion``, piper
speech) and prints the wall time of each stage, then the writer's tokens/s beside raw
llama-cpp-python replaying the same completions on the same GGUF file (``book_local.py``).

    .venv/bin/python bench/book.py --local
    .venv/bin/python bench/book.py --local --pages 4    # on a small machine: 12 pages take long
    .venv/bin/python bench/book.py --local --tiny-diffusion      # 64 px, 4 steps unless told
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

from book_local import PROMPT, bench_local

from gateway.core.jobs import JobStatus
from gateway.runtime import open_runtime
from gateway.settings import Settings
from workers.runner import execute_job

DEFAULT_CASES = ("picture:12", "novel:10")
LOCAL_PAGES = 12


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
    parser.add_argument("--local", action="store_true", help="one book on the local backends")
    parser.add_argument("--image-model", default=None, help="diffusers model dir (--local)")
    parser.add_argument(
        "--tiny-diffusion", action="store_true", help="compare a tiny random SD pipeline (--local)"
    )
    parser.add_argument("--image-size", type=int, default=None, help="diffusers size (--local)")
    parser.add_argument("--image-steps", type=int, default=None, help="diffusers steps (--local)")
    parser.add_argument("--pages", type=int, default=LOCAL_PAGES, help="book length (--local)")
    args = parser.parse_args(argv)
    if args.local:
        return asyncio.run(
            bench_local(
                args.pages, args.image_model, args.tiny_diffusion, args.image_size, args.image_steps
            )
        )
    cases = []
    for raw in args.case or DEFAULT_CASES:
        fmt, _, units = raw.partition(":")
        cases.append((fmt, int(units or 12)))
    return asyncio.run(_bench(cases, max(1, args.runs), args.lookahead))


if __name__ == "__main__":
    sys.exit(main())
