"""``bench/book.py --local``: one picture book and its audiobook on the local backends.

Prints the wall time of each stage (plan, text, pictures, PDF, ZIP, audio), then the text
backend's tokens/s beside raw llama-cpp-python on the same GGUF file (``llama_speed``), and,
with an image model, what the diffusers path adds to the same book. Each book is built in a
process of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llama_speed import Call, compare_text, record

from gateway.core.jobs import JobStatus
from gateway.runtime import open_runtime
from gateway.settings import Settings
from workers.backends.base import ImagePrompt
from workers.runner import execute_job

__all__ = ["bench_local"]

PROMPT = "A brave little raccoon who learns to share with forest friends"


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


class _Timed:
    """A backend passed through, except that the named coroutine methods are timed by stage."""

    def __init__(self, inner: Any, clock: _Clock, stages: Mapping[str, str]) -> None:
        self.inner, self.clock, self.stages = inner, clock, stages

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self.inner, attr)
        stage = self.stages.get(attr)
        if stage is None:
            return value

        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await value(*args, **kwargs)
            finally:
                self.clock.add(stage, start)

        return timed


def _timed(stage: str, clock: _Clock, func: Callable[..., bytes]) -> Callable[..., bytes]:
    def timed(*args: Any, **kwargs: Any) -> bytes:
        start = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            clock.add(stage, start)

    return timed


@dataclass
class _Book:
    stages: dict[str, float]
    writer: Any
    calls: list[Call]


async def _local_book(settings: Settings, label: str, pages: int) -> _Book | None:
    """Build one picture book and its audiobook; stage -> seconds, the writer and its calls."""
    from workers.pipelines import audiobook, book

    clock = _Clock()
    calls: list[Call] = []
    async with open_runtime(settings, role="cli") as rt:
        real = rt.backends
        rt.backends = replace(
            real,
            writer=_Timed(
                real.writer, clock, {"plan": "plan", "write": "text", "dialogue": "text"}
            ),
            illustrator=_Timed(real.illustrator, clock, {"draw": "pictures"}),
            narrator=_Timed(real.narrator, clock, {"speak": "speech"}),
        )
        print(f"[{label}] " + "; ".join(f"{c.kind}: {c.model}" for c in real.capabilities()))
        start = time.perf_counter()
        await real.writer.load()
        loaded = time.perf_counter() - start
        start = time.perf_counter()
        # Models load on first use, once per process; a first picture loads the image model.
        await real.illustrator.draw([ImagePrompt("warm-up", (), "meadow", "watercolor", 0, 64, 64)])
        print(
            f"[{label}] text model loaded in {loaded:.2f} s, image backend ready in "
            f"{time.perf_counter() - start:.2f} s (neither counted)"
        )
        record(real.writer, calls)
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
        _path, mp3_size = await audiobook.make_audiobook(rt, done)
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
        f"{clock.calls('speech')} narration clips, MP3 {mp3_size / 1024:.0f} KiB"
    )
    return _Book(stages, real.writer, calls)


def _print_stages(label: str, stages: dict[str, float]) -> None:
    rows = [
        ("plan", "plan"),
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


# The tiny random pipeline's cost is its attention over the latent grid, which grows with the
# fourth power of the picture's side; at these settings it costs what the diffusers code path
# around it does, which is what the comparison is for.
TINY_SIZE, TINY_STEPS = 64, 4


async def _child(args: list[str]) -> None:
    """Run this file in a fresh interpreter and wait for it (its output goes straight through)."""
    proc = await asyncio.create_subprocess_exec(sys.executable, __file__, *args)
    if await proc.wait() != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(args[:2])}")


async def _one_book(
    out: Path, label: str, pages: int, image_model: str, size: int, steps: int, compare: bool
) -> None:
    """In the child: one book, its stages written to ``out`` as JSON."""
    extra: dict[str, Any] = {"image_model": image_model} if image_model else {}
    if size:
        extra["image_size"] = size
    if steps:
        extra["image_steps"] = steps
    with tempfile.TemporaryDirectory(prefix="storygate-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp), backends="local", log_json=False, **extra)
        got = await _local_book(settings, label, pages)
        if got is None:
            raise SystemExit(1)
        _print_stages(label, got.stages)
        if compare:
            threads = settings.text_threads or os.cpu_count() or 1
            await compare_text(
                got.writer, got.calls, got.stages["plan"] + got.stages["text"], threads
            )
    out.write_text(json.dumps(got.stages))


async def bench_local(
    pages: int,
    image_model: str | None,
    tiny: bool,
    image_size: int | None,
    image_steps: int | None,
) -> int:
    """Each book in a process of its own: models load once per process, and a process that
    has run one model's threads is not a clean place to time another's (ModelThread)."""
    with tempfile.TemporaryDirectory(prefix="storygate-bench-") as tmp:
        procedural = Path(tmp) / "procedural.json"
        await _child(["book", str(procedural), "procedural", str(pages), "", "0", "0", "compare"])
        model_dir = image_model
        if tiny and model_dir is None:
            start = time.perf_counter()
            model_dir = str(Path(tmp) / "tiny-sd")
            await _child(["tiny", model_dir])
            print(f"tiny diffusion pipeline built in {time.perf_counter() - start:.2f} s")
            image_size = image_size or TINY_SIZE
            image_steps = image_steps or TINY_STEPS
        if model_dir is None:
            return 0
        diffusers = Path(tmp) / "diffusers.json"
        size, steps = str(image_size or 0), str(image_steps or 0)
        await _child(["book", str(diffusers), "diffusers", str(pages), model_dir, size, steps, ""])
        first, second = (json.loads(f.read_text()) for f in (procedural, diffusers))
    delta = second["pictures"] - first["pictures"]
    print(f"diffusers adds {delta:+.2f} s to the pictures stage over procedural pictures")
    # The text is the same tokens both times; only its timing noise differs.
    outside = [b["total"] - b["plan"] - b["text"] for b in (first, second)]
    print(
        f"diffusers adds {outside[1] - outside[0]:+.2f} s to the book and audiobook outside the "
        f"text stages (whole run {second['total'] - first['total']:+.2f} s)"
    )
    return 0


def _main(argv: list[str]) -> None:
    if argv[0] == "tiny":
        from workers.backends.local.tiny_pipeline import build_tiny_pipeline

        build_tiny_pipeline(Path(argv[1]))
        return
    out, label, pages, model, size, steps, compare = argv[1:8]
    asyncio.run(
        _one_book(Path(out), label, int(pages), model, int(size), int(steps), bool(compare))
    )


if __name__ == "__main__":
    _main(sys.argv[1:])
