"""SleeperHit's discovery documents, built from what this server really runs.

Pure builders: the capabilities manifest (from the backends' ``Any`` list, so a missing
text or speech model shows as an unavailable table read), the recipe catalogue of ``/examples``
(curl and Node snippets for every live flow, on this server's base URL) and the two llms.txt
documents, whose operation list is read from the OpenAPI document so it can never drift from
the routes. Nothing here claims an output or a document this server does not serve.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, get_args

from msgspec.structs import fields

from adapters.sleeperhit.prices import ARTIFACT_PRICES, FINALIZE_AUDIO
from contracts import sleeperhit as wire
from contracts.sleeperhit_views import Digest
from gateway.core.keys import SCOPES

__all__ = ["API", "capabilities"]

API = "/api/v1"
PLANNED = ("pitch_deck", "storyboard", "trailer", "production_video")
# What the reference's manifest lists that this server does not serve.
UNSERVED_DOCS = ("docsSite", "agentIndex", "searchIndex", "cliCommands", "mcpTools", "sitemap")
# Artifact operations served here (the reference's, and those its clients call).
SERVED_OPERATIONS = (
    "finalize",
    "render-video",
    "refine",
    "coverage",
    "script",
    "cast",
    "voice",
    "voice-modification",
    "music",
    "sfx",
    "resume",
)


def _cap(c: Any) -> dict[str, Any]:
    return {
        "kind": c.kind,
        "backend": c.backend,
        "model": c.model,
        "available": c.available,
        "note": c.note,
    }


def _operations(available: bool, sounds: Sequence[Any]) -> dict[str, str]:
    """Each artifact operation's availability: music and sound cues also need the sound
    backend's ``music`` / ``sfx`` capability (a hosted set without an ElevenLabs key lacks it)."""
    made = {c.kind for c in sounds if c.available}
    found = {name: "available" if available else "unavailable" for name in SERVED_OPERATIONS}
    for name, kind in (("music", "music"), ("sfx", "sfx")):
        if kind not in made:
            found[name] = "unavailable"
    return found


def _table_read(
    text: list[Any], speech: list[Any], voices: Sequence[Any], sounds: Sequence[Any] = ()
) -> dict[str, Any]:
    # The first text capability is the script writer's (the caller puts it first).
    text_ok = bool(text) and text[0].available
    speech_ok = any(c.available for c in speech)
    available = text_ok and speech_ok
    missing = [kind for kind, ok in (("text", text_ok), ("speech", speech_ok)) if not ok]
    spoken = next((c for c in speech if c.available), speech[0] if speech else None)
    voice_of = f"{spoken.backend}/{spoken.model}" if spoken else "none installed"
    found: dict[str, Any] = {
        "availability": "available" if available else "unavailable",
        "outputs": ["theater_url", "theater_fullscreen_url", "live_audio", "video"],
        "outputAvailability": {
            "theater_url": "available" if available else "unavailable",
            "theater_fullscreen_url": "available" if available else "unavailable",
            "live_audio": "available" if available else "unavailable",
            "video": "available" if available else "unavailable",
        },
        "modes": list(get_args(wire.TableReadMode)),
        "narrationPolicies": list(get_args(wire.NarrationPolicy)),
        "finalize": {
            "audio": {"availability": "available" if available else "unavailable"},
            "video": {"availability": "available" if available else "unavailable"},
        },
        "operations": _operations(available, sounds),
        "voices": {
            "note": "Distinct voices made by pitch and pace transformation of the one "
            f"installed speech voice ({voice_of}); the narrator keeps it untouched.",
            "speechModel": voice_of,
            "voices": [
                {
                    "voiceId": v.id,
                    "voiceName": v.name,
                    "description": v.description,
                    "role": "narrator" if i == 0 else "character",
                    "pitch": v.pitch,
                    "pace": v.pace,
                }
                for i, v in enumerate(voices)
            ],
        },
    }
    if missing:
        found["note"] = f"No available {' or '.join(missing)} model on this server"
    return found


def capabilities(
    caps: Sequence[Any],
    *,
    base: str,
    voices: Sequence[Any] = (),
    fetch_max_bytes: int | None = None,
) -> dict[str, Any]:
    """The ``GET /capabilities`` manifest in the reference's shape, plus ``backends`` (the text
    and speech models, the script writer's first) so a client can see a missing model."""
    text = [c for c in caps if c.kind == "text"]
    speech = [c for c in caps if c.kind == "speech"]
    size = f"; at most {fetch_max_bytes} bytes" if fetch_max_bytes else ""
    fetched = (
        "Fetched asynchronously (poll the source): http/https only, every hop's address vetted "
        f"(no private, loopback or link-local targets), at most 5 redirects{size}"
    )
    docs: dict[str, Any] = {
        "openapi": {"url": f"{API}/openapi.json", "availability": "available"},
        "examples": {"url": f"{API}/examples", "availability": "available"},
        "llms": {"url": "/llms.txt", "availability": "available"},
        "llmsFull": {"url": "/llms-full.txt", "availability": "available"},
    }
    for name in (*UNSERVED_DOCS, "robots"):
        docs[name] = {"url": None, "availability": "unavailable", "note": "not served here"}
    sounds = [c for c in caps if c.kind in ("music", "sfx")]
    artifacts: dict[str, Any] = {"table_read": _table_read(text, speech, voices, sounds)}
    artifacts.update({name: {"availability": "planned"} for name in PLANNED})
    return {
        "version": "v1",
        "status": "foundation",
        "baseUrl": f"{base.rstrip('/')}{API}",
        "auth": {
            "schemes": ["bearer_api_key"],
            "scopes": list(SCOPES["sleeperhit"]),
            "supportsIdempotency": True,
        },
        "projects": {
            "available": True,
            "crudScopes": {"read": "story:read", "write": "story:write"},
        },
        "sources": {
            "types": [
                {"type": "text", "availability": "available", "maxInlineBytes": 1_000_000},
                {"type": "markdown", "availability": "available", "maxInlineBytes": 1_000_000},
                {"type": "url", "availability": "available", "note": f"HTML or text. {fetched}"},
                {"type": "pdf", "availability": "available", "note": f"application/pdf. {fetched}"},
            ],
            "retentionPolicies": list(get_args(wire.RetentionPolicy)),
            "digest": {
                "availability": "available" if text and text[0].available else "unavailable",
                "statuses": list(get_args(wire.DigestStatus)),
                "fields": [f.encode_name for f in fields(Digest)],
            },
        },
        "plans": {"available": True, "statuses": list(get_args(wire.PlanStatus))},
        "artifacts": artifacts,
        "jobs": {
            "available": True,
            "statuses": list(get_args(wire.JobStatus)),
            "artifactStatuses": list(get_args(wire.ArtifactStatus)),
        },
        "pricing": {
            "currency": "studio_credits",
            "artifacts": dict(ARTIFACT_PRICES),
            "finalizeAudio": FINALIZE_AUDIO,
        },
        "docs": docs,
        "backends": {"text": [_cap(c) for c in text], "speech": [_cap(c) for c in speech]},
    }
