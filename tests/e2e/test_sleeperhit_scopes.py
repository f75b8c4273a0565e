"""SleeperHit's scopes, route by route, over real HTTP: a key holding every scope but the one a
route needs is refused with ``insufficient_scope`` (and nothing changes); a key holding only
that scope gets past the check. The table below is the reference's (endpoint sections win where
its scope table is looser: sources are read with ``source:read``); a test checks that it names
every keyed operation the server's own OpenAPI document lists, so a new route cannot go
untested. Then the default scopes, keys of another family, and other accounts' resources,
which are not found (404), never forbidden."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway.core.keys import SCOPES
from gateway.runtime import Runtime
from tests.e2e.sleeperhit_harness import (
    FAMILY,
    TABLE_READ,
    TARGET,
    SleeperHitServer,
    Tenant,
    approved_plan,
    balance,
    expect_error,
    extra_key,
    post,
    start,
    wait_job,
)

ALL = SCOPES[FAMILY]
# operationId: (method, path, scope). Paths name the fixture's resources by field.
ROUTES: dict[str, tuple[str, str, str]] = {
    "getCapabilities": ("GET", "/capabilities", "story:read"),
    "createStoryProject": ("POST", "/story-projects", "story:write"),
    "listStoryProjects": ("GET", "/story-projects", "story:read"),
    "getStoryProject": ("GET", "/story-projects/{project}", "story:read"),
    "updateStoryProject": ("PATCH", "/story-projects/{project}", "story:write"),
    "deleteStoryProject": ("DELETE", "/story-projects/{project}", "story:write"),
    "createStorySource": ("POST", "/story-projects/{project}/sources", "source:write"),
    "listStorySources": ("GET", "/story-projects/{project}/sources", "source:read"),
    "getStorySource": ("GET", "/story-projects/{project}/sources/{source}", "source:read"),
    "deleteStorySource": ("DELETE", "/story-projects/{project}/sources/{source}", "source:write"),
    "createStoryPlan": ("POST", "/story-projects/{project}/story-plans", "story:write"),
    "listStoryPlans": ("GET", "/story-projects/{project}/story-plans", "story:read"),
    "getStoryPlan": ("GET", "/story-plans/{plan}", "story:read"),
    "approveStoryPlan": ("POST", "/story-plans/{plan}/approve", "story:write"),
    "rejectStoryPlan": ("POST", "/story-plans/{plan}/reject", "story:write"),
    "createStoryJob": ("POST", "/story-jobs", "story:write"),
    "listStoryJobs": ("GET", "/story-jobs", "story:read"),
    "getStoryJob": ("GET", "/story-jobs/{job}", "story:read"),
    "cancelStoryJob": ("POST", "/story-jobs/{job}/cancel", "story:write"),
    "listStoryJobArtifacts": ("GET", "/story-jobs/{job}/artifacts", "artifact:read"),
    "getArtifact": ("GET", "/artifacts/{artifact}", "artifact:read"),
    "finalizeArtifact": ("POST", "/artifacts/{artifact}/finalize", "artifact:publish"),
    "getCredits": ("GET", "/credits", "credits:read"),
    "listVoices": ("GET", "/voices", "story:read"),
    "recastArtifactVoice": ("POST", "/artifacts/{artifact}/voice", "artifact:publish"),
    "recastArtifactCast": ("POST", "/artifacts/{artifact}/cast", "artifact:publish"),
    "resumeStoryPlan": ("POST", "/story-plans/{plan}/resume", "story:write"),
    "resumeStoryJob": ("POST", "/story-jobs/{job}/resume", "story:write"),
    "renderArtifactVideo": ("POST", "/artifacts/{artifact}/render-video", "artifact:publish"),
    "createArtifactCoverage": ("POST", "/artifacts/{artifact}/coverage", "story:write"),
    "getArtifactCoverage": ("GET", "/artifacts/{artifact}/coverage", "artifact:read"),
    "getArtifactCast": ("GET", "/artifacts/{artifact}/cast", "artifact:read"),
    "getArtifactScript": ("GET", "/artifacts/{artifact}/script", "artifact:read"),
    "createVoiceModification": (
        "POST",
        "/artifacts/{artifact}/voice-modification",
        "artifact:publish",
    ),
    "listVoiceModifications": ("GET", "/artifacts/{artifact}/voice-modification", "artifact:read"),
    "updateArtifactMusic": ("POST", "/artifacts/{artifact}/music", "artifact:publish"),
    "getArtifactMusic": ("GET", "/artifacts/{artifact}/music", "artifact:read"),
    "updateArtifactSfx": ("POST", "/artifacts/{artifact}/sfx", "artifact:publish"),
    "listArtifactSfx": ("GET", "/artifacts/{artifact}/sfx", "artifact:read"),
    "refineArtifact": ("POST", "/artifacts/{artifact}/refine", "artifact:publish"),
}
# Keyless by design (the reference: "No auth required").
PUBLIC = {"getExamples"}
# Ids no account has: a mutating route that passed the scope check then answers 404 (or 422
# for its body), and the fixture's resources stay as they are.
NOBODY = {
    "project": "0" * 24,
    "source": "src_" + "0" * 24,
    "plan": "0" * 40,
    "job": "0" * 40,
    "artifact": "art_" + "0" * 24,
}


@dataclass
class World:
    sh: SleeperHitServer
    owner: Tenant
    ids: dict[str, str]
    # scope -> a key of the owner's account with every scope but that one / only that one.
    without: dict[str, Tenant]
    only: dict[str, Tenant]


def _flow(sh: SleeperHitServer, client: httpx.Client, name: str) -> dict[str, str]:
    """A project, a source, an approved plan, a READY job and its artifact."""
    plan = approved_plan(client, name)
    project_id = plan["projectId"]
    source_id = plan["sourceIds"][0]
    made = post(client, "/story-jobs", {"storyPlanId": plan["id"]})
    assert made.status_code == 200, made.text
    job = wait_job(client, made.json()["job"]["id"], ("READY", "FAILED"))
    assert job["status"] == "READY", job
    (artifact,) = job["artifacts"]
    return {
        "project": project_id,
        "source": source_id,
        "plan": plan["id"],
        "job": job["id"],
        "artifact": artifact["id"],
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    sh = start(tmp_path_factory.mktemp("sh-scopes"))
    try:
        owner = sh.tenant()
        with sh.client(owner) as c:
            ids = _flow(sh, c, "scoped")

        async def keys(rt: Runtime) -> tuple[dict[str, Tenant], dict[str, Tenant]]:
            without, only = {}, {}
            for scope in ALL:
                rest = [s for s in ALL if s != scope]
                a = await rt.keys.create(owner.account_id, FAMILY, scopes=rest)
                b = await rt.keys.create(owner.account_id, FAMILY, scopes=[scope])
                without[scope] = Tenant(owner.account_id, a.raw, a.info.id)
                only[scope] = Tenant(owner.account_id, b.raw, b.info.id)
            return without, only

        without, only = sh.core(keys)
        yield World(sh, owner, ids, without, only)
    finally:
        sh.server.stop()


def _call(client: httpx.Client, method: str, path: str) -> httpx.Response:
    if method == "POST":
        return post(client, path, {})
    if method == "PATCH":
        return client.patch(path, json={})
    return client.request(method, path)


def _state(world: World) -> dict[str, Any]:
    """What a refused request must not change: the owner's records, their states, the balance."""
    with world.sh.client(world.owner) as c:
        ids = world.ids
        project = f"/story-projects/{ids['project']}"
        return {
            "projects": c.get("/story-projects").json(),
            "sources": c.get(f"{project}/sources").json(),
            "plan": c.get(f"/story-plans/{ids['plan']}").json(),
            "jobs": c.get("/story-jobs").json(),
            "artifact": c.get(f"/artifacts/{ids['artifact']}").json(),
            "balance": balance(c),
        }


def test_the_table_covers_every_keyed_operation(world: World) -> None:
    document = httpx.get(f"{world.sh.base}/api/v1/openapi.json", timeout=30).json()
    served = {
        op["operationId"]: (method.upper(), path.removeprefix("/api/v1"))
        for path, ops in document["paths"].items()
        for method, op in ops.items()
    }
    assert set(served) - PUBLIC == set(ROUTES)
    for op_id, (method, path, _) in ROUTES.items():
        template = path
        for field in NOBODY:
            template = template.replace(f"{{{field}}}", f"{{{field}_id}}")
        assert served[op_id] == (method, template), op_id


@pytest.mark.parametrize("op_id", sorted(ROUTES))
def test_every_scope_but_the_route_s_is_refused(world: World, op_id: str) -> None:
    method, path, scope = ROUTES[op_id]
    before = _state(world)
    with world.sh.client(world.without[scope]) as c:
        error = expect_error(_call(c, method, path.format(**world.ids)), "insufficient_scope")
    assert error["details"]["required"] == scope, error
    assert scope not in error["details"]["granted"], error
    assert _state(world) == before


@pytest.mark.parametrize("op_id", sorted(ROUTES))
def test_the_route_s_scope_alone_passes(world: World, op_id: str) -> None:
    method, path, scope = ROUTES[op_id]
    with world.sh.client(world.only[scope]) as c:
        if method == "GET":
            answer = c.get(path.format(**world.ids))
            assert answer.status_code == 200, (op_id, answer.text)
        else:
            answer = _call(c, method, path.format(**NOBODY))
            assert answer.status_code in (404, 422), (op_id, answer.status_code, answer.text)
            code = answer.json()["error"]["code"]
            assert code not in ("insufficient_scope", "authentication_required"), (op_id, code)


def test_the_default_scopes_read_but_do_not_write(world: World) -> None:
    reader = extra_key(world.sh, world.owner, None)
    with world.sh.client(reader) as c:
        error = expect_error(post(c, "/story-projects", {"name": "x"}), "insufficient_scope")
        assert sorted(error["details"]["granted"]) == ["credits:read", "story:read"]
        assert c.get("/credits").status_code == 200
        listed = c.get("/story-projects")
        assert listed.status_code == 200
        assert world.ids["project"] in {p["id"] for p in listed.json()["projects"]}
        assert c.get("/capabilities").status_code == 200
        expect_error(c.get(f"/artifacts/{world.ids['artifact']}"), "insufficient_scope")
    fresh = world.sh.tenant(scopes=None)
    with world.sh.client(fresh) as c:
        expect_error(post(c, "/story-projects", {"name": "x"}), "insufficient_scope")
        assert c.get("/credits").status_code == 200
        assert c.get("/story-projects").json() == {"projects": [], "nextCursor": None}


def test_keys_of_other_families_are_invalid(world: World) -> None:
    async def foreign(rt: Runtime) -> list[str]:
        found = []
        for family, plan in (("storynote", "pro"), ("storymint", "max"), ("childrenbooks", "pro")):
            await rt.accounts.set_plan(world.owner.account_id, family, plan)
            found.append((await rt.keys.create(world.owner.account_id, family)).raw)
        return found

    raws = world.sh.core(foreign)
    for raw in raws:
        headers = {"Authorization": f"Bearer {raw}"}
        for path in ("/credits", "/story-projects", f"/story-jobs/{world.ids['job']}"):
            answer = httpx.get(f"{world.sh.base}/api/v1{path}", headers=headers, timeout=30)
            expect_error(answer, "invalid_api_key")


def test_other_accounts_resources_are_not_found(world: World) -> None:
    stranger = world.sh.tenant()
    with world.sh.client(stranger) as s:
        theirs = _flow(world.sh, s, "theirs")
    mine = world.ids
    before = _state(world)
    with world.sh.client(world.owner) as c:
        p, src = theirs["project"], theirs["source"]
        cases = [
            (c.get(f"/story-projects/{p}"), "project_not_found"),
            (c.patch(f"/story-projects/{p}", json={"name": "mine"}), "project_not_found"),
            (c.delete(f"/story-projects/{p}"), "project_not_found"),
            (c.get(f"/story-projects/{p}/sources"), "project_not_found"),
            (c.get(f"/story-projects/{p}/story-plans"), "project_not_found"),
            (
                post(c, f"/story-projects/{p}/sources", {"type": "text", "content": "x"}),
                "project_not_found",
            ),
            (c.get(f"/story-projects/{p}/sources/{src}"), "project_not_found"),
            # Their source under my project.
            (c.get(f"/story-projects/{mine['project']}/sources/{src}"), "source_not_found"),
            (c.delete(f"/story-projects/{mine['project']}/sources/{src}"), "source_not_found"),
            (
                post(
                    c,
                    f"/story-projects/{mine['project']}/story-plans",
                    {"target": TARGET, "artifactRequests": [TABLE_READ], "sourceIds": [src]},
                ),
                "source_not_found",
            ),
            # A plan not found is answered as its project would be (the reference).
            (c.get(f"/story-plans/{theirs['plan']}"), "project_not_found"),
            (post(c, f"/story-plans/{theirs['plan']}/approve"), "project_not_found"),
            (post(c, f"/story-plans/{theirs['plan']}/reject"), "project_not_found"),
            (post(c, "/story-jobs", {"storyPlanId": theirs["plan"]}), "story_job_not_found"),
            (c.get(f"/story-jobs/{theirs['job']}"), "story_job_not_found"),
            (c.get(f"/story-jobs/{theirs['job']}/artifacts"), "story_job_not_found"),
            (post(c, f"/story-jobs/{theirs['job']}/cancel"), "story_job_not_found"),
            (c.get(f"/artifacts/{theirs['artifact']}"), "artifact_not_found"),
            (
                post(c, f"/artifacts/{theirs['artifact']}/finalize", {"mode": "audio"}),
                "artifact_not_found",
            ),
        ]
        for answer, code in cases:
            expect_error(answer, code)
        # Filters naming their records find nothing of theirs.
        for params in ({"projectId": p}, {"storyPlanId": theirs["plan"]}):
            listed = c.get("/story-jobs", params=params)
            assert listed.json() == {"jobs": [], "nextCursor": None}, listed.text
    assert _state(world) == before
    with world.sh.client(stranger) as s:
        assert s.get(f"/story-projects/{p}").json()["project"]["name"] == "theirs"
        assert s.get(f"/story-jobs/{theirs['job']}").json()["job"]["status"] == "READY"
