"""Recasting a table read in place: ``POST /artifacts/{id}/voice`` (one character) and
``POST /artifacts/{id}/cast`` (several at once).

No new revision and no charge: the voices go into the artifact's state (one compare-and-set
change per call, gateway/core/story_plans.py) and one ``sleeperhit.remix`` job voices the read
again (workers/pipelines/remix.py). ``manifest.audio.voiceMap`` and ``GET /cast`` show the new
voices at once; the live read (``liveUrl``, the theater page, finalize) follows when the remix
is done (``manifest.audio.remix``). A character must be one of the script's (any case; the
script's spelling is kept), a voice one of ``GET /voices``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters.sleeperhit.errors import invalid
from adapters.sleeperhit.live import live_content
from adapters.sleeperhit.production import Production
from adapters.sleeperhit.remixing import queue_remix
from adapters.sleeperhit.scripts_view import catalogue
from adapters.sleeperhit.video import ready_artifact
from gateway.core.jobs import JobInfo
from gateway.core.story_plans import ArtifactRecord

__all__ = ["Recaster"]


def _characters(content: Mapping[str, Any]) -> dict[str, str]:
    """The script's characters (its cast and every speaker), by case-folded name."""
    names = [str(c.get("name")) for c in content.get("cast") or () if c.get("name")]
    names += [
        str(e.get("character"))
        for s in content.get("scenes") or ()
        for e in s.get("entries") or ()
        if e.get("character")
    ]
    return {n.strip().casefold(): n for n in reversed(names)}


def voice_map(content: Mapping[str, Any]) -> dict[str, Any]:
    return {
        c["name"]: {"voiceId": c["voice"]["voiceId"], "voiceName": c["voice"]["voiceName"]}
        for c in content.get("cast") or ()
        if c.get("voice")
    }


class Recaster:
    def __init__(self, production: Production) -> None:
        self.production = production
        self.rt = production.rt
        self.account = production.account

    def _checked(
        self, entries: Sequence[Any], content: Mapping[str, Any], prefix: str
    ) -> dict[str, dict[str, Any]]:
        """Each entry as the state's ``voices`` value, under the script's spelling."""
        known = _characters(content)
        voices = {v["id"]: v for v in catalogue(self.rt.backends)}
        out: dict[str, dict[str, Any]] = {}
        for i, entry in enumerate(entries):
            at = f"{prefix}{i}]." if prefix else ""
            name = known.get(entry.character.strip().casefold())
            if name is None:
                raise invalid(
                    f"character {entry.character!r} is not in the script's cast",
                    field=f"{at}character",
                    characters=sorted(set(known.values())),
                )
            listed = voices.get(entry.voiceId)
            if listed is None:
                raise invalid(
                    f"voiceId {entry.voiceId!r} is not a voice this server speaks "
                    "(see GET /api/v1/voices)",
                    field=f"{at}voiceId",
                )
            out[name] = {
                "voiceId": entry.voiceId,
                "voiceName": entry.voiceName,
                "gender": entry.gender or listed.get("gender"),
                "provider": entry.provider or listed.get("provider"),
            }
        return out

    async def _apply(
        self, record: ArtifactRecord, job: JobInfo, chosen: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        def change(state: dict[str, Any], _version: int) -> dict[str, Any]:
            state["voices"] = {**(state.get("voices") or {}), **chosen}
            return state

        await queue_remix(self.rt, self.account, record, job, change)
        fresh = await self.rt.story_artifacts.get(record.id, self.account)
        return await live_content(self.rt, self.account, fresh, job)

    async def _ready(self, artifact_id: str) -> tuple[ArtifactRecord, JobInfo, dict[str, Any]]:
        record, job = await ready_artifact(self.production, artifact_id)
        return record, job, await live_content(self.rt, self.account, record, job)

    async def voice(self, artifact_id: str, body: Any) -> dict[str, Any]:
        record, job, content = await self._ready(artifact_id)
        chosen = self._checked([body], content, "")
        live = await self._apply(record, job, chosen)
        return {
            "artifactId": record.id,
            "character": next(iter(chosen)),
            "voiceMap": voice_map(live),
        }

    async def cast(self, artifact_id: str, body: Any) -> dict[str, Any]:
        record, job, content = await self._ready(artifact_id)
        chosen = self._checked(body.entries, content, "entries[")
        live = await self._apply(record, job, chosen)
        return {"voiceMap": voice_map(live)}
