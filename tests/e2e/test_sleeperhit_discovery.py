"""SleeperHit's discovery over real HTTP on the instant backends: the capabilities manifest
(story:read), and, with no key, the OpenAPI document (exactly the checked-in
``openapi/sleeperhit.json``), ``/llms.txt``, ``/llms-full.txt`` and the recipe catalogue.

The recipes are not only checked for shape: their curl steps run in bash, each step's
variables taken from the earlier steps' answers as a shell user would, and the
``full-table-read`` recipe's Node script runs under ``node`` against this server to the end —
an MP3 downloaded from the finalized table read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.core.keys import SCOPES
from tests.e2e.sleeperhit_harness import SleeperHitServer, Tenant, error_code, start

REPO = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")


@pytest.fixture(scope="module")
def sh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SleeperHitServer]:
    server = start(tmp_path_factory.mktemp("sh-discovery"))
    yield server
    server.server.stop()


@pytest.fixture(scope="module")
def tenant(sh: SleeperHitServer) -> Tenant:
    return sh.tenant()


@pytest.fixture(scope="module")
def catalogue(sh: SleeperHitServer) -> dict[str, Any]:
    answer = httpx.get(f"{sh.base}/api/v1/examples")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def _recipe(catalogue: dict[str, Any], recipe_id: str) -> dict[str, Any]:
    found = [r for r in catalogue["recipes"] if r["id"] == recipe_id]
    assert len(found) == 1, recipe_id
    return found[0]


def _field(body: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        body = body[int(part)] if part.isdigit() else body.get(part)
        if body is None:
            return None
    return body


# -- capabilities --------------------------------------------------------------------------------


def test_capabilities_describe_what_this_server_makes(sh: SleeperHitServer, tenant: Tenant) -> None:
    answer = sh.client(tenant).get("/capabilities")
    assert answer.status_code == 200, answer.text
    caps = answer.json()
    assert caps["version"] == "v1" and caps["status"] == "foundation"
    assert caps["auth"] == {
        "schemes": ["bearer_api_key"],
        "scopes": list(SCOPES["sleeperhit"]),
        "supportsIdempotency": True,
    }
    assert caps["projects"]["available"] is True
    types = {t["type"]: t for t in caps["sources"]["types"]}
    assert set(types) == {"text", "markdown", "url", "pdf"}
    assert types["text"]["maxInlineBytes"] == types["markdown"]["maxInlineBytes"] == 1_000_000
    assert types["url"]["availability"] == types["pdf"]["availability"] == "available"
    assert "redirect" in types["url"]["note"]
    assert caps["sources"]["retentionPolicies"] == [
        "EXTRACTED_ONLY",
        "STORE_ORIGINAL",
        "METADATA_ONLY",
    ]
    assert "summary" in caps["sources"]["digest"]["fields"]

    read = caps["artifacts"]["table_read"]
    assert read["availability"] == "available"  # instant text and speech are always there
    assert read["outputs"] == ["theater_url", "theater_fullscreen_url", "live_audio", "video"]
    assert read["outputAvailability"]["video"] == "available"
    assert read["operations"]["coverage"] == "available"
    for operation in ("refine", "voice-modification", "music", "sfx", "cast", "resume"):
        assert read["operations"][operation] == "available", operation
    assert read["outputAvailability"]["theater_url"] == "available"
    assert read["modes"] == ["documentary", "podcast", "drama"]
    voices = read["voices"]["voices"]
    assert len({v["voiceId"] for v in voices}) == len(voices) >= 4
    assert all(v["voiceName"] and v["description"] for v in voices)
    assert "pitch" in read["voices"]["note"] and "instant" in read["voices"]["speechModel"]
    for planned in ("pitch_deck", "storyboard", "trailer", "production_video"):
        assert caps["artifacts"][planned] == {"availability": "planned"}

    assert "READY" in caps["jobs"]["statuses"] and "PARTIAL" in caps["jobs"]["statuses"]
    assert caps["jobs"]["artifactStatuses"] == ["PENDING", "RUNNING", "READY", "FAILED"]
    docs = caps["docs"]
    for served in ("openapi", "examples", "llms", "llmsFull"):
        assert docs[served]["availability"] == "available"
        assert httpx.get(sh.base + docs[served]["url"]).status_code == 200, served
    for name in ("docsSite", "agentIndex", "searchIndex", "cliCommands", "mcpTools", "sitemap"):
        assert docs[name]["availability"] == "unavailable", name
    # The models that write and speak, so a client can see one missing.
    backends = caps["backends"]
    assert backends["text"] and backends["speech"]
    assert all(b["backend"] == "instant" and b["available"] for b in backends["speech"])


def test_capabilities_need_story_read(sh: SleeperHitServer) -> None:
    no_key = httpx.get(f"{sh.base}/api/v1/capabilities")
    assert no_key.status_code == 401 and error_code(no_key) == "authentication_required"
    narrow = sh.tenant(scopes=["credits:read"])
    refused = sh.client(narrow).get("/capabilities")
    assert refused.status_code == 403 and error_code(refused) == "insufficient_scope"
    assert refused.headers["ratelimit-limit"]
    assert sh.client(sh.tenant(scopes=["story:read"])).get("/capabilities").status_code == 200


# -- OpenAPI and llms.txt ------------------------------------------------------------------------


def test_openapi_document_is_the_checked_in_one(sh: SleeperHitServer) -> None:
    answer = httpx.get(f"{sh.base}/api/v1/openapi.json")  # no key
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["ratelimit-limit"]  # metered per IP
    doc = answer.json()
    checked_in = json.loads((REPO / "openapi" / "sleeperhit.json").read_text())
    assert doc == checked_in, "openapi/ is stale: run `storygate openapi`"
    assert doc["openapi"].startswith("3.1")
    ops = [op for item in doc["paths"].values() for op in item.values()]
    ids = [op.get("operationId") for op in ops]
    assert all(ids) and len(ids) == len(set(ids))
    assert {"getCapabilities", "getExamples", "createStoryJob", "finalizeArtifact"} <= set(ids)


def test_llms_documents_name_every_operation(sh: SleeperHitServer) -> None:
    doc = httpx.get(f"{sh.base}/api/v1/openapi.json").json()
    short = httpx.get(f"{sh.base}/llms.txt")
    full = httpx.get(f"{sh.base}/llms-full.txt")
    for answer in (short, full):
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "text/plain; charset=utf-8"
        assert answer.text.startswith("# SleeperHit")
        for path, item in doc["paths"].items():
            for method in item:
                assert f"{method.upper()} {path}" in answer.text, (answer.url, method, path)
    assert re.search(r"^> ", short.text, re.MULTILINE)  # the llmstxt.org summary
    for link in (
        "/api/v1/openapi.json",
        "/api/v1/examples",
        "/llms-full.txt",
        "/api/v1/capabilities",
    ):
        assert f"]({sh.base}{link})" in short.text, link
    assert "operationId: createStoryJob; scope: story:write" in full.text
    assert "operationId: getExamples; scope: none (public)" in full.text
    assert "storyPlanId (required)" in full.text
    assert "| insufficient_credits | 402 |" in full.text


# -- examples ------------------------------------------------------------------------------------


def test_examples_cover_every_live_flow(sh: SleeperHitServer, catalogue: dict[str, Any]) -> None:
    assert catalogue["baseUrl"] == f"{sh.base}/api/v1"
    ids = {r["id"] for r in catalogue["recipes"]}
    assert {
        "credits",
        "project-crud",
        "text-source",
        "url-source",
        "story-plan",
        "reject-plan",
        "story-job",
        "cancel-job",
        "finalize-audio",
        "theater-page",
        "full-table-read",
    } <= ids
    doc = httpx.get(f"{sh.base}/api/v1/openapi.json").json()
    for recipe in catalogue["recipes"]:
        for step in recipe["steps"]:
            assert {"title", "method", "path", "scope", "curl", "node"} <= set(step)
            path = step["path"]
            if path.startswith("/api/v1/") and path != "/api/v1/openapi.json":
                assert step["method"].lower() in doc["paths"][path], (recipe["id"], path)
            for scope in (step["scope"] or "").split():
                assert scope in SCOPES["sleeperhit"], scope
            if recipe["id"] == "full-table-read":
                continue
            assert sh.base in step["curl"] or "_URL" in step["curl"]
            if step["scope"]:
                assert "$SLEEPERHIT_API_KEY" in step["curl"]
                assert "process.env.SLEEPERHIT_API_KEY" in step["node"]
            if step["method"] == "POST":
                assert '-H "Idempotency-Key: $(' in step["curl"]
                assert "crypto.randomUUID()" in step["node"]
            assert "import " not in step["node"] and "export " not in step["node"]


def _run_curl(step: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    command = step["curl"] + " \\\n  -w '\\n%{http_code}'"
    done = subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, (step["title"], done.stderr)
    body, _, status = done.stdout.rpartition("\n")
    assert 200 <= int(status) < 300, (step["title"], status, body)
    found: dict[str, Any] = json.loads(body)
    return found


@pytest.mark.parametrize("recipe_id", ["credits", "project-crud", "text-source", "discovery"])
def test_curl_recipes_run_as_written(
    sh: SleeperHitServer, tenant: Tenant, catalogue: dict[str, Any], recipe_id: str
) -> None:
    env = {**os.environ, "SLEEPERHIT_API_KEY": tenant.key}
    for step in _recipe(catalogue, recipe_id)["steps"]:
        body = _run_curl(step, env)
        poll = step.get("poll")
        deadline = time.monotonic() + 60
        while poll and _field(body, poll["field"]) not in poll["until"]:
            assert time.monotonic() < deadline, body
            time.sleep(0.2)
            body = _run_curl(step, env)
        for name, dotted in (step.get("saves") or {}).items():
            env[name] = str(_field(body, dotted))
        if recipe_id == "text-source" and poll:
            assert body["source"]["status"] == "READY", body
        if recipe_id == "credits":
            assert body["credits"]["balance"] > 0
    if recipe_id == "project-crud":
        gone = sh.client(tenant).get(f"/story-projects/{env['PROJECT_ID']}")
        assert gone.status_code == 404 and error_code(gone) == "project_not_found"


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_node_steps_run_as_written(
    sh: SleeperHitServer, tenant: Tenant, catalogue: dict[str, Any], tmp_path: Path
) -> None:
    env = {**os.environ, "SLEEPERHIT_API_KEY": tenant.key}
    for step in _recipe(catalogue, "text-source")["steps"]:
        script = tmp_path / "step.js"
        script.write_text(step["node"])
        done = subprocess.run(
            [str(NODE), str(script)], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (step["title"], done.stderr)
        body = json.loads(done.stdout)
        for name, dotted in (step.get("saves") or {}).items():
            env[name] = str(_field(body, dotted))
    assert body["sources"][0]["status"] == "READY", body


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_full_table_read_script_runs_to_an_mp3(
    sh: SleeperHitServer, catalogue: dict[str, Any], tmp_path: Path
) -> None:
    steps = _recipe(catalogue, "full-table-read")["steps"]
    assert len(steps) == 1
    script = tmp_path / "full-table-read.js"
    script.write_text(steps[0]["node"])
    env = {
        **os.environ,
        "SLEEPERHIT_API_KEY": sh.tenant().key,
        "SLEEPERHIT_TIMEOUT_S": "240",
    }
    done = subprocess.run(
        [str(NODE), str(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, (done.stdout, done.stderr, sh.server.stderr[-3000:])
    found = re.search(r"^mp3 bytes: (\d+)$", done.stdout, re.MULTILINE)
    assert found and int(found.group(1)) > 0, done.stdout
    theater = re.search(r"^theater: (\S+)$", done.stdout, re.MULTILINE)
    assert theater and httpx.get(theater.group(1)).status_code == 200
