"""What the in-place edits of a table read share (voice effects, music, sound cues): the READY
artifact and its live content, one state change with its remix, and how far the live read has
caught up with each edited item.

Every item the state holds is stamped with the state version that last changed it. It is heard
once the live read is of that version or a later one *and* the remix that made the live read
lists it (its result's ``effects`` / ``music.clips`` / ``sfx``); until then its progress is the
remix's (``queued``, ``rendering``, ``failed``). A remix that caught up without listing it could
not render it: ``failed``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any

from adapters.sleeperhit.errors import invalid
from adapters.sleeperhit.live import live_content, remix_version, remixes_of
from adapters.sleeperhit.production import Production
from adapters.sleeperhit.remixing import queue_remix
from adapters.sleeperhit.video import ready_artifact
from gateway.core.jobs import JobInfo, JobStatus
from gateway.core.story_plans import ArtifactRecord

__all__ = ["Editor", "new_id", "progress", "rendered"]

# The remix result's keys the edits read.
_RESULT_KEYS = ("effects", "music", "sfx")


def new_id(prefix: str) -> str:
    """An item id as the state schema spells it: ``<prefix>_<24 hex>``."""
    return f"{prefix}_{secrets.token_hex(12)}"


def live_version(live: Mapping[str, Any]) -> int:
    return int((live.get("remix") or {}).get("liveStateVersion") or 0)


def progress(version: int, live: Mapping[str, Any], listed: Any) -> str:
    """``ready`` / ``failed`` / ``queued`` / ``rendering`` for an item of ``version``;
    ``listed`` is what the live remix result holds for it (``None``: nothing)."""
    if version <= live_version(live):
        if listed is None:
            return "failed"
        status = listed.get("status", "ready") if isinstance(listed, Mapping) else "ready"
        return "failed" if status == "failed" else "ready"
    status = str((live.get("remix") or {}).get("status") or "queued")
    return status if status in ("queued", "rendering", "failed") else "queued"


async def rendered(
    runtime: Any, account_id: str, record: ArtifactRecord, live: Mapping[str, Any]
) -> dict[str, Any]:
    """The rendered edits of the live read: ``{effects, music, sfx}`` of the remix it is."""
    if any(isinstance(live.get(k), Mapping) for k in _RESULT_KEYS):
        # The live content already carries them (the overlay copied the remix's result).
        return {k: live.get(k) or {} for k in _RESULT_KEYS}
    version = live_version(live)
    if version == 0:
        return {}
    made = [
        j
        for j in await remixes_of(runtime, account_id, record)
        if j.status == JobStatus.SUCCEEDED and j.result and remix_version(j) == version
    ]
    if not made:
        return {}
    result = made[-1].result or {}
    return {k: result.get(k) or {} for k in _RESULT_KEYS}


def entry_indexes(live: Mapping[str, Any]) -> list[int]:
    """The script's entry indexes, in reading order."""
    found = {
        int(e["entryIndex"])
        for s in live.get("scenes") or ()
        for e in s.get("entries") or ()
        if isinstance(e, Mapping) and isinstance(e.get("entryIndex"), int)
    }
    return sorted(found)


def check_entry(live: Mapping[str, Any], index: int, field: str) -> None:
    known = entry_indexes(live)
    if index not in known:
        span = f"{known[0]} to {known[-1]}" if known else "none"
        raise invalid(
            f"{field} {index} is not a line of the script (entry indexes: {span})",
            field=field,
        )


class Editor:
    """One caller's edits of one kind; ``ready`` and ``apply`` as every edit runs them."""

    def __init__(self, production: Production, base_url: str = "") -> None:
        self.production = production
        self.base = base_url.rstrip("/")
        self.rt = production.rt
        self.account = production.account

    async def ready(self, artifact_id: str) -> tuple[ArtifactRecord, JobInfo, dict[str, Any]]:
        """The READY artifact (``artifact_not_found`` / ``_not_ready`` otherwise), its story
        job and its live content."""
        record, job = await ready_artifact(self.production, artifact_id)
        return record, job, await live_content(self.rt, self.account, record, job)

    async def apply(
        self,
        record: ArtifactRecord,
        job: JobInfo,
        change: Callable[[dict[str, Any], int], dict[str, Any]],
    ) -> tuple[ArtifactRecord, dict[str, Any]]:
        """One state change and its remix; the fresh record and its live content."""
        await queue_remix(self.rt, self.account, record, job, change)
        fresh = await self.rt.story_artifacts.get(record.id, self.account)
        return fresh, await live_content(self.rt, self.account, fresh, job)

    async def rendered(self, record: ArtifactRecord, live: Mapping[str, Any]) -> dict[str, Any]:
        return await rendered(self.rt, self.account, record, live)
