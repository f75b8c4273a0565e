"""What a book job asks for, and how its plan and layout survive in ``job.result``.

A finished book must be rebuildable for chat edits long after the worker that wrote it is gone,
so the request, the plan and each page's layout are stored as plain JSON and read back here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from gateway.core import layout
from workers.backends.base import Character, OutlineItem, StoryPlan, StoryRequest, stable_seed
from workers.tasks import TaskError

FORMATS = ("picture", "comic", "chapter_comic", "novel", "storybook")
DEFAULT_UNITS = {"picture": 12, "comic": 8, "chapter_comic": 3, "novel": 5, "storybook": 6}
MAX_UNITS = 200
AGE_RANGES = ("0-3", "4-7", "8-12")
# Bumping this changes every seed: do it only when old books may legitimately look different.
SEED_VERSION = "book-v1"

_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+|(?<=[\u3002\uff01\uff1f])")


@dataclass(frozen=True, slots=True)
class BookParams:
    prompt: str
    format: str
    units: int
    art_style: str
    author: str
    series: str
    language: str
    age_range: str
    tone: str
    text_model: str
    image_model: str

    def canonical(self) -> dict[str, Any]:
        return asdict(self)


def _text(params: Mapping[str, Any], key: str, default: str = "") -> str:
    value = params.get(key)
    if value is None:
        return default
    return str(value).strip() or default


def read_params(params: Mapping[str, Any]) -> BookParams:
    """Normalise ``job.params``; missing keys take defaults, nonsense fails the job cleanly."""
    fmt = _text(params, "format", "picture").lower()
    if fmt not in FORMATS:
        raise TaskError("invalid_params", f"unknown book format {fmt!r}")
    prompt = _text(params, "prompt")
    if not prompt:
        raise TaskError("invalid_params", "a book needs a prompt")
    raw_units = params.get("units")
    try:
        units = DEFAULT_UNITS[fmt] if raw_units in (None, "") else int(raw_units)
    except (TypeError, ValueError):
        raise TaskError("invalid_params", "units must be a whole number") from None
    age = _text(params, "age_range", "4-7")
    return BookParams(
        prompt=prompt,
        format=fmt,
        units=max(1, min(MAX_UNITS, units)),
        art_style=_text(params, "art_style", "cartoon"),
        author=_text(params, "author"),
        series=_text(params, "series"),
        language=_text(params, "language", "english").lower(),
        age_range=age if age in AGE_RANGES else "4-7",
        tone=_text(params, "tone", "heartwarming"),
        text_model=_text(params, "text_model"),
        image_model=_text(params, "image_model"),
    )


def book_seed(p: BookParams) -> int:
    """The seed of everything drawn for a book.

    It comes from the story-shaping parameters only: the job id would make two identical
    requests differ, and the branding (author, series) would make a re-branded reprint of the
    same story come out as a different story.
    """
    story = {k: v for k, v in p.canonical().items() if k not in ("author", "series")}
    return stable_seed(SEED_VERSION, json.dumps(story, sort_keys=True, ensure_ascii=True))


def story_request(p: BookParams) -> StoryRequest:
    return StoryRequest(
        prompt=p.prompt,
        format=p.format,
        units=p.units,
        art_style=p.art_style,
        language=p.language,
        age_range=p.age_range,
        tone=p.tone,
        author=p.author,
        series=p.series,
        seed=book_seed(p),
    )


# -- JSON round trips --------------------------------------------------------------------------


def request_to_dict(request: StoryRequest) -> dict[str, Any]:
    return asdict(request)


def request_from_dict(data: Mapping[str, Any]) -> StoryRequest:
    return StoryRequest(
        prompt=str(data["prompt"]),
        format=str(data["format"]),
        units=int(data["units"]),
        art_style=str(data["art_style"]),
        language=str(data.get("language", "english")),
        age_range=str(data.get("age_range", "4-7")),
        tone=str(data.get("tone", "heartwarming")),
        author=str(data.get("author", "")),
        series=str(data.get("series", "")),
        seed=int(data.get("seed", 0)),
    )


def plan_to_dict(plan: StoryPlan) -> dict[str, Any]:
    return asdict(plan)


def plan_from_dict(data: Mapping[str, Any]) -> StoryPlan:
    characters = tuple(
        Character(
            name=str(c["name"]),
            species=str(c["species"]),
            colors=tuple(str(x) for x in c.get("colors", ())),
            clothing=str(c.get("clothing", "")),
            trait=str(c.get("trait", "")),
            seed=int(c.get("seed", 0)),
            role=str(c.get("role", "")),
        )
        for c in data.get("characters", ())
    )
    outline = tuple(
        OutlineItem(
            index=int(o["index"]),
            title=str(o.get("title", "")),
            summary=str(o.get("summary", "")),
            characters=tuple(str(x) for x in o.get("characters", ())),
            setting=str(o.get("setting", "")),
            weather=str(o.get("weather", "")),
            time=str(o.get("time", "")),
            action=str(o.get("action", "")),
        )
        for o in data.get("outline", ())
    )
    return StoryPlan(
        title=str(data.get("title", "")),
        characters=characters,
        outline=outline,
        setting=str(data.get("setting", "")),
        moral=str(data.get("moral", "")),
        summary=str(data.get("summary", "")),
        place=str(data.get("place", "")),
        event=str(data.get("event", "")),
    )


# -- pages ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageSpec:
    """One page of the finished book and everything needed to draw it again.

    ``unit`` is the outline item (page or chapter) the page belongs to; ``kind`` decides how it
    is drawn: picture (text over art), art (storybook: art only), comic, chapter_cover, chapter
    (a novel's typeset opening page).
    """

    page_num: int
    unit: int
    kind: str
    title: str
    text: str
    panels: int = 0
    dialogue: tuple[str, ...] = ()
    chapter_text: str = ""
    part: int = 0
    parts: int = 1

    def layout(self) -> dict[str, Any]:
        out = asdict(self)
        out["dialogue"] = list(self.dialogue)
        return out

    @classmethod
    def from_layout(cls, data: Mapping[str, Any]) -> PageSpec:
        return cls(
            page_num=int(data["page_num"]),
            unit=int(data["unit"]),
            kind=str(data["kind"]),
            title=str(data.get("title", "")),
            text=str(data.get("text", "")),
            panels=int(data.get("panels", 0)),
            dialogue=tuple(str(x) for x in data.get("dialogue", ())),
            chapter_text=str(data.get("chapter_text", "")),
            part=int(data.get("part", 0)),
            parts=int(data.get("parts", 1)),
        )


def page_file(page_num: int, total: int) -> str:
    """The page picture's name in its job's folder (``gateway.core.layout``)."""
    width = max(2, len(str(total)))
    return f"{layout.PAGES}page_{page_num:0{width}d}.png"


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def split_text(text: str, parts: int, joiner: str = " ") -> list[str]:
    """Cut a chapter's text into ``parts`` runs of whole sentences, as even as they come."""
    pieces = sentences(text)
    if parts <= 1 or not pieces:
        return [text.strip(), *[""] * max(0, parts - 1)]
    base, extra = divmod(len(pieces), parts)
    runs, start = [], 0
    for i in range(parts):
        end = start + base + (1 if i < extra else 0)
        runs.append(joiner.join(pieces[start:end]))
        start = end
    return runs


def comic_parts(text: str) -> int:
    """How many comic pages follow a chapter's cover: two, or three for a long chapter."""
    return 3 if len(sentences(text)) > 6 else 2


def joiner_of(text: str) -> str:
    return "" if re.search(r"[\u3040-\u30ff\u3400-\u9fff]", text) else " "


@dataclass(slots=True)
class Draft:
    """The pages written so far; what pollers see grow in ``progress.data``."""

    specs: list[PageSpec] = field(default_factory=list)
    images: dict[int, str] = field(default_factory=dict)

    def public(self) -> list[dict[str, Any]]:
        out = []
        for s in self.specs:
            entry: dict[str, Any] = {"page_num": s.page_num, "title": s.title, "text": s.text}
            if s.page_num in self.images:
                entry["image"] = self.images[s.page_num]
            out.append(entry)
        return out


def unit_texts(specs: Sequence[PageSpec], units: int) -> list[str]:
    """The text of each outline unit, as the writer wrote it (what ``writer.edit`` sees)."""
    texts = [""] * units
    for s in specs:
        if s.kind == "chapter_cover":
            texts[s.unit] = s.chapter_text
        elif s.kind != "comic" or s.parts == 1:
            texts[s.unit] = s.text
    return texts
