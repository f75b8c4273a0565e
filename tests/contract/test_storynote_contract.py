"""Schemathesis against the checked-in ``openapi/storynote.json`` on a live server, with every
check it has (see ``harness``): no 5xx; every response as documented; invalid data refused and
valid data accepted; no success without the key; a 405 with ``Allow`` for an undocumented
method; another tenant's project or job not readable; and, in the stateful run, a project and a
job readable as soon as they are made.

The tenant's per-minute limits are lifted and its credits are plenty, so no operation is left
untested behind 429s or 402s. The event stream never ends by design, so it is left to the
end-to-end tests; frame URLs a generated case names are fetched with a short timeout."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.transport import Response

from tests.contract import harness
from tests.e2e.storynote_harness import UNIT, StoryNoteServer, start

DOCUMENT = Path(__file__).resolve().parents[2] / "openapi" / "storynote.json"

LINKS: list[harness.Link] = [
    (
        "POST /v1/projects",
        "201",
        "GET /v1/projects/{project_id}",
        {"project_id": "$response.body#/id"},
    ),
    (
        "POST /v1/projects",
        "201",
        "POST /v1/projects/{project_id}/image",
        {"project_id": "$response.body#/id"},
    ),
    (
        "POST /v1/projects/{project_id}/image",
        "202",
        "GET /v1/jobs/{job_id}",
        {"job_id": "$response.body#/jobId"},
    ),
]

_VIDEO = frozenset(
    {"POST /v1/projects/{project_id}/video", "POST /api/v1/projects/{project_id}/video"}
)

# Not a defect to fix but the nature of a URL: a frame URL the document allows may name a host
# that does not resolve (this machine resolves nothing outside) or a private address, and is
# then refused with 400 naming the field. The end-to-end tests cover the fetcher's answers.
KNOWN_ISSUES: list[harness.KnownIssue] = [
    harness.KnownIssue(
        "SN-frame-url-unreachable",
        frozenset({"ST202"}),
        _VIDEO,
        "a schema-valid frame URL that cannot be fetched from here is a 400",
        match=lambda case, response, failure: (
            "Frame.imageUrl" in harness.body_text(response)
            and "Invalid request body" not in harness.body_text(response)
        ),
    ),
]


@dataclass
class Tenant:
    key: str

    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.key}

    def after(self, case: schemathesis.Case, response: Response) -> None:
        pass


@dataclass
class Live:
    service: StoryNoteServer
    tenant: Tenant

    @property
    def base(self) -> str:
        return self.service.base


schema = harness.load(DOCUMENT, LINKS, api_key="x-api-key").exclude(path_regex="events/stream")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("sn-schema")
    service = start(
        tmp, {"STORYGATE_ANONYMOUS_PER_MINUTE": "0", "STORYGATE_FETCH_TIMEOUT_SECONDS": "2"}
    )
    tenant = service.tenant("studio", credits=10_000_000, unmetered=True)
    peer = service.tenant("studio")
    assert service.spendable(tenant) == 10_000_000
    harness.add_peers(schema, "x-api-key", {"owner": tenant.key, "peer": peer.key}, tmp)
    yield Live(service, Tenant(tenant.key))
    schema.auth.providers.clear()
    service.server.stop()


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_responses_conform(case: schemathesis.Case, live: Live) -> None:
    harness.exercise(case, live.base, live.tenant)


def test_undeclared_methods_are_405_naming_the_documented_ones(live: Live) -> None:
    assert harness.undeclared_method_mismatches(DOCUMENT, live.base, live.tenant.headers()) == []


def test_stateful(live: Live) -> None:
    machine = harness.state_machine(schema, live.base, live.tenant)
    steps = harness.run_stateful(machine, scenarios=25, steps=6)
    assert steps["GET /v1/projects/{project_id} -> 200"], sorted(steps.items())


def test_credits_were_spent_only_on_accepted_work(live: Live) -> None:
    async def audit(rt: object) -> bool:
        from gateway.runtime import Runtime

        assert isinstance(rt, Runtime)
        accounts = await rt.keys.verify(live.tenant.key, "storynote")
        return await rt.ledger.audit(accounts.account_id, UNIT)

    assert live.service.core(audit)
