"""StoryMint's plan rules, one test each: page caps and clamping, formats per plan, the download
and audiobook gates, books and novels a month (exhaustion is a 403 that spends nothing), the
Developer plan's 150 pings, and what /api/tier reports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from adapters.storymint.auth import Caller
from adapters.storymint.errors import StoryMintError
from adapters.storymint.policy import rules_for, units_for
from adapters.storymint.service import StoryMintService, pipeline_units
from contracts.storymint import BookFormat
from gateway.core.keys import KeyInfo
from gateway.core.plans import get_plan
from gateway.runtime import Runtime
from tests.e2e.storymint_support import Account, StoryMint, assert_envelope, start_storymint

BOOKS, NOVELS, PINGS = "storymint.books", "storymint.novels", "storymint.pings"


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoryMint]:
    family = start_storymint(
        tmp_path_factory.mktemp("storymint-plans"),
        {},  # the flow and error modules make theirs with the CLI; here speed matters more
        {
            "dev": "developer",
            "max": "max",
            "schools": "schools",
            "quota": "max",
            "novels": "max",
            "pinger": "developer",
        },
    )
    yield family
    family.stop()


def _params(sm: StoryMint, job_id: str) -> dict[str, Any]:
    async def read(rt: Runtime) -> dict[str, Any]:
        job = await rt.jobs.get(job_id)
        await rt.jobs.cancel(job_id)  # only the admitted size matters here
        return job.params

    return sm.core(read)


def _post(sm: StoryMint, account: Account, **body: Any) -> httpx.Response:
    body.setdefault("prompt", "A lighthouse keeper's cat")
    return httpx.post(f"{sm.base}/api/generate", headers=account.headers, json=body)


# -- the table itself (every plan, including those that cannot hold API keys) ----------------


@pytest.mark.parametrize(
    ("plan", "picture", "comic", "novel", "download", "audiobook", "formats"),
    [
        ("free", 24, 0, 0, False, False, {"picture"}),
        ("plus", 50, 200, 20, True, False, {"picture", "comic", "chapter_comic", "novel"}),
        ("max", 50, 200, 30, True, True, {"picture", "comic", "chapter_comic", "novel"}),
        ("developer", 50, 0, 0, True, False, {"picture"}),
        ("schools", 100, 200, 40, True, True, {"picture", "comic", "chapter_comic", "novel"}),
    ],
)
def test_plan_table(
    plan: str,
    picture: int,
    comic: int,
    novel: int,
    download: bool,
    audiobook: bool,
    formats: set[str],
) -> None:
    rules = rules_for(get_plan("storymint", plan))
    assert (rules.picture_pages, rules.comic_pages, rules.novel_chapters) == (picture, comic, novel)
    assert (rules.full_download, rules.audiobook) == (download, audiobook)
    assert {f.value for f in rules.formats} == formats
    for fmt in BookFormat:
        if fmt.value not in formats:
            with pytest.raises(StoryMintError) as refused:
                units_for(rules, fmt, 5)
            assert refused.value.status == 403
            continue
        cap = rules.cap(fmt)
        assert units_for(rules, fmt, 10_000) == cap
        assert units_for(rules, fmt, 1) == (5 if fmt is BookFormat.NOVEL else 1)
        assert 1 <= units_for(rules, fmt, None) <= cap
    assert pipeline_units(BookFormat.CHAPTER_COMIC, 30) == 7  # 4 pages a chapter at most
    assert pipeline_units(BookFormat.COMIC, 30) == 30


# -- over HTTP ---------------------------------------------------------------------------------


def test_page_caps_clamp_the_request(sm: StoryMint) -> None:
    dev = sm.accounts["dev"]
    job_id = sm.generate(dev, num_pages=75)
    assert sm.wait(dev, job_id)["status"] == "done"
    book = httpx.get(f"{sm.base}/api/book/{job_id}", headers=dev.headers).json()
    assert book["metadata"]["total_pages"] == len(book["pages"]) == 50

    cases = [
        (sm.accounts["schools"], "picture", 500, 100),
        (sm.accounts["max"], "picture", 51, 50),
        (sm.accounts["max"], "comic", 10_000, 200),
        (sm.accounts["schools"], "novel", 41, 40),
        (sm.accounts["max"], "novel", 99, 30),
        (sm.accounts["max"], "novel", 1, 5),
        (sm.accounts["max"], "chapter_comic", 201, 50),
        (sm.accounts["max"], "picture", None, 12),
    ]
    for account, fmt, asked, units in cases:
        body: dict[str, Any] = {"book_format": fmt}
        if asked is not None:
            body["num_pages"] = asked
        resp = _post(sm, account, **body)
        assert resp.status_code == 200, resp.text
        params = _params(sm, resp.json()["job_id"])
        assert (params["format"], params["units"]) == (fmt, units), (fmt, asked)


def test_formats_per_plan(sm: StoryMint) -> None:
    dev, mx = sm.accounts["dev"], sm.accounts["max"]
    for fmt in ("comic", "chapter_comic", "novel"):
        body = assert_envelope(_post(sm, dev, book_format=fmt, num_pages=5), 403)
        assert "not available on the Developer plan" in body["error"]
    for fmt, pages in (("comic", 2), ("chapter_comic", 4), ("novel", 5)):
        resp = _post(sm, mx, book_format=fmt, num_pages=pages)
        assert resp.status_code == 200, resp.text
        info = sm.wait(mx, resp.json()["job_id"])
        assert (info["status"], info["format"]) == ("done", fmt)


def test_download_and_audiobook_gates(sm: StoryMint) -> None:
    dev, mx = sm.accounts["dev"], sm.accounts["max"]
    job_id = sm.generate(dev, num_pages=1)
    assert sm.wait(dev, job_id)["can_download"] is True
    assert httpx.get(f"{sm.base}/api/download/{job_id}", headers=dev.headers).status_code == 200
    refused = httpx.post(f"{sm.base}/api/audiobook/{job_id}", headers=dev.headers)
    assert "Audiobook" in assert_envelope(refused, 403)["error"]
    job_id = sm.generate(mx, num_pages=1)
    sm.wait(mx, job_id)
    allowed = httpx.post(f"{sm.base}/api/audiobook/{job_id}", headers=mx.headers, timeout=60)
    assert allowed.status_code == 200 and allowed.headers["content-type"] == "audio/mpeg"

    # Free and Plus cannot hold keys, so their gates are checked on the service itself.
    async def gates(rt: Runtime) -> dict[str, tuple[int | None, int | None, bool]]:
        seen = {}
        for plan in ("free", "plus"):
            account = await rt.accounts.create(plan, {"storymint": plan})
            job = await rt.jobs.create(account.id, "storymint", "book", {"format": "picture"})
            now = datetime.now(UTC)
            key = KeyInfo("key_x", account.id, "storymint", "sm_x", "", (), (), now, *[None] * 3)
            caller = Caller(account.id, key, get_plan("storymint", plan))
            service = StoryMintService(rt)
            codes: list[int | None] = []
            for action in (service.download, service.audiobook):
                try:
                    await action(caller, job.id)
                    codes.append(None)
                except StoryMintError as exc:
                    codes.append(exc.status)
            done = service.status(caller, job).can_download
            seen[plan] = (codes[0], codes[1], done)
        return seen

    # Free: no download, no audiobook. Plus: download allowed (so the 400 is "not done yet").
    assert sm.core(gates) == {"free": (403, 403, False), "plus": (400, 403, False)}


def test_books_a_month_exhausted_is_403_and_spends_nothing(sm: StoryMint) -> None:
    acct = sm.accounts["quota"]

    async def spend(rt: Runtime) -> None:
        await rt.ledger.charge(acct.id, BOOKS, 49, note="earlier books this month")

    sm.core(spend)
    assert sm.wallet(acct, BOOKS) == (1, 49)
    job_id = sm.generate(acct, num_pages=1)  # the 50th
    assert sm.wait(acct, job_id)["status"] == "done"
    before = (sm.job_count(acct), sm.wallet(acct, BOOKS))
    assert before[1] == (0, 50)
    body = assert_envelope(_post(sm, acct, num_pages=1), 403)
    assert body["error"] == "Monthly book quota reached" and "50 books" in body["detail"]
    assert (sm.job_count(acct), sm.wallet(acct, BOOKS)) == before
    tier = httpx.get(f"{sm.base}/api/tier", headers=acct.headers).json()
    assert (tier["books_this_month"], tier["books_limit"]) == (50, 50)


def test_novels_a_month_exhausted_gives_the_book_back(sm: StoryMint) -> None:
    acct = sm.accounts["novels"]

    async def spend(rt: Runtime) -> None:
        await rt.ledger.charge(acct.id, NOVELS, 10, note="earlier novels this month")

    sm.core(spend)
    before = (sm.job_count(acct), sm.wallet(acct, BOOKS), sm.wallet(acct, NOVELS))
    body = assert_envelope(_post(sm, acct, book_format="novel", num_pages=5), 403)
    assert body["error"] == "Monthly novel quota reached" and "10 novels" in body["detail"]
    # The book unit held first was released with the refusal.
    assert (sm.job_count(acct), sm.wallet(acct, BOOKS), sm.wallet(acct, NOVELS)) == before
    assert _post(sm, acct, num_pages=1).status_code == 200  # picture books still go


def test_developer_ping_counter_stops_at_150(sm: StoryMint) -> None:
    pinger = sm.accounts["pinger"]

    async def second_key(rt: Runtime) -> str:
        return (await rt.keys.create(pinger.id, "storymint", label="second")).raw

    keys = [pinger.key, sm.core(second_key)]  # 120 a minute per key: two keys share the work
    clients = [httpx.Client(base_url=sm.base, headers={"X-API-Key": k}) for k in keys]
    last: dict[str, Any] = {}
    for i in range(150):
        resp = clients[i % 2].get("/api/ping")
        assert resp.status_code == 200, (i, resp.text)
        last = resp.json()
    for client in clients:
        client.close()
    assert last["api_test_calls_this_month"] == 150
    assert (last["tier"], last["plan_display_name"], last["api_test_calls_limit"]) == (
        "developer",
        "Developer",
        150,
    )
    assert datetime.fromisoformat(last["timestamp"]).tzinfo is not None
    refused = httpx.get(f"{sm.base}/api/ping", headers=pinger.headers)
    assert "limit reached" in assert_envelope(refused, 403)["error"]
    tier = httpx.get(f"{sm.base}/api/tier", headers=pinger.headers).json()
    assert (tier["api_test_calls_this_month"], tier["api_test_calls_limit"]) == (150, 150)
    # Max counts pings too, without a cap.
    mx = httpx.get(f"{sm.base}/api/ping", headers=sm.accounts["max"].headers).json()
    assert mx["api_test_calls_limit"] is None and mx["api_test_calls_this_month"] >= 1


def test_tier_reports_the_plan(sm: StoryMint) -> None:
    today = datetime.now(UTC).date()
    first = date(today.year + (today.month == 12), today.month % 12 + 1, 1)
    expected = {
        "dev": ("developer", "Developer", 100, 150, 50, 0),
        "max": ("max", "Max", 50, None, 50, 30),
        "schools": ("schools", "Schools & Organizations", None, None, 100, 40),
    }
    for name, (tier_id, display, books, pings, pages, chapters) in expected.items():
        account = sm.accounts[name]
        tier = httpx.get(f"{sm.base}/api/tier", headers=account.headers).json()
        assert httpx.get(f"{sm.base}/api/usage", headers=account.headers).json() == tier
        assert tier["tier"] == tier_id and tier["plan_display_name"] == display
        assert (tier["books_limit"], tier["api_test_calls_limit"]) == (books, pings)
        assert (tier["max_pages"], tier["novel_max_chapters"]) == (pages, chapters)
        assert tier["api_access"] is True and tier["full_download"] is True
        assert tier["next_reset"] == first.isoformat()
        assert tier["org_type"] == ""


def test_models_and_fallback_to_auto_select(sm: StoryMint) -> None:
    mx = sm.accounts["max"]
    models = httpx.get(f"{sm.base}/api/models", headers=mx.headers).json()
    assert models["ollama"] and models["sd"]
    chosen = _post(sm, mx, num_pages=1, ollama_model=models["ollama"][0], sd_model="nope:1b")
    params = _params(sm, chosen.json()["job_id"])
    assert (params["text_model"], params["image_model"]) == (models["ollama"][0], "")
    unknown = _post(sm, mx, num_pages=1, ollama_model="gemma3:12b")
    job_id = unknown.json()["job_id"]
    assert _params(sm, job_id)["text_model"] == ""
