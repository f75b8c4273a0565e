"""The ten ChildrenBooks languages, one phrasebook each."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from workers.backends.instant.lang import (
    chinese,
    english,
    french,
    german,
    italian,
    japanese,
    korean,
    portuguese,
    russian,
    spanish,
)
from workers.backends.instant.phrasebook import Phrasebook

__all__ = ["BOOKS", "LANGUAGES", "phrasebook"]

BOOKS: Final = MappingProxyType(
    {
        m.BOOK.language: m.BOOK
        for m in (
            english,
            spanish,
            french,
            german,
            chinese,
            japanese,
            korean,
            russian,
            portuguese,
            italian,
        )
    }
)
LANGUAGES: Final = tuple(BOOKS)


def phrasebook(language: str) -> Phrasebook:
    """The phrasebook for a language key; unknown keys read as English rather than fail."""
    return BOOKS.get(language.strip().lower(), BOOKS["english"])
