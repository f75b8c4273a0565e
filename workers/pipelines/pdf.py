"""The book as a PDF: picture books page by page, novels typeset with running page numbers.

Same request, same bytes: the creation date is fixed, fpdf2's /ID is a digest of the content
(and of that date), and nothing else in the file depends on the clock or the job.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from workers.pipelines.compose import chapter_label
from workers.pipelines.text import LATIN1, fold, legible

__all__ = ["FIXED_DATE", "PdfBook", "PdfPage", "build_pdf"]

# Every PDF claims this creation date: the real one would make identical books differ.
FIXED_DATE = datetime(2024, 1, 1, tzinfo=UTC)

_PT = 72  # points per inch
_SQUARE = (8 * _PT, 8 * _PT)
_TALL = (6 * _PT, 8 * _PT)
_STORYBOOK = (8 * _PT, 10.5 * _PT)


@dataclass(frozen=True, slots=True)
class PdfPage:
    title: str
    text: str
    jpeg: bytes | None  # None for novel chapters, which are typeset


@dataclass(frozen=True, slots=True)
class PdfBook:
    format: str
    title: str
    author: str
    series: str
    language: str
    cover_jpeg: bytes
    pages: Sequence[PdfPage]


def _latin(text: str) -> str:
    """Text for the Latin-1 core fonts; question marks only when nothing better exists."""
    return legible(text, LATIN1) or fold(text, LATIN1)


class _Document(FPDF):
    """fpdf2 with page numbers in the footer and a quick line breaker.

    fpdf2's ``multi_cell`` re-measures the whole line for every character it adds, which is
    quadratic per line and takes a large share of a novel's build time; wrapping is done here
    instead with each word measured once, and lines are placed with ``text``.
    """

    folio_from = 10**9  # no page numbers until the first chapter

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._widths: dict[tuple[str, str, float, str], float] = {}

    def footer(self) -> None:
        if self.page_no() < self.folio_from:
            return
        self.set_y(-40)
        self.set_font("Times", size=10)
        self.set_text_color(90, 90, 90)
        self.cell(0, 12, str(self.page_no()), align=Align.C)

    def measure(self, word: str) -> float:
        key = (self.font_family, self.font_style, self.font_size_pt, word)
        width = self._widths.get(key)
        if width is None:
            width = self.get_string_width(word)
            self._widths[key] = width
        return width

    def wrap(self, text: str, width: float, indent: float = 0.0) -> list[str]:
        """Greedy word wrap of one paragraph in the current font; the first line is indented."""
        space = self.measure(" ")
        lines: list[str] = []
        line: list[str] = []
        used, room = 0.0, width - indent
        for word in text.split():
            w = self.measure(word)
            if line and used + space + w > room:
                lines.append(" ".join(line))
                line, used, room = [], 0.0, width
            while not line and w > room and len(word) > 1:
                # A word longer than the line (a URL, say) is cut where it must be.
                cut = max(1, int(len(word) * room / w))
                lines.append(word[:cut])
                word = word[cut:]
                w, room = self.measure(word), width
            used = used + space + w if line else w
            line.append(word)
        if line:
            lines.append(" ".join(line))
        return lines


def _document(book: PdfBook) -> _Document:
    pdf = _Document(unit="pt", format=_TALL if book.format in ("novel",) else _SQUARE)
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(book.title)
    pdf.set_author(book.author)
    pdf.set_subject(book.series)
    pdf.set_creator("storygate")
    pdf.set_producer("storygate")
    pdf.set_auto_page_break(False)
    pdf.set_margins(54, 54, 54)
    return pdf


def _full_page(pdf: FPDF, jpeg: bytes, size: tuple[float, float]) -> None:
    pdf.add_page(format=size)
    pdf.image(io.BytesIO(jpeg), x=0, y=0, w=size[0], h=size[1])


def _title_page(pdf: FPDF, book: PdfBook, size: tuple[float, float]) -> None:
    pdf.add_page(format=size)
    width = size[0] - 108
    pdf.set_y(size[1] * 0.3)
    series = legible(book.series, LATIN1)
    if series:
        pdf.set_font("Helvetica", style="I", size=13)
        pdf.set_text_color(110, 110, 110)
        pdf.multi_cell(width, 18, series, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(14)
    pdf.set_font("Times", style="B", size=30)
    pdf.set_text_color(30, 30, 30)
    title = _latin(book.title)
    pdf.multi_cell(width, 36, title, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    author = legible(book.author, LATIN1)
    if author:
        pdf.ln(26)
        pdf.set_font("Helvetica", size=16)
        pdf.set_text_color(60, 60, 60)
        pdf.multi_cell(width, 22, author, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _fitted_text(pdf: _Document, text: str, box: tuple[float, float, float, float]) -> None:
    """Centre ``text`` in the box at the largest size from 15 pt down to 8 pt that fits."""
    x, y, w, h = box
    size = 15.0
    while True:
        pdf.set_font("Times", size=size)
        lines = [line for para in text.split("\n") for line in pdf.wrap(para, w)]
        if len(lines) * size * 1.3 <= h or size <= 8:
            break
        size -= 1
    room = max(1, int(h // (size * 1.3)))
    if len(lines) > room:
        lines = lines[:room]
        lines[-1] = lines[-1].rstrip(" ,;:")[: max(0, len(lines[-1]) - 3)] + "..."
    for i, line in enumerate(lines):
        left = x + max(0.0, (w - pdf.get_string_width(line)) / 2)
        pdf.text(left, y + (i + 0.8) * size * 1.3, line)


def _picture_book(pdf: _Document, book: PdfBook) -> None:
    square = book.format in ("picture", "storybook")
    size = _SQUARE if square else _TALL
    _full_page(pdf, book.cover_jpeg, size)
    _title_page(pdf, book, size)
    for page in book.pages:
        if page.jpeg is None:
            continue
        if book.format != "storybook":
            _full_page(pdf, page.jpeg, size)
            continue
        w, h = _STORYBOOK
        pdf.add_page(format=_STORYBOOK)
        pdf.image(io.BytesIO(page.jpeg), x=0, y=0, w=w, h=w)
        pdf.set_text_color(40, 36, 30)
        _fitted_text(pdf, _latin(page.text), (40, w + 16, w - 80, h - w - 40))


def _novel(pdf: _Document, book: PdfBook) -> None:
    w, h = _TALL
    _full_page(pdf, book.cover_jpeg, _TALL)
    _title_page(pdf, book, _TALL)
    pdf.folio_from = 3
    body = w - 108
    for number, chapter in enumerate(book.pages, start=1):
        pdf.add_page(format=_TALL)
        pdf.set_y(h * 0.16)
        pdf.set_font("Times", style="B", size=12)
        pdf.set_text_color(130, 95, 40)
        label = chapter_label(book.language, number).upper()
        pdf.cell(body, 16, label, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        title = _latin(chapter.title)
        if title.strip():
            pdf.ln(6)
            pdf.set_font("Times", style="B", size=20)
            pdf.set_text_color(30, 30, 30)
            pdf.multi_cell(body, 25, title, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(28)
        pdf.set_font("Times", size=11.5)
        pdf.set_text_color(25, 25, 25)
        _body(pdf, _latin(chapter.text), body)


def _body(pdf: _Document, text: str, width: float) -> None:
    """Running text, ragged right, first lines indented, continuing onto new pages."""
    line_height, indent = 16.0, 18.0
    bottom = pdf.h - 60
    y = pdf.get_y()
    for paragraph in text.split("\n"):
        if not paragraph.strip():
            continue
        for i, line in enumerate(pdf.wrap(paragraph, width, indent)):
            if y + line_height > bottom:
                pdf.add_page(format=_TALL)
                y = pdf.t_margin
            pdf.text(pdf.l_margin + (indent if i == 0 else 0), y + line_height * 0.75, line)
            y += line_height
        y += 5
    pdf.set_y(y)


def build_pdf(book: PdfBook) -> bytes:
    pdf = _document(book)
    if book.format == "novel":
        _novel(pdf, book)
    else:
        _picture_book(pdf, book)
    return bytes(pdf.output())
