"""One change to a table read's live state, and the one ``sleeperhit.remix`` job it queues.

Every in-place edit (recast, voice effects, music, sound cues) is a compare-and-set change of
the artifact's state (gateway/core/story_plans.py) that stamps what it touched with the state
version it makes, followed by one remix of that version, made over the artifact's current
revision (:func:`adapters.sleeperhit.live.base_of`). The remix id is derived from the artifact
and the version, unguessable, so a retried edit collides on it instead of queueing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapters.sleeperhit.auth import FAMILY
from adapters.sleeperhit.live import REMIX_KIND, base_of
from gateway.core.jobs import JobInfo
from gateway.core.story_plans import ArtifactRecord

__all__ = ["queue_remix"]


async def queue_remix(
    runtime: Any,
    account_id: str,
    record: ArtifactRecord,
    job: JobInfo,
    change: Callable[[dict[str, Any], int], dict[str, Any]],
) -> tuple[dict[str, Any], int]:
    """Apply ``change(state, version)`` and queue the remix of the new version; answers the new
    (state, version). ``job`` is the artifact's story job."""
    state, version = await runtime.story_artifacts.edit_versioned(record.id, account_id, change)
    revision, base = await base_of(runtime, account_id, record, job)
    remix_id = runtime.storage.sign_until(account_id, f"remix/{record.id}/{version}", 0)
    params = {
        "artifact_id": record.id,
        "story_job_id": job.id,
        # The job whose result holds the revision this remix is made over.
        "base_job_id": base.id,
        "revision": revision,
        "state": state,
        "state_version": version,
        # The read's own seed: lines nobody changed sound exactly as before.
        "seed": int(job.params.get("seed") or 0),
    }
    await runtime.admission.admit(
        account_id, FAMILY, REMIX_KIND, params, subject_id=record.id, job_id=remix_id[:40]
    )
    return state, version
