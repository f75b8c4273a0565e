"""Schemathesis against the checked-in ``openapi/storymint.json`` on a live server: generated
requests (valid and invalid) never get a 5xx, and every response matches the document (status
code, content type, headers, body schema).

The account is a Developer one whose book allowance is cut to two, so generated generate calls
soon get the documented 403 instead of filling the server with books; several keys share the
requests so the per-key rate limit rarely answers first."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.runtime import Runtime
from tests.e2e.storymint_support import StoryMint, start_storymint

DOCUMENT = Path(__file__).resolve().parents[2] / "openapi" / "storymint.json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StoryMint, Iterator[str]]]:
    family = start_storymint(tmp_path_factory.mktemp("storymint-schema"), {}, {"dev": "developer"})
    dev = family.accounts["dev"]

    async def prepare(rt: Runtime) -> list[str]:
        await rt.ledger.set_allocation(dev.id, "storymint.books", 2)
        extra = [await rt.keys.create(dev.id, "storymint", label=f"k{i}") for i in range(4)]
        return [k.raw for k in extra]

    keys = [dev.key, *family.core(prepare)]
    yield family, itertools.cycle(keys)
    family.stop()


schema = schemathesis.openapi.from_path(DOCUMENT)


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_responses_conform(case: schemathesis.Case, live: tuple[StoryMint, Iterator[str]]) -> None:
    family, keys = live
    case.call_and_validate(
        base_url=family.base,
        headers={"X-API-Key": next(keys)},
        checks=CHECKS,
        timeout=30,
    )
