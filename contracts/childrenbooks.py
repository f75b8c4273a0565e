"""ChildrenBooks Developer API v1 (``/v1/stories``), as its reference documents it.

Every response is an envelope: ``{"ok": true, "requestId", "data"}`` on success and
``{"ok": false, "requestId", "error": {"code", "message", "fields"?, "meta"?}}`` on failure.
Request bodies are validated by hand in the adapter (the reference wants every bad field named
at once, in its own words), so ``CreateStoryRequest`` documents the body rather than decoding it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from msgspec import UNSET, Meta, Struct, UnsetType


class AgeRange(StrEnum):
    TODDLER = "0-3"
    EARLY = "4-7"
    MIDDLE = "8-12"


class Style(StrEnum):
    WATERCOLOR = "watercolor"
    OIL_PAINTING = "oil_painting"
    THREE_D = "3d"
    COMIC_STYLE = "comic_style"
    CRAYON = "crayon"
    COLORED_PENCIL = "colored_pencil"
    PAPER_CUT = "paper_cut"


class Tone(StrEnum):
    PLAYFUL_FUNNY = "playful_funny"
    FANTASY_MAGIC = "fantasy_magic"
    ANIMAL = "animal"
    HEARTWARMING = "heartwarming"
    SCI_FI = "sci_fi"
    DAILY_LIFE_BASICS = "daily_life_basics"
    ADVENTUROUS = "adventurous"
    EDUCATIONAL = "educational"


class Language(StrEnum):
    ENGLISH = "english"
    SPANISH = "spanish"
    FRENCH = "french"
    GERMAN = "german"
    CHINESE = "chinese"
    JAPANESE = "japanese"
    KOREAN = "korean"
    RUSSIAN = "russian"
    PORTUGUESE = "portuguese"
    ITALIAN = "italian"


class StoryStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    UNKNOWN = "unknown"


class ErrorCode(StrEnum):
    UNAUTHORIZED = "UNAUTHORIZED"
    INVALID_API_KEY = "INVALID_API_KEY"
    PLAN_REQUIRED = "PLAN_REQUIRED"
    FORBIDDEN = "FORBIDDEN"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
    DAILY_CAP_EXCEEDED = "DAILY_CAP_EXCEEDED"
    INSUFFICIENT_CREDITS = "INSUFFICIENT_CREDITS"
    EXTERNAL_SERVICE_ERROR = "EXTERNAL_SERVICE_ERROR"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    BAD_REQUEST = "BAD_REQUEST"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"


STORY_IDEA_MIN = 10
STORY_IDEA_MAX = 2000
PAGE_COUNT_MIN = 5
PAGE_COUNT_MAX = 15
IDEMPOTENCY_KEY_MAX = 128
REQUEST_ID_MAX = 64


class CreateStoryRequest(Struct):
    """The POST body; unknown fields are ignored."""

    storyIdea: Annotated[str, Meta(min_length=STORY_IDEA_MIN, max_length=STORY_IDEA_MAX)]
    ageRange: AgeRange
    style: Style
    pageCount: Annotated[int, Meta(ge=PAGE_COUNT_MIN, le=PAGE_COUNT_MAX)]
    tone: Tone
    language: Language


class CreatedStory(Struct):
    taskId: str
    bookId: str
    status: StoryStatus = StoryStatus.PENDING


class StoryPage(Struct):
    index: int
    title: str | None
    content: str | None
    imageUrl: str | None


class StorySummary(Struct):
    """A library row: the book without its pages."""

    id: str
    title: str | None
    slug: str | None
    coverImage: str | None
    summary: str | None
    storyIdea: str | None
    ageRange: str | None
    style: str | None
    pageCount: int | None
    tone: str | None
    language: str | None
    source: str | None
    storageProvider: str | None
    createdAt: str | None
    updatedAt: str | None
    status: StoryStatus
    progress: int
    errorMessage: str | None
    completedAt: str | None


class Story(StorySummary):
    """One book with the pages written so far."""

    pages: list[StoryPage]


class StoryLibrary(Struct):
    stories: list[StorySummary]
    nextCursor: str | None


class CreateStoryResponse(Struct, kw_only=True):
    ok: bool = True
    requestId: str
    data: CreatedStory


class StoryResponse(Struct, kw_only=True):
    ok: bool = True
    requestId: str
    data: Story


class StoryLibraryResponse(Struct, kw_only=True):
    ok: bool = True
    requestId: str
    data: StoryLibrary


class ErrorDetail(Struct):
    code: ErrorCode
    message: str
    fields: dict[str, str] | UnsetType = UNSET
    meta: dict[str, Any] | UnsetType = UNSET


class ErrorResponse(Struct, kw_only=True):
    ok: bool = False
    requestId: str
    error: ErrorDetail
