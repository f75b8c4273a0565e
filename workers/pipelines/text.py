"""Text that fits: folding to the glyphs we can draw, wrapping, and shrink-to-fit.

Only built-in fonts are used (no font files ship with storygate): Pillow's embedded scalable
font, whose glyphs cover ASCII plus a few quotes, and the PDF core fonts, which are Latin-1.
Text is therefore folded first: typographic punctuation to its plain form, accents dropped,
Cyrillic transliterated. Scripts with no Latin rendering (Chinese, Japanese, Korean) cannot be
drawn at all; ``legible`` says so and the page pictures then leave the words to the book's
text fields rather than print rows of question marks.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass

from PIL import ImageDraw, ImageFont

__all__ = ["DISPLAY", "LATIN1", "Fitted", "Fonts", "fold", "legible"]

LATIN1 = "latin1"
DISPLAY = "display"

# The embedded Aileron face's coverage beyond ASCII (measured, Pillow 10-13).
_DISPLAY_EXTRA = frozenset("©«°±´·»‘’“”…‹›")  # noqa: RUF001
_PUNCT = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
    "\u2015": "-", "\u2212": "-", "\u2026": "...", "\u2022": "*", "\u00b7": "*",
    "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u3000": " ", "\u00ab": '"',
    "\u00bb": '"', "\u2039": "<", "\u203a": ">", "\u300c": '"', "\u300d": '"',
    "\u300e": '"', "\u300f": '"', "\u3002": ". ", "\u3001": ", ", "\u00ad": "",
}  # fmt: skip
_LETTERS = {
    "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
    "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D",
    "\u0131": "i", "ŋ": "ng",
}  # fmt: skip
_CYRILLIC = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґ",
        (
            "a b v g d e yo zh z i y k l m n o p r s t u f kh ts ch sh shch _ y _ e yu ya i yi ye g"
        ).split(),
        strict=True,
    )
)


def _cyrillic(ch: str) -> str | None:
    low = ch.lower()
    if low not in _CYRILLIC:
        return None
    out = _CYRILLIC[low].replace("_", "")
    return out.capitalize() if ch != low else out


def _allowed(ch: str, charset: str) -> bool:
    if charset == LATIN1:
        return (" " <= ch <= "~") or ("\u00a1" <= ch <= "\u00ff" and ch != "\u00ad")
    return (" " <= ch <= "~") or ch in _DISPLAY_EXTRA


def _fold_char(ch: str, charset: str) -> str | None:
    """The drawable spelling of one character, or ``None`` when it has none."""
    if _allowed(ch, charset):
        return ch
    if ch in "\n\t\r":
        return ch if ch == "\n" else " "
    if ch in _PUNCT:
        mapped = _PUNCT[ch]
        return mapped if all(_allowed(c, charset) for c in mapped) else None
    if ch in _LETTERS:
        return _LETTERS[ch]
    translit = _cyrillic(ch)
    if translit is not None:
        return translit
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if base and base != ch and all(_allowed(c, charset) for c in base):
        return base
    if unicodedata.category(ch).startswith(("Z", "C")):
        return " "
    return None


_PLAIN = re.compile(r"[\x20-\x7e\n]*")


def _folded(text: str, charset: str) -> list[str | None]:
    memo: dict[str, str | None] = {}
    out = []
    for ch in text:
        if ch not in memo:
            memo[ch] = _fold_char(ch, charset)
        out.append(memo[ch])
    return out


def fold(text: str, charset: str = LATIN1, missing: str = "?") -> str:
    if _PLAIN.fullmatch(text):
        return text
    return "".join(missing if c is None else c for c in _folded(text, charset))


def legible(text: str, charset: str = DISPLAY) -> str:
    """``text`` folded for drawing, or "" when too little of it has a drawable form."""
    if _PLAIN.fullmatch(text):
        return re.sub(r" {2,}", " ", text).strip()
    folded = _folded(text, charset)
    letters = [c for ch, c in zip(text, folded, strict=True) if not ch.isspace()]
    if not letters:
        return ""
    lost = sum(1 for c in letters if c is None)
    if lost * 4 > len(letters):
        return ""
    return re.sub(r" {2,}", " ", "".join(c or "" for c in folded)).strip()


# -- measuring and wrapping ------------------------------------------------------------------

_REF = 100  # words are measured once at this size and scaled: FreeType widths are linear enough
_SLACK = 1.04  # ... but hinting at small sizes is not, so lines are kept 4% short


@dataclass(frozen=True, slots=True)
class Fitted:
    size: int
    lines: tuple[str, ...]
    line_height: int

    @property
    def height(self) -> int:
        return self.line_height * len(self.lines)


class Fonts:
    """Fonts by size and word widths, shared by all pages of one book (never across books).

    Pages are composed in several threads at once and a FreeType face is not safe to use from
    two threads together, so every use of a face goes through one lock.
    """

    def __init__(self) -> None:
        self._fonts: dict[int, ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}
        self._widths: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        font = self._fonts.get(size)
        if font is None:
            with self._lock:
                font = self._fonts.get(size) or ImageFont.load_default(size=size)
            self._fonts[size] = font
        return font

    def ref_width(self, word: str) -> float:
        width = self._widths.get(word)
        if width is None:
            font = self(_REF)
            with self._lock:
                width = float(font.getlength(word))
            self._widths[word] = width
        return width

    def width(self, text: str, size: int) -> float:
        return self.ref_width(text) * size / _REF * _SLACK

    def wrap(self, text: str, size: int, max_width: float) -> list[str]:
        """Greedy word wrap; a word wider than a line is cut where it must be."""
        limit = max_width * _REF / size / _SLACK
        space = self.ref_width(" ")
        lines: list[str] = []
        for paragraph in text.split("\n"):
            words = paragraph.split()
            if not words:
                if lines and lines[-1]:
                    lines.append("")
                continue
            line: list[str] = []
            used = 0.0
            for word in words:
                for piece in self._cut(word, limit):
                    w = self.ref_width(piece)
                    if line and used + space + w > limit:
                        lines.append(" ".join(line))
                        line, used = [piece], w
                    else:
                        used = used + space + w if line else w
                        line.append(piece)
            lines.append(" ".join(line))
        while lines and not lines[-1]:
            lines.pop()
        return lines

    def _cut(self, word: str, limit: float) -> list[str]:
        if self.ref_width(word) <= limit or len(word) < 2:
            return [word]
        pieces, current = [], ""
        for ch in word:
            if current and self.ref_width(current + ch) > limit:
                pieces.append(current)
                current = ch
            else:
                current += ch
        return [*pieces, current]

    def fit(
        self,
        text: str,
        width: float,
        height: float,
        *,
        largest: int,
        smallest: int,
        spacing: float = 1.25,
        max_lines: int | None = None,
    ) -> Fitted:
        """The largest size at which ``text`` fits the box; at the smallest, the text is cut."""
        size = largest
        while True:
            lh = max(1, round(size * spacing))
            lines = self.wrap(text, size, width)
            room = max(1, int(height // lh))
            if max_lines is not None:
                room = min(room, max_lines)
            if len(lines) <= room:
                return Fitted(size, tuple(lines), lh)
            if size <= smallest:
                return Fitted(size, tuple(self._cut_lines(lines, room, size, width)), lh)
            size = max(smallest, size - max(1, size // 8))

    def _cut_lines(self, lines: list[str], room: int, size: int, width: float) -> list[str]:
        kept = lines[:room]
        last = kept[-1].rstrip(" ,;:")
        while last and self.width(last + "...", size) > width:
            last = last.rsplit(" ", 1)[0] if " " in last else last[:-1]
        kept[-1] = last + "..."
        return kept

    def draw(
        self,
        draw: ImageDraw.ImageDraw,
        fitted: Fitted,
        box: tuple[float, float, float, float],
        *,
        fill: tuple[int, int, int],
        align: str = "center",
        valign: str = "middle",
        stroke: int = 0,
    ) -> None:
        x0, y0, x1, y1 = box
        font = self(fitted.size)
        top = y0
        if valign == "middle":
            top = y0 + max(0.0, (y1 - y0 - fitted.height) / 2)
        for i, line in enumerate(fitted.lines):
            y = top + i * fitted.line_height
            if align == "center":
                x = x0 + max(0.0, (x1 - x0 - self.width(line, fitted.size) / _SLACK) / 2)
            else:
                x = x0
            with self._lock:
                draw.text(
                    (round(x), round(y)),
                    line,
                    font=font,
                    fill=fill,
                    stroke_width=stroke,
                    stroke_fill=fill,
                )
