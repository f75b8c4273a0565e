"""Sound the live read already made, kept in storage so a change re-renders only what changed.

A recast re-voices one character's lines and a refine only the lines it rewrote; every other
line, scene bed and sound cue is read back from here, keyed by a digest of everything that
decides how it sounds (text, voice, seed, effect chain, the model that spoke or played it).
Entries live in the story job's folder (``jobs/{story job}/cache/``), so they go when the job's
files go. The cache is only ever a shortcut: an entry that is missing, unreadable or of another
shape is made again, and a failure to store one is not a failure of the render.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.core import layout
from gateway.core.errors import NotFound
from workers.backends.audio import pcm_to_wav, wav_to_pcm
from workers.backends.base import Pcm
from workers.tasks import TaskContext

__all__ = ["FORMAT", "SoundCache", "cache_key", "model_identity"]

log = logging.getLogger(__name__)

# Bumped whenever voicing, effects or preparation change how the same inputs sound, so entries
# made by an older worker are never mixed into a newer read.
FORMAT = 1


def cache_key(*parts: Any) -> str:
    """A sha256 over the JSON of ``parts`` (with :data:`FORMAT`): one name per sound."""
    blob = json.dumps([FORMAT, *parts], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def model_identity(backend: Any) -> str:
    """Which model a backend speaks or plays with (its name and model label), as far as it says;
    two backends that would sound different never share an identity."""
    name = str(getattr(backend, "name", type(backend).__name__))
    if callable(getattr(backend, "capability", None)):
        capability = backend.capability()
        return f"{name}:{capability.backend}:{capability.model}"
    if callable(getattr(backend, "capabilities", None)):
        models = sorted(f"{c.kind}:{c.model}" for c in backend.capabilities())
        return f"{name}:{','.join(models)}"
    return name


class SoundCache:
    """Get-or-make for PCM stored as WAV under one story job's folder, for one account."""

    def __init__(self, ctx: TaskContext, cache_job_id: str) -> None:
        self._storage = ctx.services.storage
        self._account = ctx.job.account_id
        self._job_id = cache_job_id
        self.hits = 0
        self.misses = 0

    def path(self, kind: str, key: str) -> str:
        return layout.job_file(self._job_id, f"cache/{kind}/{key}.wav")

    async def load(self, kind: str, key: str) -> Pcm | None:
        try:
            _info, data = await self._storage.get(self._account, self.path(kind, key))
            pcm = wav_to_pcm(data)
        except NotFound:
            return None
        except Exception as exc:  # a damaged entry is made again, never trusted
            log.warning("unreadable %s cache entry %s: %s", kind, key, exc)
            return None
        return pcm if pcm.frames else None

    async def store(self, kind: str, key: str, pcm: Pcm) -> None:
        try:
            await self._storage.put(
                self._account,
                self.path(kind, key),
                pcm_to_wav(pcm),
                "audio/wav",
                job_id=self._job_id,
            )
        except Exception as exc:  # the render goes on; the next one makes it again
            log.warning("could not cache %s %s: %s", kind, key, exc)

    async def get_or_make(self, kind: str, key: str, make: Callable[[], Awaitable[Pcm]]) -> Pcm:
        found = await self.load(kind, key)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        pcm = await make()
        if pcm.frames:
            await self.store(kind, key, pcm)
        return pcm
