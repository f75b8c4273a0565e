"""The contract of a script writer: what SleeperHit's sources, plans and table reads ask of a
text backend.

Books have their own contract (``StoryWriter``); a table read needs different things from the
same model — a digest of a source, a plan built from a brief, a screenplay for a cast — so it is
a second small Protocol that the instant and local writers both meet. Nothing heavy here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from workers.backends.base import Capability

__all__ = [
    "REFINE_SCOPES",
    "SCORE_KEYS",
    "VERDICTS",
    "CastMember",
    "CoverageReport",
    "CoverageRequest",
    "Digest",
    "PlanBrief",
    "PlanDraft",
    "RefineRequest",
    "Refined",
    "SceneOutline",
    "Screenplay",
    "ScreenplayRequest",
    "ScriptEntry",
    "ScriptScene",
    "ScriptWriter",
]


@dataclass(frozen=True, slots=True)
class Digest:
    """What a planner needs to know of a source: the gist, and who and where it names."""

    summary: str
    key_points: tuple[str, ...] = ()
    # Named people and places that occur in the source text (never invented).
    people: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    # Sentences worth quoting, verbatim from the source.
    quotes: tuple[str, ...] = ()

    def wire(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "keyPoints": list(self.key_points),
            "people": list(self.people),
            "places": list(self.places),
            "quotableLines": list(self.quotes),
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Digest:
        return cls(
            summary=str(data.get("summary") or ""),
            key_points=tuple(str(x) for x in data.get("keyPoints") or ()),
            people=tuple(str(x) for x in data.get("people") or ()),
            places=tuple(str(x) for x in data.get("places") or ()),
            quotes=tuple(str(x) for x in data.get("quotableLines") or ()),
        )


@dataclass(frozen=True, slots=True)
class PlanBrief:
    """Everything a client said about the story it wants, and what its sources hold."""

    title: str
    # audience, objective, outcome and the optional tone, industry, distributionContext.
    target: Mapping[str, str]
    # The undocumented free-form direction real clients send (may be empty).
    creative_brief: str
    # styleConstraints as sent (preferredVisualStyle, voicePreference, musicPolicy, ...).
    style: Mapping[str, Any]
    # The artifact requests as sent (type, mode, narrationPolicy, durationSeconds, notes).
    artifacts: tuple[Mapping[str, Any], ...]
    digests: tuple[Digest, ...]
    seed: int = 0


@dataclass(frozen=True, slots=True)
class CastMember:
    # How the character is named in the script, e.g. "MAYA" or "NARRATOR".
    name: str
    # Their part in the piece: "host", "skeptic", "protagonist", "narrator", ...
    role: str
    # One line a casting director would read: "warm, unhurried alto".
    voice: str


@dataclass(frozen=True, slots=True)
class SceneOutline:
    title: str
    summary: str
    characters: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PlanDraft:
    """The writer's half of a plan envelope; the pipeline adds voices and blueprints."""

    title: str
    logline: str
    audience_promise: str
    beats: tuple[str, ...]
    cast: tuple[CastMember, ...]
    scenes: tuple[SceneOutline, ...]


@dataclass(frozen=True, slots=True)
class ScreenplayRequest:
    title: str
    logline: str
    cast: tuple[CastMember, ...]
    scenes: tuple[SceneOutline, ...]
    # documentary | podcast | drama
    mode: str
    # Whether a NARRATOR speaks (the pipeline resolved "auto" already).
    narrated: bool
    # About how many spoken words the whole read should hold.
    words: int
    notes: str = ""
    # Source material the lines may draw on (digests; quotes may be used verbatim).
    digests: tuple[Digest, ...] = ()
    seed: int = 0
    # Entries already written, when the pipeline asks for more to reach the length.
    so_far: tuple[ScriptEntry, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class ScriptEntry:
    # A name from the request's cast (exactly as given there).
    character: str
    text: str


@dataclass(frozen=True, slots=True)
class ScriptScene:
    title: str
    entries: tuple[ScriptEntry, ...]


@dataclass(frozen=True, slots=True)
class Screenplay:
    scenes: tuple[ScriptScene, ...]

    @property
    def entries(self) -> tuple[ScriptEntry, ...]:
        return tuple(e for s in self.scenes for e in s.entries)


# What a coverage report scores, each from 1 to 10, and the verdicts it may reach.
SCORE_KEYS = ("premise", "character", "dialogue", "structure")
VERDICTS = ("recommend", "consider", "pass")


@dataclass(frozen=True, slots=True)
class CoverageRequest:
    """A finished script to assess, and what the client asked the reader to look at."""

    title: str
    logline: str
    cast: tuple[CastMember, ...]
    scenes: tuple[ScriptScene, ...]
    # The client's focus prompt ("Focus on whether the midpoint turn is earned."), may be "".
    focus: str = ""
    seed: int = 0

    @property
    def entries(self) -> tuple[ScriptEntry, ...]:
        return tuple(e for s in self.scenes for e in s.entries)


@dataclass(frozen=True, slots=True)
class CoverageReport:
    """A studio reader's coverage of one script: what it is, how it works, and a verdict."""

    logline: str
    synopsis: str
    strengths: tuple[str, ...]
    weaknesses: tuple[str, ...]
    # One integer from 1 to 10 for each of SCORE_KEYS.
    scores: Mapping[str, int]
    # One of VERDICTS.
    verdict: str
    # The answer to the focus prompt, naming its key terms ("" never: a general note without one).
    focus_notes: str

    def wire(self) -> dict[str, Any]:
        return {
            "logline": self.logline,
            "synopsis": self.synopsis,
            "strengths": list(self.strengths),
            "weaknesses": list(self.weaknesses),
            "scores": {k: int(self.scores[k]) for k in SCORE_KEYS},
            "verdict": self.verdict,
            "focusNotes": self.focus_notes,
        }


# How far a refine may reach: the screenplay alone, or the plan's sources first; "auto" lets
# the writer choose from the instruction.
REFINE_SCOPES = ("auto", "screenplay", "plan")


@dataclass(frozen=True, slots=True)
class RefineRequest:
    """A finished script and a producer's instruction for its next revision."""

    title: str
    logline: str
    # documentary | podcast | drama
    mode: str
    cast: tuple[CastMember, ...]
    scenes: tuple[ScriptScene, ...]
    # Free-form: "rename the host to Dana and drop the narrator; make the skeptic warmer".
    instruction: str
    # One of REFINE_SCOPES.
    scope: str = "auto"
    # The plan's source digests, for a refine that goes back to the sources ("plan").
    digests: tuple[Digest, ...] = ()
    seed: int = 0

    @property
    def entries(self) -> tuple[ScriptEntry, ...]:
        return tuple(e for s in self.scenes for e in s.entries)


@dataclass(frozen=True, slots=True)
class Refined:
    """The next revision of a script. ``renamed`` maps each renamed character's old name to its
    new one, so whoever voices the script keeps that character's voice; ``changed`` holds the
    positions (in reading order of the new script) of the lines whose words changed."""

    cast: tuple[CastMember, ...]
    scenes: tuple[ScriptScene, ...]
    renamed: Mapping[str, str] = field(default_factory=dict)
    dropped: tuple[str, ...] = ()
    changed: tuple[int, ...] = ()
    # What was done, one short sentence each ("Renamed HOST to DANA.").
    notes: tuple[str, ...] = ()
    # The scope the writer worked at ("screenplay" or "plan"; "auto" resolved).
    scope: str = "screenplay"

    @property
    def entries(self) -> tuple[ScriptEntry, ...]:
        return tuple(e for s in self.scenes for e in s.entries)


@runtime_checkable
class ScriptWriter(Protocol):
    name: str

    def capability(self) -> Capability: ...

    async def digest(self, text: str, *, seed: int = 0) -> Digest: ...

    async def plan(self, brief: PlanBrief) -> PlanDraft: ...

    async def screenplay(self, request: ScreenplayRequest) -> Screenplay: ...

    async def coverage(self, request: CoverageRequest) -> CoverageReport: ...

    async def refine(self, request: RefineRequest) -> Refined: ...
