"""Reading a chat edit's instruction: which pages it concerns, and renames done exactly.

Rules come first because they are exact where a small model is not: "page 3", "pages 2-4", "the
ending", "every page", a character's name. Only an instruction they cannot place goes to the
model's structured targeting step. A rename is a plain text substitution, never a rewrite, so
"call the fox Rusty" cannot change anything else on the page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from workers.backends.base import StoryPlan

__all__ = [
    "clear_keyword_page",
    "keyword_pages",
    "page_list",
    "rename_of",
    "renamed",
    "rule_targets",
]

_RANGE = re.compile(
    r"\b(?:pages?|chapters?|parts?)\s+(\d+)((?:\s*(?:-|–|to|and|&|,)\s*\d+)*)",  # noqa: RUF001
    re.IGNORECASE,
)
_ORDINALS = {
    "first": 0,
    "second": 1,
    "third": 2,
    "fourth": 3,
    "fifth": 4,
    "sixth": 5,
    "seventh": 6,
    "eighth": 7,
    "ninth": 8,
    "tenth": 9,
}
_ORDINAL = re.compile(
    r"\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last|final)\s+"
    r"(?:page|chapter|part)\b",
    re.IGNORECASE,
)
_ALL = re.compile(
    r"\b(?:every|each|all(?:\s+the)?)\s+(?:pages?|chapters?)\b|\b(?:whole|entire)\s+"
    r"(?:story|book|text)\b|\beverywhere\b",
    re.IGNORECASE,
)
_END = re.compile(r"\b(?:ending|the end|conclusion|finale)\b", re.IGNORECASE)
_START = re.compile(r"\b(?:beginning|opening|the start|intro(?:duction)?)\b", re.IGNORECASE)
_MIDDLE = re.compile(r"\bmiddle\b", re.IGNORECASE)
_RENAMES = (
    re.compile(
        r"(?:change|switch|set)\s+(?:the\s+)?(.+?)(?:'s|’s|s')?\s+name\s+(?:to|into)\s+"  # noqa: RUF001
        r"[\"'“]?([^\W\d_][\w'-]*)",
        re.IGNORECASE,
    ),
    re.compile(r"rename\s+(?:the\s+)?(.+?)\s+(?:to|as)\s+[\"'“]?([^\W\d_][\w'-]*)", re.IGNORECASE),
    re.compile(r"call\s+(?:the\s+)?(.+?)\s+[\"'“]?([^\W\d_][\w'-]*)[\"'”]?\s+instead", re.I),
)
_STOP = frozenset(
    "the a an and or to of in on at with for from make makes made add more less some any page "
    "pages chapter chapters please can could would you it its this that be is are was were "
    "story book change just also then very should want like".split()
)


def rule_targets(instruction: str, pages: Sequence[str], plan: StoryPlan) -> list[int] | None:
    """Pages the instruction names (0-based), or None when the rules cannot tell."""
    n = len(pages)
    if n == 0:
        return []
    chosen: set[int] = set()
    for m in _RANGE.finditer(instruction):
        numbers = [int(m.group(1))] + [int(x) for x in re.findall(r"\d+", m.group(2))]
        if re.search(r"-|–|to", m.group(2) or "") and len(numbers) == 2:  # noqa: RUF001
            low, high = sorted(numbers)
            numbers = list(range(low, high + 1))
        chosen |= {k - 1 for k in numbers if 1 <= k <= n}
    for m in _ORDINAL.finditer(instruction):
        word = m.group(1).lower()
        k = n - 1 if word in ("last", "final") else _ORDINALS[word]
        if k < n:
            chosen.add(k)
    if chosen:
        return sorted(chosen)
    if _ALL.search(instruction):
        return list(range(n))
    if _END.search(instruction):
        chosen.add(n - 1)
    if _START.search(instruction):
        chosen.add(0)
    if _MIDDLE.search(instruction):
        chosen.add(n // 2)
    if chosen:
        return sorted(chosen)
    named = [c.name for c in plan.characters if _mentions(instruction, c.name)]
    if named:
        hits = [i for i, text in enumerate(pages) if any(_mentions(text, x) for x in named)]
        return hits or None
    return None


def _overlaps(instruction: str, pages: Sequence[str]) -> list[int]:
    wanted = {w for w in re.findall(r"\w+", instruction.lower()) if len(w) > 3} - _STOP
    return [len(wanted & set(re.findall(r"\w+", p.lower()))) for p in pages]


def clear_keyword_page(instruction: str, pages: Sequence[str]) -> list[int] | None:
    """The one page sharing the most content words with the instruction, if exactly one does."""
    scores = _overlaps(instruction, pages)
    best = max(scores, default=0)
    winners = [i for i, s in enumerate(scores) if s == best]
    return winners if best > 0 and len(winners) == 1 else None


def keyword_pages(instruction: str, pages: Sequence[str]) -> list[int]:
    """The pages sharing most content words with the instruction; the last page if none do."""
    scores = _overlaps(instruction, pages)
    best = max(scores, default=0)
    if best == 0:
        return [len(pages) - 1] if pages else []
    return [i for i, s in enumerate(scores) if s == best]


def rename_of(instruction: str, plan: StoryPlan) -> tuple[str, str] | None:
    """(old name, new name) when the instruction renames a character of the plan."""
    for pattern in _RENAMES:
        m = pattern.search(instruction)
        if not m:
            continue
        ref, new = m.group(1).strip().strip("\"'“”").lower(), m.group(2)
        for c in plan.characters:
            if (
                c.name.lower() == ref
                or _mentions(ref, c.name)
                or (c.role and c.role.lower() in ref)
                or c.species.lower() in ref
            ):
                return (c.name, new) if c.name != new else None
    return None


def renamed(pages: Sequence[str], old: str, new: str) -> dict[int, str]:
    pattern = re.compile(rf"(?<!\w){re.escape(old)}(?!\w)")
    out: dict[int, str] = {}
    for i, text in enumerate(pages):
        changed = pattern.sub(new, text)
        if changed != text:
            out[i] = changed
    return out


def page_list(indices: Sequence[int], noun: str = "page") -> str:
    """1-based numbers as people write them: "page 3", "pages 1, 2 and 4"."""
    nums = sorted({i + 1 for i in indices})
    if len(nums) == 1:
        return f"{noun} {nums[0]}"
    listed = ", ".join(str(k) for k in nums[:-1])
    return f"{noun}s {listed} and {nums[-1]}"


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(name.lower())}(?!\w)", text.lower()) is not None
