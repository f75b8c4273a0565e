"""A producer's week on the default ``local`` set (SmolLM2 writes, piper speaks), in one run on a
real server process: a podcast table read is made and finalized, then

- refined ("rename the host to Dana"): revision 2's script names Dana, revision 1 stays
  readable, the share URLs do not move and exactly 8 credits are charged, once;
- two characters are pinned to new voices with ``POST /cast``, and the next finalize speaks
  their lines at the new voices' pitch;
- autotune on entries 2-4 changes the pitch track of exactly those lines;
- music is limited to the first and last scene (``clip.disabled`` and ``regenerateScenes``),
  and the middle scenes are silent under the voices;
- a sound cue is heard at its line;
- the final MP3 and the MP4 of the read decode to the same duration within 2%.

Every measure is taken on the audio a client downloads, cut by the entries' own timings.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import av
import httpx
import numpy as np
import parselmouth
import pytest

from tests.e2e.sleeperhit_harness import SleeperHitServer, Tenant, poll, post, start
from tests.e2e.test_sleeperhit_flow import _local_missing
from workers.backends.voices import decode_mp3, from_float, median_f0, to_float, voice_by_id

SOURCE = (
    "Amara Osei keeps the lighthouse on Cape Lumen. Every night she climbs the hundred steps "
    "and lights the lamp for the fishing boats. Her brother Kofi Osei repairs the nets in the "
    "harbour below and worries about the winter storms. One evening the old keeper, Ruth "
    "Fielding, returns with a warning: the lamp's lens is cracked. Amara and Kofi work through "
    "the night to mend it before the storm arrives."
)
PLAN = {
    "title": "Keepers of the Cape",
    "target": {
        "audience": "podcast listeners",
        "objective": "tell how the lighthouse was saved",
        "outcome": "listeners subscribe for the next episode",
    },
    # Long enough for three scenes (a first, a middle and a last one), still a short read.
    "artifactRequests": [{"type": "table_read", "mode": "podcast", "durationSeconds": 40}],
    "autoApprove": True,
}
AUTOTUNED = (2, 4)


@pytest.fixture(scope="module")
def sh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SleeperHitServer]:
    missing = _local_missing()
    if missing:
        pytest.skip(missing)
    server = start(tmp_path_factory.mktemp("sh-one-run"), backends="local")
    yield server
    server.server.stop()


# -- measuring ------------------------------------------------------------------------------


def _download(url: str) -> bytes:
    answer = httpx.get(url, timeout=120)
    assert answer.status_code == 200, (url, answer.status_code)
    return answer.content


def _clip(pcm: Any, start_ms: float, end_ms: float) -> np.ndarray:
    x = to_float(pcm)
    return x[int(start_ms * pcm.rate / 1000) : int(end_ms * pcm.rate / 1000)]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2))) if len(x) else 0.0


def _f0(pcm: Any, entry: dict[str, Any]) -> float:
    return median_f0(from_float(_clip(pcm, entry["startMs"], entry["endMs"]), pcm.rate))


def _pitch_track(pcm: Any, entry: dict[str, Any], ms: float) -> np.ndarray:
    """The first ``ms`` of the line's F0, every 10 ms (Praat's autocorrelation pitch; 0 where
    unvoiced). Two tracks of one length share one frame grid (Praat centres its frames)."""
    first = int(entry["startMs"] * pcm.rate / 1000)
    clip = to_float(pcm)[first : first + int(ms * pcm.rate / 1000)]
    sound = parselmouth.Sound(clip, sampling_frequency=pcm.rate)
    pitch = sound.to_pitch(time_step=0.01, pitch_floor=60.0, pitch_ceiling=600.0)
    return np.asarray(pitch.selected_array["frequency"], dtype=np.float64)


def _cents_apart(a: np.ndarray, b: np.ndarray) -> float:
    """Median |difference| in cents over the frames voiced in both tracks (the median, so the
    tracker's own slips at the edges of voicing, in either track, do not decide it)."""
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    both = (a > 0) & (b > 0)
    assert both.sum() >= 5, "too few voiced frames to compare"
    return float(np.median(np.abs(1200 * np.log2(a[both] / b[both]))))


def _entries(c: httpx.Client, path: str) -> list[dict[str, Any]]:
    answer = c.get(f"{path}/script")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["script"]["entries"])


def _manifest(c: httpx.Client, path: str) -> dict[str, Any]:
    return dict(c.get(path).json()["artifact"]["manifest"])


def _remixed(c: httpx.Client, path: str) -> dict[str, Any]:
    """The manifest once the live read is the current state's."""

    def done(b: dict[str, Any]) -> bool:
        remix = b["artifact"]["manifest"]["audio"]["remix"]
        assert remix["status"] != "failed", remix
        return bool(remix["liveStateVersion"] >= remix["stateVersion"])

    return dict(poll(c, path, done, timeout=600, every=0.5)["artifact"]["manifest"])


def _finalized(c: httpx.Client, path: str) -> dict[str, Any]:
    answer = post(c, f"{path}/finalize", {"mode": "audio"})
    assert answer.status_code == 200, answer.text

    def done(b: dict[str, Any]) -> bool:
        state = b["artifact"]["manifest"]["audio"]["finalize"]
        return bool(state and state["status"] in ("complete", "failed") and not state["stale"])

    audio = poll(c, path, done, timeout=600, every=0.5)["artifact"]["manifest"]["audio"]
    assert audio["finalize"]["status"] == "complete", audio
    return dict(audio)


# -- the run --------------------------------------------------------------------------------


def _ready_read(sh: SleeperHitServer, c: httpx.Client) -> dict[str, Any]:
    project = post(c, "/story-projects", {"name": "Cape Lumen weekly"}).json()["project"]
    source = post(
        c, f"/story-projects/{project['id']}/sources", {"type": "text", "content": SOURCE}
    ).json()["source"]
    poll(
        c,
        f"/story-projects/{project['id']}/sources/{source['id']}",
        lambda b: b["source"]["status"] == "READY",
        timeout=600,
    )
    plan = post(
        c, f"/story-projects/{project['id']}/story-plans", {**PLAN, "sourceIds": [source["id"]]}
    ).json()["plan"]
    plan = poll(
        c,
        f"/story-plans/{plan['id']}",
        lambda b: b["plan"]["status"] in ("APPROVED", "FAILED"),
        timeout=600,
    )["plan"]
    assert plan["status"] == "APPROVED", plan
    made = post(c, "/story-jobs", {"storyPlanId": plan["id"]})
    assert made.status_code == 200, made.text
    job = poll(
        c,
        f"/story-jobs/{made.json()['job']['id']}",
        lambda b: b["job"]["status"] in ("READY", "FAILED"),
        timeout=600,
        every=0.5,
    )["job"]
    assert job["status"] == "READY", job
    (artifact,) = [a for a in job["artifacts"] if a["type"] == "table_read"]
    return dict(artifact)


def _refine(sh: SleeperHitServer, tenant: Tenant, c: httpx.Client, path: str) -> dict[str, Any]:
    before = sh.spendable(tenant)
    key = {"Idempotency-Key": "one-run-refine"}
    body = {"instruction": "rename the host to Dana", "scope": "screenplay"}
    first = c.post(f"{path}/refine", json=body, headers=key)
    assert first.status_code == 200, first.text
    replay = c.post(f"{path}/refine", json=body, headers=key)
    job = poll(
        c,
        f"/story-jobs/{first.json()['storyJob']['id']}",
        lambda b: b["job"]["status"] in ("READY", "FAILED"),
        timeout=600,
        every=0.5,
    )["job"]
    return {
        "job": job,
        "replay": replay,
        "first": first,
        "charged": before - sh.spendable(tenant),
        "artifact": c.get(path).json()["artifact"],
        "revision1": c.get(path, params={"revision": 1}).json()["artifact"],
        "entries": _entries(c, path),
    }


def _recast(c: httpx.Client, path: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Pin two speaking characters to voices at least 12% away in pitch from their own."""
    cast = {m["character"]: m for m in c.get(f"{path}/cast").json()["cast"]}
    speakers = [n for n in dict.fromkeys(e["character"] for e in entries) if n in cast][:2]
    assert len(speakers) == 2, (speakers, cast)
    catalogue = [v["id"] for v in c.get("/voices").json()["voices"]]
    chosen: dict[str, str] = {}
    for name in speakers:
        held = voice_by_id(cast[name]["voiceId"])
        assert held is not None, cast[name]
        far = [
            v
            for v in catalogue
            if (found := voice_by_id(v)) is not None
            and abs(np.log(found.pitch / held.pitch)) > np.log(1.12)
            and v not in chosen.values()
        ]
        chosen[name] = far[0]
    body = {
        "entries": [
            {"character": n, "voiceId": v, "voiceName": f"Pinned {n.title()}"}
            for n, v in chosen.items()
        ]
    }
    answer = post(c, f"{path}/cast", body)
    assert answer.status_code == 200, answer.text
    return {"chosen": chosen, "answer": answer.json(), "manifest": _remixed(c, path)}


def _autotune(c: httpx.Client, path: str) -> dict[str, Any]:
    live_before = _download(_manifest(c, path)["audio"]["liveUrl"])
    entries_before = _entries(c, path)
    start, end = AUTOTUNED
    answer = post(
        c,
        f"{path}/voice-modification",
        {"startEntryIndex": start, "endEntryIndex": end, "effect": "autotune"},
    )
    assert answer.status_code == 200, answer.text
    modification = answer.json()["modificationId"]
    poll(
        c,
        f"{path}/voice-modification",
        lambda b: any(
            m["modificationId"] == modification and m["status"] == "ready"
            for m in b["modifications"]
        ),
        timeout=600,
        every=0.5,
    )
    manifest = _remixed(c, path)
    return {
        "before": (decode_mp3(live_before), entries_before),
        "after": (decode_mp3(_download(manifest["audio"]["liveUrl"])), _entries(c, path)),
    }


def _music_and_cue(c: httpx.Client, path: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    scenes = _manifest(c, path)["screenplay"]["scenes"]
    last = len(scenes) - 1
    assert last >= 2, f"the read has {len(scenes)} scenes; the test needs a middle one"
    everywhere = post(c, f"{path}/music", {"musicCoveragePercent": 100})
    assert everywhere.status_code == 200, everywhere.text
    assert everywhere.json()["totalScenes"] == len(scenes)
    for middle in range(1, last):
        muted = post(c, f"{path}/music", {"sceneIndex": middle, "clip": {"disabled": True}})
        assert muted.status_code == 200 and muted.json()["status"] == "ready", muted.text
    again = post(c, f"{path}/music", {"regenerateScenes": [0, last]})
    assert again.status_code == 200, again.text
    # The cue: after the first line of the middle scene, in that scene's quiet.
    cue_entry = int(scenes[1]["entries"][0]["entryIndex"])
    cue = post(
        c,
        f"{path}/sfx",
        {
            "op": "add",
            "entryIndex": cue_entry,
            "label": "door knock",
            "prompt": "three crisp knocks on a wooden door",
            "volume": 0.8,
            "triggerOffset": "after",
        },
    )
    assert cue.status_code == 200, cue.text
    music = poll(
        c,
        f"{path}/music",
        lambda b: b["music"]["status"] == "ready",
        timeout=600,
        every=0.5,
    )["music"]
    cues = poll(
        c,
        f"{path}/sfx",
        lambda b: all(not q["isDraft"] and q["soundUrl"] for q in b["sfx"]["cues"]),
        timeout=600,
        every=0.5,
    )["sfx"]["cues"]
    _remixed(c, path)
    return {"music": music, "cues": cues, "cue_entry": cue_entry, "scenes": last + 1}


@pytest.fixture(scope="module")
def run(sh: SleeperHitServer) -> dict[str, Any]:
    tenant = sh.tenant(credits=2000)
    c = sh.client(tenant)
    artifact = _ready_read(sh, c)
    path = f"/artifacts/{artifact['id']}"
    first_final = _finalized(c, path)
    first_mp3 = _download(first_final["recordingUrl"])
    refined = _refine(sh, tenant, c, path)
    entries = refined["entries"]
    before_cast = decode_mp3(_download(_manifest(c, path)["audio"]["liveUrl"]))
    recast = _recast(c, path, entries)
    tuned = _autotune(c, path)
    scored = _music_and_cue(c, path, entries)
    final = _finalized(c, path)
    final_mp3 = _download(final["recordingUrl"])
    video = post(c, f"{path}/finalize", {"mode": "video"})
    assert video.status_code == 200, video.text
    manifest = poll(
        c,
        path,
        lambda b: b["artifact"]["manifest"]["video"]["status"] in ("complete", "failed"),
        timeout=600,
        every=0.5,
    )["artifact"]["manifest"]
    assert manifest["video"]["status"] == "complete", manifest["video"]
    return {
        "artifact": artifact,
        "first_final": first_final,
        "first_mp3": first_mp3,
        "refined": refined,
        "before_cast": before_cast,
        "recast": recast,
        "tuned": tuned,
        "scored": scored,
        "final": final,
        "final_mp3": final_mp3,
        "entries": _entries(c, path),
        "manifest": manifest,
        "mp4": _download(manifest["video"]["url"]),
    }


# -- what the run shows ---------------------------------------------------------------------


def test_refine_renames_the_host_in_a_new_revision(run: dict[str, Any]) -> None:
    refined = run["refined"]
    assert refined["job"]["status"] == "READY", refined["job"]
    artifact = refined["artifact"]
    assert (artifact["currentVersion"], artifact["refineCount"]) == (2, 1)
    old = refined["revision1"]
    assert (old["currentVersion"], old["refineCount"]) == (2, 1)
    # The podcast's cast has a HOST (the planner's model may give it no lines); revision 2's
    # script names DANA in its place: in the cast, and on every line the host spoke.
    old_cast = {m["name"].upper() for m in old["manifest"]["cast"]}
    new_cast = {m["name"].upper() for m in artifact["manifest"]["cast"]}
    assert "HOST" in old_cast and "DANA" not in old_cast, old_cast
    assert new_cast == (old_cast - {"HOST"}) | {"DANA"}, (old_cast, new_cast)
    old_scenes = old["manifest"]["screenplay"]["scenes"]
    old_lines = [e["character"].upper() for s in old_scenes for e in s["entries"]]
    new_lines = [e["character"].upper() for e in refined["entries"]]
    assert new_lines == ["DANA" if n == "HOST" else n for n in old_lines], (old_lines, new_lines)
    first, now = run["artifact"]["manifest"], artifact["manifest"]
    for url in ("shareToken", "theaterUrl", "theaterFullscreenUrl"):
        assert now[url] == first[url] == old["manifest"][url]
    assert now["audio"]["liveUrl"] == first["audio"]["liveUrl"]
    assert artifact["id"] == run["artifact"]["id"]
    assert refined["charged"] == 8
    replay = refined["replay"]
    assert replay.headers.get("idempotency-replayed") == "true"
    assert replay.content == refined["first"].content


def test_the_pinned_cast_speaks_in_the_new_voices_in_the_next_finalize(
    run: dict[str, Any],
) -> None:
    chosen = run["recast"]["chosen"]
    voice_map = run["manifest"]["audio"]["voiceMap"]
    for name, voice in chosen.items():
        assert voice_map[name]["voiceId"] == voice
    final = decode_mp3(run["final_mp3"])
    before = run["before_cast"]
    first, last = AUTOTUNED

    def plain(entries: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
        # The autotuned lines are pulled toward the scale's notes: they are left out here.
        return [
            e for e in entries if e["character"] == name and not first <= e["entryIndex"] <= last
        ]

    measured = 0
    for name, voice in chosen.items():
        lines = plain(run["entries"], name)
        if not lines:
            continue
        heard = np.median([_f0(final, e) for e in lines])
        was = np.median([_f0(before, e) for e in plain(run["refined"]["entries"], name)])
        assert abs(np.log(heard / was)) > np.log(1.08), (name, voice, was, heard)
        measured += 1
    assert measured, "no recast character has a line outside the autotuned ones"


def test_autotune_changes_the_pitch_of_exactly_its_lines(run: dict[str, Any]) -> None:
    (before, entries_before), (after, entries_after) = run["tuned"]["before"], run["tuned"]["after"]
    first, last = AUTOTUNED
    assert len(entries_after) == len(entries_before) > last
    for old, new in zip(entries_before, entries_after, strict=True):
        ms = min(old["endMs"] - old["startMs"], new["endMs"] - new["startMs"])
        apart = _cents_apart(_pitch_track(before, old, ms), _pitch_track(after, new, ms))
        if first <= old["entryIndex"] <= last:
            assert apart > 15, (old["entryIndex"], apart)
        else:
            assert apart < 3, (old["entryIndex"], apart)


def _quiet_windows(
    entries: list[dict[str, Any]], length_ms: float
) -> list[tuple[int, float, float]]:
    """(entry index, start, end) of the pause after each line, inset 80 ms from both lines."""
    out = []
    for i, e in enumerate(entries):
        following = entries[i + 1]["startMs"] if i + 1 < len(entries) else length_ms
        start, end = e["endMs"] + 80, following - 80
        if end - start >= 200:
            out.append((int(e["entryIndex"]), start, end))
    return out


def test_music_only_under_the_first_and_last_scene_and_the_cue_is_heard(
    run: dict[str, Any],
) -> None:
    scored = run["scored"]
    clips = {c["sceneIndex"]: c for c in scored["music"]["definedClips"]}
    last = scored["scenes"] - 1
    assert clips[0]["status"] == clips[last]["status"] == "ready"
    assert not clips[0]["disabled"] and not clips[last]["disabled"]
    assert all(clips[i]["disabled"] for i in range(1, last) if i in clips)
    (cue,) = scored["cues"]
    assert cue["entryIndex"] == scored["cue_entry"] and cue["soundUrl"]

    final = decode_mp3(run["final_mp3"])
    scenes = run["manifest"]["screenplay"]["scenes"]
    scene_of = {int(e["entryIndex"]): i for i, s in enumerate(scenes) for e in s["entries"]}
    entries = run["entries"]
    windows = _quiet_windows(entries, final.duration_s * 1000)
    levels = {"edge": [], "middle": []}
    cue_level = None
    for index, begin, end in windows:
        level = _rms(_clip(final, begin, end))
        if index == scored["cue_entry"]:
            cue_level = level
        elif scene_of[index] in (0, last):
            levels["edge"].append(level)
        else:
            levels["middle"].append(level)
    assert levels["edge"] and levels["middle"], (windows, scene_of)
    speech = np.median([_rms(_clip(final, e["startMs"], e["endMs"])) for e in entries])
    # Silent under the voices: 60 dB under the speech; the scored scenes' pauses carry a bed.
    assert max(levels["middle"]) < speech * 10 ** (-60 / 20), (levels, speech)
    assert min(levels["edge"]) > max(levels["middle"]) * 10 ** (20 / 20), levels
    # The cue sits in a middle scene's pause, where nothing else sounds.
    assert cue_level is not None and cue_level > speech * 10 ** (-20 / 20), (cue_level, speech)


def test_the_final_mp3_and_the_mp4_last_the_same(run: dict[str, Any]) -> None:
    mp3 = decode_mp3(run["final_mp3"])
    assert run["final"]["finalize"]["stale"] is False
    with av.open(io.BytesIO(run["mp4"])) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        seconds = float(container.duration or 0) / av.time_base
    assert seconds > 0
    assert abs(seconds - mp3.duration_s) <= 0.02 * mp3.duration_s, (seconds, mp3.duration_s)
    assert abs(run["manifest"]["video"]["durationMs"] / 1000 - seconds) <= 0.02 * seconds
    # The new mix is a different recording from the first finalize's.
    assert run["final_mp3"] != run["first_mp3"]
