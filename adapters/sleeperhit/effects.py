"""Voice effects on a range of a table read's lines: ``POST /artifacts/{id}/voice-modification``
and its ``GET``.

An effect is one item of the state's ``effects`` list (gateway/core/story_plans.py), applied
by the remix (workers/pipelines/remix.py) to every line from ``startEntryIndex`` to
``endEntryIndex`` in list order, so a later effect stacks on an earlier one. The request's
``params`` are checked here against ``contracts.sleeperhit_edits.EFFECT_PARAMS`` and stored with
every default filled in, so what ``GET`` shows is exactly what the worker applies. No charge and
no new revision; ``status`` is ``processing`` until the live read has the effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.sleeperhit.edits import Editor, check_entry, new_id, progress
from adapters.sleeperhit.errors import invalid
from adapters.sleeperhit.views import iso
from contracts.sleeperhit_edits import EFFECT_CHOICES, EFFECT_PARAMS, EFFECTS_MAX

__all__ = ["Effects", "effect_params"]

_STATUS = {"ready": "ready", "failed": "failed", "queued": "processing", "rendering": "processing"}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def effect_params(effect: str, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """``given`` checked for ``effect``, every default filled in (``validation_failed`` naming
    ``params.<name>`` for an unknown name or a value out of its range)."""
    numbers = EFFECT_PARAMS.get(effect, {})
    choices = EFFECT_CHOICES.get(effect, {})
    out: dict[str, Any] = {name: default for name, (_, default) in choices.items()}
    out |= {name: default for name, (_, _, default) in numbers.items()}
    for name, value in (given or {}).items():
        field = f"params.{name}"
        if name in numbers:
            least, most, _ = numbers[name]
            if not _number(value) or not least <= value <= most:
                raise invalid(
                    f"{field} must be a number from {least:g} to {most:g} for {effect}",
                    field=field,
                    minimum=least,
                    maximum=most,
                )
            out[name] = value
        elif name in choices:
            allowed, _ = choices[name]
            if value not in allowed:
                raise invalid(
                    f"{field} must be one of {', '.join(allowed)}", field=field, allowed=allowed
                )
            out[name] = value
        else:
            known = sorted({*numbers, *choices})
            raise invalid(
                f"{effect} takes no param {name!r} (it takes: {', '.join(known) or 'none'})",
                field=field,
                allowed=known,
            )
    return out


class Effects(Editor):
    async def add(self, artifact_id: str, body: Any) -> dict[str, Any]:
        record, job, live = await self.ready(artifact_id)
        check_entry(live, body.startEntryIndex, "startEntryIndex")
        check_entry(live, body.endEntryIndex, "endEntryIndex")
        if body.startEntryIndex > body.endEntryIndex:
            raise invalid("endEntryIndex must not be before startEntryIndex", field="endEntryIndex")
        params = effect_params(body.effect, body.params)
        if len((record.state or {}).get("effects") or ()) >= EFFECTS_MAX:
            raise invalid(f"a read carries at most {EFFECTS_MAX} voice effects", field="effect")
        item = {
            "id": new_id("mod"),
            "startEntryIndex": body.startEntryIndex,
            "endEntryIndex": body.endEntryIndex,
            "effect": body.effect,
            "params": params,
            "createdAt": iso(datetime.now(UTC)),
        }

        def change(state: dict[str, Any], version: int) -> dict[str, Any]:
            state["effects"] = [*(state.get("effects") or ()), {**item, "version": version}]
            return state

        await self.apply(record, job, change)
        return {"modificationId": item["id"], "status": "processing"}

    async def read(self, artifact_id: str, modification_id: str | None) -> dict[str, Any]:
        record, _job, live = await self.ready(artifact_id)
        items = [e for e in (record.state or {}).get("effects") or () if isinstance(e, Mapping)]
        if modification_id is not None:
            items = [e for e in items if e.get("id") == modification_id]
            if not items:
                raise invalid(
                    "modificationId names no voice effect of this artifact",
                    field="modificationId",
                )
        done = (await self.rendered(record, live)).get("effects") or {}

        def status(e: Mapping[str, Any]) -> str:
            return _STATUS[progress(int(e.get("version") or 0), live, done.get(e["id"]))]

        return {
            "artifactId": record.id,
            "modifications": [
                {
                    "modificationId": e["id"],
                    "startEntryIndex": e["startEntryIndex"],
                    "endEntryIndex": e["endEntryIndex"],
                    "effect": e["effect"],
                    "params": effect_params(e["effect"], e.get("params")),
                    "status": status(e),
                    "createdAt": e.get("createdAt"),
                }
                for e in items
            ],
        }
