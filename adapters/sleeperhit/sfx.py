"""Timed sound cues on a table read: ``POST /artifacts/{id}/sfx`` (``op`` add, update, remove)
and its ``GET``.

A cue is one item of the state's ``sfx`` list (gateway/core/story_plans.py): a sound made from
its ``prompt`` (the offline synthesiser, or ElevenLabs hosted), heard at its line
(``entryIndex``) just before, with or just after the words (``triggerOffset``) at its
``volume``. The remix (workers/pipelines/remix.py) makes each cue's sound and mixes it into the
live read; until the live read has it the cue is a draft (``soundUrl`` null, ``isDraft``
true), then ``soundUrl`` is a share link to the sound alone, signed with the read's share token
(``/share/table-read-sfx/{token}/{cueId}``). Any change to a cue makes it again (so does
``regenerate``). No charge and no new revision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.sleeperhit.edits import Editor, check_entry, new_id, progress
from adapters.sleeperhit.errors import invalid
from contracts.sleeperhit_edits import CUES_MAX

__all__ = ["DEFAULT_OFFSET", "DEFAULT_VOLUME", "Sfx", "cue_sound"]

DEFAULT_VOLUME = 0.6
DEFAULT_OFFSET = "with"
_EDITABLE = ("label", "prompt", "volume", "triggerOffset", "entryIndex")


def cue_sound(done: Mapping[str, Any], cue: Mapping[str, Any], live: Mapping[str, Any]) -> Any:
    """The live read's rendering of ``cue`` (its sound's storage ``path``), or ``None``."""
    listed = done.get(str(cue.get("id")))
    if not isinstance(listed, Mapping) or not listed.get("path"):
        return None
    if progress(int(cue.get("version") or 0), live, listed) != "ready":
        return None
    return listed


def _refuse(body: Any, fields: tuple[str, ...], op: str) -> None:
    for field in fields:
        if getattr(body, field) is not None:
            raise invalid(f"op {op} takes no {field}", field=field)


def _find(cues: list[Any], cue_id: str) -> int:
    for i, cue in enumerate(cues):
        if isinstance(cue, Mapping) and cue.get("id") == cue_id:
            return i
    raise invalid(f"id {cue_id!r} names no sound cue of this artifact", field="id")


class Sfx(Editor):
    def _view(self, record: Any, cue: Mapping[str, Any], live: Any, done: Any) -> dict[str, Any]:
        ready = cue_sound(done, cue, live) is not None
        token = self.production.render.share(record)[0]
        return {
            "id": cue["id"],
            "label": cue["label"],
            "entryIndex": int(cue["entryIndex"]),
            "prompt": cue.get("prompt") or cue["label"],
            "volume": float(cue.get("volume", DEFAULT_VOLUME)),
            "triggerOffset": cue.get("triggerOffset") or DEFAULT_OFFSET,
            "soundUrl": f"{self.base}/share/table-read-sfx/{token}/{cue['id']}" if ready else None,
            "isDraft": not ready,
        }

    async def post(self, artifact_id: str, body: Any) -> dict[str, Any]:
        record, job, live = await self.ready(artifact_id)
        if body.op == "add":
            change, cue_id = self._add(record, live, body)
        elif body.op == "update":
            change, cue_id = self._update(live, body)
        else:
            _refuse(body, (*_EDITABLE, "regenerate"), "remove")
            cue_id = self._id(body, "remove")

            def change(state: dict[str, Any], _version: int) -> dict[str, Any]:
                cues = list(state.get("sfx") or ())
                del cues[_find(cues, cue_id)]
                state["sfx"] = cues
                return state

        fresh, now = await self.apply(record, job, change)
        answer: dict[str, Any] = {"artifactId": record.id, "cue": None, "removedId": None}
        if body.op == "remove":
            answer["removedId"] = cue_id
            return answer
        cues = list((fresh.state or {}).get("sfx") or ())
        done = (await self.rendered(fresh, now)).get("sfx") or {}
        answer["cue"] = self._view(fresh, cues[_find(cues, cue_id)], now, done)
        return answer

    @staticmethod
    def _id(body: Any, op: str) -> str:
        if body.id is None:
            raise invalid(f"op {op} needs the cue's id", field="id")
        return str(body.id)

    def _add(self, record: Any, live: Any, body: Any) -> tuple[Any, str]:
        _refuse(body, ("id", "regenerate"), "add")
        if body.entryIndex is None:
            raise invalid("op add needs entryIndex", field="entryIndex")
        if body.label is None:
            raise invalid("op add needs a label", field="label")
        check_entry(live, body.entryIndex, "entryIndex")
        if len((record.state or {}).get("sfx") or ()) >= CUES_MAX:
            raise invalid(f"a read carries at most {CUES_MAX} sound cues", field="op")
        cue = {
            "id": new_id("sfx"),
            "label": body.label,
            "entryIndex": body.entryIndex,
            "prompt": body.prompt or body.label,
            "volume": DEFAULT_VOLUME if body.volume is None else body.volume,
            "triggerOffset": body.triggerOffset or DEFAULT_OFFSET,
        }

        def change(state: dict[str, Any], version: int) -> dict[str, Any]:
            state["sfx"] = [*(state.get("sfx") or ()), {**cue, "version": version}]
            return state

        return change, cue["id"]

    def _update(self, live: Any, body: Any) -> tuple[Any, str]:
        cue_id = self._id(body, "update")
        edits = {k: getattr(body, k) for k in _EDITABLE if getattr(body, k) is not None}
        if not edits and not body.regenerate:
            raise invalid(
                "op update needs one of label, prompt, volume, triggerOffset, entryIndex "
                "or regenerate: true",
                field="op",
            )
        if "entryIndex" in edits:
            check_entry(live, edits["entryIndex"], "entryIndex")

        def change(state: dict[str, Any], version: int) -> dict[str, Any]:
            cues = list(state.get("sfx") or ())
            at = _find(cues, cue_id)
            cues[at] = {**cues[at], **edits, "version": version}
            state["sfx"] = cues
            return state

        return change, cue_id

    async def read(self, artifact_id: str) -> dict[str, Any]:
        record, _job, live = await self.ready(artifact_id)
        cues = [c for c in (record.state or {}).get("sfx") or () if isinstance(c, Mapping)]
        done = (await self.rendered(record, live)).get("sfx") or {}
        ordered = sorted(cues, key=lambda c: int(c.get("entryIndex") or 0))
        return {
            "sfx": {
                "artifactId": record.id,
                "cues": [self._view(record, c, live, done) for c in ordered],
            }
        }
