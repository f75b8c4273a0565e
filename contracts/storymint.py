"""StoryMint's wire contract (``/api/...``), as its reference documents it.

Requests decode strictly into these Structs (a wrong type or unknown enum value is a 400);
responses encode from them, so field names and defaults live in exactly one place.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from msgspec import Meta, Struct

from contracts.common import EMAIL, NO_NUL, VISIBLE, WEB_URL, decode_strict


class BookFormat(StrEnum):
    PICTURE = "picture"
    COMIC = "comic"
    CHAPTER_COMIC = "chapter_comic"
    NOVEL = "novel"


class ArtStyle(StrEnum):
    CARTOON = "cartoon"
    WATERCOLOR = "watercolor"
    SKETCH = "sketch"
    PIXEL = "pixel"
    FLAT = "flat"
    MANGA = "manga"
    WESTERN = "western"
    GRAPHIC_NOVEL = "graphic_novel"


class SaveMode(StrEnum):
    TEMPORARY_CLOUD = "temporary_cloud"
    CLOUD_LIBRARY = "cloud_library"
    LOCAL_UNTIL_EXPORT = "local_until_export"


Prompt = Annotated[str, Meta(min_length=1, max_length=600, pattern=VISIBLE)]
ShortText = Annotated[str, Meta(max_length=200, pattern=NO_NUL)]


class GenerateRequest(Struct, forbid_unknown_fields=False):
    prompt: Prompt
    book_format: BookFormat = BookFormat.PICTURE
    author: ShortText = ""
    series: ShortText = ""
    art_style: ArtStyle = ArtStyle.CARTOON
    ollama_model: ShortText = ""
    sd_model: ShortText = ""
    num_pages: Annotated[int, Meta(ge=1, le=10_000)] | None = None
    save_mode: SaveMode = SaveMode.TEMPORARY_CLOUD


class GenerateResponse(Struct):
    job_id: str
    status: str = "running"


class StatusResponse(Struct):
    status: str  # running | done | error
    step: str
    msg: str
    pct: int
    title: str
    format: str
    can_download: bool


class StreamMessage(Struct, omit_defaults=True):
    """One Server-Sent Event as a client's parser sees it: ``data`` is a ``StreamEvent`` as
    JSON (absent on a keep-alive comment, which parsers skip)."""

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None


class StreamEvent(Struct):
    step: str
    msg: str
    pct: int


class Page(Struct):
    page_num: int
    text: str
    image_url: str


class BookMetadata(Struct):
    total_pages: int
    art_style: str
    model_used: str


class BookResponse(Struct):
    title: str
    author: str
    series: str
    format: str
    pages: list[Page]
    cover_url: str
    can_download: bool
    metadata: BookMetadata


class ChatRequest(Struct):
    message: Annotated[str, Meta(min_length=1, max_length=2000, pattern=VISIBLE)]


class ChatResponse(Struct):
    assistant_message: str
    pages: list[Page]


class ModelsResponse(Struct):
    ollama: list[str]
    sd: list[str]


class PingResponse(Struct):
    status: str
    tier: str
    plan_display_name: str
    api_test_calls_this_month: int
    api_test_calls_limit: int | None
    timestamp: str


class TierResponse(Struct):
    tier: str
    plan_display_name: str
    books_this_month: int
    books_limit: int | None
    next_reset: str
    api_access: bool
    api_test_calls_this_month: int
    api_test_calls_limit: int | None
    full_download: bool
    max_pages: int
    novel_max_chapters: int
    org_type: str


class Profile(Struct):
    display_name: str = ""
    bio: str = ""
    website: str = ""


class ProfileUpdate(Struct, forbid_unknown_fields=False):
    display_name: Annotated[str, Meta(max_length=120, pattern=NO_NUL)] | None = None
    bio: Annotated[str, Meta(max_length=2000, pattern=NO_NUL)] | None = None
    # Shown as a link on marketplace listings, so only http(s) URLs (or "" to clear it).
    website: Annotated[str, Meta(max_length=500, pattern=WEB_URL)] | None = None


class KeyCreateRequest(Struct, forbid_unknown_fields=False):
    label: Annotated[str, Meta(max_length=200, pattern=NO_NUL)] = ""


class KeyCreated(Struct):
    key: str
    key_id: str
    label: str


class KeyListItem(Struct):
    key_id: str
    prefix: str
    label: str
    created_at: str
    last_used_at: str | None
    status: str  # active | revoked | expired


class KeyRevoked(Struct):
    key_id: str
    status: str  # always "revoked"
    revoked_at: str


class KeyList(Struct, omit_defaults=True):
    keys: list[KeyListItem]
    # Not in the reference (it documents no paging): pass it back as ?cursor= for the next
    # page; absent on the last page, so a client that ignores it sees the list as before.
    next_cursor: str | None = None


class WorkspaceType(StrEnum):
    SCHOOL = "school"
    ORGANIZATION = "organization"


class TeamCreate(Struct):
    name: Annotated[str, Meta(min_length=1, max_length=200, pattern=VISIBLE)]
    workspace_type: WorkspaceType = WorkspaceType.SCHOOL


class InviteCreate(Struct):
    email: Annotated[str, Meta(min_length=3, max_length=320, pattern=EMAIL)]


class ShareRequest(Struct):
    job_id: Annotated[str, Meta(min_length=1, max_length=64)]


class TeamMember(Struct):
    account_id: str
    role: str
    joined_at: str


class TeamInvite(Struct):
    id: str
    team_id: str
    email: str
    status: str  # pending | accepted
    created_at: str


class Team(Struct):
    id: str
    name: str
    workspace_type: str
    max_seats: int
    seats_used: int
    owner_account_id: str
    members: list[TeamMember]
    pending_invites: list[TeamInvite]
    created_at: str


class TeamList(Struct, omit_defaults=True):
    teams: list[Team]
    # Paging as in KeyList.
    next_cursor: str | None = None


class LibraryBook(Struct):
    job_id: str
    title: str
    format: str
    shared_by: str
    shared_at: str
    cover_url: str


class Library(Struct, omit_defaults=True):
    books: list[LibraryBook]
    # Paging as in KeyList.
    next_cursor: str | None = None


class ErrorBody(Struct, omit_defaults=True):
    error: str
    detail: str | None = None


def decode(body: bytes, type_: type[Any]) -> Any:
    """Strict JSON decode; raises msgspec.ValidationError / DecodeError for the router to map."""
    return decode_strict(body, type_)
