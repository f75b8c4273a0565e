"""How true books are to their prompts: 20 varied prompts as real book jobs, scored.

Each prompt of ``bench/quality_prompts.json`` (animals, people, fantasy, everyday life; ages
0-3 to 8-12; English, Spanish, French, German; picture books, comics and novels) goes through
what a request would cause: ``jobs.create`` then ``execute_job`` on a real runtime in a
temporary data directory. The finished job's plan, layout and stored page pictures are then
scored by ``quality_metrics`` (each figure's definition is in its docstring) and printed per
book, then overall beside issue 13's targets with PASS or MISS. The exit status is 0 either
way: this measures, it does not gate.

    .venv/bin/python bench/quality.py                  # instant backends, all 20 prompts
    .venv/bin/python bench/quality.py --only 3         # the first 3 prompts, a quick try
    .venv/bin/python bench/quality.py --verbose        # and the pages behind each miss
    .venv/bin/python bench/quality.py --backends local # llama.cpp text, procedural pictures
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image
from quality_metrics import (
    BookPage,
    BookScores,
    FinishedBook,
    SceneReader,
    judge,
    overall,
    score_book,
)

from gateway.core.jobs import JobStatus
from gateway.runtime import open_runtime
from gateway.settings import Settings
from workers.backends.base import StoryPlan
from workers.backends.instant.scene_guess import guess_setting
from workers.pipelines import comic
from workers.pipelines.spec import PageSpec, plan_from_dict
from workers.pipelines.text import Fonts
from workers.runner import execute_job

PROMPTS = Path(__file__).with_name("quality_prompts.json")
_LANG_CODES = {"english": "en", "spanish": "es", "french": "fr", "german": "de"}


def _page_words(spec: PageSpec) -> tuple[str, str]:
    """(heading, text) printed on the page: a chapter's title; the text, then speech lines."""
    heading = spec.title if spec.kind in ("chapter", "chapter_cover") else ""
    return heading, "\n".join(part for part in (spec.text, *spec.dialogue) if part.strip())


def _pictures(spec: PageSpec, page: Image.Image, fonts: Fonts) -> tuple[Image.Image, ...]:
    """The scene art on a stored page: each comic panel cut out along the grid the page was
    drawn on (``comic.layout``, as ``render`` computes it); the whole page for a picture book
    page or a chapter cover; nothing on a novel's typeset chapter page."""
    if spec.kind == "chapter":
        return ()
    if spec.kind == "comic":
        grid = comic.layout(spec.panels or max(2, len(spec.dialogue)), spec.text, fonts)
        return tuple(page.crop(box) for box in grid.panels)
    return (page,)


async def _read_book(
    rt: Any, account_id: str, entry: Mapping[str, Any], result: Mapping[str, Any], wall: float
) -> FinishedBook:
    specs = [PageSpec.from_layout(d) for d in result.get("layout", [])]
    images = {p["page_num"]: p.get("image", "") for p in result.get("pages", [])}
    fonts = Fonts()
    pages = []
    for spec in specs:
        pictures: tuple[Image.Image, ...] = ()
        path = images.get(spec.page_num)
        if path and spec.kind != "chapter":
            _info, data = await rt.storage.get(account_id, path)
            page = Image.open(io.BytesIO(data)).convert("RGB")
            pictures = _pictures(spec, page, fonts)
        heading, text = _page_words(spec)
        pages.append(BookPage(spec.unit, spec.kind, text, pictures, heading))
    return FinishedBook(
        prompt=str(entry["prompt"]),
        language=str(entry.get("language", "english")),
        art_style=str(result.get("art_style", entry.get("art_style", "cartoon"))),
        requested_units=int(entry["units"]),
        plan=plan_from_dict(result.get("plan", {})),
        pages=tuple(pages),
        wall_s=wall,
    )


def _failed_book(entry: Mapping[str, Any], wall: float) -> FinishedBook:
    """A job that failed scores as a book with no pages (every target it touches misses)."""
    return FinishedBook(
        prompt=str(entry["prompt"]),
        language=str(entry.get("language", "english")),
        art_style=str(entry.get("art_style", "cartoon")),
        requested_units=int(entry["units"]),
        plan=StoryPlan("", (), (), "", "", ""),
        pages=(),
        wall_s=wall,
    )


_HEAD = (
    f"{'#':>2} {'format':<8}{'lang':<5}{'age':<5}{'cover':>6}{'body':>6}{'adher':>6}"
    f"{'stray':>6}{'dist2':>6}{'pages':>7}{'scene':>7}{'wall s':>8}  title / stray names"
)


def _row(n: int, entry: Mapping[str, Any], title: str, s: BookScores) -> str:
    scene = f"{s.scene_hits}/{s.scene_pages}" if s.scene_pages else "-"
    language = str(entry.get("language", "english"))
    strays = f"  [{', '.join(s.strays)}]" if s.strays else ""
    return (
        f"{n:>2} {entry['format']:<8}{_LANG_CODES.get(language, language[:2]):<5}"
        f"{entry.get('age_range', '4-7'):<5}{s.coverage:>6.2f}{s.coverage_body:>6.2f}"
        f"{s.adherence:>6.2f}{len(s.strays):>6}{s.distinct2:>6.2f}"
        f"{f'{s.units_made}/{s.units_asked}':>7}{scene:>7}{s.wall_s:>8.2f}  {title[:40]}{strays}"
    )


def _params(entry: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("prompt", "format", "units", "art_style", "language", "age_range")
    params = {k: entry[k] for k in keys if k in entry}
    params.update(author="Bench Press", series="Quality")
    return params


def _misses(s: BookScores) -> str:
    """The pages behind a book's misses, for ``--verbose``."""
    lines = []
    if s.off_bible:
        lines.append(f"     pages naming no bible character or place: {list(s.off_bible)}")
    for page, expected, got in s.scene_misses:
        lines.append(f"     page {page}: scene {expected!r}, picture reads {got!r}")
    return "\n".join(lines)


async def _run(
    backends: Literal["instant", "local"], entries: Sequence[Mapping[str, Any]], verbose: bool
) -> list[BookScores]:
    read: SceneReader = guess_setting
    print(f"backends: {backends}; {len(entries)} prompts")
    print("scene match: scene_guess.guess_setting; novels' chapter pages have no pictures")
    scores: list[BookScores] = []
    with tempfile.TemporaryDirectory(prefix="storygate-quality-") as tmp:
        # --backends local is bench/book.py --local without the audiobook: llama.cpp text and
        # procedural pictures (no image model set), so piper is not needed.
        settings = Settings(data_dir=Path(tmp), backends=backends, log_json=False)
        async with open_runtime(settings, role="cli") as rt:
            load = getattr(rt.backends.writer, "load", None)
            if load is not None:
                start = time.perf_counter()
                await load()  # once per process; not any one book's time
                print(f"text model loaded in {time.perf_counter() - start:.2f} s (not counted)")
            account = await rt.accounts.create("bench")
            print(_HEAD)
            for n, entry in enumerate(entries, 1):
                job = await rt.jobs.create(account.id, "storymint", "book", _params(entry))
                start = time.perf_counter()
                await execute_job(rt, rt.registry, job.id)
                wall = time.perf_counter() - start
                done = await rt.jobs.get(job.id)
                if done.status is JobStatus.SUCCEEDED and done.result:
                    book = await _read_book(rt, account.id, entry, done.result, wall)
                else:
                    print(f"{n:>2} FAILED: {done.error_code} {done.error_message}")
                    book = _failed_book(entry, wall)
                got = score_book(book, read)
                scores.append(got)
                print(_row(n, entry, book.plan.title, got), flush=True)
                if verbose and (got.off_bible or got.scene_misses):
                    print(_misses(got), flush=True)
    return scores


def _report(scores: Sequence[BookScores]) -> None:
    o = overall(scores)
    scene = f"{o.scene:.2f}" if o.scene is not None else "n/a"
    figures = {
        "prompt coverage": f"{o.coverage:.2f} (without title and page 1: {o.coverage_body:.2f})",
        "bible adherence": f"{o.adherence:.2f}",
        "stray names": f"{o.strays_mean:.2f} per book, worst book {o.strays_max}",
        "distinct-2": f"{o.distinct2:.2f}",
        "exact page counts": f"{o.exact_share:.0%} of books",
        "scene match": f"{scene} of pictured pages",
    }
    print(f"\noverall, {o.books} books, {o.wall_s:.1f} s of book jobs:")
    for label, goal, met in judge(o):
        verdict = "n/a" if met is None else ("PASS" if met else "MISS")
        print(f"  {label:<18} {figures[label]:<48} target {goal:<14} {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", choices=("instant", "local"), default="instant")
    parser.add_argument("--prompts", type=Path, default=PROMPTS, help="JSON list of requests")
    parser.add_argument("--only", type=int, default=None, help="the first N prompts only")
    parser.add_argument(
        "--verbose", action="store_true", help="list the pages behind adherence and scene misses"
    )
    args = parser.parse_args(argv)
    entries = json.loads(args.prompts.read_text(encoding="utf-8"))
    if args.only is not None:
        entries = entries[: max(1, args.only)]
    _report(asyncio.run(_run(args.backends, entries, args.verbose)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
