"""StoryMint's profile, key and team routes through a real `storygate serve` process.

Accounts and their first keys come from the CLI, as an operator makes them; everything else goes
through HTTP exactly as the reference's clients send it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, storygate

SM_KEY = re.compile(r"sm_[A-Za-z0-9]{40}")


@dataclass
class World:
    server: Server
    # name -> (account id, raw StoryMint key)
    accounts: dict[str, tuple[str, str]]
    # account A's ChildrenBooks key id: same account, another family
    other_family_key_id: str

    def client(self, who: str | None) -> httpx.Client:
        headers = {"X-API-Key": self.accounts[who][1]} if who else {}
        return httpx.Client(base_url=self.server.base_url, headers=headers, timeout=20)

    def id(self, who: str) -> str:
        return self.accounts[who][0]


def _cli_full(data: Path, *args: str) -> str:
    done = storygate(list(args), {"STORYGATE_DATA_DIR": str(data)})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _cli(data: Path, *args: str) -> str:
    """The CLI's last line: the account id or the raw key."""
    return _cli_full(data, *args).strip().splitlines()[-1]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("storymint-account") / "data"
    server = start_server(data)
    plans = {
        "A": ["storymint=schools", "childrenbooks=pro"],
        "B": ["storymint=schools"],
        "C": ["storymint=max"],
    }
    try:
        # The CLI is a process per call: run the independent ones side by side.
        with ThreadPoolExecutor(4) as pool:

            def create(name: str) -> str:
                flags = [arg for plan in plans[name] for arg in ("--plan", plan)]
                return _cli(data, "accounts", "create", name, *flags)

            ids = dict(zip(plans, pool.map(create, plans), strict=True))
            other = pool.submit(_cli_full, data, "keys", "create", ids["A"], "childrenbooks")
            keys = list(
                pool.map(lambda name: _cli(data, "keys", "create", ids[name], "storymint"), plans)
            )
            other_id = re.search(r"^key (\S+) ", other.result(), re.M)
        assert other_id is not None
        for raw in keys:
            assert SM_KEY.fullmatch(raw)
        accounts = {name: (ids[name], raw) for name, raw in zip(plans, keys, strict=True)}
        yield World(server, accounts, other_id.group(1))
    finally:
        server.stop()


def assert_envelope(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert set(body) <= {"error", "detail"}, body
    return body


def finished_book(client: httpx.Client) -> str:
    started = client.post("/api/generate", json={"prompt": "A fox on the moon", "num_pages": 2})
    assert started.status_code == 200, started.text
    job_id = started.json()["job_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = client.get(f"/api/status/{job_id}").json()
        if status["status"] != "running":
            assert status["status"] == "done", status
            return job_id
        time.sleep(0.1)
    raise AssertionError(f"book {job_id} did not finish")


# -- profile ---------------------------------------------------------------------------------


def test_profile_read_merge_and_bad_bodies(world: World) -> None:
    with world.client("B") as b, world.client(None) as anonymous:
        assert b.get("/api/profile").json() == {"display_name": "", "bio": "", "website": ""}
        full = {
            "display_name": "Maple Leaf Publishing",
            "bio": "We create magical stories for curious kids.",
            "website": "https://mapleleaf.example.com",
        }
        put = b.put("/api/profile", json=full)
        assert put.status_code == 200 and put.json() == full
        # A merge: only the bio changes; null means "leave it"; unknown fields are ignored.
        merged = b.put("/api/profile", json={"bio": "New bio", "website": None, "x": 1})
        assert merged.json() == {**full, "bio": "New bio"}
        assert b.get("/api/profile").json() == {**full, "bio": "New bio"}

        for bad in (
            {"display_name": 5},
            {"website": "javascript:alert(1)"},
            {"display_name": "x" * 121},
            {"bio": "nul\x00byte"},
            [],
        ):
            assert_envelope(b.put("/api/profile", json=bad), 400)
        assert_envelope(b.put("/api/profile", content=b"{not json"), 400)
        assert b.get("/api/profile").json() == {**full, "bio": "New bio"}

        # Profiles are per account.
        with world.client("C") as c:
            assert c.get("/api/profile").json()["display_name"] == ""
        assert_envelope(anonymous.get("/api/profile"), 401)
        assert_envelope(anonymous.put("/api/profile", json={"bio": "x"}), 401)


# -- keys ------------------------------------------------------------------------------------


def test_key_lifecycle(world: World) -> None:
    with world.client("A") as a, world.client("B") as b:
        created = a.post("/api/keys", json={"label": "My Production App"})
        assert created.status_code == 201, created.text
        body = created.json()
        assert set(body) == {"key", "key_id", "label"} and body["label"] == "My Production App"
        raw, key_id = body["key"], body["key_id"]
        assert SM_KEY.fullmatch(raw)
        # A body-less POST works too (the label is optional).
        bare = a.post("/api/keys")
        assert bare.status_code == 201 and bare.json()["label"] == ""

        listing = a.get("/api/keys")
        assert listing.status_code == 200
        assert raw not in listing.text and raw[12:] not in listing.text  # shown once only
        items = {k["key_id"]: k for k in listing.json()["keys"]}
        mine = items[key_id]
        assert raw.startswith(mine["prefix"]) and len(mine["prefix"]) < len(raw)
        assert mine["status"] == "active" and mine["label"] == "My Production App"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", mine["created_at"])
        assert {"last_used_at", "created_at", "prefix", "label", "status"} <= set(mine)
        # Only StoryMint keys of this account: not A's ChildrenBooks key, not B's key.
        assert world.other_family_key_id not in items
        assert len(items) == 3

        with httpx.Client(base_url=world.server.base_url, headers={"X-API-Key": raw}) as new:
            assert new.get("/api/profile").status_code == 200

            # Another account's key, another family's key and unknown ids are all 404.
            assert_envelope(b.delete(f"/api/keys/{key_id}"), 404)
            assert_envelope(a.delete(f"/api/keys/{world.other_family_key_id}"), 404)
            assert_envelope(a.delete("/api/keys/key_000000000000000000000000"), 404)
            assert new.get("/api/profile").status_code == 200

            revoked = a.delete(f"/api/keys/{key_id}")
            assert revoked.status_code == 200, revoked.text
            assert revoked.json()["key_id"] == key_id and revoked.json()["status"] == "revoked"
            # Refused at once, not after a cache expires.
            assert_envelope(new.get("/api/profile"), 401)
            again = a.delete(f"/api/keys/{key_id}")
            assert again.status_code == 200 and again.json() == revoked.json()

        statuses = {k["key_id"]: k["status"] for k in a.get("/api/keys").json()["keys"]}
        assert statuses[key_id] == "revoked"

        # A key can revoke itself; the next request with it is a 401.
        self_key = bare.json()
        with httpx.Client(
            base_url=world.server.base_url, headers={"X-API-Key": self_key["key"]}
        ) as selfish:
            assert selfish.delete(f"/api/keys/{self_key['key_id']}").status_code == 200
            assert_envelope(selfish.get("/api/keys"), 401)

        before = len(a.get("/api/keys").json()["keys"])
        for bad in ({"label": 7}, {"label": "x" * 201}, ["label"]):
            assert_envelope(a.post("/api/keys", json=bad), 400)
        assert len(a.get("/api/keys").json()["keys"]) == before
        assert world.accounts["A"][1] not in a.get("/api/keys").text
        with world.client(None) as anonymous:
            assert_envelope(anonymous.get("/api/keys"), 401)
            assert_envelope(anonymous.post("/api/keys", json={}), 401)
            assert_envelope(anonymous.delete(f"/api/keys/{key_id}"), 401)


# -- teams -----------------------------------------------------------------------------------


def test_teams_invites_and_library(world: World) -> None:
    with world.client("A") as a, world.client("B") as b, world.client("C") as c:
        refused = assert_envelope(c.post("/api/teams", json={"name": "Max Org"}), 403)
        assert "Schools & Organizations" in refused["error"]
        assert c.get("/api/teams").json() == {"teams": []}

        for bad in ({}, {"name": ""}, {"name": 3}, {"name": "x", "workspace_type": "club"}):
            assert_envelope(a.post("/api/teams", json=bad), 400)
        assert a.get("/api/teams").json() == {"teams": []}

        made = a.post("/api/teams", json={"name": "Oakwood Elementary"})
        assert made.status_code == 201, made.text
        team = made.json()
        assert (team["workspace_type"], team["max_seats"], team["seats_used"]) == ("school", 10, 1)
        assert team["owner_account_id"] == world.id("A") and team["name"] == "Oakwood Elementary"
        org = a.post("/api/teams", json={"name": "Acme", "workspace_type": "organization"})
        assert org.status_code == 201 and org.json()["workspace_type"] == "organization"
        assert [t["id"] for t in a.get("/api/teams").json()["teams"]] == [
            team["id"],
            org.json()["id"],
        ]
        tid = team["id"]

        # Invite: owner only; another account's team is simply not there.
        inv = a.post(f"/api/teams/{tid}/invite", json={"email": "teacher@school.edu"})
        assert inv.status_code == 201, inv.text
        invite = inv.json()
        assert invite["status"] == "pending" and invite["team_id"] == tid
        assert len(invite["id"]) >= 32
        assert_envelope(b.post(f"/api/teams/{tid}/invite", json={"email": "x@y.z"}), 404)
        for bad in ({"email": "nope"}, {}, {"email": 1}):
            assert_envelope(a.post(f"/api/teams/{tid}/invite", json=bad), 400)
        assert a.get("/api/teams").json()["teams"][0]["seats_used"] == 2

        # Before accepting, B sees nothing of the team.
        assert b.get("/api/teams").json() == {"teams": []}
        assert_envelope(b.get(f"/api/teams/{tid}/library"), 404)
        assert_envelope(b.post("/api/teams/invites/inv_" + "0" * 32 + "/accept"), 404)
        joined = b.post(f"/api/teams/invites/{invite['id']}/accept")
        assert joined.status_code == 200, joined.text
        members = {m["account_id"]: m["role"] for m in joined.json()["members"]}
        assert members == {world.id("A"): "owner", world.id("B"): "member"}
        assert joined.json()["pending_invites"] == []
        assert b.post(f"/api/teams/invites/{invite['id']}/accept").status_code == 200
        assert_envelope(c.post(f"/api/teams/invites/{invite['id']}/accept"), 409)
        assert [t["id"] for t in b.get("/api/teams").json()["teams"]] == [tid]
        # A plain member cannot invite.
        assert_envelope(b.post(f"/api/teams/{tid}/invite", json={"email": "x@y.z"}), 403)

        # Library: share a finished book; members see it, outsiders get 404.
        assert a.get(f"/api/teams/{tid}/library").json() == {"books": []}
        job_id = finished_book(a)
        assert_envelope(a.post(f"/api/teams/{tid}/share", json={}), 400)
        assert_envelope(a.post(f"/api/teams/{tid}/share", json={"job_id": "f" * 40}), 404)
        assert_envelope(b.post(f"/api/teams/{tid}/share", json={"job_id": job_id}), 404)
        assert_envelope(c.post(f"/api/teams/{tid}/share", json={"job_id": job_id}), 404)
        shared = a.post(f"/api/teams/{tid}/share", json={"job_id": job_id})
        assert shared.status_code == 200, shared.text
        book = shared.json()
        assert book["job_id"] == job_id and book["shared_by"] == world.id("A")
        assert book["title"] and book["format"] == "picture"
        assert a.post(f"/api/teams/{tid}/share", json={"job_id": job_id}).json() == book

        seen = b.get(f"/api/teams/{tid}/library").json()["books"]
        assert [x["job_id"] for x in seen] == [job_id]
        cover = httpx.get(world.server.base_url + seen[0]["cover_url"])
        assert cover.status_code == 200 and cover.headers["content-type"].startswith("image/")
        assert_envelope(c.get(f"/api/teams/{tid}/library"), 404)
        assert_envelope(c.get("/api/teams/team_nope/library"), 404)

        # Seats: members and pending invites together never exceed ten.
        for i in range(8):
            extra = a.post(f"/api/teams/{tid}/invite", json={"email": f"t{i}@school.edu"})
            assert extra.status_code == 201, extra.text
        full = assert_envelope(
            a.post(f"/api/teams/{tid}/invite", json={"email": "late@school.edu"}), 403
        )
        assert "seat" in full["error"]
        assert a.get("/api/teams").json()["teams"][0]["seats_used"] == 10

        with world.client(None) as anonymous:
            assert_envelope(anonymous.get("/api/teams"), 401)
            assert_envelope(anonymous.post("/api/teams", json={"name": "x"}), 401)
            assert_envelope(anonymous.get(f"/api/teams/{tid}/library"), 401)
