"""Schemathesis against the checked-in ``openapi/sleeperhit.json`` on a live server, with every
check it has (see ``harness``): no 5xx; every response as documented; invalid data refused and
valid data accepted; no success without the bearer key or with a wrong one; a 405 with
``Allow`` for an undocumented method; another tenant's project, source, plan or job not
readable; and, in the stateful run (a project, its sources and plans, a plan's approval or
rejection, a job), what was just made readable and what was deleted gone.

The key holds every scope, the tenant's per-minute limits are lifted and its credits are
plenty, so no operation is left untested behind 403s, 429s or 402s."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.transport import Response

from gateway.runtime import Runtime
from tests.contract import harness
from tests.e2e.sleeperhit_harness import UNIT, SleeperHitServer, start

DOCUMENT = Path(__file__).resolve().parents[2] / "openapi" / "sleeperhit.json"
# The reference's bearer key, as an API key in the Authorization header: the value generated
# or probed is the whole header ("Bearer sh_..." or a wrong one), which is what the checks
# need (``ignored_auth`` removes it or replaces it with an invalid one).
AUTH = "Authorization"

PROJECTS = "/api/v1/story-projects"
PROJECT = f"{PROJECTS}/{{project_id}}"
SOURCES = f"{PROJECT}/sources"
PLANS = f"{PROJECT}/story-plans"
PLAN = "/api/v1/story-plans/{plan_id}"
JOBS = "/api/v1/story-jobs"
JOB = f"{JOBS}/{{job_id}}"

PROJECT_ID = {"project_id": "$response.body#/project/id"}
SOURCE_ID = {"project_id": "$request.path.project_id", "source_id": "$response.body#/source/id"}
PLAN_ID = {"plan_id": "$response.body#/plan/id"}
JOB_ID = {"job_id": "$response.body#/job/id"}

LINKS: list[harness.Link] = [
    *(
        (f"POST {PROJECTS}", "200", target, PROJECT_ID)
        for target in (
            f"GET {PROJECT}",
            f"PATCH {PROJECT}",
            f"DELETE {PROJECT}",
            f"POST {SOURCES}",
            f"POST {PLANS}",
        )
    ),
    (f"POST {SOURCES}", "200", f"GET {SOURCES}/{{source_id}}", SOURCE_ID),
    *(
        (f"POST {PLANS}", "200", target, PLAN_ID)
        for target in (f"GET {PLAN}", f"POST {PLAN}/approve", f"POST {PLAN}/reject")
    ),
    *((f"POST {JOBS}", "200", target, JOB_ID) for target in (f"GET {JOB}", f"POST {JOB}/cancel")),
]

# Ids of resources whose creation answer was a replay (Idempotency-Replayed: true).
REPLAYED: set[str] = set()


@dataclass
class Tenant:
    key: str

    def headers(self) -> dict[str, str]:
        return {AUTH: f"Bearer {self.key}"}

    def after(self, case: schemathesis.Case, response: Response) -> None:
        if response.headers.get("idempotency-replayed") != ["true"]:
            return
        try:
            body = json.loads(harness.body_text(response))
        except ValueError:
            return
        for kind in ("project", "source", "plan", "job"):
            found = body.get(kind) if isinstance(body, dict) else None
            if isinstance(found, dict) and isinstance(found.get("id"), str):
                REPLAYED.add(found["id"])


def _names_replayed(case: schemathesis.Case, response: Response, _: object) -> bool:
    return any(value in REPLAYED for value in (case.path_parameters or {}).values())


_DOCUMENTED = harness.documented_methods(DOCUMENT)


def _error_code(response: Response) -> str | None:
    try:
        return str(json.loads(harness.body_text(response))["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


KNOWN_ISSUES: list[harness.KnownIssue] = [
    # Not a defect but idempotency: generated Idempotency-Keys repeat ("0", "a"), and the same
    # key with the same body replays the first answer, as the reference says, even once what
    # it made is deleted; a step on the replayed (deleted) resource then finds it gone.
    harness.KnownIssue(
        "SH-replayed-creation-deleted",
        frozenset({"ST302"}),
        frozenset(
            f"{method} {path}"
            for path, methods in _DOCUMENTED.items()
            for method in methods
            if "{" in path
        ),
        "a creation replayed under a reused Idempotency-Key names a resource since deleted",
        match=_names_replayed,
    ),
    # Not a defect to fix but the nature of a URL (as StoryNote's frame URLs): a url or pdf
    # source's uri the document allows (an http(s) URL) may name a host that does not resolve
    # (this machine resolves nothing outside) or a private address, or be no URL at all past
    # what a pattern can tell; the synchronous pre-fetch check refuses it as the reference
    # says, source_fetch_failed (422). The end-to-end tests cover the fetcher's answers.
    harness.KnownIssue(
        "SH-source-url-unfetchable",
        frozenset({"ST202"}),
        frozenset({f"POST {SOURCES}"}),
        "a schema-valid source URL that cannot be fetched from here is source_fetch_failed",
        match=lambda case, response, failure: (
            response.status_code == 422 and _error_code(response) == "source_fetch_failed"
        ),
    ),
    # Not a defect but the reference's rule: artifactRequests[].type is its whole vocabulary
    # (table_read, pitch_deck, storyboard, trailer, production_video), and a request for one
    # that capabilities call "planned" on this server (all but table_read) is validated
    # synchronously and refused as validation_failed naming the field.
    harness.KnownIssue(
        "SH-planned-artifact-type",
        frozenset({"ST202"}),
        frozenset({f"POST {PLANS}", f"POST {JOBS}"}),
        "an artifact type the reference names but this server has only planned is refused",
        match=lambda case, response, failure: (
            response.status_code == 422
            and "is planned, not available on this server" in harness.body_text(response)
        ),
    ),
    # Not a defect but a rule OpenAPI cannot state: `scope=character` needs `character`, two
    # query parameters the document can only list independently; the answer names the field.
    harness.KnownIssue(
        "SH-script-character-required",
        frozenset({"ST202"}),
        frozenset({"GET /api/v1/artifacts/{artifact_id}/script"}),
        "scope=character without a character is refused as validation_failed naming it",
        match=lambda case, response, failure: (
            response.status_code == 422
            and "character is required when scope is character" in harness.body_text(response)
        ),
    ),
]


@dataclass
class Live:
    service: SleeperHitServer
    tenant: Tenant
    account_id: str

    @property
    def base(self) -> str:
        return self.service.base


# The worked examples are public (the reference: no key needed).
schema = harness.load(DOCUMENT, LINKS, api_key=AUTH, keyless=["GET /api/v1/examples"])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("sh-schema")
    service = start(
        tmp, {"STORYGATE_ANONYMOUS_PER_MINUTE": "0", "STORYGATE_FETCH_TIMEOUT_SECONDS": "2"}
    )
    tenant = service.tenant(credits=10_000_000, unmetered=True)
    peer = service.tenant()
    assert service.spendable(tenant) == 10_000_000
    keys = {"owner": f"Bearer {tenant.key}", "peer": f"Bearer {peer.key}"}
    harness.add_peers(schema, AUTH, keys, tmp)
    yield Live(service, Tenant(tenant.key), tenant.account_id)
    schema.auth.providers.clear()
    service.server.stop()


@schema.parametrize()
@settings(
    max_examples=30,
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
    steps = harness.run_stateful(machine, scenarios=40, steps=10)
    assert steps[f"GET {PROJECT} -> 200"], sorted(steps.items())


def test_credits_were_spent_only_on_accepted_work(live: Live) -> None:
    async def audit(rt: Runtime) -> bool:
        return await rt.ledger.audit(live.account_id, UNIT)

    assert live.service.core(audit)
