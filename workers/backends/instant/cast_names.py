"""Who a producer's instruction names, and how a script spells a renamed or dropped character
(the instant refine's rules, workers/backends/instant/refining.py).

A producer says "the host", "Maya Okafor" or "the skeptic's lines"; the cast holds ``HOST``,
``MAYA`` and a ``TOM`` whose role is skeptic. A phrase matches a name, then a role, then a word
of either, then a role it stands for in another kind of read (a documentary's host is its
narrator), so the same words find the same character every time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from workers.backends.scripts import CastMember

__all__ = ["find", "mention", "new_name", "unaddressed", "who_of"]

# A role a producer names that the cast may hold under another word.
_ALIASES = {
    "host": ("presenter", "narrator", "reporter", "interviewer"),
    "presenter": ("host", "narrator"),
    "narrator": ("host", "presenter"),
    "interviewer": ("host", "reporter"),
    "skeptic": ("antagonist", "witness"),
    "sceptic": ("skeptic", "antagonist"),
    "guest": ("subject", "expert", "protagonist"),
    "lead": ("protagonist", "subject", "host"),
    "hero": ("protagonist",),
    "villain": ("antagonist",),
}
_NAME_OK = re.compile(r"^[^\W\d_][\w .'\u2019-]{0,38}$")


def who_of(text: str) -> str:
    """A clause's character phrase without articles and filler: "the host's lines" → "host"."""
    text = re.sub(r"['\u2019]s\b|s'(?=\s|$)", "", text.lower())
    words = re.sub(r"[\"'\u201c\u201d\u2018\u2019]", " ", text).split()
    while words and words[0] in ("the", "a", "an", "our", "my", "that", "this", "character"):
        words = words[1:]
    while words and words[-1] in ("lines", "line", "character", "part", "role", "voice", "please"):
        words = words[:-1]
    return " ".join(words)


def find(cast: Sequence[CastMember], phrase: str) -> CastMember | None:
    """The cast member a producer's phrase names: by name, then by role, then by a word of
    either, then by a role the phrase's word stands for ("the host" of a documentary is its
    narrator)."""
    who = who_of(phrase)
    if not who:
        return None
    fold = who.casefold()
    for test in (
        lambda c: c.name.casefold() == fold,
        lambda c: c.role.casefold() == fold,
        lambda c: c.name.casefold() in fold.split() or fold in c.name.casefold().split(),
        lambda c: bool(c.role) and c.role.casefold() in fold.split(),
    ):
        found = [c for c in cast if test(c)]
        if found:
            return found[0]
    for alias in _ALIASES.get(fold, ()):
        found = [c for c in cast if alias in (c.role.casefold(), c.name.casefold())]
        if found:
            return found[0]
    return None


def new_name(raw: str, cast: Sequence[CastMember]) -> str:
    """The new name as the cast spells names: upper-case where every name is."""
    name = re.split(
        r"\s+(?:instead|please|from\s+now\s+on|throughout|everywhere)\b", raw, flags=re.I
    )[0]
    name = " ".join(name.strip(" \"'\u201c\u201d\u2018\u2019.,;:!?").split())
    if not _NAME_OK.match(name) or len(name.split()) > 3:
        return ""
    if name.islower():
        name = name.title()
    named = [c.name for c in cast if any(ch.isalpha() for ch in c.name)]
    return name.upper() if named and all(n.isupper() for n in named) else name


def mention(text: str, old: str, new: str) -> str:
    """``text`` with every capitalised mention of ``old`` (a name a line addresses: "Host,
    what…") spelled ``new`` in the same case; a lower-case common noun ("the host said") stays."""

    def swap(match: re.Match[str]) -> str:
        found = match.group(0)
        if found.isupper() and len(found) > 1:
            return new.upper()
        if found[:1].isupper():
            return new if not new.isupper() else new.title()
        return found

    return re.sub(rf"(?<![\w-]){re.escape(old)}(?![\w-])", swap, text, flags=re.IGNORECASE)


def unaddressed(text: str, name: str) -> str:
    """``text`` no longer speaking to ``name`` (who was dropped): "Maya, where…" → "Where…",
    "…next, Maya?" → "…next?"."""
    name = re.escape(name)
    out = re.sub(rf"^{name},\s+(\w)", lambda m: m[1].upper(), text, flags=re.I)
    return re.sub(rf",\s+{name}(?=[.!?]$)", "", out, flags=re.I)
