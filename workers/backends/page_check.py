"""Whether a written page keeps to the story's bible: the check every model-written page passes.

A small model drifts: it names people nobody planned, forgets who the story is about, repeats
the page before, or rambles past what the age band can sit through. These checks are cheap
and deterministic, so the writer can ask again (or fall back to the beat's own sentence)
before a parent ever reads the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final

from workers.backends.base import StoryPlan

__all__ = ["keep_to_bible", "mentions_bible", "page_problems", "stray_names", "words_allowed"]

_WORD = re.compile(r"[^\W\d_][\w'\u2019-]*")
_SENTENCE_END = re.compile(r"[.!?…:;\"“”«»()\[\]\u2014\u2013]")
# Capitalised words that are not names: pronouns, titles, days, months, interjections and the
# words a children's story capitalises for emphasis or at a quote's start.
_NOT_NAMES: Final = frozenset(
    """
    i i'm i'll i've i'd mr mrs ms miss dr sir madam mom mum dad mama papa grandma grandpa granny
    monday tuesday wednesday thursday friday saturday sunday january february march april may
    june july august september october november december christmas easter halloween
    oh ah wow yay hooray hello hi goodbye bye yes no okay ok please thank thanks sorry hey
    the a an and but or so then when where what who why how this that these those there here
    he she it they we you his her its their our your my me him them us
    once one two three four five six seven eight nine ten first last next every all some
    mother father sister brother grandmother grandfather aunt uncle baby
    english spanish french german italian portuguese russian japanese chinese korean
    earth moon sun god
    """.split()
)
# Words after which a capitalised German word is a noun, not a name.
_GERMAN_LEADS: Final = frozenset(
    """
    der die das den dem des ein eine einen einem einer eines kein keine keinen keinem mein
    meine dein deine sein seine ihr ihre unser unsere euer viele alle jede jeder jedes diese
    dieser dieses im am zum zur vom beim ins ans aufs mit auf in an zu von bei nach aus unter
    über vor hinter neben zwischen durch für ohne um gegen bis
    """.split()
)
# Minimum length of a stray name; single letters are initials or typos, not characters.
_MIN_NAME = 2
# A sentence and its closing marks; a trailing fragment without them counts as one too.
_SENTENCE = re.compile(r"[^.!?\u3002\uff01\uff1f]+(?:[.!?\u3002\uff01\uff1f]+[\"\u201d']?|$)")
# A script's shapes inside prose: "Ivy: Hello!" speaker labels and "(shouting)" directions.
_SCRIPTED = re.compile(r"(?:^|[.!?]\s+)[A-Z][\w ]{0,30}:\s|\([a-z][\w ,]*\)")


def words_allowed(plan: StoryPlan) -> set[str]:
    """The words a page may capitalise without introducing anyone: the bible's names, its
    roles and species, and the title's words."""
    allowed: set[str] = set()
    for c in plan.characters:
        for part in (c.name, c.role, c.species):
            allowed |= {w.lower() for w in _WORD.findall(part)}
    allowed |= {w.lower() for w in _WORD.findall(plan.title)}
    allowed |= {w.lower() for w in _WORD.findall(plan.place)}
    return allowed


def stray_names(text: str, allowed: Iterable[str], language: str = "english") -> list[str]:
    """Capitalised words that read as a name and are not in ``allowed``, in order, once each.

    A word counts only in the middle of a sentence (a sentence's first word is capitalised
    whatever it is) and only if it is not a common word; in scripts without capitals (Chinese,
    Japanese, Korean) nothing is counted, since nothing can be told apart this way. German
    capitalises every noun, so there a word after an article, a preposition or an inflected
    adjective is read as a noun; names stand without them.
    """
    known = {w.lower() for a in allowed for w in _WORD.findall(a)}
    german = language == "german"
    found: list[str] = []
    previous_end = 0
    before = ""
    at_start = True
    for m in _WORD.finditer(text):
        between = text[previous_end : m.start()]
        if _SENTENCE_END.search(between) and previous_end:
            at_start = True
        previous_end = m.end()
        word = m.group()
        starts, after = at_start, before
        at_start, before = False, word.lower()
        if starts or not word[:1].isupper() or len(word) < _MIN_NAME:
            continue
        if german and (after in _GERMAN_LEADS or after.endswith(("e", "en", "er", "es", "em"))):
            continue
        base = re.sub(r"['\u2019]s$", "", word).lower()
        if base in known or base in _NOT_NAMES:
            continue
        if base not in (f.lower() for f in found):
            found.append(re.sub(r"['\u2019]s$", "", word))
    return found


def keep_to_bible(text: str, plan: StoryPlan, max_words: int) -> str:
    """``text`` without the sentences that bring in someone the bible does not know or read
    like a script, cut after the last whole sentence that fits in ``max_words``.

    Mending a page this way costs nothing, where asking a model again costs a second or two
    and may bring a new stranger; what is left is still checked by ``page_problems``.
    """
    allowed = words_allowed(plan)
    paragraphs: list[str] = []
    total = 0
    for paragraph in text.split("\n\n"):
        kept: list[str] = []
        sentences = [m.group().strip() for m in _SENTENCE.finditer(paragraph)]
        for sentence in sentences:
            if not sentence or stray_names(sentence, allowed) or _SCRIPTED.search(sentence):
                continue
            words = len(_WORD.findall(sentence))
            if max_words and total + words > max_words:
                break
            kept.append(sentence)
            total += words
        if kept:
            paragraphs.append(" ".join(kept))
        if max_words and total + 1 > max_words:
            break
    return "\n\n".join(paragraphs)


def mentions_bible(text: str, plan: StoryPlan, *, place: bool = True) -> bool:
    """Whether the page names a bible character, by name or role, or (with ``place``) the
    story's place."""
    low = text.lower()
    if any(_has(low, c.name) or (c.role and _has(low, c.role)) for c in plan.characters):
        return True
    return (
        place
        and bool(plan.place)
        and any(_has(low, w) for w in _WORD.findall(plan.place) if len(w) > 3)
    )


def page_problems(
    text: str,
    *,
    plan: StoryPlan,
    index: int,
    previous: Sequence[str],
    max_words: int,
) -> list[str]:
    """What is wrong with a written page, as instructions the writer can pass back; [] = fine."""
    problems: list[str] = []
    item = plan.outline[index] if 0 <= index < len(plan.outline) else None
    wanted = item.characters if item else ()
    # A written page must be about someone in the story: the place alone lets a small model
    # wander off into a shipwreck nobody asked for.
    if not mentions_bible(text, plan, place=False):
        who = " or ".join(wanted or [c.name for c in plan.characters[:2]])
        problems.append(f"the page must be about {who}")
    strays = stray_names(text, words_allowed(plan))
    if strays:
        problems.append(f"use only the story's characters, not {', '.join(strays[:3])}")
    if _repeats(text, previous):
        problems.append("do not repeat an earlier page")
    if max_words and len(_WORD.findall(text)) > max_words:
        problems.append(f"keep it under {max_words} words")
    return problems


def _has(low: str, phrase: str) -> bool:
    phrase = phrase.lower().strip()
    return bool(phrase) and re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", low) is not None


def _repeats(text: str, previous: Sequence[str]) -> bool:
    """Half or more of the page's sentences already appear, word for word, on an earlier page."""
    mine = _sentences(text)
    if not mine:
        return False
    seen = {s for p in previous for s in _sentences(p)}
    return sum(s in seen for s in mine) * 2 >= len(mine)


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?\u3002\uff01\uff1f])\s*", text)
    return [" ".join(_WORD.findall(p.lower())) for p in parts if len(_WORD.findall(p)) >= 3]
