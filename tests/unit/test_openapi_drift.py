"""The checked-in OpenAPI document of each family is exactly what the app generates now; when a
route or a contract Struct changes, `storygate openapi` must be re-run and its output committed."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import adapters
from gateway import cli
from gateway.app import create_app, family_openapi
from gateway.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
HINT = "openapi/ is stale: run `storygate openapi` (or `python -m gateway.cli openapi`)"


@pytest.fixture
def documents(tmp_path: Path) -> Iterator[dict[str, Any]]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    app = create_app(load_settings(env={}, backends="instant", data_dir=tmp_path / "data"))
    # Through JSON, as the CLI writes it, so tuples and lists compare alike.
    yield json.loads(json.dumps(family_openapi(app)))
    root.handlers[:], root.level = handlers, level


def test_storymint_document_is_current(documents: dict[str, Any]) -> None:
    checked_in = json.loads((REPO / "openapi" / "storymint.json").read_text())
    assert checked_in == documents["storymint"], HINT


def test_storymint_document_holds_only_its_own_paths(documents: dict[str, Any]) -> None:
    doc = documents["storymint"]
    assert doc["openapi"].startswith("3.1")
    paths = set(doc["paths"])
    assert {"/api/generate", "/api/status/{job_id}", "/api/stream/{job_id}", "/api/ping"} <= paths
    assert all(p.startswith("/api/") and not p.startswith("/api/v1/") for p in paths)
    # Every reference resolves inside the document itself.
    text = json.dumps(doc)
    for name in doc["components"]["schemas"]:
        assert f'"#/components/schemas/{name}"' in text
    refs = {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}
    assert refs <= set(doc["components"]["schemas"])


def test_childrenbooks_document_is_current(documents: dict[str, Any]) -> None:
    checked_in = json.loads((REPO / "openapi" / "childrenbooks.json").read_text())
    assert checked_in == documents["childrenbooks"], HINT


def test_childrenbooks_document_holds_only_its_own_paths(documents: dict[str, Any]) -> None:
    doc = documents["childrenbooks"]
    assert doc["openapi"].startswith("3.1")
    paths = set(doc["paths"])
    assert {"/v1/stories", "/v1/stories/{id}"} <= paths
    for path in paths:
        owner = adapters.family_of(path)
        assert owner is not None and owner.name == "childrenbooks", path
    text = json.dumps(doc)
    for name in doc["components"]["schemas"]:
        assert f'"#/components/schemas/{name}"' in text
    refs = {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}
    assert refs <= set(doc["components"]["schemas"])


def test_every_documented_family_has_a_checked_in_document(documents: dict[str, Any]) -> None:
    checked_in = {p.stem for p in (REPO / "openapi").glob("*.json")}
    assert set(documents) == checked_in, HINT
    for family, doc in documents.items():
        for path in doc["paths"]:
            owner = adapters.family_of(path)
            assert owner is not None and owner.name == family, (family, path)


def test_cli_writes_one_document_per_family(
    tmp_path: Path, documents: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORYGATE_DATA_DIR", str(tmp_path / "data"))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        assert cli.main(["openapi", "--out", str(tmp_path / "out")]) == 0
    finally:
        root.handlers[:], root.level = handlers, level
    written = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "out").glob("*.json")}
    assert written == documents
    assert {"storymint", "childrenbooks", "storynote"} <= set(written)


def test_storynote_document_is_current(documents: dict[str, Any]) -> None:
    checked_in = json.loads((REPO / "openapi" / "storynote.json").read_text())
    assert checked_in == documents["storynote"], HINT


def test_storynote_document_holds_both_roots_and_only_its_paths(
    documents: dict[str, Any],
) -> None:
    doc = documents["storynote"]
    paths = set(doc["paths"])
    for path in ("/projects/{project_id}/image", "/jobs/{job_id}", "/models/available"):
        assert {f"/v1{path}", f"/api/v1{path}"} <= paths
    for path in paths:
        owner = adapters.family_of(path)
        assert owner is not None and owner.name == "storynote", path
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    refs = {
        part.split('"')[0] for part in json.dumps(doc).split('"$ref": "#/components/schemas/')[1:]
    }
    assert refs <= set(doc["components"]["schemas"])


def test_sleeperhit_document_is_current(documents: dict[str, Any]) -> None:
    checked_in = json.loads((REPO / "openapi" / "sleeperhit.json").read_text())
    assert checked_in == documents["sleeperhit"], HINT


def test_sleeperhit_document_names_every_operation_and_its_errors(
    documents: dict[str, Any],
) -> None:
    doc = documents["sleeperhit"]
    assert doc["openapi"].startswith("3.1")
    paths = set(doc["paths"])
    assert {
        "/api/v1/story-projects",
        "/api/v1/story-projects/{project_id}/sources",
        "/api/v1/story-projects/{project_id}/story-plans",
        "/api/v1/story-plans/{plan_id}/approve",
        "/api/v1/story-jobs",
        "/api/v1/story-jobs/{job_id}/cancel",
        "/api/v1/artifacts/{artifact_id}/finalize",
        "/api/v1/credits",
    } <= paths
    for path in paths:
        owner = adapters.family_of(path)
        assert owner is not None and owner.name == "sleeperhit", path
    operations = [op for item in doc["paths"].values() for op in item.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    for op in operations:
        # Every keyed operation documents the reference's error envelope.
        assert "401" in op["responses"] or op["operationId"] in ("getExamples",), op
    refs = {
        part.split('"')[0] for part in json.dumps(doc).split('"$ref": "#/components/schemas/')[1:]
    }
    assert refs <= set(doc["components"]["schemas"])
