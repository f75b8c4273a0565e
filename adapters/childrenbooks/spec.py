"""What the generated OpenAPI document says about ``/v1/stories`` beyond the handler signatures.

Handlers read their body, headers and query by hand (so validation can name every bad field at
once), which hides them from Litestar's introspection; these operation classes put the request
body and the optional parameters back, and ``RESPONSES`` declares every error envelope.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from litestar.datastructures import ResponseHeader
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    RequestBody,
    Schema,
)

from contracts.childrenbooks import (
    IDEMPOTENCY_KEY_MAX,
    PAGE_COUNT_MAX,
    PAGE_COUNT_MIN,
    STORY_IDEA_MAX,
    STORY_IDEA_MIN,
    AgeRange,
    ErrorResponse,
    Language,
    Style,
    Tone,
)
from contracts.childrenbooks import (
    REQUEST_ID_MAX as _REQUEST_ID_MAX,
)
from gateway.core.pages import CURSOR_PATTERN

TAGS = ["ChildrenBooks"]


def _enum(values: type[StrEnum], description: str) -> Schema:
    return Schema(type=OpenAPIType.STRING, enum=[v.value for v in values], description=description)


STORY_BODY = Schema(
    type=OpenAPIType.OBJECT,
    required=["storyIdea", "ageRange", "style", "pageCount", "tone", "language"],
    properties={
        "storyIdea": Schema(
            type=OpenAPIType.STRING,
            min_length=STORY_IDEA_MIN,
            max_length=STORY_IDEA_MAX,
            description="Plain-language description of the book (plot, characters, setting).",
        ),
        "ageRange": _enum(AgeRange, "Target reading age band."),
        "style": _enum(Style, "Visual art style for illustrations (case-sensitive)."),
        "pageCount": Schema(
            type=OpenAPIType.INTEGER,
            minimum=PAGE_COUNT_MIN,
            maximum=PAGE_COUNT_MAX,
            description="Total pages including the cover; one credit per page.",
        ),
        "tone": _enum(Tone, "Narrative mood / genre bucket."),
        "language": _enum(Language, "Language of the story text."),
    },
)

_REQUEST_ID = Parameter(
    name="X-Request-Id",
    param_in="header",
    required=False,
    schema=Schema(type=OpenAPIType.STRING),
    description=(
        f"Echoed as requestId when 1-{_REQUEST_ID_MAX} characters of [A-Za-z0-9._:-]; "
        "otherwise the server generates one."
    ),
)


def _with(
    existing: list[Parameter | Reference] | None, *extra: Parameter
) -> list[Parameter | Reference]:
    names = {(p.name, p.param_in) for p in extra}
    kept: list[Parameter | Reference] = [
        p
        for p in existing or []
        if not isinstance(p, Parameter) or (p.name, p.param_in) not in names
    ]
    return kept + list(extra)


@dataclass
class CreateStoryOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={"application/json": OpenAPIMediaType(schema=STORY_BODY)}, required=True
        )
        idempotency = Parameter(
            name="Idempotency-Key",
            param_in="header",
            required=False,
            schema=Schema(type=OpenAPIType.STRING, min_length=1, max_length=IDEMPOTENCY_KEY_MAX),
            description="Same key + same body within 24 h returns the original taskId/bookId.",
        )
        self.parameters = _with(self.parameters, idempotency, _REQUEST_ID)


@dataclass
class LibraryOperation(Operation):
    def __post_init__(self) -> None:
        limit = Parameter(
            name="limit",
            param_in="query",
            required=False,
            schema=Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=100, default=20),
        )
        cursor = Parameter(
            name="cursor",
            param_in="query",
            required=False,
            schema=Schema(type=OpenAPIType.STRING, pattern=CURSOR_PATTERN),
            description="nextCursor of the previous page (opaque).",
        )
        self.parameters = _with(self.parameters, limit, cursor, _REQUEST_ID)


@dataclass
class StoryOperation(Operation):
    def __post_init__(self) -> None:
        book = Parameter(
            name="id",
            param_in="path",
            required=True,
            schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.UUID),
            description="The bookId returned from POST /v1/stories.",
        )
        self.parameters = _with(self.parameters, book, _REQUEST_ID)


RATE_HEADERS = [
    ResponseHeader(
        name="x-ratelimit-limit",
        documentation_only=True,
        required=True,
        description="Requests allowed in the current window.",
    ),
    ResponseHeader(
        name="x-ratelimit-remaining",
        documentation_only=True,
        required=True,
        description="Requests left in the current window.",
    ),
    ResponseHeader(
        name="x-ratelimit-reset",
        documentation_only=True,
        required=True,
        description="Seconds until the current window resets.",
    ),
]


def _error(description: str) -> ResponseSpec:
    return ResponseSpec(ErrorResponse, description=description, generate_examples=False)


_COMMON = {
    401: _error("UNAUTHORIZED (no key) or INVALID_API_KEY."),
    403: _error("PLAN_REQUIRED, or FORBIDDEN (IP allow-list, key scope, bad signed link)."),
    405: _error("METHOD_NOT_ALLOWED."),
    429: _error("RATE_LIMIT_EXCEEDED or DAILY_CAP_EXCEEDED; see retry-after."),
    500: _error("INTERNAL_ERROR."),
    503: _error("EXTERNAL_SERVICE_ERROR: a backing service is unavailable."),
}

CREATE_RESPONSES = {
    **_COMMON,
    400: _error("VALIDATION_ERROR (fields names every bad field) or BAD_REQUEST."),
    402: _error("INSUFFICIENT_CREDITS."),
    413: _error("BAD_REQUEST: the body is larger than 64 KiB."),
    409: _error("IDEMPOTENCY_CONFLICT, or ALREADY_EXISTS while the first request runs."),
}

READ_RESPONSES = {
    **_COMMON,
    400: _error("VALIDATION_ERROR."),
    404: _error("NOT_FOUND: missing, or another account's book."),
}
