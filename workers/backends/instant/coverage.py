"""Script coverage without a model: a studio reader's report measured from the script itself.

Every judgement is a count the script gives (lines per character, scenes and their sizes,
repeated points, questions, who pushes back), so the same script always gets the same report,
and every sentence can be checked against the read. The focus prompt is answered the same way:
its key terms are found in the script (or their absence said), and position words ("midpoint",
"opening", "ending") point at the part of the read the client asked about. The local writer
falls back on these pieces where its model's answer is unusable.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from workers.backends.instant.script import clip, said
from workers.backends.people import content_words, word_count
from workers.backends.scripts import (
    SCORE_KEYS,
    CoverageReport,
    CoverageRequest,
    ScriptEntry,
    ScriptScene,
)

__all__ = [
    "Measures",
    "focus_lead",
    "focus_terms",
    "instant_coverage",
    "measure",
    "missing_terms",
    "verdict_of",
]

MAX_TERMS = 6
SIMILAR = 0.7  # share of the shorter line's content words that makes two lines one point
# Words of a prompt that ask rather than name what to look at.
_ASKING = frozenset(
    """focus focused focusing whether please look looking tell check assess assessing evaluate
    script coverage read table note notes think thinks want wants would could should really
    much many also give make comment comments especially particular particularly mainly""".split()
)
_OPENING = frozenset(
    "opening open opener beginning start hook cold setup intro introduction inciting first".split()
)
_MIDDLE = frozenset("midpoint middle mid turn twist reversal centre center".split())
_ENDING = frozenset(
    "ending end climax finale resolution close closing last payoff conclusion landing final".split()
)
_EARNED = frozenset("earned earn earns earning deserved motivated justified set".split())
_CONFLICT = frozenset("conflict stakes tension friction antagonist drama".split())
_PUSHERS = ("skeptic", "antagonist")


@dataclass(frozen=True, slots=True)
class Measures:
    """What the report's judgements are made of."""

    entries: tuple[ScriptEntry, ...]
    scenes: tuple[ScriptScene, ...]
    words: int
    lines: Counter[str]  # lines per character
    spoken: Counter[str]  # words per character
    narrator: str  # the cast's narrator, "" when none
    silent: tuple[str, ...]  # cast members without a line
    repeats: tuple[ScriptEntry, ...]  # lines that restate an earlier one
    questions: int
    changes: float  # share of consecutive lines where the speaker changes
    pushers: tuple[str, ...]  # cast members whose role is to push back

    @property
    def speakers(self) -> list[str]:
        return [n for n, _ in self.lines.most_common() if n != self.narrator]

    @property
    def average(self) -> float:
        return self.words / max(1, len(self.entries))


def _same_point(a: str, b: str) -> bool:
    one, two = set(content_words(a)), set(content_words(b))
    return bool(one and two) and len(one & two) >= SIMILAR * min(len(one), len(two))


def measure(request: CoverageRequest) -> Measures:
    entries = request.entries
    narrator = next(
        (c.name for c in request.cast if c.role == "narrator" or c.name == "NARRATOR"), ""
    )
    lines: Counter[str] = Counter(e.character for e in entries)
    spoken: Counter[str] = Counter()
    for e in entries:
        spoken[e.character] += word_count(e.text)
    repeats = []
    for k, e in enumerate(entries):
        earlier = entries[:k]
        if any(said(e.text) == said(x.text) or _same_point(e.text, x.text) for x in earlier):
            repeats.append(e)
    pairs = list(itertools.pairwise(entries))
    return Measures(
        entries=entries,
        scenes=tuple(s for s in request.scenes if s.entries),
        words=sum(spoken.values()),
        lines=lines,
        spoken=spoken,
        narrator=narrator,
        silent=tuple(c.name for c in request.cast if c.name not in lines),
        repeats=tuple(repeats),
        questions=sum(e.text.rstrip().endswith("?") for e in entries),
        changes=sum(a.character != b.character for a, b in pairs) / max(1, len(pairs)),
        pushers=tuple(c.name for c in request.cast if c.role in _PUSHERS and c.name in lines),
    )


def _clamp(value: float) -> int:
    return max(1, min(10, round(value)))


def _grounded_logline(request: CoverageRequest, m: Measures) -> bool:
    said_words = {w for e in m.entries for w in content_words(e.text)}
    return len(set(content_words(request.logline)) & said_words) >= 2


def _scores(request: CoverageRequest, m: Measures) -> dict[str, int]:
    speakers = m.speakers
    top = m.lines[speakers[0]] / max(1, sum(m.lines[s] for s in speakers)) if speakers else 1.0
    sizes = [len(s.entries) for s in m.scenes] or [0]
    narrated = m.spoken[m.narrator] / max(1, m.words) if m.narrator else 0.0
    premise = 5.0 + (word_count(request.logline) >= 8) + bool(request.title.strip())
    premise += _grounded_logline(request, m) + (len(m.scenes) >= 3) - (m.words < 60)
    character = 4.0 + min(3, len(speakers)) + 2 * (top <= 0.5) - bool(m.silent)
    character += bool(m.pushers)
    dialogue = 7.0 - 10 * len(m.repeats) / max(1, len(m.entries)) + (m.questions > 0)
    dialogue += (m.changes >= 0.8) - (not 5 <= m.average <= 30) - (narrated > 0.4)
    structure = 4.0 + min(3, len(m.scenes)) + (min(sizes) * 3 >= max(sizes))
    structure += (len(m.scenes) >= 2 and sizes[-1] >= 2) - any(n == 1 for n in sizes)
    found = {"premise": premise, "character": character, "dialogue": dialogue}
    found["structure"] = structure
    return {k: _clamp(found[k]) for k in SCORE_KEYS}


def verdict_of(scores: Mapping[str, int]) -> str:
    """recommend: strong all round; pass: weak on the whole; consider: the rest."""
    values = [int(scores[k]) for k in SCORE_KEYS]
    mean = sum(values) / len(values)
    if mean >= 7.5 and min(values) >= 6:
        return "recommend"
    return "consider" if mean >= 5 else "pass"


def _names(names: Sequence[str]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _quote(text: str, limit: int = 110) -> str:
    return f"“{clip(text, limit).rstrip('.')}”"


def _synopsis(request: CoverageRequest, m: Measures) -> str:
    title = " ".join(request.title.split()) or "The read"
    if not m.scenes:
        return f"{title} has no lines yet."
    who = _names([n.title() for n in m.lines])
    shown = list(m.scenes)
    if len(shown) > 4:
        shown = [shown[0], shown[len(shown) // 2], shown[-1]]
    parts = [f"{title} is a {len(m.scenes)}-scene table read voiced by {who}."]
    for k, scene in enumerate(shown):
        first = scene.entries[0]
        where = "It opens" if k == 0 else ("It closes" if scene is m.scenes[-1] else "Then")
        parts.append(
            f"{where} with “{scene.title}”, where {first.character.title()} says "
            f"{_quote(first.text, 90)}."
        )
    return " ".join(parts)


def _strengths(request: CoverageRequest, m: Measures) -> list[str]:
    found = []
    speakers = m.speakers
    share = {s: m.lines[s] / max(1, sum(m.lines[x] for x in speakers)) for s in speakers}
    if len(speakers) >= 2 and max(share.values()) <= 0.5:
        counts = ", ".join(f"{s.title()} {m.lines[s]}" for s in speakers[:4])
        found.append(f"The voices share the read fairly (lines: {counts}).")
    if m.pushers:
        found.append(f"{_names([p.title() for p in m.pushers])} pushes back, which adds friction.")
    if m.entries and not m.repeats:
        found.append("No line restates another: each beat says something new.")
    if m.questions:
        one = m.questions == 1
        found.append(
            f"{m.questions} question{'' if one else 's'} keep{'s' if one else ''} the exchange "
            f"moving and give{'s' if one else ''} listeners a way in."
        )
    if len(m.scenes) >= 3:
        titles = ", ".join(f"“{s.title}”" for s in m.scenes[:5])
        found.append(f"A clear {len(m.scenes)}-scene shape: {titles}.")
    if _grounded_logline(request, m):
        found.append("The lines stay on the premise the logline promises.")
    return found or ["The read is short and keeps to one subject."]


def _weaknesses(m: Measures) -> list[str]:
    found = []
    speakers = m.speakers
    total = sum(m.lines[s] for s in speakers)
    if len(speakers) >= 2 and m.lines[speakers[0]] / max(1, total) > 0.5:
        pct = round(100 * m.lines[speakers[0]] / total)
        found.append(f"{speakers[0].title()} carries {pct}% of the lines; the others barely land.")
    if m.silent:
        found.append(f"{_names([s.title() for s in m.silent])} is cast but never speaks.")
    if m.repeats:
        n = len(m.repeats)
        found.append(
            f"{n} line{'s' if n != 1 else ''} restate{'s' if n == 1 else ''} an earlier point "
            f"(e.g. {_quote(m.repeats[0].text, 70)})."
        )
    if m.entries and not m.questions:
        found.append("Nobody asks anything: the read is statements back to back.")
    thin = [i + 1 for i, s in enumerate(m.scenes) if len(s.entries) == 1]
    if thin:
        found.append(f"Scene {thin[0]} is a single line and plays like a placeholder.")
    if m.average > 30:
        found.append(f"Lines run long (about {round(m.average)} words): prose more than speech.")
    if m.narrator and m.spoken[m.narrator] > 0.4 * max(1, m.words):
        found.append("The narrator tells what the characters should be showing.")
    if len(m.scenes) < 3:
        found.append(f"Only {len(m.scenes)} scene(s): little room for a turn.")
    if not m.pushers:
        found.append("No one disagrees: without friction the stakes stay abstract.")
    return found or ["The ending restates rather than resolves; a last turn would land harder."]


def focus_terms(focus: str) -> tuple[str, ...]:
    """The words of a focus prompt that name what to look at ("midpoint", "turn", "earned")."""
    words = (re.sub(r"['\u2019]s$", "", w) for w in content_words(focus))
    return tuple(dict.fromkeys(w for w in words if w not in _ASKING and len(w) > 2))[:MAX_TERMS]


def missing_terms(text: str, terms: Sequence[str]) -> list[str]:
    low = text.lower()
    return [t for t in terms if not re.search(rf"(?<!\w){re.escape(t)}", low)]


def focus_lead(focus: str) -> str:
    """The notes' first sentence: the prompt, quoted, and any key term the quote cut off."""
    quoted = clip(focus, 240)
    lead = f"Focus: “{quoted}”"
    cut = missing_terms(quoted, focus_terms(focus))
    if cut:
        return lead + f" (on {', '.join(cut)})."
    return lead if quoted.endswith((".", "!", "?", "…")) else lead + "."


def _part(m: Measures, where: str) -> tuple[int, Sequence[ScriptEntry], Sequence[ScriptEntry]]:
    """The scene index (or -1), the entries at ``where`` (opening, midpoint or ending) and the
    entries before them."""
    if len(m.scenes) >= 3:
        k = {"opening": 0, "midpoint": len(m.scenes) // 2, "ending": len(m.scenes) - 1}[where]
        before = [e for s in m.scenes[:k] for e in s.entries]
        return k, m.scenes[k].entries, before
    n = len(m.entries)
    lo, hi = {"opening": (0, n // 3), "midpoint": (n // 3, 2 * n // 3), "ending": (2 * n // 3, n)}[
        where
    ]
    return -1, m.entries[lo : max(hi, lo + 1)], m.entries[:lo]


def _said_words(text: str) -> list[str]:
    """A line's content words without its lead-in ("Let me push back." says nothing)."""
    return content_words(said(text))


def _position(m: Measures, where: str, word: str, earned: bool, names: set[str]) -> list[str]:
    """Where the read's ``where`` (opening, midpoint or ending) is, what is said there, and
    whether what it turns on was set up before it (an opening: whether it hooks)."""
    k, part, before = _part(m, where)
    if not part:
        return [f"The read is too short to have a distinct {word}."]
    index = m.entries.index(part[0]) + 1
    at = f"scene {k + 1}, “{m.scenes[k].title}”" if k >= 0 else f"line {index}"
    first = part[0]
    notes = [
        f"The {word} falls in {at}, where {first.character.title()} says {_quote(first.text)}."
    ]
    if where == "opening":
        hook = any(e.text.rstrip().endswith("?") for e in part)
        notes.append(
            f"The {word} poses a question that pulls the listener in."
            if hook
            else f"The {word} states rather than hooks: no question pulls the listener in."
        )
        return notes
    quality = "earned" if earned else "prepared"
    setup = {w for e in before for w in _said_words(e.text)} - names
    turned = [w for w in dict.fromkeys(w for e in part for w in _said_words(e.text))]
    turned = [w for w in turned if w not in names]
    shared = [w for w in turned if w in setup]
    if len(shared) >= 0.3 * max(1, len(turned)):
        notes.append(
            f"It is {quality}: what it turns on ({_names(shared[:3])}) is set up earlier in the "
            "read."
        )
    elif shared:
        verb = "is" if len(shared[:2]) == 1 else "are"
        notes.append(
            f"It is only partly {quality}: {_names(shared[:2])} {verb} set up earlier, but most "
            "of what it turns on arrives there for the first time; plant it in the opening."
        )
    else:
        notes.append(
            f"It is not yet {quality}: nothing it turns on is set up earlier; plant it in the "
            "opening scene."
        )
    return notes


def _mentions(m: Measures, term: str) -> str:
    hits = [e for e in m.entries if term in content_words(e.text)]
    if not hits:
        return f"The script never says “{term}” outright."
    first = hits[0]
    scene = next(i for i, s in enumerate(m.scenes) if first in s.entries) + 1
    times = f"{len(hits)} line{'s' if len(hits) != 1 else ''}"
    return (
        f"“{term}” comes up in {times}, first from {first.character.title()} in scene {scene}: "
        f"{_quote(first.text, 90)}."
    )


def _focus_notes(
    request: CoverageRequest, m: Measures, scores: Mapping[str, int], weaknesses: Sequence[str]
) -> str:
    if not request.focus.strip():
        worst = min(SCORE_KEYS, key=lambda k: scores[k])
        return (
            "No focus prompt was given, so this is general coverage. The area to work on first "
            f"is {worst} ({scores[worst]}/10). The first note: {weaknesses[0]}"
        )
    terms = focus_terms(request.focus)
    notes = [focus_lead(request.focus)]
    earned = bool(_EARNED & set(terms))
    cast = {c.name.lower(): c.name for c in request.cast}
    positions = [
        (where, next(t for t in terms if t in cue))
        for where, cue in (("opening", _OPENING), ("midpoint", _MIDDLE), ("ending", _ENDING))
        if cue & set(terms)
    ]
    for where, word in positions:
        notes += _position(m, where, word, earned, set(cast))
    for term in terms:
        if term in _OPENING | _MIDDLE | _ENDING | _EARNED:
            continue
        if term in cast:
            name = cast[term]
            count = m.lines.get(name, 0)
            notes.append(f"{name.title()} has {count} of the {len(m.entries)} lines.")
        elif term in ("dialogue", "dialog", "lines", "voice", "voices"):
            notes.append(
                f"On dialogue ({scores['dialogue']}/10): about {round(m.average)} words a "
                f"line, {m.questions} questions, {len(m.repeats)} repeated points."
            )
        elif term in ("pacing", "pace", "rhythm", "length"):
            sizes = ", ".join(str(len(s.entries)) for s in m.scenes)
            notes.append(
                f"On pacing: {m.words} words over {len(m.scenes)} scenes ({sizes} lines each)."
            )
        elif term in _CONFLICT:
            who = _names([p.title() for p in m.pushers])
            notes.append(
                f"On {term}: {who} pushes back." if who else f"On {term}: no one pushes back."
            )
        else:
            notes.append(_mentions(m, term))
    if earned and not positions:
        notes += _position(m, "ending", "payoff", True, set(cast))
    if missing_terms(" ".join(notes), terms):
        notes.append(f"Terms weighed: {', '.join(terms)}.")
    return " ".join(notes)


def instant_coverage(request: CoverageRequest) -> CoverageReport:
    m = measure(request)
    scores = _scores(request, m)
    weaknesses = _weaknesses(m)
    logline = " ".join(request.logline.split())
    if word_count(logline) < 5:
        first = next((e.text for e in m.entries if word_count(e.text) >= 5), "")
        logline = f"{request.title.strip() or 'A table read'}: {first}" if first else logline
    return CoverageReport(
        logline=clip(logline, 240),
        synopsis=_synopsis(request, m),
        strengths=tuple(_strengths(request, m)[:4]),
        weaknesses=tuple(weaknesses[:4]),
        scores=scores,
        verdict=verdict_of(scores),
        focus_notes=_focus_notes(request, m, scores, weaknesses),
    )
