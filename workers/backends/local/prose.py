"""Cleaning a chat model's free-form story text into page text.

Small models wrap the story in chat talk ("Sure! Here is page 2:"), add notes, stop mid-sentence
when the token budget runs out, and fall into loops, repeating a sentence or a phrase until the
budget is gone. A page keeps only the story: artefacts are stripped, repeated sentences and
near-repeats (mostly the same word triples as text already kept, on this page or the one before)
are dropped, a loop ends the page, and the text is cut at its last full sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Prose", "clean_prose", "full_sentences", "sentences_of"]

_SPECIAL = re.compile(r"<\|[^|>]{0,40}\|>|</?s>|\[/?INST\]")
_ENDS = ".!?\u3002\uff01\uff1f\u2026"  # also the ideographic full stop, ! ? and …
_CLOSERS = "\"'\u201d\u2019\u00bb)\u300d\u300f"  # closing quotes and brackets
_SENTENCE = re.compile(rf"[^{_ENDS}]*[{_ENDS}]+[{_CLOSERS}]*")
_LEAD_CHAT = re.compile(
    r"^\s*(?:(?:sure|okay|ok|certainly|of course|absolutely)\b[^\n.!:]*[.!:]\s*)?"
    r"(?:here(?:'s| is| are)\b[^\n:]*:\s*)?",
    re.IGNORECASE,
)
_LABEL = re.compile(
    r"^\s*(?:#+\s*)?(?:\*\*)?\s*(?:page|chapter|part|panel|scene)\s*\d+\b[^\n:]{0,60}[:.\-–—]?"  # noqa: RUF001
    r"(?:\*\*)?\s*",
    re.IGNORECASE,
)
_HEADING = re.compile(r"^\s*(?:#+\s|(?:title|story|text)\s*:|\*\*[^*]+\*\*\s*$)", re.IGNORECASE)
_ROLE = re.compile(r"^\s*(?:assistant|user|system)\s*:?\s*$", re.IGNORECASE)
_AFTERWORD = re.compile(
    r"^\s*\(?\s*(?:note|word count|i hope|let me know|feel free|this (?:page|chapter|story)|"
    r"in this (?:page|chapter|story)|end of (?:page|chapter))\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+", re.UNICODE)
# A sentence is a near-repeat when more than this share of its word triples were seen before.
NEAR_REPEAT = 0.5
LONGEST_SENTENCE = 70  # words; longer is a run-on loop, not a sentence a child reads


@dataclass(frozen=True, slots=True)
class Prose:
    text: str
    kept: int  # sentences kept
    dropped: int  # repeated or run-on sentences removed
    looped: bool  # the model fell into a loop and the rest was cut

    @property
    def usable(self) -> bool:
        return self.kept > 0 and not (self.looped and self.dropped > self.kept)


def sentences_of(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def full_sentences(text: str) -> str:
    """``text`` up to its last complete sentence ("" when it has none)."""
    ends = [m.end() for m in _SENTENCE.finditer(text)]
    return text[: ends[-1]].strip() if ends else ""


def _key(sentence: str) -> str:
    return " ".join(_WORD.findall(sentence.lower()))


def _triples(sentence: str) -> set[tuple[str, ...]]:
    words = _WORD.findall(sentence.lower())
    if len(words) < 3:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def _lines(text: str) -> list[str]:
    """The story's lines, without chat wrapping, labels, headings and trailing notes."""
    text = _SPECIAL.sub("", text).replace("\r", "")
    text = _LEAD_CHAT.sub("", text, count=1)
    out: list[str] = []
    for raw in text.split("\n"):
        line = raw.strip()
        if _AFTERWORD.match(line):
            break
        if _ROLE.match(line) or _HEADING.match(line) or set(line) <= set("-*=_#~ "):
            out.append("")
            continue
        unlabelled = _LABEL.sub("", line)
        if unlabelled != line and not any(ch in _ENDS for ch in unlabelled):
            unlabelled = ""  # "Chapter 2: The Lost Map" is a heading, not story
        line = re.sub(r"^[-*•]\s+", "", unlabelled).replace("**", "").replace("__", "")
        out.append(line.strip())
    return out


def clean_prose(text: str, *, before: Iterable[str] = (), paragraphs: bool = False) -> Prose:
    """The usable story in ``text``; ``before`` is earlier text a page must not repeat."""
    seen_keys: set[str] = set()
    seen_triples: set[tuple[str, ...]] = set()
    for earlier in before:
        for s in sentences_of(earlier):
            seen_keys.add(_key(s))
            seen_triples |= _triples(s)

    blocks: list[list[str]] = [[]]
    for line in _lines(text):
        if not line:
            if blocks[-1]:
                blocks.append([])
            continue
        blocks[-1].append(line)
    kept = dropped = 0
    looped = False
    strikes = 0
    out: list[list[str]] = []
    for block in blocks:
        body = full_sentences(" ".join(block)) if block else ""
        kept_here: list[str] = []
        for sentence in sentences_of(body):
            key = _key(sentence)
            triples = _triples(sentence)
            repeated = not key or key in seen_keys
            if not repeated and len(triples) >= 3:
                repeated = len(triples & seen_triples) / len(triples) > NEAR_REPEAT
            if repeated or len(key.split()) > LONGEST_SENTENCE:
                dropped += 1
                strikes += 1
                if strikes >= 2:  # two misses in a row: the model is looping
                    looped = True
                    break
                continue
            strikes = 0
            seen_keys.add(key)
            seen_triples |= triples
            kept_here.append(sentence)
            kept += 1
        if kept_here:
            out.append(kept_here)
        if looped:
            break
    joiner = "\n\n" if paragraphs else " "
    body = joiner.join(_join(sentences) for sentences in out)
    return Prose(text=body.strip(), kept=kept, dropped=dropped, looped=looped)


def _join(sentences: list[str]) -> str:
    cjk = any(re.search(r"[\u3040-\u30ff\u3400-\u9fff]", s) for s in sentences)
    return ("" if cjk else " ").join(sentences)
