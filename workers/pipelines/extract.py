"""Bytes of a fetched source to the plain text a planner reads, and the figures clients see.

Everything here is synchronous and CPU-bound (HTML parsing, PDF text layout, hashing a
megabyte), so the source task runs it through ``asyncio.to_thread``. Nothing reaches the network
or storage; a failure is ``ExtractFailed`` with a message safe to show the client.
"""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from gateway.core.story_sources import PREVIEW_CHARS, measure

__all__ = [
    "MAX_TEXT_BYTES",
    "PREVIEW_CHARS",
    "ExtractFailed",
    "Extracted",
    "cap",
    "decode_text",
    "extract_html",
    "extract_pdf",
    "figures",
    "is_pdf",
    "strip_controls",
    "tidy",
]

# The most extracted text one source keeps, in UTF-8 bytes; what lies beyond is cut off and
# the metadata says so ("truncated": true). A planner reads digests, not megabytes.
MAX_TEXT_BYTES = 1_000_000
# How much of the text a source's wire form shows as extractedTextPreview, in characters.

_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
# C0 controls other than tab and newline: a NUL cannot live in PostgreSQL's JSON or text.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ExtractFailed(Exception):
    """The bytes are not a document we can read; the message is for the client."""


@dataclass(slots=True)
class Extracted:
    text: str
    # Only what applies: contentType, title, pageCount, extractor, truncated.
    metadata: dict[str, Any] = field(default_factory=dict)


def is_pdf(data: bytes) -> bool:
    """A PDF's header may follow a little junk (the spec allows 1024 bytes of it)."""
    return b"%PDF-" in data[:1024]


def strip_controls(text: str) -> str:
    return _CONTROLS.sub("", text)


def tidy(text: str) -> str:
    """One newline convention, no control characters, no runs of spaces or blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROLS.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def cap(extracted: Extracted) -> Extracted:
    """Cut the text to ``MAX_TEXT_BYTES`` on a character boundary, noting that it was cut."""
    raw = extracted.text.encode("utf-8")
    if len(raw) <= MAX_TEXT_BYTES:
        return extracted
    text = raw[:MAX_TEXT_BYTES].decode("utf-8", errors="ignore")
    return Extracted(text=text, metadata={**extracted.metadata, "truncated": True})


def decode_text(data: bytes) -> str:
    """Plain text of unknown charset (the fetcher keeps only the media type): UTF-8 when it
    decodes as such, otherwise Windows-1252, the common legacy guess, with nothing dropped."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


class _TagStripper(HTMLParser):
    """The fallback: every text node outside scripts, styles and the obvious page furniture,
    with block elements on lines of their own."""

    _SKIP = frozenset(
        {"script", "style", "noscript", "template", "svg", "head", "nav", "footer", "aside"}
    )
    _BLOCK = frozenset(
        {
            "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr",
            "table", "section", "article", "blockquote", "pre", "hr", "header", "main", "dd",
            "dt", "figcaption",
        }
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skipping = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skipping:
            self.parts.append(data)


def _strip_tags(markup: str) -> tuple[str, str]:
    parser = _TagStripper()
    parser.feed(markup)
    parser.close()
    return tidy("".join(parser.parts)), tidy(" ".join(parser.title))


def _decode_html(data: bytes) -> str:
    """For the fallback only (trafilatura detects the charset itself): a declared meta
    charset, else UTF-8, else Windows-1252."""
    found = re.search(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_\-]+)", data[:4096], re.I)
    if found:
        try:
            return data.decode(found.group(1).decode("ascii"), errors="replace")
        except LookupError:
            pass
    return decode_text(data)


def extract_html(data: bytes, content_type: str) -> Extracted:
    """The page's main text as trafilatura sees it (navigation, footers, comments left out);
    a plain tag strip only when trafilatura finds no main text at all."""
    import trafilatura

    text: str | None = None
    title: str | None = None
    try:
        text = trafilatura.extract(
            data, include_comments=False, include_tables=True, deduplicate=True
        )
        meta = trafilatura.extract_metadata(data)
        title = getattr(meta, "title", None) if meta is not None else None
    except Exception:  # a page trafilatura chokes on still has tags to strip
        text = None
    extractor = "trafilatura"
    text = tidy(text or "")
    if not text:
        extractor = "fallback"
        text, fallback_title = _strip_tags(_decode_html(data))
        title = title or fallback_title
    metadata: dict[str, Any] = {"contentType": content_type, "extractor": extractor}
    if title and title.strip():
        metadata["title"] = html.unescape(title.strip())[:500]
    return cap(Extracted(text=text, metadata=metadata))


def extract_pdf(data: bytes) -> Extracted:
    """Every page's text in order, pages separated by a blank line; pages stop being read once
    the text is past the cap."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractFailed("the PDF is password-protected")
        pages: list[str] = []
        size = 0
        for page in reader.pages:
            chunk = tidy(page.extract_text() or "")
            if chunk:
                pages.append(chunk)
                size += len(chunk.encode("utf-8")) + 2
            if size > MAX_TEXT_BYTES:
                break
        page_count = len(reader.pages)
        title = reader.metadata.title if reader.metadata is not None else None
    except ExtractFailed:
        raise
    except Exception as exc:  # pypdf raises many kinds on a damaged file
        raise ExtractFailed("the PDF could not be read (damaged or unsupported)") from exc
    metadata: dict[str, Any] = {"contentType": "application/pdf", "pageCount": page_count}
    if isinstance(title, str) and title.strip():
        metadata["title"] = tidy(title)[:500]
    return cap(Extracted(text="\n\n".join(pages), metadata=metadata))


def figures(extracted: Extracted, *, preview: bool = True) -> dict[str, Any]:
    """The EXTRACTION wire dict; ``preview=False`` when the source keeps no content at all."""
    return {**measure(extracted.text, preview=preview), "metadata": dict(extracted.metadata)}
