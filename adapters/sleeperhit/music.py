"""Adaptive per-scene music of a table read: ``POST /artifacts/{id}/music`` and its ``GET``.

The music is the state's ``music`` (gateway/core/story_plans.py): one clip (a bed) per scene
that has one, keyed by the scene's 0-based position in the read. A read without it keeps the
default whole-read bed of finalize; with it, the remix (workers/pipelines/remix.py) lays each
enabled clip under its scene at its weight and the finalize lays nothing more. Three shapes of
request, each one state change and one remix:

- ``musicCoveragePercent`` (or no body): new clips for that share of the scenes, always the
  first and the last and the rest spread evenly between (an intro/outro show at low coverage);
- ``regenerateScenes``: exactly those scenes' clips rendered again (defined if missing);
- ``sceneIndex`` with ``prompt`` / ``weight`` / ``enabled`` / ``clip``: one scene tuned, answered
  at once with its ``adaptiveSceneDirection``.

No charge and no new revision; a finalize made before is stale until the next one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.sleeperhit.edits import Editor, progress
from adapters.sleeperhit.errors import invalid
from contracts.sleeperhit_edits import PROMPT_MAX

__all__ = ["DEFAULT_COVERAGE", "DEFAULT_WEIGHT", "Music", "coverage_of", "scenes_for"]

DEFAULT_COVERAGE = 0.35
DEFAULT_WEIGHT = 0.6
_MOODS = {
    "documentary": "warm, curious documentary underscore",
    "podcast": "light, friendly podcast bed",
    "drama": "cinematic drama underscore",
}
_CLIP_STATUS = {"queued": "pending"}


def coverage_of(value: float | None, current: float | None) -> float:
    """The share of scenes asked for: a fraction, or a whole percent above 1, into 0..1."""
    if value is None:
        value = DEFAULT_COVERAGE if current is None else current
    if value > 1:
        value /= 100
    return round(min(1.0, max(0.0, value)), 4)


def scenes_for(share: float, total: int) -> list[int]:
    """The scenes a share covers: the first, the last, then the middle ones spread evenly
    (at least one scene for any share above nothing)."""
    count = min(total, int(share * total + 0.5))
    if share > 0 and total:
        count = max(1, count)
    if count <= 1:
        return list(range(count))
    # i * (total - 1) / (count - 1), rounded half up, in integers.
    return [(2 * i * (total - 1) + count - 1) // (2 * (count - 1)) for i in range(count)]


def scene_prompt(scene: Mapping[str, Any], mode: str) -> str:
    """A bed's prompt from its scene: the read's mood, the scene's title and first lines."""
    mood = _MOODS.get(mode, f"{mode} underscore")
    title = str(scene.get("title") or "").strip()
    lines = [str(e.get("text") or "").strip() for e in (scene.get("entries") or ())[:2]]
    said = " ".join(t for t in lines if t)[:240]
    prompt = f"{mood} for the scene {title!r}" if title else mood
    return (f"{prompt}: {said}" if said else prompt)[:PROMPT_MAX]


def _share(music: Mapping[str, Any], total: int) -> float | None:
    if music.get("coveragePercent") is not None:
        return float(music["coveragePercent"])
    clips = music.get("clips") or {}
    return round(len(clips) / total, 4) if total and clips else None


def _one_of(field: str, first: Any, second: Any) -> Any:
    """A value given top-level and inside ``clip``: both must agree."""
    if first is not None and second is not None and first != second:
        raise invalid(f"{field} and clip.{field} disagree", field=f"clip.{field}")
    return first if first is not None else second


class Music(Editor):
    def _clip(self, live: Mapping[str, Any], index: int) -> dict[str, Any]:
        scene = (live.get("scenes") or [])[index]
        prompt = scene_prompt(scene, str(live.get("mode") or "documentary"))
        return {"prompt": prompt, "weight": DEFAULT_WEIGHT, "disabled": False}

    async def post(self, artifact_id: str, body: Any) -> dict[str, Any]:
        record, job, live = await self.ready(artifact_id)
        total = len(live.get("scenes") or ())
        tuned = (body.prompt, body.weight, body.enabled, body.clip)
        if body.sceneIndex is not None:
            return await self._scene(record, job, live, body)
        if any(v is not None for v in tuned):
            raise invalid(
                "sceneIndex is required with prompt, weight, enabled or clip", field="sceneIndex"
            )
        if body.regenerateScenes is not None:
            if body.musicCoveragePercent is not None:
                raise invalid(
                    "give musicCoveragePercent or regenerateScenes, not both",
                    field="regenerateScenes",
                )
            wanted = sorted(set(body.regenerateScenes))
            for i, index in enumerate(body.regenerateScenes):
                self._in_range(index, total, f"regenerateScenes[{i}]")
            defaults = {i: self._clip(live, i) for i in wanted}

            def change(state: dict[str, Any], version: int) -> dict[str, Any]:
                music = _music(state, version)
                for index in wanted:
                    held = music["clips"].get(str(index)) or defaults[index]
                    music["clips"][str(index)] = {**held, "version": version}
                return state

        else:
            current = ((record.state or {}).get("music") or {}).get("coveragePercent")
            share = coverage_of(body.musicCoveragePercent, current)
            fresh = {i: self._clip(live, i) for i in scenes_for(share, total)}

            def change(state: dict[str, Any], version: int) -> dict[str, Any]:
                clips = {str(i): {**clip, "version": version} for i, clip in fresh.items()}
                state["music"] = {
                    "mode": "adaptive",
                    "coveragePercent": share,
                    "version": version,
                    "clips": clips,
                }
                return state

        fresh_record, _ = await self.apply(record, job, change)
        music = (fresh_record.state or {}).get("music") or {}
        return self._answer(record.id, "generating", music, total)

    @staticmethod
    def _in_range(index: int, total: int, field: str) -> None:
        if not 0 <= index < total:
            raise invalid(
                f"{field} {index} is not a scene of the read (0 to {total - 1})", field=field
            )

    async def _scene(self, record: Any, job: Any, live: Any, body: Any) -> dict[str, Any]:
        total = len(live.get("scenes") or ())
        index = body.sceneIndex
        if body.musicCoveragePercent is not None or body.regenerateScenes is not None:
            field = "musicCoveragePercent" if body.regenerateScenes is None else "regenerateScenes"
            raise invalid(f"a scene edit (sceneIndex) takes no {field}", field=field)
        self._in_range(index, total, "sceneIndex")
        clip = body.clip
        prompt = _one_of("prompt", body.prompt, clip.prompt if clip else None)
        weight = _one_of("weight", body.weight, clip.weight if clip else None)
        muted = None if body.enabled is None else not body.enabled
        if clip is not None and clip.disabled is not None and muted not in (None, clip.disabled):
            raise invalid("enabled and clip.disabled disagree", field="clip.disabled")
        disabled = muted if muted is not None else (clip.disabled if clip else None)
        if prompt is None and weight is None and disabled is None:
            raise invalid("a scene edit needs prompt, weight, enabled or clip", field="sceneIndex")
        edits = {"prompt": prompt, "weight": weight, "disabled": disabled}
        edits = {k: v for k, v in edits.items() if v is not None}
        default = self._clip(live, index)

        def change(state: dict[str, Any], version: int) -> dict[str, Any]:
            music = _music(state, version)
            held = music["clips"].get(str(index)) or default
            music["clips"][str(index)] = {**held, **edits, "version": version}
            return state

        fresh, _ = await self.apply(record, job, change)
        music = (fresh.state or {}).get("music") or {}
        now = music["clips"][str(index)]
        answer = self._answer(record.id, "ready", music, total)
        answer["sceneIndex"] = index
        answer["adaptiveSceneDirection"] = {
            "sceneIndex": index,
            "prompt": now["prompt"],
            "weight": now["weight"],
            "enabled": not now.get("disabled"),
        }
        return answer

    @staticmethod
    def _answer(artifact_id: str, status: str, music: Any, total: int) -> dict[str, Any]:
        return {
            "artifactId": artifact_id,
            "status": status,
            "coveragePercent": _share(music, total),
            "totalScenes": total,
            "sceneIndex": None,
            "adaptiveSceneDirection": None,
        }

    async def read(self, artifact_id: str) -> dict[str, Any]:
        record, _job, live = await self.ready(artifact_id)
        total = len(live.get("scenes") or ())
        music = (record.state or {}).get("music")
        if not isinstance(music, Mapping):
            return {"music": _none(record.id, total)}
        done = ((await self.rendered(record, live)).get("music") or {}).get("clips") or {}
        clips = []
        for key, clip in sorted((music.get("clips") or {}).items(), key=lambda kv: int(kv[0])):
            disabled = bool(clip.get("disabled"))
            # A muted clip has nothing to render: it is ready once the read is that version.
            listed = done.get(key) or ({"status": "ready"} if disabled else None)
            status = progress(int(clip.get("version") or 0), live, listed)
            clips.append(
                {
                    "sceneIndex": int(key),
                    "status": _CLIP_STATUS.get(status, status),
                    "disabled": disabled,
                    "prompt": str(clip.get("prompt") or ""),
                    "weight": float(clip.get("weight") or 0),
                }
            )
        busy = any(c["status"] in ("pending", "rendering") and not c["disabled"] for c in clips)
        return {
            "music": {
                "artifactId": record.id,
                "status": "generating" if busy else "ready",
                "musicMode": "adaptive",
                "coveragePercent": _share(music, total),
                "totalScenes": total,
                "definedClips": clips,
            }
        }


def _music(state: dict[str, Any], version: int) -> dict[str, Any]:
    """The state's music (made adaptive if there was none), stamped with ``version``."""
    music = state.get("music")
    if not isinstance(music, dict):
        music = {"mode": "adaptive", "coveragePercent": None, "clips": {}}
    music.setdefault("clips", {})
    music["version"] = version
    state["music"] = music
    return music


def _none(artifact_id: str, total: int) -> dict[str, Any]:
    return {
        "artifactId": artifact_id,
        "status": "none",
        "musicMode": None,
        "coveragePercent": None,
        "totalScenes": total,
        "definedClips": [],
    }
