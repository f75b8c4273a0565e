"""Where a job's files live in storage, for every family and pipeline alike.

Each job owns one folder, ``jobs/{job_id}/``: its cover, PDF and ZIP at the top, page pictures
under ``pages/``, narration beside them. Pipelines write by these names and adapters find files
by them, so a family never spells a path of its own.
"""

from __future__ import annotations

COVER = "cover.jpg"
PDF = "book.pdf"
ZIP = "book.zip"
PAGES = "pages/"


def job_folder(job_id: str) -> str:
    return f"jobs/{job_id}/"


def job_file(job_id: str, name: str) -> str:
    return f"{job_folder(job_id)}{name}"


def audiobook_file(revision: int) -> str:
    """Narration is kept per revision of the book's words, so an audiobook made while an edit
    landed can never be served for the edited book."""
    return f"audiobook-r{revision}.mp3"


def file_name(job_id: str, path: str) -> str | None:
    """A stored path's name within its job's folder (``pages/`` dropped), or ``None`` when the
    path is not in that job's folder."""
    folder = job_folder(job_id)
    if not path.startswith(folder):
        return None
    rest = path[len(folder) :]
    return rest[len(PAGES) :] if rest.startswith(PAGES) else rest


def source_folder(source_id: str) -> str:
    """A SleeperHit source's files (its extracted text, its original) live beside no job: the
    source outlives the jobs that read it."""
    return f"sources/{source_id}/"


def source_text(source_id: str) -> str:
    return f"{source_folder(source_id)}text.txt"


def source_original(source_id: str) -> str:
    return f"{source_folder(source_id)}original"


def path_of(job_id: str, name: str) -> str:
    """The inverse of ``file_name``: page pictures (``page_*``) live under ``pages/``."""
    return job_file(job_id, f"{PAGES}{name}" if name.startswith("page_") else name)
