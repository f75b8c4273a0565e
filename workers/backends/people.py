"""Who and where a text names, and which of its sentences carry it: read without any model.

A source's digest must never name someone the source does not: a 135M model invents people, so
every script writer checks its people against these rules, and the instant writer is built on
them alone. The rules are plain English capitalisation (no gazetteer, no dependencies): a run of
capitalised words that is not a sentence's opening function word, with a title ("Dr.") or a
speech verb ("said") for single names, and a place after "in", "at", "from" or "to".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from workers.backends.scripts import Digest

__all__ = [
    "RESERVED",
    "content_words",
    "digest_of",
    "key_sentences",
    "names",
    "paragraphs",
    "people",
    "places",
    "quotable_lines",
    "script_names",
    "sentences",
    "word_count",
]

# Script names a cast keeps for its own roles: no person from a source may take them.
RESERVED = frozenset({"NARRATOR", "HOST", "GUEST", "SKEPTIC", "EXPERT", "REPORTER"})

_TITLES = frozenset(
    "dr mr mrs ms miss mx prof professor sir dame lady lord capt captain gen general col lt "
    "sgt sen senator rep gov governor president judge justice rev father sister mayor chief "
    "coach officer detective inspector minister".split()
)
# Lower-case words that may sit inside a name: "Vincent van Gogh", "Simone de Beauvoir".
_PARTICLES = frozenset("van von de da di del der den la le du bin al ibn".split())
_PLACE_CUES = frozenset(
    "in at from to near across outside inside into throughout toward towards around via".split()
)
_SPEECH = frozenset(
    "said says told asked asks explained explains added adds recalled recalls wrote writes "
    "argued argues noted notes replied replies warned warns insisted insists admitted admits "
    "laughed whispered shouted".split()
)
# "wrote to Lena Berg": someone, not somewhere.
_TALK = _SPEECH | frozenset("spoke talked wrote sent gave listened introduced married".split())
# Words a text capitalises that are not names: openers, pronouns, calendar words.
_STOP = frozenset(
    """a an the this that these those it its he she they we i you his her their our my your
    him them us me but and or so if when while after before then there here in on at from to
    for with by of as not no yes what who whom why how where which all some many most each
    every one two three four five ten today yesterday tomorrow now still also yet once later
    since because although though however meanwhile according despite during over under last
    next first second third more less other another both either neither such just even
    only very too well oh hey hello thanks thank please dear chapter section figure table part
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday spring summer autumn winter
    christmas easter internet covid ai ok okay let lets let's our we're it's i'm don't can't
    will would could should must might shall did does do is are was were be been being have
    has had""".split()
)
_PLACE_WORDS = frozenset(
    "city town village county state province river lake sea ocean bay harbor harbour island "
    "islands mountain mountains valley street road avenue park bridge square coast desert "
    "forest hills district region kingdom republic".split()
)
_ORG_WORDS = frozenset(
    "inc corp corporation llc ltd co company university institute college school hospital "
    "agency department ministry council committee association foundation bank group times "
    "news post journal party club team center centre museum library lab labs project program "
    "programme act week day award prize festival conference society union fund network "
    "studio studios press review media".split()
)
# Lower-case words too common to count towards a sentence's importance.
_FUNCTION = _STOP | frozenset(
    """am about above again against any because being below between can cannot down few further
    into itself more nor off out own same than then through until up upon us whose would also
    said says like get got make made go went going one just really thing things lot way""".split()
)
_ABBREVIATIONS = re.compile(
    r"\b(?:Dr|Mr|Mrs|Ms|Mx|Prof|Sr|Jr|St|Capt|Gen|Col|Lt|Sgt|Sen|Rep|Gov|Rev|vs|etc|e\.g|i\.e"
    r"|[A-Z])\.$"
)
_SENTENCE_END = re.compile(r"[.!?][\"'”\u2019)\]]*(?=\s+[\"'“\u2018(\[]?[A-Z0-9])")
_TOKEN = re.compile(r"\w+(?:['\u2019\-]\w+)*|[^\w\s]")
_QUOTED = re.compile(r"“([^”]{8,400})”|\"([^\"\n]{8,400})\"")
_MARKDOWN = (
    (re.compile(r"!?\[([^\]]*)\]\([^)]*\)"), r"\1"),  # links and images: their text
    (re.compile(r"(\*\*|__|\*|`)"), ""),  # emphasis and code marks
    (re.compile(r"^\s{0,3}(?:[-*+]|\d+[.)])\s+", re.MULTILINE), ""),  # list markers
    (re.compile(r"^\s{0,3}>\s?", re.MULTILINE), ""),  # block quotes
)


def word_count(text: str) -> int:
    return len(text.split())


def _plain(text: str) -> str:
    for pattern, replacement in _MARKDOWN:
        text = pattern.sub(replacement, text)
    return text


def paragraphs(text: str) -> list[str]:
    """Paragraphs of running text, each on one line; markdown headings are left out."""
    found = []
    for block in re.split(r"\n\s*\n", _plain(text)):
        lines = [ln.strip() for ln in block.splitlines() if ln.strip()]
        lines = [ln for ln in lines if not ln.startswith("#")]
        if lines:
            found.append(" ".join(" ".join(lines).split()))
    return found


def sentences(text: str) -> list[str]:
    """Sentences in order; "Dr." and initials do not end one."""
    return [s for para in paragraphs(text) for s in _split(para)]


def _split(paragraph: str) -> list[str]:
    pieces: list[str] = []
    cuts = [0, *(m.end() for m in _SENTENCE_END.finditer(paragraph)), len(paragraph)]
    for piece in (paragraph[a:b] for a, b in pairwise(cuts)):
        piece = piece.strip()
        if pieces and _ABBREVIATIONS.search(pieces[-1]):
            pieces[-1] = f"{pieces[-1]} {piece}"
        else:
            pieces.append(piece)
    return [p.strip() for p in pieces if p.strip()]


def content_words(text: str) -> list[str]:
    """The lower-cased words that say what a text is about (no function words, no numbers)."""
    words = (w.lower().strip("'\u2019-") for w in re.findall(r"[^\W\d_][\w'\u2019-]*", text))
    return [w for w in words if len(w) > 2 and w not in _FUNCTION]


# -- names ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Run:
    """One capitalised run as it stands in the text, with what surrounds it."""

    text: str  # verbatim, without a title
    words: tuple[str, ...]  # its words, lower-cased (no title)
    titled: str  # "Dr. Okafor" when a title stood before it, else ""
    initial: bool  # it opens a sentence
    before: str  # the lower-cased word before it (after a title, before the title)
    after: str  # the lower-cased word after it
    cue: str  # the lower-cased word before ``before`` ("wrote" in "wrote to Lena")


def _possessive(token: str) -> bool:
    return token.lower().endswith(("'s", "\u2019s"))


def _is_name_word(token: str) -> bool:
    word = token[:-2] if _possessive(token) else token
    return (
        bool(word)
        and word[0].isupper()
        and any(c.islower() for c in word)
        and word.lower() not in _STOP
    )


def _runs(text: str) -> list[_Run]:
    """Every run of capitalised words, broken at punctuation and at line ends."""
    runs: list[_Run] = []
    for para in paragraphs(text):
        tokens = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(para)]
        i, boundary = 0, True
        while i < len(tokens):
            tok = tokens[i][0]
            title = ""
            start_index = i
            if tok.lower() in _TITLES and tok[0].isupper() and i + 1 < len(tokens):
                j = i + 1 + (tokens[i + 1][0] == ".")
                if j < len(tokens) and _is_name_word(tokens[j][0]):
                    title, i = para[tokens[i][1] : tokens[j - 1][2]], j
            if not _is_name_word(tokens[i][0]):
                boundary = tok in ".!?" or (boundary and tok in "\"“\u2018'([")
                i += 1
                continue
            j, words = i, []
            while j < len(tokens):
                word = tokens[j][0]
                if _is_name_word(word):
                    words.append(word[:-2] if _possessive(word) else word)
                    j += 1
                    if _possessive(word):
                        break
                elif (
                    word in _PARTICLES
                    and j + 1 < len(tokens)
                    and _is_name_word(tokens[j + 1][0])
                    and words
                ):
                    words.append(word)
                    j += 1
                else:
                    break
            end = tokens[j - 1][2] - (2 if _possessive(tokens[j - 1][0]) else 0)
            verbatim = para[tokens[i][1] : end]
            before = tokens[start_index - 1][0].lower() if start_index > 0 else ""
            cue = tokens[start_index - 2][0].lower() if start_index > 1 else ""
            after = tokens[j][0].lower() if j < len(tokens) else ""
            titled = f"{title} {verbatim}" if title else ""
            low = tuple(w.lower() for w in words)
            initial = boundary and not title
            runs.append(_Run(verbatim, low, titled, initial, before, after, cue))
            boundary, i = False, j
    return runs


def _lowercase_words(text: str) -> set[str]:
    return {w for w in re.findall(r"\b[a-z][\w'\u2019-]*", text)}


def _vouched(run: _Run) -> bool:
    """A title or a speech verb beside it: someone, whatever else the rules say."""
    return bool(run.titled) or run.after in _SPEECH or run.before in _SPEECH


def _kind(run: _Run, lower: set[str]) -> str:
    """ "person", "place", "single" (a lone name, a person only if vouched for) or ""."""
    low = set(run.words)
    if low & _ORG_WORDS:
        return "place" if run.before in _PLACE_CUES and not run.initial else ""
    if low & _PLACE_WORDS:
        return "place"
    spoken_to = run.before == "to" and run.cue in _TALK
    if (
        not run.titled
        and not spoken_to
        and (run.before in _PLACE_CUES or (run.before == "the" and len(run.words) > 1))
    ):
        return "place"
    if (low - _PARTICLES) & lower and not _vouched(run):
        return ""
    if len(run.words) >= 2 or run.titled:
        return "person"
    return "single"


def _counted(run: _Run) -> bool:
    return not run.initial or _vouched(run)


def names(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(people, places) named in ``text``, most mentioned first, each verbatim from it."""
    lower = _lowercase_words(text)
    kinds = [(_kind(r, lower), r) for r in _runs(text)]
    placed = {r.text for k, r in kinds if k == "place"}
    vouched = {r.text for k, r in kinds if _vouched(r)}
    inside = {r.text for k, r in kinds if not r.initial}
    full: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    words_of: dict[str, tuple[str, ...]] = {}

    def count(key: str, order: int, words: tuple[str, ...]) -> None:
        full[key] += 1
        first_seen.setdefault(key, order)
        words_of[key] = words

    # Words that stand capitalised mid-sentence or beside a title or a speech verb somewhere.
    named = {w for k, r in kinds if k in ("person", "single") and _counted(r) for w in r.words}
    for order, (kind, run) in enumerate(kinds):
        # "New York" once after "in" is a place wherever else it stands, unless someone speaks;
        # a sentence's capitalised opening ("Climate Week is") needs another mention.
        if kind != "person" or len(run.words) < 2 or run.text in placed - vouched:
            continue
        if run.initial and not _vouched(run) and not set(run.words) & named:
            continue
        count(run.text, order, run.words)
    for short in sorted(full, key=lambda n: len(words_of[n])):
        longer = [n for n in full if set(words_of[short]) < set(words_of[n])]
        if longer:  # "Van Gogh" is "Vincent van Gogh"
            full[longer[0]] += full.pop(short)
    for order, (kind, run) in enumerate(kinds):
        if kind not in ("person", "single") or len(run.words) >= 2:
            continue
        owner = next((n for n in full if set(run.words) <= set(words_of[n])), None)
        if owner is not None:
            full[owner] += 1
        elif run.titled:  # "Dr. Okafor", never given a first name
            count(run.titled, order, run.words)
        elif run.text in vouched and run.text in inside:
            count(run.text, order, run.words)
    person_words = {w for n in full for w in words_of[n]}
    where: Counter[str] = Counter()
    for order, (kind, run) in enumerate(kinds):
        if kind == "place" and not set(run.words) & person_words:
            where[run.text] += 1
            first_seen.setdefault(run.text, order)
    return _ranked(full, first_seen), _ranked(where, first_seen)


def _ranked(counts: Counter[str], first_seen: dict[str, int]) -> tuple[str, ...]:
    return tuple(sorted(counts, key=lambda n: (-counts[n], first_seen[n])))


def people(text: str, limit: int = 8) -> tuple[str, ...]:
    return names(text)[0][:limit]


def places(text: str, limit: int = 6) -> tuple[str, ...]:
    return names(text)[1][:limit]


def script_names(people: Iterable[str]) -> dict[str, str]:
    """Each person's name in a script: the upper-case first name ("MAYA"), unique.

    A second Maya is "MAYA OKAFOR" instead; a name left with one word after its title keeps the
    title ("DR. OKAFOR"). No person takes a role's name (NARRATOR, HOST, ...).
    """
    taken: set[str] = set(RESERVED)
    found: dict[str, str] = {}
    for person in people:
        words = person.split()
        bare = words[1:] if len(words) > 1 and words[0].rstrip(".").lower() in _TITLES else words
        options = [bare[0].upper()] if len(bare) > 1 else [person.upper()]
        options.append(" ".join(bare).upper())
        options.append(person.upper())
        name = next((o for o in options if o not in taken), "")
        n = 2
        while not name:
            name = f"{options[-1]} {n}" if f"{options[-1]} {n}" not in taken else ""
            n += 1
        taken.add(name)
        found[person] = name
    return found


# -- sentences worth keeping ---------------------------------------------------------------


def _scores(text: str) -> list[tuple[float, int, str]]:
    """(score, position, sentence): how much of the text's vocabulary each sentence carries."""
    freq = Counter(content_words(text))
    top = max(freq.values(), default=1)
    scored = []
    position = 0
    for para in paragraphs(text):
        for k, sentence in enumerate(_split(para)):
            words = content_words(sentence)
            n = word_count(sentence)
            if words and 5 <= n <= 45 and not sentence.endswith(":"):
                score = sum(freq[w] / top for w in set(words)) / math.sqrt(len(words))
                score *= 1.5 if position == 0 else 1.2 if k == 0 else 1.0
                scored.append((score, position, sentence))
            position += 1
    return scored


def key_sentences(text: str, limit: int = 5) -> tuple[str, ...]:
    """The ``limit`` sentences that carry most of the text, in the text's order."""
    chosen: list[tuple[int, str]] = []
    seen: set[frozenset[str]] = set()
    for _score, position, sentence in sorted(_scores(text), key=lambda s: (-s[0], s[1])):
        words = frozenset(content_words(sentence))
        if any(len(words & other) > 0.8 * max(len(words), 1) for other in seen):
            continue
        seen.add(words)
        chosen.append((position, sentence))
        if len(chosen) == limit:
            break
    return tuple(s for _p, s in sorted(chosen))


def quotable_lines(text: str, limit: int = 4, avoid: Sequence[str] = ()) -> tuple[str, ...]:
    """Lines to quote verbatim: what the text itself quotes first, then short, dense sentences."""
    found: list[str] = []
    for match in _QUOTED.finditer(" ".join(text.split())):
        line = (match.group(1) or match.group(2)).strip().rstrip(",")
        if 4 <= word_count(line) <= 40 and line not in found:
            found.append(line)
    short = [(s, p, t) for s, p, t in _scores(text) if word_count(t) <= 22 and t not in avoid]
    for _score, _p, sentence in sorted(short, key=lambda s: (-s[0], s[1])):
        if len(found) >= limit:
            break
        if not any(sentence in f or f in sentence for f in found):
            found.append(sentence)
    return tuple(found[:limit])


def digest_of(text: str) -> Digest:
    """A source's digest from its text alone: summary, key points, names and quotable lines."""
    keys = key_sentences(text, 5)
    summary = " ".join(keys[:2]) if keys else " ".join(sentences(text)[:2])[:400]
    who, where = names(text)
    return Digest(
        summary=summary,
        key_points=keys,
        people=who[:8],
        places=where[:6],
        quotes=quotable_lines(text, 4, avoid=keys),
    )
