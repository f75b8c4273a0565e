"""The layout rules of DESIGN.md, the linters and the type checker, as tests."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ["gateway", "adapters", "contracts", "workers"]
HEAVY = {"torch", "diffusers", "llama_cpp", "piper", "fal_client", "elevenlabs", "transformers"}
BIN = Path(sys.executable).parent


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_import_contracts_hold() -> None:
    result = _run(str(BIN / "lint-imports"))
    assert result.returncode == 0, result.stdout + result.stderr


# (scratch module, the wrong import it makes, the contract that must catch it)
VIOLATIONS = [
    ("contracts/_scratch.py", "import gateway.core.jobs", "contracts import nothing of ours"),
    ("gateway/core/_scratch.py", "import litestar", "the core knows no web framework"),
    ("gateway/runtime_scratch.py", "import adapters.storymint", "only gateway.app imports"),
    ("adapters/storymint/_scratch.py", "import gateway.db.models", "adapters reach the database"),
    ("adapters/storymint/_scratch.py", "import workers.runner", "adapters reach the database"),
    ("adapters/storymint/_scratch.py", "import adapters.childrenbooks.service", "never import"),
    ("workers/pipelines/_scratch.py", "import torch", "heavy libraries"),
    ("workers/backends/local/_scratch.py", "import elevenlabs", "local backends use no hosted"),
    ("workers/backends/hosted/_scratch.py", "import llama_cpp", "hosted backends use no local"),
    ("workers/backends/instant/_scratch.py", "import workers.tasks", "backends raise core errors"),
]


@pytest.mark.parametrize(("where", "statement", "contract"), VIOLATIONS)
def test_a_wrong_import_breaks_its_contract(
    tmp_path: Path, where: str, statement: str, contract: str
) -> None:
    """The contracts can fail: a copy of the tree with one wrong import breaks exactly the
    contract that forbids it."""
    for package in PACKAGES:
        shutil.copytree(
            REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / where).write_text(f"{statement}\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [str(BIN / "lint-imports")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0, result.stdout
    broken = [line for line in result.stdout.splitlines() if " BROKEN" in line]
    assert any(contract in line for line in broken), result.stdout


def test_heavy_libraries_only_inside_backends() -> None:
    offenders = []
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            if "workers/backends" in path.as_posix():
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                offenders += [f"{path}: {n}" for n in names if n.split(".")[0] in HEAVY]
    assert offenders == []


def test_adapter_packages_never_import_each_other() -> None:
    # ``adapters.common`` is the toolkit every family shares, not a family.
    families = [
        p.name
        for p in (REPO / "adapters").iterdir()
        if p.is_dir() and p.name[0] != "_" and p.name != "common"
    ]
    offenders = []
    for family in families:
        for path in (REPO / "adapters" / family).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module:
                    parts = node.module.split(".")
                    if (
                        parts[0] == "adapters"
                        and len(parts) > 1
                        and parts[1]
                        not in (
                            family,
                            "common",
                        )
                    ):
                        offenders.append(f"{path}: {node.module}")
    assert offenders == []


def test_only_settings_reads_the_environment() -> None:
    offenders = []
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            if path.as_posix().endswith("gateway/settings.py"):
                continue
            text = path.read_text()
            if "os.environ" in text or "os.getenv" in text:
                offenders.append(str(path))
    assert offenders == []


def test_no_module_over_400_lines() -> None:
    long = []
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            if "migrations/versions" in path.as_posix():
                continue
            lines = len(path.read_text().splitlines())
            if lines > 480:  # "~400": a little slack for docstrings
                long.append(f"{path}: {lines}")
    assert long == []


def test_ruff_clean() -> None:
    check = _run(str(BIN / "ruff"), "check", *PACKAGES, "tests", "bench")
    assert check.returncode == 0, check.stdout + check.stderr


def test_mypy_clean() -> None:
    result = _run(str(BIN / "mypy"))
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr
