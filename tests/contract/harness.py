"""What both contract modules share: the schema under every check schemathesis has (the pytest
form of ``schemathesis run --checks all``), one way to send a generated case and judge its answer,
the stateful machine built on the same pieces, and the ledger of failures.

A failure does not stop the run at the first example (as a plain Hypothesis test would): the
ledger keeps every distinct one, so a known failure on an operation cannot hide a new one on the
same operation, and the test fails at its end with all of them (``conftest.py`` settles the
ledger after the test body). Failures a module lists in ``KNOWN_ISSUES`` (production changes
reported, not yet made) do not fail it: a parametrized test named in an issue's ``xfail``
reproduces it every run and is a strict xfail (failing outright on anything else, or once the
issue is gone); elsewhere (the stateful run, a failure that depends on timing) a known issue is
tolerated with a ``KnownIssueSeen`` warning."""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import hypothesis
import hypothesis.errors
import schemathesis
from schemathesis.checks import CHECKS, CheckFunction, is_check_class, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.transport import Response
from schemathesis.generation.stateful.state_machine import APIStateMachine
from schemathesis.wfc.integration import register_wfc_auth

# `schemathesis run --checks all` runs these (see `schemathesis run --help`).
BUILTIN_CHECKS = frozenset(
    {
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "positive_data_acceptance",
        "missing_required_header",
        "unsupported_method",
        "allow_header_conformance",
        "use_after_free",
        "ensure_resource_availability",
        "ignored_auth",
        "object_level_authorization",
    }
)


def every_check() -> list[CheckFunction]:
    """Every response check schemathesis has registered: ``--checks all``."""
    load_all_checks()
    checks = [check for check in CHECKS.get_all() if not is_check_class(check)]
    missing = BUILTIN_CHECKS - {check.__name__ for check in checks}
    assert not missing, f"schemathesis no longer registers {sorted(missing)}"
    return checks


ALL_CHECKS = every_check()
TIMEOUT = 30

# (source operation, status, target operation, target parameters as runtime expressions)
Link = tuple[str, str, str, dict[str, str]]


def load(
    document: Path, links: Sequence[Link] = (), *, api_key: str, keyless: Sequence[str] = ()
) -> Any:
    """The checked-in document with two additions its generator does not make (they are
    reported): OpenAPI links for the stateful run, and the API key as a security scheme, so
    the ``ignored_auth`` check has something to check (a request without the key, or with a
    wrong one, must not succeed). ``keyless`` operations take the key optionally. Loaded under
    schemathesis' defaults, not any config file lying around."""
    doc = json.loads(document.read_text())
    operations = {
        f"{method.upper()} {path}": operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "responses" in operation
    }
    for source, status, target, parameters in links:
        target_id = operations[target]["operationId"]
        link = {"operationId": target_id, "parameters": dict(parameters)}
        responses = operations[source]["responses"][status]
        responses.setdefault("links", {})[target_id] = link
    scheme = {"type": "apiKey", "in": "header", "name": api_key}
    doc.setdefault("components", {}).setdefault("securitySchemes", {})["ApiKey"] = scheme
    doc["security"] = [{"ApiKey": []}]
    for label in keyless:
        operations[label]["security"] = [{"ApiKey": []}, {}]
    return schemathesis.openapi.from_dict(
        doc,
        config=SchemathesisConfig.from_dict({"generation": {"with-security-parameters": False}}),
    )


def add_peers(schema: Any, header: str, keys: dict[str, str], directory: Path) -> None:
    """Tenants as the ``[auth.wfc]`` peers of ``schemathesis run`` (a Web Fuzzing Commons auth
    document): requests go as the first, and ``object_level_authorization`` replays each of
    its successful reads of an object it made as the others, who must not get it."""
    path = directory / "peers.json"
    users = [
        {"name": name, "fixedHeaders": [{"name": header, "value": key}]}
        for name, key in keys.items()
    ]
    path.write_text(json.dumps({"auth": users}))
    wfc = {"path": str(path), "user": next(iter(keys)), "peers": list(keys)}
    config = SchemathesisConfig.from_dict({"auth": {"wfc": wfc}}).projects.get_default()
    register_wfc_auth(schema, config.auth.wfc)


class Caller(Protocol):
    """Credentials for the next request, and a look at each answer (a StoryMint key revoked by
    a generated DELETE is replaced, so the run goes on authenticated)."""

    def headers(self) -> dict[str, str]: ...

    def after(self, case: schemathesis.Case, response: Response) -> None: ...


@dataclass(frozen=True)
class KnownIssue:
    """A failure reported for a production fix: its schemathesis codes, the operations whose
    cases may show it, what singles it out from other failures with those codes, and the
    parametrized tests (by operation) that reproduce it every run, so xfail strictly."""

    id: str
    codes: frozenset[str]
    operations: frozenset[str]
    reason: str
    match: Callable[[schemathesis.Case, Response, Failure], bool] = lambda *_: True
    xfail: frozenset[str] = frozenset()

    def covers(self, failure: Failure, case: schemathesis.Case, response: Response) -> bool:
        return (
            failure.code in self.codes
            and case.operation.label in self.operations
            and self.match(case, response, failure)
        )


def body_text(response: Response) -> str:
    return response.content.decode(errors="replace") if response.content else ""


class KnownIssueSeen(UserWarning):
    """A known issue a test tolerates (the stateful run, or one not reproducible every run)."""


class KnownIssuesReproduced(AssertionError):
    """Raised at the end of a test whose only failures are known issues (its strict xfail)."""


@dataclass
class Ledger:
    known: Sequence[KnownIssue]
    unknown: dict[tuple[str, str, str, str], str] = field(default_factory=dict)
    seen: dict[str, str] = field(default_factory=dict)

    def record(self, case: schemathesis.Case, response: Response, group: FailureGroup) -> None:
        for failure in group.exceptions:
            issue = next((k for k in self.known if k.covers(failure, case, response)), None)
            if issue is not None:
                self.seen.setdefault(issue.id, f"{case.operation.label}: {report(group)}")
                continue
            key = (failure.code, case.operation.label, failure.title, failure.message)
            self.unknown.setdefault(key, f"{case.operation.label}: {report(group)}")

    def settle(self, expected: Sequence[KnownIssue]) -> None:
        """Fail on any failure no known issue covers. A test expected to show known issues
        (its strict xfail) must show every one of them; other known ones are tolerated."""
        if self.unknown:
            raise AssertionError(
                f"{len(self.unknown)} distinct schemathesis failure(s):\n\n"
                + "\n".join(self.unknown.values())
            )
        tolerated = sorted(set(self.seen) - {issue.id for issue in expected})
        if tolerated:
            where = ", ".join(
                f"{issue} ({self.seen[issue].split(':', 1)[0]})" for issue in tolerated
            )
            warnings.warn(KnownIssueSeen(f"known issue(s) seen: {where}"), stacklevel=1)
        if not expected:
            return
        gone = [issue.id for issue in expected if issue.id not in self.seen]
        if gone:
            raise AssertionError(f"known issue(s) {gone} no longer reproduce here: drop them")
        raise KnownIssuesReproduced(
            "\n".join(f"{issue}:\n{message}" for issue, message in self.seen.items())
        )


def report(group: FailureGroup) -> str:
    """Schemathesis' own account of the failures: each check, the response, a curl line."""
    return group.message.split("\n", 1)[-1].strip() + "\n"


_active: list[Ledger] = []


@contextmanager
def ledger(known: Sequence[KnownIssue]) -> Iterator[Ledger]:
    _active.append(Ledger(known))
    try:
        yield _active[-1]
    finally:
        _active.pop()


def judge(
    case: schemathesis.Case,
    response: Response,
    headers: dict[str, str],
    base_url: str,
    recorder: Any = None,
) -> None:
    """Every check on one answer; failures go to the test's ledger (or raise without one)."""
    try:
        case.validate_response(
            response,
            checks=ALL_CHECKS,
            headers=headers,
            transport_kwargs={"base_url": base_url, "headers": headers, "timeout": TIMEOUT},
            recorder=recorder,
        )
    except FailureGroup as group:
        if not _active:
            raise
        _active[-1].record(case, response, group)


def exercise(case: schemathesis.Case, base_url: str, caller: Caller) -> Response:
    """Send one generated case to the live server and judge the answer."""
    headers = caller.headers()
    response = case.call(base_url=base_url, headers=headers, timeout=TIMEOUT)
    caller.after(case, response)
    judge(case, response, headers, base_url)
    return response


def state_machine(schema: Any, base_url: str, caller: Caller) -> type[APIStateMachine]:
    """The schema's stateful machine (the explicit links plus those schemathesis infers)
    against the live server, every check on each step, with the scenario's history at hand
    for the stateful checks (use after free, resource availability)."""

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        # "operation -> status" counts, shared by the suites (subclasses) run_stateful makes.
        tally: Counter[str] = Counter()

        def setup(self) -> None:
            self.tally["scenarios"] += 1

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": base_url, "headers": caller.headers(), "timeout": TIMEOUT}

        def after_call(self, response: Response, case: schemathesis.Case) -> None:
            super().after_call(response, case)
            self.tally[f"{case.operation.label} -> {response.status_code}"] += 1
            caller.after(case, response)

        def validate_response(
            self, response: Response, case: schemathesis.Case, *_: Any, **kwargs: Any
        ) -> None:
            judge(case, response, kwargs["headers"], base_url, self.recorder)

    return Machine


def run_stateful(
    machine: type[APIStateMachine], *, scenarios: int, steps: int, max_suites: int = 20
) -> Counter[str]:
    """Run ``scenarios`` scenarios of up to ``steps`` steps, as suites with seeds 0, 1, ...;
    the "operation -> status" counts of every step.

    What a scenario can draw depends on the server's earlier answers (a generate that got a
    job id the first time gets the quota's 403 later), which Hypothesis reports as flaky data
    generation when it revisits a path; like ``schemathesis run``'s stateful phase, that ends
    the suite, and the next one goes on with the next seed."""
    done = suites = 0
    while done < scenarios and suites < max_suites:
        before = machine.tally["scenarios"]  # type: ignore[attr-defined]
        suite = hypothesis.seed(suites)(type(f"Suite{suites}", (machine,), {}))
        suite.rule_order_seed = suites
        try:
            suite.run(
                settings=hypothesis.settings(
                    max_examples=scenarios - done,
                    stateful_step_count=steps,
                    deadline=None,
                    database=None,
                    phases=[hypothesis.Phase.generate],
                    suppress_health_check=list(hypothesis.HealthCheck),
                )
            )
        except hypothesis.errors.FlakyStrategyDefinition:
            pass
        done += machine.tally["scenarios"] - before  # type: ignore[attr-defined]
        suites += 1
    assert done >= scenarios, f"only {done} of {scenarios} scenarios ran in {suites} suites"
    return machine.tally  # type: ignore[attr-defined]


# The methods `schemathesis run` tries on a path that does not list them (`unsupported_method`,
# ST204, wants a 405 with an `Allow` header); it also sends OPTIONS, whose `Allow` the
# `allow_header_conformance` check (ST205) compares with the document.
UNDECLARED = ("GET", "PUT", "POST", "DELETE", "PATCH", "TRACE", "QUERY")
IMPLICIT = {"OPTIONS", "HEAD"}


HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace", "query"}


def documented_methods(document: Path) -> dict[str, set[str]]:
    paths = json.loads(document.read_text())["paths"]
    return {
        path: {method.upper() for method in item if method in HTTP_METHODS}
        for path, item in paths.items()
    }


def undeclared_method_mismatches(
    document: Path, base_url: str, headers: dict[str, str]
) -> list[tuple[str, str, int, str | None]]:
    """Each method the document does not list on a path, sent there with a valid key (path
    parameters filled in: the router answers before any handler looks them up), whose answer
    is not a 405 with an ``Allow`` naming exactly the documented methods (and perhaps OPTIONS
    or HEAD, which frameworks answer themselves): (method, path, status, Allow)."""
    wrong = []
    with httpx.Client(headers=headers, timeout=TIMEOUT) as client:
        for path, documented in documented_methods(document).items():
            url = base_url + re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000000", path)
            for method in UNDECLARED:
                if method in documented:
                    continue
                response = client.request(method, url)
                allow = response.headers.get("allow")
                named = {m.strip().upper() for m in (allow or "").split(",") if m.strip()}
                if response.status_code != 405 or named - IMPLICIT != documented:
                    wrong.append((method, path, response.status_code, allow))
    return wrong
