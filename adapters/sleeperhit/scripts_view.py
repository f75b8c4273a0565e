"""Read-only views of what a table read is made of: the voice catalogue this server can speak,
an artifact's cast, and its script (whole, or one character's lines).

Real clients of the hosted API read the cast before a recast and pull one character's lines to
send to an actor, so these answer from the artifact's own content (the story job's result),
never from the plan: the cast and lines are the ones the read was voiced with. The catalogue is
built from whatever backends the runtime holds (duck-typed: adapters never import workers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters.sleeperhit.errors import ShError, invalid
from adapters.sleeperhit.job_views import artifact_status
from adapters.sleeperhit.live import live_content
from adapters.sleeperhit.production import Production

LOCAL_PROVIDER = "storygate-local"
HOSTED_SPEECH = "elevenlabs"
SCOPES = ("all", "character")
SELECTION_MAX = 500
GENDERS = ("feminine", "masculine", "neutral")


# -- the voice catalogue -----------------------------------------------------------------------


def _gender(voice: Any) -> str:
    found = getattr(voice, "gender", None)
    return found if found in GENDERS else "neutral"


def catalogue(backends: Any) -> list[dict[str, Any]]:
    """Every voice id a table read can be cast with: the local voices (transformations of the
    installed narrator, each distinguishable by ear) and, when speech is hosted on ElevenLabs,
    the one ElevenLabs voice the server is configured with."""
    voices = [
        {
            "id": v.id,
            "name": v.name,
            "gender": _gender(v),
            "provider": LOCAL_PROVIDER,
            "local": True,
            "description": v.description,
        }
        for v in backends.voices()
    ]
    narrator = backends.narrator
    spoken = narrator.capability()
    configured = getattr(narrator, "voice", None)
    if spoken.backend == HOSTED_SPEECH and spoken.available and isinstance(configured, str):
        voices.append(
            {
                "id": configured,
                "name": f"ElevenLabs voice {configured}",
                "gender": "neutral",
                "provider": HOSTED_SPEECH,
                "local": False,
                "description": f"the configured hosted voice ({spoken.model})",
            }
        )
    return voices


# -- the query of GET /script ------------------------------------------------------------------


def selection_query(
    scope: str | None, character: str | None, limit: str | None
) -> tuple[str, str | None, int | None]:
    """``(scope, character, limit)`` checked: ``scope`` defaults to ``character`` when a
    character is named and to ``all`` otherwise; ``limit`` is 1 to 500 (none: every line)."""
    picked = (scope or ("character" if character else "all")).strip().lower()
    if picked not in SCOPES:
        raise invalid(f"scope must be one of {', '.join(SCOPES)}", field="scope")
    name = (character or "").strip()
    if picked == "character" and not name:
        raise invalid("character is required when scope is character", field="character")
    count: int | None = None
    if limit is not None:
        text = limit.strip()
        if not text.isdigit() or not 1 <= int(text) <= SELECTION_MAX:
            raise invalid(f"limit must be an integer between 1 and {SELECTION_MAX}", field="limit")
        count = int(text)
    return picked, (name if picked == "character" else None), count


# -- shaping content ---------------------------------------------------------------------------


def _line(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "entryIndex": entry.get("entryIndex"),
        "character": entry.get("character"),
        "text": entry.get("text"),
        "startMs": entry.get("startMs"),
        "endMs": entry.get("endMs"),
    }


def script_of(content: Mapping[str, Any]) -> dict[str, Any]:
    """The screenplay by scene and as one list in reading order (``entryIndex`` order)."""
    scenes = [s for s in content.get("scenes") or () if isinstance(s, Mapping)]
    entries = [
        {**_line(e), "sceneIndex": s.get("index")}
        for s in scenes
        for e in s.get("entries") or ()
        if isinstance(e, Mapping)
    ]
    entries.sort(key=lambda e: e["entryIndex"])
    return {
        "scenes": [
            {
                "index": s.get("index"),
                "title": s.get("title"),
                "entries": [_line(e) for e in s.get("entries") or () if isinstance(e, Mapping)],
            }
            for s in scenes
        ],
        "entries": entries,
    }


def selection_of(entries: Sequence[Mapping[str, Any]], character: str, limit: int | None) -> Any:
    """One character's lines, matched without regard to case (the script's spelling wins)."""
    wanted = character.casefold()
    mine = [e for e in entries if str(e.get("character") or "").strip().casefold() == wanted]
    return {
        "character": str(mine[0]["character"]) if mine else character,
        "total": len(mine),
        "entries": [
            {"entryIndex": e["entryIndex"], "character": e["character"], "text": e["text"]}
            for e in (mine[:limit] if limit is not None else mine)
        ],
    }


def cast_of(content: Mapping[str, Any], voices: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The artifact's cast as ``{character, voiceId, voiceName, gender, provider}``; a voice's
    own ``gender``/``provider`` (as a recast recorded them) win over the catalogue's."""
    known = {v["id"]: v for v in voices}
    cast = []
    for member in content.get("cast") or ():
        voice = member.get("voice") if isinstance(member, Mapping) else None
        if not isinstance(voice, Mapping) or not voice.get("voiceId"):
            continue
        listed = known.get(voice["voiceId"]) or {}
        cast.append(
            {
                "character": member.get("name"),
                "voiceId": voice["voiceId"],
                "voiceName": voice.get("voiceName") or listed.get("name") or voice["voiceId"],
                "gender": voice.get("gender") or listed.get("gender"),
                "provider": voice.get("provider") or listed.get("provider"),
            }
        )
    return cast


# -- the service -------------------------------------------------------------------------------


class ScriptView:
    """The read-only artifact views of one request."""

    def __init__(self, production: Production) -> None:
        self.production = production
        self.rt = production.rt

    async def _content(self, artifact_id: str) -> dict[str, Any]:
        """The READY artifact's content (another account's or an unknown id: not found)."""
        record, job = await self.production._artifact(artifact_id)
        status = artifact_status(job, record.id)
        if status != "READY":
            raise ShError(
                "artifact_not_ready",
                f"The artifact is {status}; poll until READY",
                details={"status": status},
            )
        return await live_content(self.rt, self.production.account, record, job)

    def voices(self) -> dict[str, Any]:
        return {"voices": catalogue(self.rt.backends)}

    async def cast(self, artifact_id: str) -> dict[str, Any]:
        content = await self._content(artifact_id)
        return {"cast": cast_of(content, catalogue(self.rt.backends))}

    async def script(
        self,
        artifact_id: str,
        scope: str | None = None,
        character: str | None = None,
        limit: str | None = None,
    ) -> dict[str, Any]:
        picked, name, count = selection_query(scope, character, limit)
        whole = script_of(await self._content(artifact_id))
        if picked == "character" and name is not None:
            return {"script": {"selection": selection_of(whole["entries"], name, count)}}
        return {"script": whole}
