"""The instant script writer: SleeperHit's digests, plans and table reads without a model.

Everything is drawn from the source itself (its people become the cast, its key sentences and
quotes the lines) and from the brief, arranged by fixed templates and the seed, so the same
request gives the same script in milliseconds. The local writer falls back on the same pieces
where its model's answer is unusable, so both writers share the cast and the line rules here.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from workers.backends.base import Capability, stable_seed
from workers.backends.people import digest_of, script_names, word_count
from workers.backends.scripts import (
    CastMember,
    CoverageReport,
    CoverageRequest,
    Digest,
    PlanBrief,
    PlanDraft,
    Refined,
    RefineRequest,
    SceneOutline,
    Screenplay,
    ScreenplayRequest,
    ScriptEntry,
    ScriptScene,
)

__all__ = [
    "InstantScriptWriter",
    "cast_for",
    "clip",
    "fill_scene",
    "narrator_of",
    "plan_mode",
    "said",
    "scene_quotas",
    "trim_words",
]

NARRATOR = "NARRATOR"
MAX_PEOPLE = 3  # people from the sources in one cast: more voices than a short read can carry
WORDS_PER_SCENE = 25  # fewer words than this and a read is one scene
MIN_LINE = 5  # words: a remainder shorter than this is left unspoken rather than a stub line
MIN_CUT = 12  # words: no sentence is cut shorter than this to fit a quota
_ROLES = {
    "podcast": ("guest", "skeptic", "guest"),
    "documentary": ("subject", "witness", "expert"),
    "drama": ("protagonist", "antagonist", "ally"),
}
_STAND_INS = {
    "podcast": (("HOST", "host"), ("GUEST", "guest"), ("SKEPTIC", "skeptic")),
    "documentary": (("EXPERT", "expert"), ("REPORTER", "reporter")),
    "drama": (("ALEX", "protagonist"), ("JORDAN", "antagonist")),
}
_VOICES = {
    "narrator": ("warm, unhurried baritone", "clear, measured alto", "calm, low storyteller"),
    "host": ("bright, curious mezzo", "easy, friendly tenor", "quick, upbeat alto"),
    "skeptic": ("dry, deliberate baritone", "crisp, questioning alto"),
    "antagonist": ("cool, clipped baritone", "sharp, steady contralto"),
}
_DEFAULT_VOICES = ("earnest, warm tenor", "steady, thoughtful alto", "lively, direct soprano")
_LEAD_INS = (
    "",
    "Here's the thing. ",
    "Think about this. ",
    "What stays with me is this. ",
    "Look at it this way. ",
    "Remember this. ",
    "Here is what happened. ",
    "The record is clear. ",
)
_DOUBTS = ("I'm not convinced yet. ", "Let me push back. ", "That's only half of it. ")
_QUESTIONS = (
    "{who}, where does this story really start?",
    "{who}, what surprised you most?",
    "Why does that matter, {who}?",
    "{who}, what would you say to someone who doubts it?",
    "How did people react, {who}?",
    "{who}, what's the part most people miss?",
    "And what happens next, {who}?",
)
# Short remarks for the few words a scene has left when no sentence of the source fits.
_CODAS = (
    "That is the heart of it.",
    "Nobody expected that.",
    "Keep that in mind.",
    "And that changed everything.",
    "It is worth saying twice.",
    "That part still matters today.",
    "We will come back to that.",
    "That is where it gets interesting.",
)
_FILLERS = (
    "There is more to this than one headline.",
    "Every detail here was a choice someone had to make.",
    "The people closest to it saw it first.",
)


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def trim_words(text: str, words: int) -> str:
    """``text`` cut to about ``words`` words, at a clause break where one is near."""
    parts = text.split()
    if len(parts) <= words:
        return text
    cut = parts[: max(1, words)]
    for k in range(len(cut) - 1, max(0, int(len(cut) * 0.6)) - 1, -1):
        if cut[k].endswith((",", ";", ":", ".", "!", "?")):
            cut = cut[: k + 1]
            break
    kept = " ".join(cut).replace('"', "").replace("“", "").replace("”", "")
    return kept.rstrip(",;:—-").rstrip(".!?") + "."


def plan_mode(artifacts: Sequence[Mapping[str, Any]]) -> tuple[str, bool]:
    """The first table read's mode, and whether any read may want a narrator."""
    reads = [a for a in artifacts if str(a.get("type") or "table_read") == "table_read"]
    mode = str((reads[0].get("mode") if reads else None) or "documentary")
    mode = mode if mode in _ROLES else "documentary"

    def narrates(read: Mapping[str, Any]) -> bool:
        policy = str(read.get("narrationPolicy") or "auto")
        return policy == "include" or (
            policy == "auto" and str(read.get("mode") or mode) == "documentary"
        )

    return mode, not reads or any(narrates(a) for a in reads)


def _voice(role: str, name: str, seed: int) -> str:
    options = _VOICES.get(role, _DEFAULT_VOICES)
    return options[stable_seed("voice", name, seed) % len(options)]


def cast_for(
    people: Sequence[str], mode: str, narrated: bool, seed: int = 0
) -> tuple[CastMember, ...]:
    """The sources' people as the cast (upper-case first names), with the roles the mode needs.

    A podcast gets a HOST to ask the questions, a narrated piece a NARRATOR; without people,
    stand-ins named for their roles.
    """
    mode = mode if mode in _ROLES else "documentary"
    cast: list[CastMember] = []
    if narrated:
        cast.append(CastMember(NARRATOR, "narrator", _voice("narrator", NARRATOR, seed)))
    chosen = list(dict.fromkeys(people))[:MAX_PEOPLE]
    if chosen:
        if mode == "podcast":
            cast.append(CastMember("HOST", "host", _voice("host", "HOST", seed)))
        for (person, name), role in zip(script_names(chosen).items(), _ROLES[mode], strict=False):
            cast.append(CastMember(name, role, _voice(role, person, seed)))
    else:
        cast += [CastMember(n, r, _voice(r, n, seed)) for n, r in _STAND_INS[mode]]
    return tuple(cast)


def narrator_of(cast: Sequence[CastMember], narrated: bool) -> str:
    """The cast's narrator when the read is narrated, else ""."""
    if not narrated:
        return ""
    found = [c.name for c in cast if c.name == NARRATOR or c.role == "narrator"]
    return found[0] if found else ""


def _material(digests: Sequence[Digest]) -> list[str]:
    """Key points and quotes of every source, interleaved so no one source runs dry first."""
    lists = [list(d.key_points) + list(d.quotes) for d in digests]
    found: list[str] = []
    for k in range(max((len(x) for x in lists), default=0)):
        for line in (x[k] for x in lists if k < len(x)):
            if not any(line in f or f in line for f in found):
                found.append(line)
    return found


def scene_quotas(words: int, scenes: int) -> list[int]:
    """Words for each scene, adding up to ``words``; short reads get fewer scenes."""
    n = max(1, min(scenes, words // WORDS_PER_SCENE))
    marks = [round(words * (i + 1) / n) for i in range(n)]
    return [b - a for a, b in zip([0, *marks], marks, strict=False)]


def fill_scene(
    request: ScreenplayRequest,
    scene: SceneOutline,
    words: int,
    used: set[str],
    offset: int = 0,
    opening: bool = True,
) -> list[ScriptEntry]:
    """About ``words`` words of instant entries for ``scene``, saying nothing ``used`` holds.

    Speakers take turns (from ``offset``): a narrated scene opens with its summary (when
    ``opening``) and the narrator speaks every sixth turn; a host asks the next speaker; the
    others say the sources' sentences, each once while any is left unsaid. A turn takes the
    first fact that fits the words left (a tenth over at most) before cutting one at a clause
    break; a remainder too small for a line is left unspoken.
    """
    narrator = narrator_of(request.cast, request.narrated)
    speakers = [c for c in request.cast if c.name != narrator and c.role != "narrator"]
    speakers = speakers or [c for c in request.cast if c.name == narrator]
    asks = [c for c in speakers if c.role in ("host", "reporter")]
    facts = [*_material(request.digests), scene.summary]
    facts = [_ended(f) for f in dict.fromkeys(" ".join(x.split()) for x in facts)]
    facts = [f for f in facts if word_count(f) >= 3]
    if not facts:
        facts = [request.logline] if word_count(request.logline) >= 3 else list(_FILLERS)
    rng = random.Random(stable_seed("instant-script", request.seed, request.title, scene.title))
    shift = rng.randrange(len(facts) * len(_LEAD_INS))
    slack = max(2, words // 10)
    found: list[ScriptEntry] = []
    total = 0

    def add(character: str, text: str) -> None:
        nonlocal total
        text = (
            text if word_count(text) <= words - total + slack else trim_words(text, words - total)
        )
        used.add(said(text))
        found.append(ScriptEntry(character, text))
        total += word_count(text)

    if narrator and scene.summary and opening and words >= MIN_LINE:
        add(narrator, _ended(" ".join(scene.summary.split())))
    guests = [c for c in speakers if c not in asks]
    k = asked = offset
    answer: CastMember | None = None  # who was just asked, and so speaks next
    while speakers and words - total >= MIN_LINE and k < offset + 400:
        who, answer = answer or speakers[k % len(speakers)], None
        if found and found[-1].character == who.name and len(speakers) > 1:
            k += 1
            continue
        turn, k = k + shift, k + 1
        if who in asks and guests:
            answer = guests[asked % len(guests)]
            add(who.name, _question(asked, answer.name.title(), used))
            asked += 1
            continue
        fact = _fact(facts, turn, used, words - total + slack)
        lead = _LEAD_INS[(turn + turn // len(facts)) % len(_LEAD_INS)]
        if who.role in ("skeptic", "antagonist"):
            lead = _DOUBTS[turn % len(_DOUBTS)]
        speaker = narrator if narrator and k % 6 == 0 else who.name
        line = lead + fact if speaker != narrator else fact
        room = words - total + slack
        if word_count(fact) > room and words - total < MIN_CUT:
            # A stub of a sentence reads worse than a short remark, or a read a few words short.
            coda = [c for c in _CODAS if said(c) not in used and word_count(c) <= room]
            if not coda:
                break
            add(speaker, coda[turn % len(coda)])
            continue
        add(speaker, line if word_count(line) <= room else fact)
    return found


def _question(turn: int, who: str, used: set[str]) -> str:
    turn %= len(_QUESTIONS)
    asks = [q.format(who=who) for q in _QUESTIONS[turn:] + _QUESTIONS[:turn]]
    return next((q for q in asks if said(q) not in used), asks[0])


def _fact(facts: Sequence[str], turn: int, used: set[str], room: int) -> str:
    """The first fact from ``turn`` on that is unsaid and fits, else unsaid, else fits."""
    order = [facts[(turn + i) % len(facts)] for i in range(len(facts))]
    unsaid = [f for f in order if said(f) not in used]
    fits = [f for f in order if word_count(f) <= room]
    both = [f for f in unsaid if word_count(f) <= room]
    return (both or unsaid or fits or order)[0]


def said(text: str) -> str:
    """What a line says, for spotting repeats: no lead-in, case or spacing."""
    return " ".join(re.findall(r"\w+", _without_lead_in(text).lower()))


def _ended(text: str) -> str:
    return text if text.endswith((".", "!", "?", "…", '"', "”", "'")) else text + "."


def _without_lead_in(text: str) -> str:
    for lead in (*_LEAD_INS, *_DOUBTS):
        if lead and text.startswith(lead):
            return text[len(lead) :]
    return text


class InstantScriptWriter:
    """Digests, plans and screenplays from the sources' own sentences; no model needed."""

    name = "instant"

    def __init__(self, note: str = "") -> None:
        # Why this writer stands in for a model's, when it does (shown in its capability).
        self.note = note

    def capability(self) -> Capability:
        return Capability(
            kind="text",
            backend="instant",
            model="instant-scripts-v1",
            available=True,
            note=self.note or "deterministic digests and scripts from the sources' own sentences",
        )

    async def digest(self, text: str, *, seed: int = 0) -> Digest:
        return digest_of(text)

    async def plan(self, brief: PlanBrief) -> PlanDraft:
        return instant_plan(brief)

    async def coverage(self, request: CoverageRequest) -> CoverageReport:
        # Imported here: coverage is its own module, and it imports this one.
        from workers.backends.instant.coverage import instant_coverage

        return instant_coverage(request)

    async def refine(self, request: RefineRequest) -> Refined:
        # Imported here: the refine rules are their own module, and they import this one.
        from workers.backends.instant.refining import instant_refine

        return instant_refine(request)

    async def screenplay(self, request: ScreenplayRequest) -> Screenplay:
        used = {said(e.text) for e in request.so_far}
        done = sum(word_count(e.text) for e in request.so_far)
        if request.so_far:
            last = request.scenes[-1] if request.scenes else SceneOutline(request.title, "")
            scene = SceneOutline(f"{last.title} (continued)", "", last.characters)
            words = max(request.words - done, 12)
            entries = fill_scene(
                request, scene, words, used, offset=len(request.so_far), opening=False
            )
            return Screenplay((ScriptScene(scene.title, tuple(entries)),))
        outlines = request.scenes or (SceneOutline(request.title, request.logline),)
        scenes, owed = [], 0
        for i, (outline, quota) in enumerate(
            zip(outlines, scene_quotas(request.words, len(outlines)), strict=False)
        ):
            entries = fill_scene(request, outline, quota + owed, used, offset=3 * i)
            owed = quota + owed - sum(word_count(e.text) for e in entries)
            if entries:
                scenes.append(ScriptScene(outline.title, tuple(entries)))
        return Screenplay(tuple(scenes))


def _lead(digests: Sequence[Digest]) -> str:
    people = [p for d in digests for p in d.people]
    return people[0] if people else ""


def _sentence(lead: str, text: str) -> str:
    text = clip(text, 180).rstrip(".!?…")
    return f"{lead}: {text[:1].lower()}{text[1:]}."


def instant_plan(brief: PlanBrief) -> PlanDraft:
    """A plan from the brief and the digests alone: cast, five beats and three scenes."""
    mode, narrated = plan_mode(brief.artifacts)
    people = [p for d in brief.digests for p in d.people]
    cast = cast_for(people, mode, narrated, brief.seed)
    target = {k: " ".join(str(v).split()) for k, v in brief.target.items() if v}
    audience = target.get("audience") or "a general audience"
    objective = target.get("objective") or ""
    outcome = target.get("outcome") or ""
    facts = _material(brief.digests)
    summary = next((d.summary for d in brief.digests if d.summary), "")
    subject = clip(summary or objective or brief.creative_brief or brief.title or "the story", 160)
    lead = _lead(brief.digests)
    title = " ".join(brief.title.split()) or clip(objective or (facts or [subject])[0], 60)
    beats = [
        f"Open on the hook: {clip(facts[0] if facts else subject, 150)}",
        f"Meet {lead or 'the people at the centre'} and what is at stake.",
        f"The complication: {clip(facts[1] if len(facts) > 1 else subject, 150)}",
        f"The turn: {clip(facts[2] if len(facts) > 2 else objective or subject, 150)}",
        f"Land the point for {audience}: {clip(outcome or objective or subject, 150)}",
    ]
    names = tuple(c.name for c in cast)
    closing = outcome or objective or subject
    speakers = tuple(c.name for c in cast if c.role != "narrator")
    scenes = (
        SceneOutline("Cold open", clip(facts[0] if facts else subject, 200), names),
        SceneOutline("The heart of it", clip(" ".join(facts[1:3]) or subject, 240), speakers),
        SceneOutline("What it means", _sentence(f"What it means for {audience}", closing), names),
    )
    promise = f"What {audience} will take away: {outcome or objective or subject}"
    return PlanDraft(
        title=title,
        logline=clip(f"For {audience}: {subject}", 240),
        audience_promise=clip(promise, 240),
        beats=tuple(beats),
        cast=cast,
        scenes=scenes,
    )
