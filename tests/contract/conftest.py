"""Settles each contract test's ledger of schemathesis failures after its body has run (see
``harness``), and marks as strict xfails the parametrized tests whose operation a known issue
of the module (``KNOWN_ISSUES``) lists under ``xfail``: expected to fail with exactly those
issues, failing outright on anything else or once an issue is fixed (then drop it)."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import pytest

from tests.contract import harness


def _operation(item: pytest.Item) -> str | None:
    """``POST /api/generate`` for ``test_responses_conform[POST /api/generate]``."""
    name = item.name
    return name[name.index("[") + 1 : -1] if name.endswith("]") and "[" in name else None


def _expected(item: pytest.Item) -> list[harness.KnownIssue]:
    known: Sequence[harness.KnownIssue] = getattr(getattr(item, "module", None), "KNOWN_ISSUES", ())
    operation = _operation(item)
    return [issue for issue in known if operation in issue.xfail]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if expected := _expected(item):
            reason = "; ".join(f"{issue.id}: {issue.reason}" for issue in expected)
            item.add_marker(
                pytest.mark.xfail(strict=True, raises=harness.KnownIssuesReproduced, reason=reason)
            )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    known = getattr(getattr(item, "module", None), "KNOWN_ISSUES", None)
    if known is None:
        return (yield)
    with harness.ledger(known) as ledger:
        result = yield
    ledger.settle(_expected(item))
    return result
