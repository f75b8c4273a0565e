"""Reading a chat model's JSON answers and saying what is structurally wrong with them.

The problems found here are worded for the model: they go into the one stricter retry. Content
that is present but poor (a colour that is not a colour, a summary that repeats another) is not
a reason to ask again; ``repair`` replaces it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "dialogue_problems",
    "load_json",
    "targets_of",
]

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)
_MAX_CUTS = 400  # places tried when closing a truncated answer, from its end backwards


def load_json(text: str) -> dict[str, Any] | None:
    """The first JSON object in a model's answer, closed if the answer was cut short."""
    body = _FENCE.sub("", text.strip())
    start = body.find("{")
    if start < 0:
        return None
    body = body[start:]
    # strict=False: small models put raw newlines inside strings, which is harmless here.
    try:
        value, _end = json.JSONDecoder(strict=False).raw_decode(body)
    except json.JSONDecodeError:
        value = _close(body)
    return value if isinstance(value, dict) else None


def _close(body: str) -> Any:
    """Parse a truncated JSON text: drop the unfinished tail, then close what is still open.

    Cut points are tried from the end: just after a string, a bracket or a literal. The first
    that parses keeps the most of what the model wrote.
    """
    cuts = [
        i + 1
        for i, ch in enumerate(body)
        if ch in '"}]' or (ch.isalnum() and (i + 1 == len(body) or not body[i + 1].isalnum()))
    ]
    for end in reversed(cuts[-_MAX_CUTS:]):
        candidate = body[:end].rstrip()
        closers = _closers(candidate)
        if closers is None:
            continue
        try:
            return json.loads(candidate + closers, strict=False)
        except json.JSONDecodeError:
            continue
    return None


def _closers(text: str) -> str | None:
    """The brackets that close ``text``; None when it ends inside a string or is unbalanced."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]":
            if not stack or stack.pop() != ch:
                return None
    if in_string:
        return None
    return "".join(reversed(stack))


def _filled(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def dialogue_problems(data: Mapping[str, Any] | None, count: int) -> list[str]:
    if data is None:
        return ["it was not a JSON object"]
    lines = data.get("lines")
    if not isinstance(lines, list) or len(lines) != count:
        return [f"give exactly {count} lines"]
    if not all(isinstance(x, Mapping) and _filled(x.get("line")) for x in lines):
        return ["every line needs a speaker and the words they say"]
    return []


def targets_of(data: Mapping[str, Any] | None, pages: int) -> list[int]:
    """0-based page indices from a targeting answer; only numbers that name a page."""
    raw = (data or {}).get("pages")
    found: set[int] = set()
    for value in raw if isinstance(raw, list) else []:
        if isinstance(value, int | str) and str(value).strip().isdigit():
            k = int(str(value).strip()) - 1
            if 0 <= k < pages:
                found.add(k)
    return sorted(found)
