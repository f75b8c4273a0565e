"""A resumed ``sleeperhit.story`` job keeps the reads its earlier run finished (READY, their MP3
still stored) and makes only the rest."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from gateway.core.errors import NotFound
from tests.unit.test_table_read import ACCOUNT, FakeScriptWriter, Jobs, Store, envelope, services
from workers.pipelines.table_read import story_task
from workers.tasks import TaskContext


@dataclass
class CountingStore(Store):
    puts: list[str] = field(default_factory=list)

    async def put(
        self, account_id: str, path: str, data: bytes, content_type: str, *, job_id: str = ""
    ) -> Any:
        self.puts.append(path)
        return await super().put(account_id, path, data, content_type, job_id=job_id)

    async def info(self, account_id: str, path: str) -> Any:
        if (account_id, path) not in self.files:
            raise NotFound("file not found")
        return SimpleNamespace(path=path)


async def _run(store: CountingStore, progress: dict[str, Any]) -> dict[str, Any]:
    job = SimpleNamespace(
        id="job_story1",
        account_id=ACCOUNT,
        params={
            "plan": envelope(),
            "artifacts": [
                {"id": "a", "type": "table_read", "durationSeconds": 10},
                {"id": "b", "type": "table_read", "durationSeconds": 10},
            ],
            "seed": 5,
        },
        progress=progress,
    )
    ctx = TaskContext(job=job, services=services(FakeScriptWriter(), Jobs(), store))  # type: ignore[arg-type]
    return await story_task(ctx)


async def test_a_resumed_job_makes_only_what_is_not_ready() -> None:
    store = CountingStore()
    first = (await _run(store, {}))["artifacts"]
    assert set(first) == {"a", "b"} and store.puts
    made_a = first["a"]["audio"]["path"]
    store.puts.clear()
    progress = {"artifacts": {"a": first["a"], "b": {"status": "RUNNING"}}}
    again = (await _run(store, progress))["artifacts"]
    assert again["a"] == first["a"]
    assert store.puts == [first["b"]["audio"]["path"]]
    # A READY entry whose read is gone is made again.
    del store.files[(ACCOUNT, made_a)]
    store.puts.clear()
    again = (await _run(store, {"artifacts": dict(first)}))["artifacts"]
    assert store.puts == [made_a]
    assert again["a"]["status"] == "READY"
