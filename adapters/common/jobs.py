"""Family-scoped job lookup: a job of another account, family or kind is simply not there."""

from __future__ import annotations

from collections.abc import Container

from gateway.core.errors import NotFound
from gateway.core.jobs import JobInfo
from gateway.runtime import Runtime


def plausible_id(value: str) -> bool:
    """Ids we issue are short and printable; anything else names nothing (and PostgreSQL would
    refuse a NUL in a query parameter)."""
    return 0 < len(value) <= 64 and value.isascii() and value.isprintable()


async def find_job(
    runtime: Runtime,
    job_id: str,
    account_id: str | None,
    *,
    family: str,
    kinds: Container[str],
    fresh: bool = False,
) -> JobInfo:
    """The job, if it is ``account_id``'s (any account's when ``None``: a signed link names
    it) and of this family and kind; ``NotFound`` otherwise. Reads go through the job cache
    unless ``fresh``."""
    job = None
    if plausible_id(job_id) and (account_id is None or plausible_id(account_id)):
        try:
            if account_id is not None and not fresh:
                job = await runtime.job_cache.get(job_id, account_id)
            else:
                job = await runtime.jobs.get(job_id, account_id)
        except NotFound:
            job = None
    if job is None or job.family != family or job.kind not in kinds:
        raise NotFound("job not found", job_id=job_id[:64])
    return job
