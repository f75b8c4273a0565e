"""Script coverage on a chat model, held to a grammar and repaired from the script's measures.

The grammar fixes the shape (each score an integer ``enum`` 1..10, the verdict one of three
words) but not the judgement: a 135M model rates everything 10, invents people and forgets the
focus prompt. So every field is checked: prose must be sayable and name no one the script does
not; a score more than :data:`SCORE_SLACK` from what the instant reader measures is a guess and
gives way to the measure; the verdict must fit the scores; and the focus notes must name every
key term of the focus prompt (led by the prompt itself where the model's notes skip one). What
fails is filled from the instant report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from workers.backends.instant.coverage import (
    focus_lead,
    focus_terms,
    instant_coverage,
    missing_terms,
    verdict_of,
)
from workers.backends.instant.script import clip
from workers.backends.local.chat import ChatWriter
from workers.backends.local.prompts import Messages, schema_text
from workers.backends.local.script_repair import (
    clean,
    invents,
    lexicon,
    similar,
    strings,
    usable,
    whole,
)
from workers.backends.scripts import (
    SCORE_KEYS,
    VERDICTS,
    CoverageReport,
    CoverageRequest,
)

__all__ = ["SCORE_SLACK", "chat_coverage", "coverage_schema", "repair_coverage"]

SCRIPT_CHARS = 2000  # of the script in the prompt: room in a 2048-token context for the answer
SCORE_SLACK = 3  # points a model's score may stray from the measured one
MAX_ITEMS = 4  # strengths or weaknesses kept (as many as the instant report gives)
_ORDER = {v: i for i, v in enumerate(VERDICTS)}


def _text(max_length: int, min_length: int = 1) -> dict[str, Any]:
    return {"type": "string", "minLength": min_length, "maxLength": max_length}


def coverage_schema() -> dict[str, Any]:
    """Scores as integer enums and the verdict as an enum: the grammar cannot leave them."""
    score = {"type": "integer", "enum": list(range(1, 11))}
    items = {"type": "array", "items": _text(120, 10), "minItems": 1, "maxItems": 2}
    properties: dict[str, Any] = {
        "logline": _text(180, 10),
        "synopsis": _text(300, 20),
        "strengths": items,
        "weaknesses": items,
        "scores": {
            "type": "object",
            "properties": {k: score for k in SCORE_KEYS},
            "required": list(SCORE_KEYS),
        },
        "verdict": {"type": "string", "enum": list(VERDICTS)},
        "focusNotes": _text(300, 20),
    }
    return {"type": "object", "properties": properties, "required": list(properties)}


def _script_text(request: CoverageRequest, limit: int = SCRIPT_CHARS) -> str:
    lines = []
    for k, scene in enumerate(request.scenes):
        lines.append(f"SCENE {k + 1}: {scene.title}")
        lines += [f"{e.character}: {clip(e.text, 200)}" for e in scene.entries]
    text = "\n".join(lines)
    return text if len(text) <= limit else text[:limit].rsplit("\n", 1)[0] + "\n…"


def _ask(request: CoverageRequest) -> str:
    terms = focus_terms(request.focus)
    focus = (
        f"Focus prompt: {clip(request.focus, 300)}\nIn focusNotes answer the focus prompt and "
        f"use these words: {', '.join(terms)}.\n"
        if request.focus.strip()
        else "No focus prompt: make focusNotes the most important note.\n"
    )
    return (
        f'Script coverage of the table read "{clip(request.title, 120)}".\n'
        + (f"Logline: {clip(request.logline, 240)}\n" if request.logline else "")
        + f"Script:\n{_script_text(request)}\n"
        + focus
        + "Give a one-sentence logline, a short synopsis, strengths, weaknesses, scores from "
        "1 to 10 for premise, character, dialogue and structure, and a verdict: recommend, "
        "consider or pass. Answer in JSON."
    )


def _messages(ask: str, schema: Mapping[str, Any] | None, problems: Sequence[str]) -> Messages:
    text = ask
    if schema is not None:
        text += f"\nThe JSON must match this JSON schema: {schema_text(schema)}"
    if problems:
        text += "\nYour previous answer was not usable: " + "; ".join(problems) + "."
    system = "You are a studio script reader writing coverage. You answer with one JSON object."
    return [{"role": "system", "content": system}, {"role": "user", "content": text}]


def _problems(data: dict[str, Any] | None) -> list[str]:
    return [] if data and isinstance(data.get("scores"), Mapping) else ["give the scores"]


def _prose(value: Any, words: int, known: set[str]) -> str:
    text = whole(clean(value)) if isinstance(value, str) else ""
    return text if usable(text, words) and not invents(text, known) else ""


def _score(value: Any, measured: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
        return measured
    return value if abs(value - measured) <= SCORE_SLACK else measured


def _items(value: Any, base: Sequence[str], known: set[str]) -> tuple[str, ...]:
    kept = [s for s in strings(value) if usable(s, 4) and not invents(s, known)]
    kept = [whole(s) for k, s in enumerate(kept) if not any(similar(s, t) for t in kept[:k])]
    kept += [b for b in base if not any(similar(b, t) for t in kept)]
    return tuple(kept[:MAX_ITEMS])


def _notes(value: Any, request: CoverageRequest, base: str, known: set[str]) -> str:
    """The model's notes when they are usable and name every key term; led by the prompt where
    they skip one; the instant notes (which always name them) otherwise."""
    if not request.focus.strip():
        return _prose(value, 8, known) or base
    notes = _prose(value, 8, known | lexicon(request.focus))
    if not notes:
        return base
    terms = focus_terms(request.focus)
    if missing_terms(notes, terms):
        notes = f"{focus_lead(request.focus)} {notes}"
    return notes if not missing_terms(notes, terms) else base


def repair_coverage(data: Mapping[str, Any] | None, request: CoverageRequest) -> CoverageReport:
    """The model's answer, every field that fails its check replaced from the instant report."""
    base = instant_coverage(request)
    data = data or {}
    cast = " ".join(c.name for c in request.cast)
    script = " ".join(f"{s.title} {e.text}" for s in request.scenes for e in s.entries)
    known = lexicon(request.title, request.logline, cast, script)
    raw = data.get("scores")
    given = raw if isinstance(raw, Mapping) else {}
    scores = {k: _score(given.get(k), int(base.scores[k])) for k in SCORE_KEYS}
    derived = verdict_of(scores)
    verdict = data.get("verdict")
    if verdict not in _ORDER or abs(_ORDER[str(verdict)] - _ORDER[derived]) > 1:
        verdict = derived
    return CoverageReport(
        logline=clip(_prose(data.get("logline"), 6, known) or base.logline, 240),
        synopsis=_prose(data.get("synopsis"), 10, known) or base.synopsis,
        strengths=_items(data.get("strengths"), base.strengths, known),
        weaknesses=_items(data.get("weaknesses"), base.weaknesses, known),
        scores=scores,
        verdict=str(verdict),
        focus_notes=_notes(data.get("focusNotes"), request, base.focus_notes, known),
    )


async def chat_coverage(chat: ChatWriter, request: CoverageRequest, seed: int) -> CoverageReport:
    if not request.entries:
        return instant_coverage(request)
    data = await chat.ask_json(
        partial(_messages, _ask(request)),
        coverage_schema(),
        _problems,
        max_tokens=480,
        seed=seed,
    )
    return repair_coverage(data, request)
