"""The plan catalogue of each family: ids, names, and the monthly allocation of each wallet.

Plans only say how much of each unit an account gets per month (``None`` = unlimited); how a
family spends those units is that family's policy over the one ledger. Figures come from the
references where they give them; the rest are recorded in docs/compat.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.core.errors import InvalidInput

FAMILIES = ("storymint", "childrenbooks", "storynote", "sleeperhit")


@dataclass(frozen=True, slots=True)
class Plan:
    family: str
    id: str
    display_name: str
    # unit -> monthly allocation; None = unlimited.
    monthly: dict[str, int | None] = field(default_factory=dict)
    # Whether keys of this family can be issued on this plan.
    api_access: bool = True


def _p(family: str, pid: str, name: str, monthly: dict[str, int | None], api: bool = True) -> Plan:
    return Plan(family, pid, name, monthly, api)


def _sm(books: int | None, novels: int | None, pings: int | None) -> dict[str, int | None]:
    return {"storymint.books": books, "storymint.novels": novels, "storymint.pings": pings}


_CATALOGUE: tuple[Plan, ...] = (
    _p("storymint", "free", "Free", _sm(books=1, novels=0, pings=0), api=False),
    _p("storymint", "plus", "Plus", _sm(books=15, novels=3, pings=0), api=False),
    _p("storymint", "max", "Max", _sm(books=50, novels=10, pings=None)),
    _p("storymint", "developer", "Developer", _sm(books=100, novels=0, pings=150)),
    _p("storymint", "schools", "Schools & Organizations", _sm(books=None, novels=None, pings=None)),
    _p("childrenbooks", "free", "Free", {"childrenbooks.credits": 0}, api=False),
    _p("childrenbooks", "pro", "Pro", {"childrenbooks.credits": 500}),
    _p("childrenbooks", "premium", "Premium", {"childrenbooks.credits": 2000}),
    # StoryNote: the app's free tier holds no API key (as the other families' free plans).
    _p("storynote", "free", "Free", {"storynote.credits": 50}, api=False),
    _p("storynote", "pro", "Pro", {"storynote.credits": 2000}),
    _p("storynote", "studio", "Studio", {"storynote.credits": 20000}),
    _p("sleeperhit", "starter", "Starter", {"sleeperhit.credits": 300}),
    _p("sleeperhit", "studio", "Studio", {"sleeperhit.credits": 3000}),
)

# The most capable plan per family: what the embedded demo account gets.
DEMO_PLANS = {
    "storymint": "schools",
    "childrenbooks": "premium",
    "storynote": "studio",
    "sleeperhit": "studio",
}


def wallets() -> tuple[str, ...]:
    """Every unit some plan allocates: the wallets an operator may set an allowance on."""
    return tuple(dict.fromkeys(unit for plan in _CATALOGUE for unit in plan.monthly))


def plans_of(family: str) -> tuple[Plan, ...]:
    check_family(family)
    return tuple(p for p in _CATALOGUE if p.family == family)


def get_plan(family: str, plan_id: str) -> Plan:
    for plan in plans_of(family):
        if plan.id == plan_id:
            return plan
    known = ", ".join(p.id for p in plans_of(family))
    raise InvalidInput(f"unknown {family} plan {plan_id!r} (known: {known})")


def check_family(family: str) -> str:
    if family not in FAMILIES:
        raise InvalidInput(f"unknown family {family!r} (known: {', '.join(FAMILIES)})")
    return family


def default_plan(family: str) -> Plan:
    return plans_of(family)[0]
