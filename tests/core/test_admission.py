"""Admission, on both databases: every charge held for the job, the job created within its daily
cap, submitted; any step failing undoes the ones before it, so nothing is left behind."""

from __future__ import annotations

import pytest

from gateway.core.admission import Admission, Charge, Order
from gateway.core.errors import InsufficientFunds, QuotaExceeded, Unavailable
from gateway.core.events import MemoryEventBus
from gateway.core.jobs import DailyCap, JobService, JobStatus
from gateway.core.ledger import Ledger
from gateway.core.request_ids import job_ids_for_key, next_job_id
from gateway.db.engine import Database

CREDITS, BOOKS = "sleeperhit.credits", "storymint.books"


class Parts:
    def __init__(self, db: Database) -> None:
        self.ledger = Ledger(db)
        self.jobs = JobService(db, MemoryEventBus())
        self.submitted: list[str] = []
        self.refuse = False

    async def submit(self, job_id: str) -> None:
        if self.refuse:
            raise Unavailable("queue down")
        self.submitted.append(job_id)

    def admission(self) -> Admission:
        return Admission(self.ledger, self.jobs, self.submit, runner="inprocess")


@pytest.fixture
async def parts(db: Database, account_id: str) -> Parts:
    made = Parts(db)
    await made.ledger.grant(account_id, CREDITS, 100)
    await made.ledger.grant(account_id, BOOKS, 1)
    return made


async def _nothing_left(parts: Parts, account_id: str) -> None:
    assert (await parts.ledger.balance(account_id, CREDITS)).spendable == 100
    assert (await parts.ledger.balance(account_id, BOOKS)).spendable == 1
    assert await parts.jobs.list(account_id) == []
    assert await parts.jobs.count_today(account_id, "storymint", "book") == 0
    assert await parts.ledger.audit(account_id, CREDITS)


async def test_admitted_work_holds_its_charges_for_its_job(parts: Parts, account_id: str) -> None:
    job = await parts.admission().admit(
        account_id,
        "storymint",
        "book",
        {"prompt": "x"},
        charges=[Charge(CREDITS, 30), Charge(BOOKS, 1)],
        daily_cap=DailyCap(3),
        subject_id="book-0",
    )
    assert job.status is JobStatus.QUEUED and job.subject_id == "book-0"
    assert parts.submitted == [job.id]
    holds = await parts.ledger.holds_of_job(job.id)
    assert sorted((h.unit, h.amount, h.state) for h in holds) == [
        (CREDITS, 30, "held"),
        (BOOKS, 1, "held"),
    ]


async def test_a_queue_that_refuses_leaves_no_job_no_hold_and_no_quota(
    parts: Parts, account_id: str
) -> None:
    parts.refuse = True
    with pytest.raises(Unavailable):
        await parts.admission().admit(
            account_id,
            "storymint",
            "book",
            {},
            charges=[Charge(CREDITS, 30), Charge(BOOKS, 1)],
            daily_cap=DailyCap(3),
        )
    await _nothing_left(parts, account_id)


async def test_a_second_charge_that_does_not_fit_gives_back_the_first(
    parts: Parts, account_id: str
) -> None:
    with pytest.raises(InsufficientFunds) as refused:
        await parts.admission().admit(
            account_id, "storymint", "book", {}, charges=[Charge(CREDITS, 30), Charge(BOOKS, 2)]
        )
    assert refused.value.unit == BOOKS
    await _nothing_left(parts, account_id)


async def test_a_full_day_gives_back_the_charges(parts: Parts, account_id: str) -> None:
    admission = parts.admission()
    await admission.admit(account_id, "childrenbooks", "book", {}, daily_cap=DailyCap(1))
    with pytest.raises(QuotaExceeded):
        await admission.admit(
            account_id,
            "childrenbooks",
            "book",
            {},
            charges=[Charge(CREDITS, 30)],
            daily_cap=DailyCap(1),
        )
    assert (await parts.ledger.balance(account_id, CREDITS)).spendable == 100


async def test_a_keyed_request_run_again_finds_its_job_and_is_not_charged_twice(
    parts: Parts, account_id: str
) -> None:
    """The replica that ran a keyed request died after admitting its job and before storing its
    answer; the retry (another replica, after the key's lock ran out) runs the request again
    and must get the same job, held once."""

    async def request() -> list[str]:
        with job_ids_for_key("secret", account_id, "storymint", "key-1"):
            jobs = await parts.admission().admit_all(
                account_id,
                "storymint",
                "book",
                [Order({"n": 1}, [Charge(CREDITS, 30)]), Order({"n": 2}, [Charge(CREDITS, 20)])],
            )
        return [job.id for job in jobs]

    first = await request()
    again = await request()
    assert again == first
    assert parts.submitted == first + first  # queued again, in case the first enqueue was lost
    assert len(await parts.jobs.list(account_id)) == 2
    assert (await parts.ledger.balance(account_id, CREDITS)).spendable == 50
    # Another key, or another account's same key, makes other jobs; outside a key, random ids.
    with job_ids_for_key("secret", account_id, "storymint", "key-2"):
        other = await parts.admission().admit(account_id, "storymint", "book", {})
    with job_ids_for_key("secret", "someone-else", "storymint", "key-1"):
        assert next_job_id() not in first
    assert other.id not in first
    assert len(other.id) == len(first[0]) == 40
