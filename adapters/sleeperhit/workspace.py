"""Projects and their sources: SleeperHit's workspace, over the core's records and jobs.

Inline text is measured and stored when it arrives (``READY`` at once); a URL or PDF is only
vetted here — a scheme or literal address the fetcher refuses is ``source_fetch_failed`` now —
and read by the source's job through the same SSRF-safe fetcher. Every source has a job, which
writes its digest. A refused request leaves nothing: no row, no file, no job.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from adapters.common.pages import next_cursor, page_cursor, page_limit
from adapters.sleeperhit.auth import FAMILY, Caller
from adapters.sleeperhit.errors import MAX_INLINE_BYTES, ShError, invalid, too_large
from adapters.sleeperhit.views import iso, project_view, source_view
from gateway.core import layout
from gateway.core.errors import NotFound
from gateway.core.fetcher import FetchRefused
from gateway.core.ids import new_job_id
from gateway.core.jobs import JobInfo
from gateway.core.projects import ProjectInfo
from gateway.core.story_sources import SourceInfo, measure, new_source_id

PAGE_DEFAULT = 20
PAGE_MAX = 100
SOURCE_KIND = "sleeperhit.source"
SOURCE_TYPES = {"text": "TEXT", "markdown": "MARKDOWN", "url": "URL", "pdf": "PDF"}
DESCRIPTION_MAX = 4000


def project_missing() -> ShError:
    return ShError("project_not_found", "Project not found")


def source_missing() -> ShError:
    return ShError("source_not_found", "Source not found")


def _page(limit: str | None, cursor: str | None) -> tuple[int, Any]:
    return page_limit(limit, default=PAGE_DEFAULT, maximum=PAGE_MAX), page_cursor(cursor)


class Workspace:
    def __init__(self, runtime: Any, caller: Caller) -> None:
        self.rt = runtime
        self.account = caller.account_id

    # -- projects ----------------------------------------------------------------------------

    async def project(self, project_id: str) -> ProjectInfo:
        try:
            return await self.rt.projects.get(project_id, self.account, FAMILY)
        except NotFound:
            raise project_missing() from None

    async def _project_view(self, project: ProjectInfo) -> dict[str, Any]:
        counts = await self.rt.story_sources.counts(self.account, [project.id])
        return {"project": project_view(project, counts.get(project.id, 0))}

    async def create_project(self, body: Any) -> dict[str, Any]:
        _check_description(body.description)
        project = await self.rt.projects.create(
            self.account, FAMILY, body.name, description=body.description, meta=body.metadata
        )
        return {"project": project_view(project, 0)}

    async def projects(self, limit: str | None, cursor: str | None) -> dict[str, Any]:
        size, after = _page(limit, cursor)
        found, more = await self.rt.projects.page(self.account, FAMILY, limit=size, after=after)
        counts = await self.rt.story_sources.counts(self.account, [p.id for p in found])
        return {
            "projects": [project_view(p, counts.get(p.id, 0)) for p in found],
            "nextCursor": next_cursor(more),
        }

    async def get_project(self, project_id: str) -> dict[str, Any]:
        return await self._project_view(await self.project(project_id))

    async def patch_project(self, project_id: str, body: Any) -> dict[str, Any]:
        changes = {
            name: value
            for name, value in (
                ("name", body.name),
                ("description", body.description),
                ("meta", body.metadata),
                ("archived", body.archived),
            )
            if value is not msgspec.UNSET
        }
        if "name" in changes and changes["name"] is None:
            raise invalid("name cannot be null", field="name")
        if "archived" in changes and changes["archived"] is None:
            raise invalid("archived must be true or false", field="archived")
        _check_description(changes.get("description"))
        try:
            project = await self.rt.projects.update(project_id, self.account, FAMILY, changes)
        except NotFound:
            raise project_missing() from None
        return await self._project_view(project)

    async def delete_project(self, project_id: str) -> dict[str, Any]:
        try:
            project = await self.rt.projects.delete(project_id, self.account, FAMILY)
        except NotFound:
            raise project_missing() from None
        return {"id": project.id, "deletedAt": iso(project.deleted_at)}

    # -- sources -----------------------------------------------------------------------------

    async def _source_job(self, source: SourceInfo) -> JobInfo | None:
        if source.job_id is None:
            return None
        jobs = await self.rt.jobs.many([source.job_id], self.account, family=FAMILY)
        return jobs[0] if jobs else None

    async def source(self, project_id: str, source_id: str) -> SourceInfo:
        await self.project(project_id)
        try:
            return await self.rt.story_sources.get(source_id, self.account, project_id)
        except NotFound:
            raise source_missing() from None

    async def create_source(self, project_id: str, body: Any) -> dict[str, Any]:
        await self.project(project_id)
        kind = SOURCE_TYPES.get(str(body.type).lower()) if isinstance(body.type, str) else None
        if kind is None:
            raise ShError(
                "source_type_unsupported",
                f"Source type {str(body.type)[:40]!r} is not supported; "
                "see /api/v1/capabilities sources.types",
                details={"supported": list(SOURCE_TYPES)},
            )
        source_id, job_id = new_source_id(), new_job_id()
        extraction = None
        stored: str | None = None
        if kind in ("TEXT", "MARKDOWN"):
            content = body.content
            if not isinstance(content, str) or not content.strip():
                raise invalid(f"content is required for {body.type} sources", field="content")
            data = content.encode("utf-8")
            if len(data) > MAX_INLINE_BYTES:
                raise too_large()
            # METADATA_ONLY keeps no preview: the preview is content.
            extraction = measure(content, preview=body.retentionPolicy != "METADATA_ONLY")
            stored = layout.source_text(source_id)
        else:
            if not isinstance(body.uri, str) or not body.uri:
                raise invalid(f"uri is required for {body.type} sources", field="uri")
            try:
                await self.rt.fetcher.check(body.uri, what="uri")
            except FetchRefused as exc:
                raise ShError("source_fetch_failed", exc.message) from None
        params = {
            "source_id": source_id,
            "type": kind,
            "uri": body.uri if kind in ("URL", "PDF") else None,
            "retention": body.retentionPolicy,
            "text_path": stored,
            "seed": int(hashlib.sha256(source_id.encode()).hexdigest()[:8], 16),
        }
        if stored is not None:
            await self.rt.storage.put(
                self.account, stored, data, "text/plain; charset=utf-8", job_id=job_id
            )
        try:
            source = await self.rt.story_sources.create(
                source_id,
                self.account,
                project_id,
                type=kind,
                retention=body.retentionPolicy,
                job_id=job_id,
                label=body.label,
                uri=params["uri"],
                meta=body.metadata,
                extraction=extraction,
            )
            job = await self.rt.admission.admit(
                self.account, FAMILY, SOURCE_KIND, params, subject_id=source_id, job_id=job_id
            )
        except BaseException:
            await self.rt.story_sources.forget(source_id)
            await self.rt.storage.delete_prefix(self.account, layout.source_folder(source_id))
            raise
        return {"source": source_view(source, job)}

    async def sources(
        self, project_id: str, limit: str | None, cursor: str | None
    ) -> dict[str, Any]:
        await self.project(project_id)
        size, after = _page(limit, cursor)
        found, more = await self.rt.story_sources.page(
            self.account, project_id, limit=size, after=after
        )
        jobs = await self.rt.jobs.many(
            [s.job_id for s in found if s.job_id], self.account, family=FAMILY
        )
        by_id = {j.id: j for j in jobs}
        return {
            "sources": [source_view(s, by_id.get(s.job_id or "")) for s in found],
            "nextCursor": next_cursor(more),
        }

    async def get_source(self, project_id: str, source_id: str) -> dict[str, Any]:
        source = await self.source(project_id, source_id)
        return {"source": source_view(source, await self._source_job(source))}

    async def delete_source(self, project_id: str, source_id: str) -> dict[str, Any]:
        await self.project(project_id)
        try:
            source = await self.rt.story_sources.delete(source_id, self.account, project_id)
        except NotFound:
            raise source_missing() from None
        return {"id": source.id, "deletedAt": iso(source.deleted_at)}


def _check_description(description: Any) -> None:
    if isinstance(description, str) and len(description) > DESCRIPTION_MAX:
        raise invalid(
            f"description must be at most {DESCRIPTION_MAX} characters", field="description"
        )
