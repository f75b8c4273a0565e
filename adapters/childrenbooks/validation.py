"""Hand-written validation: every bad field is named at once, in the reference's words.

A strict decoder stops at the first problem; the reference's example names fields in a map
("pageCount": "Expected number between 5 and 15"), so a client fixing a form sees all of them
in one round trip. Enums are case-sensitive. A body that is not JSON at all, or a request that
is not ``application/json``, is BAD_REQUEST; a JSON body that breaks a rule is VALIDATION_ERROR.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import msgspec

from adapters.childrenbooks.errors import ChildrenBooksError, validation_error
from adapters.common.pages import page_cursor, page_limit
from contracts.childrenbooks import (
    IDEMPOTENCY_KEY_MAX,
    PAGE_COUNT_MAX,
    PAGE_COUNT_MIN,
    STORY_IDEA_MAX,
    STORY_IDEA_MIN,
    AgeRange,
    ErrorCode,
    Language,
    Style,
    Tone,
)
from gateway.core.errors import InvalidInput
from gateway.core.idempotency import canonical_json
from gateway.core.pages import Cursor

REQUIRED = "Required"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
LIBRARY_LIMIT_DEFAULT = 20
LIBRARY_LIMIT_MAX = 100


@dataclass(frozen=True, slots=True)
class StoryInput:
    story_idea: str
    age_range: str
    style: str
    page_count: int
    tone: str
    language: str


def check_content_type(value: str | None) -> None:
    media_type = (value or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise ChildrenBooksError(
            ErrorCode.BAD_REQUEST,
            "content-type must be application/json.",
            meta={"contentType": value or None},
        )


def parse_json(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise ChildrenBooksError(ErrorCode.BAD_REQUEST, "Request body is not valid JSON.") from None


def _one_of(values: Iterable[StrEnum]) -> str:
    return "Expected one of: " + ", ".join(v.value for v in values)


def _enum(body: dict[str, Any], name: str, enum: type[StrEnum], fields: dict[str, str]) -> str:
    value = body.get(name)
    if value is None:
        fields[name] = REQUIRED
        return ""
    allowed = {v.value for v in enum}
    if not isinstance(value, str) or value not in allowed:
        fields[name] = _one_of(enum)
        return ""
    return value


def _story_idea(body: dict[str, Any], fields: dict[str, str]) -> str:
    value = body.get("storyIdea")
    if value is None:
        fields["storyIdea"] = REQUIRED
        return ""
    if not isinstance(value, str):
        fields["storyIdea"] = "Expected string"
        return ""
    if len(value) < STORY_IDEA_MIN or len(value) > STORY_IDEA_MAX:
        fields["storyIdea"] = (
            f"Expected string between {STORY_IDEA_MIN} and {STORY_IDEA_MAX} characters"
        )
        return ""
    return value


def _page_count(body: dict[str, Any], fields: dict[str, str]) -> int:
    value = body.get("pageCount")
    if value is None:
        fields["pageCount"] = REQUIRED
        return 0
    # true/false are not numbers; 7.0 is the integer 7 in JSON (and in JSON Schema), 7.5 is not.
    integral = isinstance(value, int) and not isinstance(value, bool)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value, integral = int(value), True
    if not integral:
        fields["pageCount"] = f"Expected integer between {PAGE_COUNT_MIN} and {PAGE_COUNT_MAX}"
        return 0
    if not PAGE_COUNT_MIN <= value <= PAGE_COUNT_MAX:
        fields["pageCount"] = f"Expected number between {PAGE_COUNT_MIN} and {PAGE_COUNT_MAX}"
        return 0
    return int(value)


def idempotency_problem(key: str | None) -> str | None:
    if key is None:
        return None
    if not key.strip():
        return "Must not be empty"
    if len(key) > IDEMPOTENCY_KEY_MAX:
        return f"Max length {IDEMPOTENCY_KEY_MAX}"
    return None


def validate_story(body: Any, idempotency_key: str | None) -> StoryInput:
    """The create body and headers; raises VALIDATION_ERROR naming every bad field."""
    fields: dict[str, str] = {}
    problem = idempotency_problem(idempotency_key)
    if problem:
        fields["Idempotency-Key"] = problem
    if not isinstance(body, dict):
        fields["body"] = "Expected object"
        raise validation_error(fields)
    story = StoryInput(
        story_idea=_story_idea(body, fields),
        age_range=_enum(body, "ageRange", AgeRange, fields),
        style=_enum(body, "style", Style, fields),
        page_count=_page_count(body, fields),
        tone=_enum(body, "tone", Tone, fields),
        language=_enum(body, "language", Language, fields),
    )
    if fields:
        raise validation_error(fields)
    return story


def canonical_body(body: Any) -> bytes:
    """The body as the idempotency fingerprint sees it: key order and spacing do not matter."""
    return canonical_json(body)


def book_id(value: str) -> str:
    """Book ids are hyphenated UUIDs; upper-case hex is accepted and lower-cased."""
    if not _UUID.fullmatch(value):
        raise validation_error({"id": "Must be a UUID"}, "Request path failed validation.")
    return value.lower()


@dataclass(frozen=True, slots=True)
class LibraryQuery:
    limit: int
    after: Cursor | None


def library_query(limit: str | None, cursor: str | None) -> LibraryQuery:
    fields: dict[str, str] = {}
    size = LIBRARY_LIMIT_DEFAULT
    after = None
    try:
        size = page_limit(limit, default=LIBRARY_LIMIT_DEFAULT, maximum=LIBRARY_LIMIT_MAX)
    except InvalidInput:
        fields["limit"] = f"Expected integer between 1 and {LIBRARY_LIMIT_MAX}"
    try:
        after = page_cursor(cursor)
    except InvalidInput:
        fields["cursor"] = "Invalid cursor"
    if fields:
        raise validation_error(fields, "Request query failed validation.")
    return LibraryQuery(size, after)
