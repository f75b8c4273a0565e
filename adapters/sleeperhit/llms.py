"""``/llms.txt`` and ``/llms-full.txt``: the API for a language model to read, its operation list
taken from the OpenAPI document so it cannot drift from the routes."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from contracts import sleeperhit as wire

API = "/api/v1"

# -- llms.txt ------------------------------------------------------------------------------------

_SUMMARY = (
    "> SleeperHit Story API on storygate: turn source material (text, markdown, URLs, PDFs) "
    "into an approved StoryPlan and then a table read (a voiced screenplay with a theater page "
    "and an MP3), through scoped bearer keys, idempotent POSTs and polled asynchronous jobs."
)
_FLOW = (
    "1. Create a project (`POST /api/v1/story-projects`).\n"
    "2. Attach a source (`POST .../sources`); text and markdown are READY at once, url and "
    "pdf are fetched: poll `GET .../sources/{id}` until READY (its digest follows).\n"
    "3. Ask for a plan (`POST .../story-plans`) with `artifactRequests: [{type: table_read}]`; "
    "poll `GET /api/v1/story-plans/{id}` until REQUIRES_APPROVAL (or APPROVED with "
    "autoApprove), then `POST .../approve` (or `.../reject`).\n"
    "4. Create a job (`POST /api/v1/story-jobs` with `storyPlanId`); credits are reserved. "
    "Poll until READY; each artifact's manifest has theaterUrl and audio.liveUrl.\n"
    "5. `POST /api/v1/artifacts/{id}/finalize` (`mode: audio`, Idempotency-Key required); poll "
    "the artifact until manifest.audio.finalize.status is complete, then download "
    "manifest.audio.recordingUrl (an MP3).\n"
    "Every POST takes an Idempotency-Key; errors are `{error: {code, message, requestId}}`."
)


def _operations(doc: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if isinstance(op, dict) and "responses" in op:
                found.append((method.upper(), path, op))
    return found


def llms_txt(base: str, openapi_doc: Mapping[str, Any] | None = None) -> str:
    """llms.txt (llmstxt.org): H1, summary, links; with the document, one line per operation."""
    root = base.rstrip("/")
    lines = [
        "# SleeperHit Story API",
        "",
        _SUMMARY,
        "",
        "Authenticate with `Authorization: Bearer $SLEEPERHIT_API_KEY` (keys carry scopes). "
        "Discovery documents need no key, except capabilities (story:read).",
        "",
        "## Docs",
        "",
        f"- [OpenAPI 3.1 document]({root}{API}/openapi.json): every operation and schema",
        f"- [Examples]({root}{API}/examples): curl and Node recipes for every live flow",
        f"- [Full reference]({root}/llms-full.txt): every operation with its fields and errors",
        f"- [Capabilities]({root}{API}/capabilities): what this server makes, and with which "
        "models (key with story:read)",
    ]
    if openapi_doc is not None:
        lines += ["", "## Operations", ""]
        for method, path, op in _operations(openapi_doc):
            lines.append(f"- [{method} {path}]({root}{path}): {op.get('summary', '')}")
    lines += [
        "",
        "## Optional",
        "",
        f"- [Error codes]({root}/llms-full.txt): the 23 stable codes and their HTTP statuses",
    ]
    return "\n".join(lines) + "\n"


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[1]


def _type(schema: Mapping[str, Any]) -> str:
    if "$ref" in schema:
        return _ref_name(schema["$ref"])
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return " | ".join(_type(s) for s in schema[key])
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    limits = [
        f"{k} {schema[k]}"
        for k in ("minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems")
        if k in schema
    ]
    return f"{kind} ({', '.join(limits)})" if limits else str(kind)


def _body_lines(doc: Mapping[str, Any], op: Mapping[str, Any]) -> list[str]:
    content: dict[str, Any] = op.get("requestBody", {}).get("content", {})
    first: dict[str, Any] = next(iter(content.values()), {})
    schema: dict[str, Any] = first.get("schema", {})
    ref = next((s["$ref"] for s in [schema, *schema.get("oneOf", [])] if "$ref" in s), None)
    if ref is None:
        return []
    name = _ref_name(ref)
    body = doc.get("components", {}).get("schemas", {}).get(name, {})
    required = set(body.get("required", []))
    lines = [f"Request body ({name}):"]
    for name_, spec in body.get("properties", {}).items():
        need = "required" if name_ in required else "optional"
        lines.append(f"  - {name_} ({need}): {_type(spec)}")
    return lines


def llms_full(
    base: str, openapi_doc: Mapping[str, Any], scopes: Mapping[str, str | None] | None = None
) -> str:
    """Every operation of the OpenAPI document (method, path, scope, summary, parameters,
    request fields, error statuses), the error-code table and the flow."""
    root = base.rstrip("/")
    out = [llms_txt(root).rstrip("\n"), "", "## Flow", "", _FLOW, "", "## Operations", ""]
    for method, path, op in _operations(openapi_doc):
        op_id = str(op.get("operationId", ""))
        scope = (scopes or {}).get(op_id, "unknown")
        out += [
            f"### {method} {path}",
            "",
            f"{op.get('summary', '')}",
            f"operationId: {op_id}; scope: {scope or 'none (public)'}",
        ]
        params = [
            f"  - {p['name']} ({p.get('in')}, {'required' if p.get('required') else 'optional'}): "
            f"{_type(p.get('schema', {}))}"
            for p in op.get("parameters", [])
        ]
        if params:
            out += ["Parameters:", *params]
        out += _body_lines(openapi_doc, op)
        statuses = sorted(s for s in op.get("responses", {}) if re.fullmatch(r"[45]\d\d", s))
        ok = [s for s in op.get("responses", {}) if s.startswith("2")]
        out.append(f"Success: {', '.join(ok)}; error statuses: {', '.join(statuses) or 'none'}")
        out.append("")
    out += ["## Error codes", "", "| Code | HTTP |", "|---|---|"]
    out += [f"| {code} | {status} |" for code, status in wire.ERROR_CODES.items()]
    out += ["", "Every error answers `{error: {code, message, requestId, details?}}`."]
    return "\n".join(out) + "\n"
