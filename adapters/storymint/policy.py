"""StoryMint's plan table: which formats, how many pages, and which extras each plan unlocks.

Monthly allowances (books, novels, pings) live in the core's plan catalogue and are enforced by
the ledger; this table holds the per-book rules the reference's "Plans & page limits" section
states, so that generate, status, book, download, audiobook and tier all read one source.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.storymint.errors import StoryMintError
from contracts.storymint import BookFormat
from gateway.core.plans import Plan


@dataclass(frozen=True, slots=True)
class PlanRules:
    plan_id: str
    display_name: str
    picture_pages: int
    comic_pages: int  # comic and chapter_comic share it
    novel_chapters: int
    full_download: bool
    audiobook: bool
    api_access: bool

    def cap(self, fmt: BookFormat) -> int:
        if fmt is BookFormat.PICTURE:
            return self.picture_pages
        if fmt is BookFormat.NOVEL:
            return self.novel_chapters
        return self.comic_pages

    @property
    def formats(self) -> tuple[BookFormat, ...]:
        return tuple(f for f in BookFormat if self.cap(f) > 0)


def _rules(
    plan_id: str,
    name: str,
    pages: tuple[int, int, int],
    *,
    download: bool,
    audiobook: bool,
    api: bool,
) -> PlanRules:
    picture, comic, novel = pages
    return PlanRules(plan_id, name, picture, comic, novel, download, audiobook, api)


_TABLE: dict[str, PlanRules] = {
    r.plan_id: r
    for r in (
        _rules("free", "Free", (24, 0, 0), download=False, audiobook=False, api=False),
        _rules("plus", "Plus", (50, 200, 20), download=True, audiobook=False, api=False),
        _rules("max", "Max", (50, 200, 30), download=True, audiobook=True, api=True),
        _rules("developer", "Developer", (50, 0, 0), download=True, audiobook=False, api=True),
        _rules(
            "schools",
            "Schools & Organizations",
            (100, 200, 40),
            download=True,
            audiobook=True,
            api=True,
        ),
    )
}

# What a request without num_pages gets (then clamped to the plan's cap).
DEFAULT_UNITS: dict[BookFormat, int] = {
    BookFormat.PICTURE: 12,
    BookFormat.COMIC: 20,
    BookFormat.CHAPTER_COMIC: 24,
    BookFormat.NOVEL: 10,
}
# The reference gives novels as "5-40 chapters"; every other format starts at one page.
MIN_UNITS: dict[BookFormat, int] = {
    BookFormat.PICTURE: 1,
    BookFormat.COMIC: 1,
    BookFormat.CHAPTER_COMIC: 1,
    BookFormat.NOVEL: 5,
}

_FORMAT_NAMES = {
    BookFormat.PICTURE: "picture book",
    BookFormat.COMIC: "comic",
    BookFormat.CHAPTER_COMIC: "chapter comic",
    BookFormat.NOVEL: "novel",
}


def rules_for(plan: Plan) -> PlanRules:
    rules = _TABLE.get(plan.id)
    if rules is None:  # a plan the catalogue gained without a row here: the most restrictive
        return _TABLE["free"]
    return rules


def _plans_with(fmt: BookFormat) -> str:
    names = [r.display_name for r in _TABLE.values() if r.cap(fmt) > 0]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)


def check_format(rules: PlanRules, fmt: BookFormat) -> None:
    if rules.cap(fmt) > 0:
        return
    allowed = ", ".join(f.value for f in rules.formats)
    raise StoryMintError(
        403,
        f"The {_FORMAT_NAMES[fmt]} format ({fmt.value}) is not available on the "
        f"{rules.display_name} plan",
        f"Formats on your plan: {allowed}. Upgrade to {_plans_with(fmt)} to create "
        f"{_FORMAT_NAMES[fmt]}s.",
    )


def units_for(rules: PlanRules, fmt: BookFormat, requested: int | None) -> int:
    """Pages (chapters for novels) the book gets: the request or the default, clamped."""
    check_format(rules, fmt)
    wanted = DEFAULT_UNITS[fmt] if requested is None else requested
    cap = rules.cap(fmt)
    return max(min(MIN_UNITS[fmt], cap), min(wanted, cap))


def check_download(rules: PlanRules) -> None:
    if not rules.full_download:
        raise StoryMintError(
            403,
            f"Full downloads are not available on the {rules.display_name} plan",
            "ZIP downloads need the Plus, Max, Developer or Schools & Organizations plan.",
        )


def check_audiobook(rules: PlanRules) -> None:
    if not rules.audiobook:
        raise StoryMintError(
            403,
            f"Audiobook generation is not available on the {rules.display_name} plan",
            "Audiobooks need the Max or Schools & Organizations plan.",
        )
