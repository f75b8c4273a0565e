"""The recipe catalogue of ``/api/v1/examples``: curl and Node snippets for every live flow, on
this server's base URL, each step saying which variables it sets from the answer and, for a
poll, which field ends it — so a client (and this project's tests) can run them as written."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

API = "/api/v1"

# -- examples ------------------------------------------------------------------------------------

STORY = (
    "Amara Osei keeps the lighthouse on Cape Lumen. Every night she climbs the hundred steps "
    "and lights the lamp for the fishing boats. Her brother Kofi Osei repairs the nets in the "
    "harbour below and worries about the winter storms. One evening the old keeper, Ruth "
    "Fielding, returns with a warning: the lens is cracked. Amara and Kofi work through the "
    "night to mend it before the storm arrives."
)
TARGET = {
    "audience": "families listening together",
    "objective": "tell how the lighthouse was saved",
    "outcome": "listeners want the next episode",
}
UUID_SH = "$(uuidgen 2>/dev/null || python3 -c 'import uuid; print(uuid.uuid4())')"
_VAR = re.compile(r"\$([A-Z][A-Z_]*)")
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Step:
    """One call. ``{project_id}`` in ``path`` is filled from ``$PROJECT_ID`` (and so on);
    ``saves`` names the variables to set from the answer (dotted fields, ``0`` an index)."""

    method: str
    path: str
    scope: str | None
    title: str
    body: dict[str, Any] | None = None
    saves: Mapping[str, str] = field(default_factory=dict)
    poll: tuple[str, tuple[str, ...]] | None = None  # field, values that end the polling
    url_var: str | None = None  # a share link: the whole URL is this variable
    output: str | None = None  # download to this file


@dataclass(frozen=True, slots=True)
class Recipe:
    id: str
    title: str
    requires: tuple[str, ...]
    steps: tuple[Step, ...]


def _recipe(id_: str, title: str, *steps: Step, requires: tuple[str, ...] = ()) -> Recipe:
    return Recipe(id_, title, requires, steps)


_P = f"{API}/story-projects/{{project_id}}"
_J = f"{API}/story-jobs/{{job_id}}"
_A = f"{API}/artifacts/{{artifact_id}}"
_PLAN = f"{API}/story-plans/{{plan_id}}"
_TABLE_READ = {"type": "table_read", "mode": "drama", "narrationPolicy": "include"}
_PLAN_BODY = {"target": TARGET, "artifactRequests": [_TABLE_READ], "sourceIds": ["$SOURCE_ID"]}
_URL = {"type": "url", "uri": "https://example.com/", "label": "article"}
_PLANNED = ("plan.status", ("REQUIRES_APPROVAL", "APPROVED", "FAILED"))
_MADE = ("job.status", ("READY", "FAILED", "CANCELED"))
_FINAL = ("artifact.manifest.audio.finalize.status", ("complete", "failed"))
_NEW_PROJECT = Step(
    "POST", f"{API}/story-projects", "story:write", "Create a project", {"name": "Cape Lumen"},
    {"PROJECT_ID": "project.id"},
)  # fmt: skip
_SOURCE = Step(
    "POST", f"{_P}/sources", "source:write", "Attach a text source",
    {"type": "text", "label": "cape-lumen", "content": STORY}, {"SOURCE_ID": "source.id"},
)  # fmt: skip
_READY = Step(
    "GET", f"{_P}/sources/{{source_id}}", "source:read", "Poll the source until READY",
    poll=("source.status", ("READY", "FAILED")),
)  # fmt: skip
_NEW_PLAN = Step(
    "POST", f"{_P}/story-plans", "story:write", "Ask for a plan with a table read", _PLAN_BODY,
    {"PLAN_ID": "plan.id"},
)  # fmt: skip
_NEW_JOB = Step(
    "POST", f"{API}/story-jobs", "story:write", "Create a job from the APPROVED plan",
    {"storyPlanId": "$PLAN_ID"}, {"JOB_ID": "job.id"},
)  # fmt: skip
RECIPES: tuple[Recipe, ...] = (
    _recipe("credits", "Read the credit balance",
        Step("GET", f"{API}/credits", "credits:read", "Read the balance")),
    _recipe("discovery", "See what this server makes",
        Step("GET", f"{API}/capabilities", "story:read", "Read the capabilities"),
        Step("GET", f"{API}/openapi.json", None, "Read the OpenAPI document (no key)")),
    _recipe("project-crud", "Create, list, read, update and delete a project",
        _NEW_PROJECT,
        Step("GET", f"{API}/story-projects", "story:read", "List projects"),
        Step("GET", _P, "story:read", "Read the project"),
        Step("PATCH", _P, "story:write", "Rename the project", {"name": "Cape Lumen (final)"}),
        Step("DELETE", _P, "story:write", "Delete the project (soft)")),
    _recipe("text-source", "Attach a text source and wait until it is READY",
        _NEW_PROJECT, _SOURCE, _READY,
        Step("GET", f"{_P}/sources", "source:read", "List the project's sources")),
    _recipe("url-source", "Attach a public http(s) URL, fetched in the background",
        Step("POST", f"{_P}/sources", "source:write", "Attach a URL source", _URL,
             {"SOURCE_ID": "source.id"}),
        _READY, requires=("PROJECT_ID",)),
    _recipe("story-plan", "Plan a table read from a READY source, then approve it",
        _NEW_PLAN,
        Step("GET", _PLAN, "story:read", "Poll until REQUIRES_APPROVAL", poll=_PLANNED),
        Step("POST", f"{_PLAN}/approve", "story:write", "Approve the plan"),
        requires=("PROJECT_ID", "SOURCE_ID")),
    _recipe("reject-plan", "Plan, then reject the plan",
        _NEW_PLAN,
        Step("POST", f"{_PLAN}/reject", "story:write", "Reject it", {"reason": "Too tense"}),
        requires=("PROJECT_ID", "SOURCE_ID")),
    _recipe("story-job", "Make the table read from an APPROVED plan (reserves credits)",
        _NEW_JOB,
        Step("GET", _J, "story:read", "Poll the job until READY", poll=_MADE,
             saves={"ARTIFACT_ID": "job.artifacts.0.id"}),
        Step("GET", f"{_J}/artifacts", "artifact:read", "List the job's artifacts"),
        requires=("PLAN_ID",)),
    _recipe("cancel-job", "Cancel a job and release its credits (a finished one: 409)",
        _NEW_JOB,
        Step("POST", f"{_J}/cancel", "story:write", "Cancel the job"),
        requires=("PLAN_ID",)),
    _recipe("finalize-audio", "Finalize the read as an MP3 (6 credits, once) and download it",
        Step("GET", _A, "artifact:read", "Read the artifact"),
        Step("POST", f"{_A}/finalize", "artifact:publish", "Finalize", {"mode": "audio"}),
        Step("GET", _A, "artifact:read", "Poll until complete", poll=_FINAL,
             saves={"RECORDING_URL": "artifact.manifest.audio.recordingUrl"}),
        Step("GET", "/share/table-read-recording/{token}", None, "Download the MP3 (no key)",
             url_var="RECORDING_URL", output="table-read.mp3"),
        requires=("ARTIFACT_ID",)),
    _recipe("theater-page", "Open the theater page of a READY table read",
        Step("GET", _A, "artifact:read", "Read the artifact",
             saves={"THEATER_URL": "artifact.manifest.theaterUrl"}),
        Step("GET", "/share/table-read/{token}", None, "Open the page (HTML, no key)",
             url_var="THEATER_URL"),
        requires=("ARTIFACT_ID",)),
    _recipe("render-video", "Render the read as an MP4 (12 credits, once) and download it",
        Step("POST", f"{_A}/render-video", "artifact:publish", "Render the video"),
        Step("GET", _A, "artifact:read", "Poll until the video is complete",
             poll=("artifact.manifest.video.status", ("complete", "failed")),
             saves={"VIDEO_URL": "artifact.manifest.video.url"}),
        Step("GET", "/share/table-read-video/{token}", None, "Download the MP4 (no key)",
             url_var="VIDEO_URL", output="table-read.mp4"),
        requires=("ARTIFACT_ID",)),
    _recipe("coverage", "Ask for script coverage with a focus, then read the report",
        Step("POST", f"{_A}/coverage", "story:write", "Ask for coverage",
             {"focusPrompt": "Focus on whether the midpoint turn is earned."}),
        Step("GET", f"{_A}/coverage", "artifact:read", "Poll until the report is complete",
             poll=("coverage.status", ("complete", "failed"))),
        requires=("ARTIFACT_ID",)),
    _recipe("script-and-cast", "Read the script, one character's lines, the cast and the voices",
        Step("GET", f"{_A}/script", "artifact:read", "Read the whole script"),
        Step("GET", f"{_A}/cast", "artifact:read", "Read the cast and its voices"),
        Step("GET", f"{API}/voices", "story:read", "List the voices this server speaks"),
        requires=("ARTIFACT_ID",)),
    _recipe("recast", "Give one character another voice (no charge; the live read is remixed)",
        Step("POST", f"{_A}/voice", "artifact:publish", "Recast the narrator",
             {"character": "NARRATOR", "voiceId": "storygate-deep",
              "voiceName": "Storygate Deep"}),
        Step("GET", _A, "artifact:read", "Poll until the remix is complete",
             poll=("artifact.manifest.audio.remix.status", ("complete", "failed"))),
        requires=("ARTIFACT_ID",)),
    _recipe("voice-effect", "Put an effect on a range of lines (no charge; remixed in a job)",
        Step("POST", f"{_A}/voice-modification", "artifact:publish", "Autotune lines 2 to 4",
             {"startEntryIndex": 2, "endEntryIndex": 4, "effect": "autotune",
              "params": {"key": "C", "scale": "major"}}),
        Step("GET", f"{_A}/voice-modification", "artifact:read", "Read the effects and status"),
        requires=("ARTIFACT_ID",)),
    _recipe("music", "Score the first and last scene only, then wait for the beds",
        Step("POST", f"{_A}/music", "artifact:publish", "Music under 35% of the scenes",
             {"musicCoveragePercent": 0.35}),
        Step("POST", f"{_A}/music", "artifact:publish", "Mute scene 1",
             {"sceneIndex": 1, "clip": {"disabled": True}}),
        Step("GET", f"{_A}/music", "artifact:read", "Poll until the music is ready",
             poll=("music.status", ("ready",))),
        requires=("ARTIFACT_ID",)),
    _recipe("sfx", "Add a sound cue at a line, then list the cues",
        Step("POST", f"{_A}/sfx", "artifact:publish", "Add a door knock before line 1",
             {"op": "add", "entryIndex": 1, "label": "door knock",
              "prompt": "three crisp knocks on a wooden door", "volume": 0.55,
              "triggerOffset": "before"}),
        Step("GET", f"{_A}/sfx", "artifact:read", "List the cues (soundUrl once made)"),
        requires=("ARTIFACT_ID",)),
    _recipe("refine", "Refine the read into a new revision (8 credits), then read revision 1",
        Step("POST", f"{_A}/refine", "artifact:publish", "Ask for a revision",
             {"instruction": "make the narrator warmer", "scope": "screenplay"},
             {"JOB_ID": "storyJob.id"}),
        Step("GET", _J, "story:read", "Poll the refine job until READY", poll=_MADE),
        Step("GET", _A, "artifact:read", "Read the latest revision (currentVersion 2)"),
        requires=("ARTIFACT_ID",)),
)  # fmt: skip


def _shell_json(body: Mapping[str, Any]) -> str:
    """Single-quoted JSON with ``"$VAR"`` spliced in double quotes, so the shell fills it."""
    text = json.dumps(body).replace("'", "'\\''")
    return "'" + _VAR.sub(lambda m: f"'\"${m[1]}\"'", text) + "'"


def _curl(root: str, s: Step) -> str:
    url = f"${s.url_var}" if s.url_var else root + _PARAM.sub(lambda m: f"${m[1].upper()}", s.path)
    lines = [f'curl -sS{"" if s.method == "GET" else " -X " + s.method} "{url}"']
    if s.scope is not None:
        lines.append('-H "Authorization: Bearer $SLEEPERHIT_API_KEY"')
    if s.method == "POST":
        lines.append(f'-H "Idempotency-Key: {UUID_SH}"')
    if s.body is not None:
        lines += ['-H "Content-Type: application/json"', f"-d {_shell_json(s.body)}"]
    if s.output:
        lines.append(f"-o {s.output}")
    return " \\\n  ".join(lines)


def _node_work(s: Step) -> list[str]:
    check = "if (!res.ok) throw new Error(`${res.status} ${JSON.stringify(body)}`);"
    if s.output:
        return [
            "const res = await fetch(url, init);",
            "if (!res.ok) throw new Error(`${res.status}`);",
            "const data = Buffer.from(await res.arrayBuffer());",
            f'require("node:fs").writeFileSync("{s.output}", data);',
            f"console.log(`wrote {s.output}: ${{data.length}} bytes`);",
        ]
    if s.url_var:
        return ["const res = await fetch(url, init);", "console.log(await res.text());"]
    if s.poll is None:
        return [
            "const res = await fetch(url, init);",
            "const body = await res.json();",
            check,
            "console.log(JSON.stringify(body, null, 2));",
        ]
    value = "body" + "".join(f"?.[{p}]" if p.isdigit() else f"?.{p}" for p in s.poll[0].split("."))
    return [
        "const deadline = Date.now() + 300000;",
        "for (;;) {",
        "  const res = await fetch(url, init);",
        "  const body = await res.json();",
        f"  {check}",
        f"  const value = {value};",
        f"  if ({json.dumps(list(s.poll[1]))}.includes(value)) {{",
        "    console.log(JSON.stringify(body, null, 2));",
        "    break;",
        "  }",
        "  if (Date.now() > deadline) throw new Error(`timed out at ${value}`);",
        "  await new Promise((resolve) => setTimeout(resolve, 1000));",
        "}",
    ]


def _node(root: str, s: Step) -> str:
    if s.url_var:
        url = f"process.env.{s.url_var}"
    else:
        url = "`" + root + _PARAM.sub(lambda m: f"${{process.env.{m[1].upper()}}}", s.path) + "`"
    headers = []
    if s.scope is not None:
        headers.append("Authorization: `Bearer ${process.env.SLEEPERHIT_API_KEY}`")
    if s.method == "POST":
        headers.append('"Idempotency-Key": crypto.randomUUID()')
    if s.body is not None:
        headers.append('"Content-Type": "application/json"')
    init = [
        f'method: "{s.method}"',
        f"headers: {{ {', '.join(headers)} }}" if headers else "headers: {}",
    ]
    if s.body is not None:
        js = re.sub(r'"\$([A-Z][A-Z_]*)"', r"process.env.\1", json.dumps(s.body))
        init.append(f"body: JSON.stringify({js})")
    lines = [
        "// Node 18+ (built-in fetch), no dependencies: node step.js",
        'const crypto = require("node:crypto");',
        "(async () => {",
        f"  const url = {url};",
        "  const init = {",
        *[f"    {part}," for part in init],
        "  };",
        *[f"  {line}" for line in _node_work(s)],
        "})().catch((err) => {",
        "  console.error(err.message);",
        "  process.exit(1);",
        "});",
    ]
    return "\n".join(lines) + "\n"


def render_step(root: str, s: Step) -> dict[str, Any]:
    found: dict[str, Any] = {
        "title": s.title,
        "method": s.method,
        "path": s.path,
        "scope": s.scope,
        "curl": _curl(root, s),
        "node": _node(root, s),
    }
    if s.saves:
        found["saves"] = dict(s.saves)
    if s.poll:
        found["poll"] = {"field": s.poll[0], "until": list(s.poll[1]), "intervalSeconds": 1}
    return found


_FULL = """// The whole table read, as a real client runs it. Node 18+, no dependencies:
//   SLEEPERHIT_API_KEY=sh_... node full-table-read.js
const crypto = require("node:crypto");
const BASE = "__BASE__/api/v1";
const KEY = process.env.SLEEPERHIT_API_KEY;
const LIMIT_MS = Number(process.env.SLEEPERHIT_TIMEOUT_S || 300) * 1000;
const started = Date.now();
const TABLE_READ = { type: "table_read", mode: "drama", narrationPolicy: "include" };

async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${KEY}` };
  const init = { method, headers };
  if (method === "POST") {
    headers["Idempotency-Key"] = crypto.randomUUID();
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body || {});
  }
  const res = await fetch(BASE + path, init);
  const answer = await res.json();
  if (!res.ok) {
    const error = answer.error || {};
    throw new Error(`${method} ${path}: ${res.status} ${error.code}: ${error.message}`);
  }
  return answer;
}

// Polls path every 0.5 s until done(pick(answer)), within the time limit.
async function until(path, pick, done) {
  for (;;) {
    const answer = await call("GET", path);
    const value = pick(answer);
    if (done(value)) return answer;
    if (Date.now() - started > LIMIT_MS) throw new Error(`timed out on ${path} at ${value}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

(async () => {
  const { project } = await call("POST", "/story-projects", { name: "Cape Lumen" });
  const sources = `/story-projects/${project.id}/sources`;
  const text = { type: "text", label: "cape-lumen", content: __STORY__ };
  const { source } = await call("POST", sources, text);
  const read = await until(`${sources}/${source.id}`, (a) => a.source.status,
    (s) => s === "READY" || s === "FAILED");
  if (read.source.status !== "READY") throw new Error(`source: ${read.source.failureMessage}`);
  const { plan } = await call("POST", `/story-projects/${project.id}/story-plans`, {
    target: __TARGET__,
    artifactRequests: [{ ...TABLE_READ, durationSeconds: 15 }],
    sourceIds: [source.id],
  });
  const planned = await until(`/story-plans/${plan.id}`, (a) => a.plan.status,
    (s) => s !== "PENDING" && s !== "RUNNING");
  if (planned.plan.status !== "REQUIRES_APPROVAL") {
    throw new Error(`plan is ${planned.plan.status}: ${planned.plan.failureMessage}`);
  }
  await call("POST", `/story-plans/${plan.id}/approve`);
  const { job } = await call("POST", "/story-jobs", { storyPlanId: plan.id });
  const made = await until(`/story-jobs/${job.id}`, (a) => a.job.status,
    (s) => ["READY", "FAILED", "CANCELED"].includes(s));
  if (made.job.status !== "READY") {
    throw new Error(`job is ${made.job.status}: ${made.job.failureMessage}`);
  }
  const artifact = made.job.artifacts.find((a) => a.type === "table_read");
  console.log(`theater: ${artifact.manifest.theaterUrl}`);
  await call("POST", `/artifacts/${artifact.id}/finalize`, { mode: "audio" });
  const final = await until(`/artifacts/${artifact.id}`,
    (a) => a.artifact.manifest?.audio?.finalize?.status,
    (s) => s === "complete" || s === "failed");
  const audio = final.artifact.manifest.audio;
  if (!audio.recordingUrl) throw new Error(`finalize failed: ${audio.finalize.error}`);
  const mp3 = await fetch(audio.recordingUrl);
  if (!mp3.ok) throw new Error(`download: ${mp3.status}`);
  const bytes = Buffer.from(await mp3.arrayBuffer());
  console.log(`recording: ${audio.recordingUrl}`);
  console.log(`mp3 bytes: ${bytes.length}`);
})().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
"""


def full_table_read_script(root: str) -> str:
    """The ``full-table-read`` recipe: one runnable Node script on this server."""
    return (
        _FULL.replace("__BASE__", root)
        .replace("__STORY__", json.dumps(STORY))
        .replace("__TARGET__", json.dumps(TARGET))
    )


def examples(base: str) -> dict[str, Any]:
    """The ``GET /examples`` recipe catalogue: curl and Node for every live flow."""
    root = base.rstrip("/")
    recipes = [
        {
            "id": r.id,
            "title": r.title,
            "requires": list(r.requires),
            "steps": [render_step(root, step) for step in r.steps],
        }
        for r in RECIPES
    ]
    whole = {
        "title": "Project, text source, plan, approval, job, audio finalize and the MP3, "
        "polling every 0.5 s (limit: SLEEPERHIT_TIMEOUT_S, default 300); prints the MP3's size",
        "method": "POST",
        "path": f"{API}/story-projects",
        "scope": "story:read story:write source:read source:write artifact:read artifact:publish",
        "curl": None,
        "node": full_table_read_script(root),
    }
    recipes.append(
        {"id": "full-table-read", "title": "The whole table read", "requires": [], "steps": [whole]}
    )
    return {"baseUrl": f"{root}{API}", "recipes": recipes}
