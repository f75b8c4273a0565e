"""Schemathesis against the checked-in ``openapi/childrenbooks.json`` on a live server: generated
requests (valid and invalid) never get a 5xx, and every response matches the document (status
code, content type, headers, body schema).

The account's monthly credits are cut to 30, so generated creates soon get the documented 402
instead of filling the server with books; a few keys share the requests so the per-key rate
limit rarely answers first."""

from __future__ import annotations

import itertools
import json
import logging
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

from gateway.app import create_app, family_openapi
from gateway.runtime import Runtime
from gateway.settings import load_settings
from tests.e2e.childrenbooks_support import UNIT, ChildrenBooks, start

DOCUMENT = Path(__file__).resolve().parents[2] / "openapi" / "childrenbooks.json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ChildrenBooks, Iterator[str]]]:
    service = start(tmp_path_factory.mktemp("cb-schema"))
    tenants = service.tenants("premium")

    async def prepare(rt: Runtime) -> list[str]:
        account = tenants[0].account_id
        await rt.ledger.set_allocation(account, UNIT, 30)
        return [(await rt.keys.create(account, "childrenbooks")).raw for _ in range(3)]

    keys = [tenants[0].key, *service.core(prepare)]
    yield service, itertools.cycle(keys)
    service.stop()


schema = schemathesis.openapi.from_path(DOCUMENT)


def test_the_document_is_what_the_app_generates(tmp_path: Path) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        app = create_app(load_settings(env={}, backends="instant", data_dir=tmp_path / "data"))
        generated = json.loads(json.dumps(family_openapi(app)["childrenbooks"]))
    finally:
        root.handlers[:], root.level = handlers, level
    assert json.loads(DOCUMENT.read_text()) == generated, "run `storygate openapi`"
    assert all(path.startswith("/v1/stories") for path in generated["paths"])


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_responses_conform(
    case: schemathesis.Case, live: tuple[ChildrenBooks, Iterator[str]]
) -> None:
    service, keys = live
    case.call_and_validate(
        base_url=service.base,
        headers={"x-api-key": next(keys)},
        checks=CHECKS,
        timeout=30,
    )
