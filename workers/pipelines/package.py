"""The downloadable package: cover.jpg, book.pdf, pages/page_NN.png and metadata.json.

Entries carry a fixed date and fixed attributes, and pictures are stored rather than deflated
(they are compressed already), so the same book always packs to the same bytes, quickly.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping, Sequence
from io import BytesIO
from typing import Any

__all__ = ["METADATA_FIELDS", "build_zip", "metadata"]

# 1980-01-01 is the earliest date a ZIP entry can hold; any fixed date would do.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
METADATA_FIELDS = (
    "title",
    "author",
    "series",
    "format",
    "art_style",
    "total_pages",
    "model_used",
    "image_model",
    "language",
    "characters",
)


def metadata(result: Mapping[str, Any], files: Sequence[str]) -> dict[str, Any]:
    """What metadata.json says: the book's facts and its pages, never a job id or a time."""
    pages = result.get("pages", [])
    out: dict[str, Any] = {
        "title": result.get("title", ""),
        "author": result.get("author", ""),
        "series": result.get("series", ""),
        "format": result.get("format", ""),
        "art_style": result.get("art_style", ""),
        "total_pages": len(pages),
        "model_used": result.get("model_used", ""),
        "image_model": result.get("image_model", ""),
        "language": result.get("language", ""),
        "characters": result.get("characters", []),
        "age_range": result.get("age_range", ""),
        "tone": result.get("tone", ""),
        "summary": result.get("summary", ""),
        "pages": [
            {
                "page_num": p.get("page_num"),
                "title": p.get("title", ""),
                "text": p.get("text", ""),
                "file": files[i] if i < len(files) else "",
            }
            for i, p in enumerate(pages)
        ],
    }
    return out


def _entry(name: str, *, deflate: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    info.create_system = 3  # the platform default differs between Windows and the rest
    info.external_attr = 0o644 << 16
    return info


def build_zip(
    cover_jpeg: bytes,
    pdf: bytes,
    pages: Sequence[tuple[str, bytes]],
    meta: Mapping[str, Any],
) -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(_entry("cover.jpg", deflate=False), cover_jpeg)
        archive.writestr(_entry("book.pdf", deflate=False), pdf)
        for name, data in pages:
            archive.writestr(_entry(name, deflate=False), data)
        text = json.dumps(meta, ensure_ascii=False, indent=2) + "\n"
        archive.writestr(_entry("metadata.json", deflate=True), text.encode("utf-8"))
    return buffer.getvalue()
