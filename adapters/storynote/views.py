"""Core records as StoryNote's wire shapes: jobs, graph nodes and edges, projects.

Result URLs are absolute and signed (HMAC over account, path and expiry, like StoryMint's), so a
client can hand them to an ``<img>``, a ``<video>`` or another request without its key; storygate
recognises its own links when one comes back as a video's frame.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from datetime import UTC, datetime

from adapters.common.links import signed_params
from contracts.storynote import Edge, Job, JobStatus, Node, NodeType, Project, ProjectGraph
from gateway.core.jobs import JobInfo
from gateway.core.jobs import JobStatus as Core
from gateway.core.projects import ProjectInfo
from gateway.core.storage import Storage

KINDS = ("image", "video", "audio")
FILES_PATH = "/v1/files"

_STATUS = {
    Core.QUEUED: JobStatus.QUEUED,
    Core.RUNNING: JobStatus.PROCESSING,
    Core.SUCCEEDED: JobStatus.COMPLETED,
    Core.FAILED: JobStatus.FAILED,
    Core.CANCELED: JobStatus.FAILED,
}


def stamp(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, as the reference shows (``2025-05-01T12:00:00Z``)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Linker:
    storage: Storage
    base_url: str
    expires_in: int

    def result_url(self, job: JobInfo) -> str | None:
        if job.status is not Core.SUCCEEDED or not job.result or not job.result.get("path"):
            return None
        path = str(job.result["path"])
        query = signed_params(self.storage, job.account_id, path, self.expires_in)
        name = posixpath.basename(path)
        return f"{self.base_url}{FILES_PATH}/{job.id}/{name}?{query}"


def prompt_of(job: JobInfo) -> str:
    p = job.params
    return str(p.get("prompt") or p.get("text") or "")


def error_of(job: JobInfo) -> str | None:
    if job.status is Core.CANCELED:
        return "The job was canceled"
    if job.status is Core.FAILED:
        return job.error_message or "Generation failed"
    return None


def job_of(job: JobInfo, linker: Linker) -> Job:
    url = linker.result_url(job)
    seed = job.params.get("seed")
    return Job(
        id=job.id,
        status=_STATUS[job.status],
        prompt=prompt_of(job),
        model=str(job.params.get("model", "")),
        imageUrl=url if job.kind == "image" else None,
        videoUrl=url if job.kind == "video" else None,
        audioUrl=url if job.kind == "audio" else None,
        seed=int(seed) if isinstance(seed, int) else None,
        error=error_of(job),
        updatedAt=stamp(job.updated_at),
        type=NodeType(job.kind),
        projectId=job.subject_id,
        createdAt=stamp(job.created_at),
    )


def project_of(project: ProjectInfo) -> Project:
    return Project(id=project.id, name=project.name, createdAt=stamp(project.created_at))


def graph_of(project: ProjectInfo, jobs: list[JobInfo], linker: Linker) -> ProjectGraph:
    nodes: list[Node] = []
    urls: dict[str, str | None] = {}
    for job in jobs:
        url = linker.result_url(job)
        urls[job.id] = url
        nodes.append(
            Node(
                id=job.id,
                type=NodeType(job.kind),
                jobId=job.id,
                prompt=prompt_of(job),
                status=_STATUS[job.status],
                url=url,
                model=str(job.params.get("model", "")),
                createdAt=stamp(job.created_at),
            )
        )
    edges: list[Edge] = []
    for job in jobs:
        if job.kind != "video":
            continue
        for role in ("firstFrame", "lastFrame"):
            frame = job.params.get("first" if role == "firstFrame" else "last") or {}
            source = frame.get("job_id")
            if source and source in urls:
                edges.append(
                    Edge(
                        id=f"{source}:{role}:{job.id}",
                        source=source,
                        target=job.id,
                        type=role,
                        imageUrl=urls[source] or str(frame.get("url", "")),
                    )
                )
    return ProjectGraph(
        id=project.id,
        name=project.name,
        nodes=nodes,
        edges=edges,
        createdAt=stamp(project.created_at),
    )
