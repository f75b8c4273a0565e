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
llama-cpp-python on the same GGUF file, so overhead in the writer shows as a ratio below 1.

    .venv/bin/python bench/book.py --local
    .venv/bin/python bench/book.py --local --pages 4    # on a small machine: 12 pages take long
    .venv/bin/python bench/book.py --local --tiny-diffusion --image-size 128
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

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


# --- --local: one book on the local backends, stage by stage ------------------------------

LOCAL_PAGES = 12
RAW_TOKENS = 256
RAW_PROMPT = (
    "Write a long, detailed bedtime story about a lighthouse keeper and a lost seal pup. "
    "Describe the sea, the weather and every conversation at length."
)


class _Clock:
    """Intervals per stage; a stage's time is their union, as pages and cover overlap."""

    def __init__(self) -> None:
        self.spans: dict[str, list[tuple[float, float]]] = {}

    def add(self, stage: str, start: float) -> None:
        self.spans.setdefault(stage, []).append((start, time.perf_counter()))

    def wall(self, stage: str) -> float:
        total, reach = 0.0, float("-inf")
        for start, end in sorted(self.spans.get(stage, [])):
            if end > reach:
                total += end - max(start, reach)
                reach = end
        return total

    def calls(self, stage: str) -> int:
        return len(self.spans.get(stage, []))


class _Proxy:
    """Passes everything through to the real backend; the subclasses time what matters."""

    def __init__(self, inner: Any, clock: _Clock) -> None:
        self.inner = inner
        self.clock = clock
        self.name = inner.name

    def capability(self) -> Any:
        return self.inner.capability()

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)


class _TimedWriter(_Proxy):
    async def plan(self, request: Any) -> Any:
        start = time.perf_counter()
        try:
            return await self.inner.plan(request)
        finally:
            self.clock.add("plan", start)

    async def write(self, request: Any, plan: Any, index: int, previous: Sequence[str]) -> str:
        start = time.perf_counter()
        try:
            return await self.inner.write(request, plan, index, previous)
        finally:
            self.clock.add("text", start)

    async def dialogue(self, request: Any, plan: Any, index: int, panels: int) -> list[str]:
        start = time.perf_counter()
        try:
            return await self.inner.dialogue(request, plan, index, panels)
        finally:
            self.clock.add("text", start)

    async def edit(self, request: Any, plan: Any, pages: Sequence[str], instruction: str) -> Any:
        return await self.inner.edit(request, plan, pages, instruction)


class _TimedIllustrator(_Proxy):
    async def draw(self, prompts: Sequence[Any]) -> list[bytes]:
        start = time.perf_counter()
        try:
            return await self.inner.draw(prompts)
        finally:
            self.clock.add("pictures", start)


class _TimedNarrator(_Proxy):
    async def speak(self, text: str, *, language: str = "english", seed: int = 0) -> Any:
        start = time.perf_counter()
        try:
            return await self.inner.speak(text, language=language, seed=seed)
        finally:
            self.clock.add("speech", start)


def _timed(stage: str, clock: _Clock, func: Callable[..., bytes]) -> Callable[..., bytes]:
    def timed(*args: Any, **kwargs: Any) -> bytes:
        start = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            clock.add(stage, start)

    return timed


async def _local_book(
    settings: Settings, label: str, pages: int
) -> tuple[dict[str, float], Any] | None:
    """Build one picture book and its audiobook; stage -> seconds, and the real writer."""
    from workers.pipelines import audiobook, book

    clock = _Clock()
    async with open_runtime(settings, role="cli") as rt:
        real = rt.backends
        rt.backends = replace(
            real,
            writer=_TimedWriter(real.writer, clock),
            illustrator=_TimedIllustrator(real.illustrator, clock),
            narrator=_TimedNarrator(real.narrator, clock),
        )
        print(f"[{label}] " + "; ".join(f"{c.kind}: {c.model}" for c in real.capabilities()))
        account = await rt.accounts.create("bench")
        params = {
            "prompt": PROMPT,
            "format": "picture",
            "units": pages,
            "author": "Bench Press",
            "series": "Timings",
            "art_style": "watercolor",
        }
        job = await rt.jobs.create(account.id, "storymint", "book", params)
        # The pipeline looks these names up when it packs, so wrapping them times exactly the
        # PDF and ZIP encoders (storing them is counted under "other").
        originals = book.build_pdf, book.build_zip
        book.build_pdf = _timed("pdf", clock, originals[0])
        book.build_zip = _timed("zip", clock, originals[1])
        try:
            start = time.perf_counter()
            await execute_job(rt, rt.registry, job.id)
            job_wall = time.perf_counter() - start
        finally:
            book.build_pdf, book.build_zip = originals
        done = await rt.jobs.get(job.id)
        if done.status is not JobStatus.SUCCEEDED:
            print(f"[{label}] book failed: {done.error_code} {done.error_message}")
            return None
        result = done.result or {}
        start = time.perf_counter()
        mp3 = await audiobook.make_audiobook(rt, done)
        audio_wall = time.perf_counter() - start
    stages = {name: clock.wall(name) for name in ("plan", "text", "pictures", "pdf", "zip")}
    stages["other"] = job_wall - sum(stages.values())
    stages["book"] = job_wall
    stages["audio"] = audio_wall
    stages["speech"] = clock.wall("speech")
    stages["total"] = job_wall + audio_wall
    print(
        f"[{label}] {len(result['pages'])} pages, '{result['title']}', "
        f"{clock.calls('text')} text calls, {clock.calls('pictures')} draw calls, "
        f"{clock.calls('speech')} narration clips, MP3 {len(mp3) / 1024:.0f} KiB"
    )
    return stages, real.writer


def _print_stages(label: str, stages: dict[str, float]) -> None:
    rows = [
        ("plan", "plan (includes loading the model)"),
        ("text", "text (write/dialogue)"),
        ("pictures", "pictures (draw, pages + cover)"),
        ("pdf", "PDF"),
        ("zip", "ZIP"),
        ("other", "other (compositing, storage, progress)"),
        ("book", "= book job"),
        ("audio", "audio (make_audiobook)"),
        ("speech", "  of which speak()"),
        ("total", "total (book + audio)"),
    ]
    print(f"[{label}] wall time per stage:")
    for key, text in rows:
        print(f"  {text:<40} {stages[key]:8.2f} s")


def _raw_llama(model_path: str, n_ctx: int, n_threads: int) -> tuple[int, float]:
    """Tokens and seconds of free prose straight from llama-cpp-python, same file and threads."""
    from llama_cpp import Llama

    from workers.backends.local.llama import REPEAT_PENALTY, TOP_P

    llama = Llama(model_path=model_path, n_ctx=n_ctx, n_threads=n_threads, seed=7, verbose=False)
    try:
        start = time.perf_counter()
        result = llama.create_chat_completion(
            messages=[{"role": "user", "content": RAW_PROMPT}],
            max_tokens=RAW_TOKENS,
            temperature=0.8,
            top_p=TOP_P,
            repeat_penalty=REPEAT_PENALTY,
            seed=7,
            # End of text forbidden, so every run generates the full count.
            logit_bias={llama.token_eos(): float("-inf")},
        )
        seconds = time.perf_counter() - start
    finally:
        llama.close()
    tokens = int(result["usage"]["completion_tokens"])  # type: ignore[index]
    return tokens, seconds


async def _bench_local(
    pages: int, image_model: str | None, tiny: bool, image_size: int | None
) -> int:
    from workers.backends.registry import LLAMA_CONTEXT

    with tempfile.TemporaryDirectory(prefix="storygate-bench-") as tmp:
        base = Settings(data_dir=Path(tmp) / "procedural", backends="local", log_json=False)
        got = await _local_book(base, "procedural", pages)
        if got is None:
            return 1
        stages, writer = got
        _print_stages("procedural", stages)

        model_dir = image_model
        if tiny and model_dir is None:
            from workers.backends.local.tiny_pipeline import build_tiny_pipeline

            start = time.perf_counter()
            model_dir = str(build_tiny_pipeline(Path(tmp) / "tiny-sd"))
            print(f"tiny diffusion pipeline built in {time.perf_counter() - start:.2f} s")
        if model_dir is not None:
            extra: dict[str, Any] = {"image_size": image_size} if image_size else {}
            diff = Settings(
                data_dir=Path(tmp) / "diffusers",
                backends="local",
                log_json=False,
                image_model=model_dir,
                **extra,
            )
            got_diff = await _local_book(diff, "diffusers", pages)
            if got_diff is None:
                return 1
            _print_stages("diffusers", got_diff[0])
            for key in ("pictures", "book"):
                delta = got_diff[0][key] - stages[key]
                print(f"diffusers adds {delta:+.2f} s to {key} over procedural pictures")

        n_threads = base.text_threads or os.cpu_count() or 1
        path = str(writer.model_path)
        tokens, seconds = await asyncio.to_thread(_raw_llama, path, LLAMA_CONTEXT, n_threads)
        raw = tokens / seconds if seconds > 0 else 0.0
        ours = writer.tokens_per_second
        print(f"text model {Path(path).name}, n_ctx {LLAMA_CONTEXT}, {n_threads} threads:")
        print(
            f"  LlamaWriter in the book: {writer.tokens_generated} tokens in "
            f"{writer.generation_seconds:.2f} s = {ours:.1f} tokens/s "
            f"({writer.completions} calls, prompt processing included)"
        )
        print(f"  raw llama-cpp-python:    {tokens} tokens in {seconds:.2f} s = {raw:.1f} tokens/s")
        print(f"  writer / raw: {ours / raw if raw else 0.0:.2f}")
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
    parser.add_argument("--pages", type=int, default=LOCAL_PAGES, help="book length (--local)")
    args = parser.parse_args(argv)
    if args.local:
        return asyncio.run(
            _bench_local(args.pages, args.image_model, args.tiny_diffusion, args.image_size)
        )
    cases = []
    for raw in args.case or DEFAULT_CASES:
        fmt, _, units = raw.partition(":")
        cases.append((fmt, int(units or 12)))
    return asyncio.run(_bench(cases, max(1, args.runs), args.lookahead))


if __name__ == "__main__":
    sys.exit(main())
