"""Keeping the bible true to a chat edit that renamed someone.

A writer renames a character in the page texts it returns; the plan stored beside the book
must follow, or the next edit, the next picture and the audiobook's cast would still know the
old name. The rename is read from the texts themselves (a name gone from every page, one new
name in its place), so it holds whichever writer made the edit and in any language that
capitalises names.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace

from workers.backends.base import StoryPlan

__all__ = ["follow_renames"]

_CAPITALISED = re.compile(r"(?<![\w'\u2019])[A-Z\u00c0-\u00de\u0400-\u042f][\w'\u2019-]*")


def _has(text: str, name: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text) is not None


def _swap(text: str, old: str, new: str) -> str:
    return re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", new, text)


def _renames(plan: StoryPlan, before: Sequence[str], after: Sequence[str]) -> dict[str, str]:
    seen_before = {w for t in before for w in _CAPITALISED.findall(t)}
    out: dict[str, str] = {}
    for c in plan.characters:
        pages = [i for i, t in enumerate(before) if _has(t, c.name)]
        if not pages or any(_has(t, c.name) for t in after):
            continue
        fresh = Counter(
            w for i in pages for w in _CAPITALISED.findall(after[i]) if w not in seen_before
        )
        if fresh:
            name, _count = fresh.most_common(1)[0]
            out[c.name] = re.sub(r"['\u2019]s$", "", name)
    return out


def follow_renames(plan: StoryPlan, before: Sequence[str], after: Sequence[str]) -> StoryPlan:
    """``plan`` with every character the edit renamed (``before`` -> ``after``, page texts in
    order) renamed in its cast, outline, title, summary and moral."""
    renames: Mapping[str, str] = _renames(plan, before, after)
    if not renames:
        return plan

    def text(value: str) -> str:
        for old, new in renames.items():
            value = _swap(value, old, new)
        return value

    return replace(
        plan,
        title=text(plan.title),
        summary=text(plan.summary),
        moral=text(plan.moral),
        characters=tuple(replace(c, name=renames.get(c.name, c.name)) for c in plan.characters),
        outline=tuple(
            replace(
                o,
                title=text(o.title),
                summary=text(o.summary),
                action=text(o.action),
                characters=tuple(renames.get(n, n) for n in o.characters),
            )
            for o in plan.outline
        ),
    )
