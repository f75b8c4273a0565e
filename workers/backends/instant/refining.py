"""The instant refine: a producer's instruction applied to a finished script by rules.

A refine must never be a guess about *who*: "rename the host to Dana" has to rename exactly the
character a producer means, every time, on every backend, or the next episode's cast is wrong.
So the instruction is read clause by clause ("…; make the skeptic warmer") and each clause is
one of a few edits with a precise effect:

- a rename ("rename the host to Dana", "call Maya Amara"): the cast member whose name or role
  the clause names gets the new name (spelled like the cast's other names), on its lines and
  wherever a line addresses it by name;
- a drop ("drop the narrator", "remove Tunde", "no narrator"): that character and its lines go
  (never the last speaker: a script without lines is no revision);
- a tone ("make the skeptic warmer", "make it shorter"): that character's lines (everyone's
  for "it") are rewritten by a fixed rule for the tone;
- anything else revises one line, picked from the instruction's own words, so a refine always
  changes something a producer can hear; at the ``plan`` scope that line takes a point from the
  sources the script has not yet used.

The chat writer (workers/backends/local/refining.py) lets its model reword the tone and free
lines, over the same edits; renames and drops are always these rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from workers.backends.base import stable_seed
from workers.backends.instant.cast_names import find, mention, new_name, unaddressed, who_of
from workers.backends.instant.retone import retone, tone_rule
from workers.backends.instant.script import NARRATOR, said, trim_words
from workers.backends.people import word_count
from workers.backends.scripts import CastMember, Refined, RefineRequest, ScriptEntry, ScriptScene

__all__ = ["Draft", "DraftLine", "clauses", "draft_of", "instant_refine", "resolve_scope"]

# Verbs that start an edit: where a clause ends and the next begins ("… and drop the narrator").
_VERBS = (
    r"(?:re-?name|call|name|drop|remove|cut|delete|lose|get\s+rid\s+of|write\s+out|make|have|"
    r"let|give|turn|no|without|change|switch)"
)
_SPLIT = re.compile(
    rf"\s*(?:[;\n]+|\.(?=\s|$)|!(?=\s|$)"
    rf"|,?\s+(?:and\s+then|then|and|also|plus)\s+(?={_VERBS}\b)|,\s*(?={_VERBS}\b))\s*",
    re.IGNORECASE,
)
_RENAME = (
    re.compile(r"^(?:re-?name|call|name)\s+(?P<who>.+?)\s+(?:to|as|into)\s+(?P<new>.+)$", re.I),
    re.compile(
        r"^(?:change|switch)\s+(?:the\s+)?name\s+of\s+(?P<who>.+?)\s+to\s+(?P<new>.+)$", re.I
    ),
    re.compile(r"^(?:change|switch)\s+(?P<who>.+?)(?:'s|s')\s+name\s+to\s+(?P<new>.+)$", re.I),
    re.compile(
        r"^(?P<who>.+?)\s+(?:should\s+be|is\s+now|becomes)\s+(?:called|named)\s+(?P<new>.+)$", re.I
    ),
)
_DROP = (
    re.compile(
        r"^(?:drop|remove|cut|delete|lose|get\s+rid\s+of|write\s+out|kill\s+off)\s+(?P<who>.+?)"
        r"(?:\s+(?:entirely|completely|altogether|from\s+(?:the\s+)?(?:script|read|cast)))?$",
        re.I,
    ),
    re.compile(r"^(?:no|without(?:\s+a|\s+the)?)\s+(?P<who>.+)$", re.I),
)
_TONE = re.compile(
    r"^(?:make|have|let|turn)\s+(?P<who>.+?)\s+(?:(?:sound|be|seem|feel|come\s+across)\s+)?"
    r"(?:(?:a\s+(?:bit|little|lot)|much|even|slightly|way)\s+)?(?:more\s+)?"
    r"(?P<tone>[a-z][\w-]*(?:\s+(?:and|or)\s+(?:more\s+)?[a-z][\w-]*)*)$",
    re.I,
)
_EVERYONE = frozenset(
    "it|everything|everyone|everybody|all|them|this|script|read|dialogue|lines|cast|whole thing|"
    "whole script|whole read|all of it|table read".split("|")
)
_PLAN_WORDS = re.compile(
    r"\b(?:sources?|facts?|research|accura\w*|ground\w*|restructur\w*|structur\w*|reorder\w*|"
    r"re-?plan\w*|plan|evidence|details?\s+from)\b",
    re.I,
)
_SCENE = re.compile(r"\bscene\s+(\d{1,3})\b", re.I)


@dataclass
class DraftLine:
    """One line of the revision in the making: ``said`` is its text after renames alone (what
    the model rewrites), ``text`` what it says now; ``rule`` the tone rule that rewrote it."""

    scene: str
    character: str
    said: str
    text: str
    original: str
    rule: str = ""
    # The word the producer used for the tone ("warmer"), for a model's prompt.
    word: str = ""


@dataclass
class Draft:
    cast: list[CastMember]
    lines: list[DraftLine]
    renamed: dict[str, str] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    scope: str = "screenplay"

    def refined(self) -> Refined:
        scenes: list[ScriptScene] = []
        for line in self.lines:
            entry = ScriptEntry(line.character, line.text)
            if scenes and scenes[-1].title == line.scene:
                scenes[-1] = ScriptScene(line.scene, (*scenes[-1].entries, entry))
            else:
                scenes.append(ScriptScene(line.scene, (entry,)))
        changed = tuple(k for k, ln in enumerate(self.lines) if ln.text != ln.original)
        return Refined(
            cast=tuple(self.cast),
            scenes=tuple(scenes),
            renamed=dict(self.renamed),
            dropped=tuple(self.dropped),
            changed=changed,
            notes=tuple(self.notes),
            scope=self.scope,
        )


def resolve_scope(request: RefineRequest) -> str:
    """``auto``: the sources when the instruction is about them or the structure (and there are
    sources to read), else the screenplay."""
    if request.scope in ("screenplay", "plan"):
        return request.scope
    return "plan" if request.digests and _PLAN_WORDS.search(request.instruction) else "screenplay"


def clauses(instruction: str) -> list[str]:
    parts = _SPLIT.split(" ".join(instruction.split()))
    return [p.strip(" ,.:;!?\"'") for p in parts if p and p.strip(" ,.:;!?\"'")]


def _plain(text: str) -> str:
    text = re.sub(
        r"^(?:please|can\s+you|could\s+you|i\s+want\s+to|let's|lets)\s+", "", text, flags=re.I
    )
    return " ".join(text.split())


class _Refiner:
    """One instruction applied, clause by clause, to a draft of the script."""

    def __init__(self, request: RefineRequest) -> None:
        self.request = request
        self.draft = Draft(
            cast=list(request.cast),
            lines=[
                DraftLine(s.title, e.character, e.text, e.text, e.text)
                for s in request.scenes
                for e in s.entries
            ],
            scope=resolve_scope(request),
        )
        self.seed = request.seed

    def run(self) -> Draft:
        for k, clause in enumerate(clauses(self.request.instruction)):
            text = _plain(clause)
            if not (self._rename(text) or self._drop(text) or self._tone(text, k)):
                self._revise(text, k)
        if not self._changed():
            self._revise(_plain(self.request.instruction) or "revise", 99)
        return self.draft

    def _changed(self) -> bool:
        d = self.draft
        return bool(d.renamed or d.dropped or any(ln.text != ln.original for ln in d.lines))

    def _member(self, phrase: str) -> CastMember | None:
        found = find(self.draft.cast, phrase)
        if found is None:
            # A character renamed earlier in the same instruction, by its old name.
            old = {o.casefold(): n for o, n in self.draft.renamed.items()}
            new = old.get(who_of(phrase).casefold())
            found = next((c for c in self.draft.cast if c.name == new), None)
        return found

    def _rename(self, text: str) -> bool:
        for pattern in _RENAME:
            match = pattern.match(text)
            if not match:
                continue
            member = self._member(match["who"])
            new = new_name(match["new"], self.draft.cast)
            if member is None or not new or new == member.name:
                continue
            old = member.name
            others = [c for c in self.draft.cast if c is not member]
            merged = next((c for c in others if c.name.casefold() == new.casefold()), None)
            if merged is not None:
                new = merged.name
                self.draft.cast = others
            else:
                self.draft.cast = [
                    CastMember(new, c.role, c.voice) if c is member else c for c in self.draft.cast
                ]
            for line in self.draft.lines:
                if line.character == old:
                    line.character = new
                line.said = mention(line.said, old, new)
                line.text = mention(line.text, old, new)
            for first, now in list(self.draft.renamed.items()):
                if now == old:
                    self.draft.renamed[first] = new
            if old not in self.draft.renamed.values():
                self.draft.renamed.setdefault(old, new)
            self.draft.notes.append(f"Renamed {old} to {new}.")
            return True
        return self._call(text)

    def _call(self, text: str) -> bool:
        """ "call the host Dana", "name Maya Amara": the longest head that names a character."""
        match = re.match(r"^(?:call|name)\s+(.+)$", text, re.I)
        words = match[1].split() if match else []
        for cut in range(len(words) - 1, 0, -1):
            head, tail = " ".join(words[:cut]), " ".join(words[cut:])
            if find(self.draft.cast, head) is not None and new_name(tail, self.draft.cast):
                return self._rename(f"rename {head} to {tail}")
        return False

    def _drop(self, text: str) -> bool:
        for pattern in _DROP:
            match = pattern.match(text)
            if not match:
                continue
            member = self._member(match["who"])
            if member is None:
                continue
            kept = [ln for ln in self.draft.lines if ln.character != member.name]
            if not kept:
                self.draft.notes.append(f"Kept {member.name}: the script would have no lines.")
                return True
            for line in kept:
                line.said = unaddressed(line.said, member.name)
                line.text = unaddressed(line.text, member.name)
            self.draft.lines = kept
            self.draft.cast = [c for c in self.draft.cast if c is not member]
            self.draft.dropped.append(member.name)
            self.draft.notes.append(f"Dropped {member.name} and their lines.")
            return True
        return False

    def _tone(self, text: str, k: int) -> bool:
        match = _TONE.match(text)
        if match:
            phrase, words = match["who"], match["tone"]
        else:
            # A bare tone word ("shorter", "warmer please") is about the whole script.
            bare = re.match(
                r"^(?:more\s+|a\s+bit\s+|slightly\s+)?([a-z][\w-]*)(?:\s+please)?$", text, re.I
            )
            if not bare or tone_rule(bare[1]) == "generic":
                return False
            phrase, words = "it", bare[1]
        everyone = who_of(phrase) in _EVERYONE
        member = None if everyone else self._member(phrase)
        if member is None and not everyone:
            return False
        word = re.split(r"\s+(?:and|or)\s+", words)[0].removeprefix("more ").strip()
        rule = tone_rule(word)
        # "Make it warmer" is about the people in it; the narrator keeps its even tone.
        spared = rule in ("warm", "cold", "excited")
        targets = [
            ln
            for ln in self.draft.lines
            if (member is not None and ln.character == member.name)
            or (member is None and not (spared and self._narrator(ln.character)))
        ]
        if member is None and not targets:
            targets = list(self.draft.lines)
        for i, line in enumerate(targets):
            line.text = retone(line.text, rule, word, (self.seed, k, i))
            line.rule, line.word = rule, word
        who = member.name if member is not None else "everyone"
        self.draft.notes.append(f"Made {who} {word}." if targets else f"{who} has no lines.")
        return True

    def _narrator(self, name: str) -> bool:
        return name.upper() == NARRATOR or any(
            c.name == name and c.role.lower() == "narrator" for c in self.draft.cast
        )

    def _revise(self, text: str, k: int) -> None:
        """A clause no rule reads: one line revised, picked by the clause's own words."""
        lines = self.draft.lines
        if not lines:
            return
        pool = list(range(len(lines)))
        scene = _SCENE.search(text)
        if scene:
            titles = list(dict.fromkeys(ln.scene for ln in lines))
            at = int(scene[1]) - 1
            if 0 <= at < len(titles):
                pool = [i for i in pool if lines[i].scene == titles[at]] or pool
        named = [
            c.name for c in self.draft.cast if re.search(rf"\b{re.escape(c.name)}\b", text, re.I)
        ]
        if named:
            pool = [i for i in pool if lines[i].character in named] or pool
        voices = [i for i in pool if not self._narrator(lines[i].character)] or pool
        line = lines[voices[stable_seed("refine-line", self.seed, text) % len(voices)]]
        fact = self._fact(text) if self.draft.scope == "plan" else ""
        if fact:
            line.text = fact
        else:
            line.text = retone(line.text, "generic", text, (self.seed, k))
        line.rule, line.word = "free", text
        self.draft.notes.append(f"Revised a line of {line.character} for: {text[:80]}.")

    def _fact(self, text: str) -> str:
        """A point from the sources the script does not say yet."""
        spoken = {said(ln.text) for ln in self.draft.lines}
        facts = [
            " ".join(f.split())
            for d in self.request.digests
            for f in (*d.key_points, *d.quotes, d.summary)
            if word_count(f) >= 4
        ]
        fresh = [f for f in dict.fromkeys(facts) if said(f) not in spoken]
        if not fresh:
            return ""
        fact = fresh[stable_seed("refine-fact", self.seed, text) % len(fresh)]
        fact = trim_words(fact, 40)
        return fact if fact.endswith((".", "!", "?")) else fact + "."


def draft_of(request: RefineRequest) -> Draft:
    """The rules' revision of ``request``'s script, line by line."""
    return _Refiner(request).run()


def instant_refine(request: RefineRequest) -> Refined:
    return draft_of(request).refined()
