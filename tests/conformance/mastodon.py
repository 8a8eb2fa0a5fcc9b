"""Every Mastodon client API response the tests produce, checked against Mastodon's schema.

The schema is the vendored OpenAPI 3.1 description of Mastodon 4.7's API
(``mastodon-openapi.json``, origin in ``README.md`` beside this file). OpenAPI 3.1 schema
objects are JSON Schema 2020-12; they are compiled with ``jsonschema_rs`` against one
registry holding the whole document, so ``#/components/...`` references resolve in place.
One validator per (operation, status code) is compiled the first time it is needed and kept
for the session.

``check_response`` is an httpx response hook (``tests/api/conftest.py``): a response to a
``/api/v1``, ``/api/v2``, ``/oauth`` or ``/.well-known/oauth-authorization-server`` path
whose operation (method and path template) the schema describes, with a JSON body and a
documented status code, must match the schema of that status code, else the request raises
``SchemaMismatch`` (an ``AssertionError``) naming the path, the JSON pointer, and what was
expected and found. Which operations were validated is collected for the end-of-run report.
"""

from __future__ import annotations

import copy
import json
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx
import jsonschema_rs

from fediaid.services.discovery import REPOSITORY

HERE = Path(__file__).resolve().parent
SCHEMA_FILE = HERE / "mastodon-openapi.json"
BASE_URI = "https://mastodon-openapi.invalid/schema.json"  # a name for the registry only
PREFIXES = ("/api/v1/", "/api/v2/", "/oauth/", "/.well-known/oauth-authorization-server")
METHODS = ("get", "put", "post", "delete", "patch")
# MASTODON_CONFORMANCE=report: list every mismatch at the end instead of failing the test at
# the first one (to see them all while fixing).
REPORT_ONLY = os.environ.get("MASTODON_CONFORMANCE") == "report"


# -- where the vendored schema is patched, and why ----------------------------------------

@dataclass(frozen=True)
class Fix:
    """One change to the loaded schema. ``pointer`` is a JSON pointer into the document;
    either some keys are no longer required there, or the schema there is replaced."""

    pointer: str
    reason: str
    drop_required: tuple[str, ...] = ()
    replace: Any = None
    add: bool = False  # ``replace`` is new there (the schema has nothing at ``pointer``)


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def _response_schema(path: str, method: str, status: str) -> str:
    return (f"/paths/{_escape(path)}/{method}/responses/{status}"
            "/content/application~1json/schema")


def _empty_or(fmt: str) -> dict[str, Any]:
    """A string in ``fmt``, or the empty string."""
    return {"type": "string", "anyOf": [{"const": ""}, {"format": fmt}]}


# Where the schema itself is wrong. Each entry cites the schema's note of origin
# (README.md here, copied from the shared reference's README) or Mastodon's own code.
SCHEMA_ERRATA: tuple[Fix, ...] = (
    Fix(_response_schema("/api/v1/filters", "get", "200"),
        "README: GET /api/v1/filters is described as an object; Mastodon returns an array "
        "of V1::Filter",
        replace={"type": "array", "items": {"$ref": "#/components/schemas/V1Filter"}}),
    Fix("/components/schemas/ValidationError",
        "the schema requires `details` in every 422, but Mastodon's Api::ErrorHandling "
        "(app/controllers/concerns/api/error_handling.rb) answers RecordInvalid and "
        "ValidationError with {error} alone; only account registration adds details",
        drop_required=("details",)),
    Fix(f"/paths/{_escape('/api/v1/preferences')}/get/responses/200/content",
        "the schema defines Preferences but gives GET /api/v1/preferences no body; "
        "Mastodon answers with that entity (docs.joinmastodon.org/methods/preferences)",
        replace={"application/json": {"schema": {"$ref": "#/components/schemas/Preferences"}}},
        add=True),
)

# Where fediaid differs on purpose, each with its reason (docs/mastodon-api.md tells users).
FEDIAID_DIFFERENCES: tuple[Fix, ...] = (
    Fix("/components/schemas/DiscoverOauthServerConfigurationResponse",
        "userinfo_endpoint came with Mastodon 4.4's /oauth/userinfo (the `profile` scope); "
        "fediaid claims 4.3 and has no userinfo endpoint, so it advertises none (RFC 8414 "
        "makes the member optional)",
        drop_required=("userinfo_endpoint",)),
    Fix("/components/schemas/Instance/properties/contact/properties/email",
        "fediaid publishes no contact e-mail address (the group is reached through "
        "contact.account); Mastodon too sends \"\" when site_contact_email is not set",
        replace=_empty_or("email")),
    Fix("/components/schemas/V1Instance/properties/email",
        "as contact.email in v2: no contact e-mail address, \"\"",
        replace=_empty_or("email")),
)
if REPOSITORY is None:  # goes away by itself once there is a public home
    FEDIAID_DIFFERENCES += (
        Fix("/components/schemas/Instance/properties/source_url",
            "fediaid has no public source home yet (fediaid.services.discovery.REPOSITORY "
            "is None), so source_url is \"\" until it has one",
            replace=_empty_or("uri")),
    )


# -- loading and compiling --------------------------------------------------------------------

def _resolve(doc: Any, pointer: str) -> Any:
    node = doc
    for part in pointer.lstrip("/").split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def apply_fix(doc: dict[str, Any], fix: Fix) -> None:
    """Patch ``doc``; a stale entry (target or key gone) raises, so the list stays honest."""
    parent_pointer, _, last = fix.pointer.rpartition("/")
    parent = _resolve(doc, parent_pointer) if parent_pointer else doc
    key = last.replace("~1", "/").replace("~0", "~")
    if fix.add and key in parent:
        raise LookupError(f"{fix.pointer} is in the schema now: drop the fix")
    if not fix.add and key not in parent:
        raise LookupError(f"schema fix target {fix.pointer} is not in the schema")
    if fix.replace is not None:
        parent[key] = copy.deepcopy(fix.replace)
    for name in fix.drop_required:
        required = parent[key].get("required", [])
        if name not in required:
            raise LookupError(f"{name!r} is not required at {fix.pointer}: drop the fix")
        required.remove(name)


@cache
def document() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    for fix in (*SCHEMA_ERRATA, *FEDIAID_DIFFERENCES):
        apply_fix(doc, fix)
    return doc


@cache
def _registry() -> jsonschema_rs.Registry:
    return jsonschema_rs.Registry(resources=[(BASE_URI, document())])


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    template: str  # as in the schema: /api/v1/statuses/{id}
    operation_id: str
    literal: tuple[bool, ...]  # per segment: a literal (True) or a parameter

    def matches(self, segments: list[str]) -> bool:
        parts = self.template.strip("/").split("/")
        return len(parts) == len(segments) and all(
            not lit or part == seg for part, seg, lit in zip(parts, segments, self.literal,
                                                              strict=True))


@cache
def operations() -> dict[str, list[Operation]]:
    """Operations by method, the most literal template first (``/accounts/relationships``
    before ``/accounts/{id}``)."""
    out: dict[str, list[Operation]] = {}
    for template, item in document()["paths"].items():
        parts = template.strip("/").split("/")
        literal = tuple(not re.fullmatch(r"\{[^}]+\}", p) for p in parts)
        for method in METHODS:
            if method in item:
                op = Operation(method.upper(), template, item[method].get("operationId", ""),
                               literal)
                out.setdefault(op.method, []).append(op)
    for ops in out.values():
        ops.sort(key=lambda o: [not lit for lit in o.literal])
    return out


def find_operation(method: str, path: str) -> Operation | None:
    segments = path.rstrip("/").strip("/").split("/") if path != "/" else [""]
    for op in operations().get(method.upper(), []):
        if op.matches(segments):
            return op
    return None


@cache
def validator(op: Operation, status: str) -> jsonschema_rs.Validator | None:
    """The compiled validator of one documented JSON response, or None when the schema
    documents no JSON body for that status."""
    responses = document()["paths"][op.template][op.method.lower()].get("responses", {})
    content = (responses.get(status) or {}).get("content", {})
    if "application/json" not in content or "schema" not in content["application/json"]:
        return None
    pointer = _response_schema(op.template, op.method.lower(), status)
    ref = f"{BASE_URI}#{quote(pointer, safe='/~')}"
    return jsonschema_rs.validator_for({"$ref": ref}, registry=_registry(),
                                       validate_formats=True)


# -- checking ---------------------------------------------------------------------------------

class SchemaMismatch(AssertionError):
    """A response that does not match Mastodon's schema."""


@dataclass
class Coverage:
    validated: dict[tuple[str, str], int] = field(default_factory=dict)  # (METHOD, template)
    statuses: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    routes: set[tuple[str, str]] = field(default_factory=set)  # served (METHOD, path)
    seconds: float = 0.0
    mismatches: set[str] = field(default_factory=set)  # MASTODON_CONFORMANCE=report only
    modules: set[str] = field(default_factory=set)  # test files that used the client
    events: dict[str, int] = field(default_factory=dict)  # streaming payloads validated

    def note(self, op: Operation, status: int) -> None:
        key = (op.method, op.template)
        self.validated[key] = self.validated.get(key, 0) + 1
        self.statuses.setdefault(key, set()).add(status)


COVERAGE = Coverage()


def _short(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def _pointer(parts: Iterable[str | int]) -> str:
    return "".join(f"/{_escape(str(p))}" for p in parts) or "(the body)"


def _expected(error: jsonschema_rs.ValidationError) -> str:
    """The schema keyword that failed, with its value (e.g. ``type: "string"``)."""
    location = error.absolute_keyword_location or ""
    if "#" not in location:
        return error.schema_path[-1] if error.schema_path else "?"
    pointer = unquote(location.split("#", 1)[1])
    try:
        value = _resolve(document(), pointer)
    except (KeyError, IndexError, ValueError):
        return pointer
    return f"{pointer.rsplit('/', 1)[-1]}: {_short(value, 300)} (schema {pointer})"


def describe(errors: list[jsonschema_rs.ValidationError]) -> str:
    lines = []
    for error in errors[:8]:
        lines.append(f"  at {_pointer(error.instance_path)}: {error.message}\n"
                     f"    expected {_expected(error)}\n"
                     f"    actual   {_short(error.instance)}")
    if len(errors) > 8:
        lines.append(f"  ... and {len(errors) - 8} more")
    return "\n".join(lines)


def validate(method: str, path: str, status: int, body: Any) -> Operation | None:
    """Check one response; returns the operation it was validated as (None: not checked)."""
    if not path.startswith(PREFIXES):
        return None
    op = find_operation(method, path)
    if op is None:
        return None
    v = validator(op, str(status))
    if v is None:
        return None
    errors = list(v.iter_errors(body))
    COVERAGE.note(op, status)
    if errors:
        if REPORT_ONLY:
            for e in errors:
                COVERAGE.mismatches.add(
                    f"{op.method} {op.template} {status} at {_pointer(e.instance_path)}: "
                    f"{e.message}")
            return op
        raise SchemaMismatch(
            f"{method} {path} -> {status} does not match Mastodon's schema for "
            f"{op.method} {op.template} ({op.operation_id}, response {status}):\n"
            f"{describe(errors)}")
    return op


@cache
def entity_validator(name: str) -> jsonschema_rs.Validator:
    ref = f"{BASE_URI}#/components/schemas/{quote(name)}"
    return jsonschema_rs.validator_for({"$ref": ref}, registry=_registry(),
                                       validate_formats=True)


#: The entity each streaming event's payload is (docs.joinmastodon.org/methods/streaming).
STREAM_PAYLOADS = {"update": "Status", "status.update": "Status",
                   "notification": "Notification", "conversation": "Conversation"}


def validate_event(event: str, payload: str) -> None:
    """Check one streaming event's payload (JSON text) against its entity; ``delete``
    carries a status id as plain text."""
    if event == "delete":
        if not payload.isdigit():
            raise SchemaMismatch(f"streaming delete: payload {payload!r} is not a status id")
        return
    name = STREAM_PAYLOADS.get(event)
    if name is None:
        return
    errors = list(entity_validator(name).iter_errors(json.loads(payload)))
    if errors:
        raise SchemaMismatch(f"streaming {event} payload does not match Mastodon's {name}:\n"
                             f"{describe(errors)}")
    COVERAGE.events[event] = COVERAGE.events.get(event, 0) + 1


async def check_response(response: httpx.Response) -> None:
    """httpx response hook: validate a JSON response of the client API."""
    request = response.request
    if not request.url.path.startswith(PREFIXES):
        return
    ctype = response.headers.get("content-type", "").split(";")[0].strip()
    if ctype != "application/json":
        return
    started = time.perf_counter()
    await response.aread()
    try:
        if response.content:
            validate(request.method, request.url.path, response.status_code, response.json())
    finally:
        COVERAGE.seconds += time.perf_counter() - started


def check_requests_response(response: Any, *args: Any, **kwargs: Any) -> None:
    """The same check as a ``requests`` response hook (Mastodon.py's session against real
    ``fediaid serve`` processes)."""
    ctype = response.headers.get("content-type", "").split(";")[0].strip()
    path = httpx.URL(response.url).path
    if ctype == "application/json" and response.content and path.startswith(PREFIXES):
        started = time.perf_counter()
        try:
            validate(response.request.method, path, response.status_code, response.json())
        finally:
            COVERAGE.seconds += time.perf_counter() - started


def note_routes(app: Any) -> None:
    """Remember the served client API routes (method, path template) for the report;
    ``app`` is the ASGI app, possibly inside middleware (each keeping the next as ``.app``)."""
    if COVERAGE.routes:
        return
    for _ in range(20):
        if app is None or hasattr(app, "routes"):
            break
        app = getattr(app, "app", None)
    for route in getattr(app, "routes", ()):
        path = getattr(route, "path", "")
        for method in getattr(route, "methods", None) or ():
            if method not in ("HEAD", "OPTIONS") and path.startswith(PREFIXES):
                COVERAGE.routes.add((method, re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", path)))


def ops_for_route(method: str, path: str) -> list[Operation]:
    """The schema operations a served route answers (a route parameter may stand for
    literals of the schema: ``/api/v1/profile/{kind}`` is ``.../avatar`` and ``.../header``)."""
    segments = path.strip("/").split("/")
    is_param = [bool(re.fullmatch(r"\{[^}]+\}", s)) for s in segments]
    out = []
    for op in operations().get(method, []):
        parts = op.template.strip("/").split("/")
        if len(parts) == len(segments) and all(
                param or not lit or part == seg
                for part, seg, param, lit in zip(parts, segments, is_param, op.literal,
                                                 strict=True)):
            out.append(op)
    # The same shape when the schema has it (/statuses/{id} is not /statuses/...literal).
    exact = [op for op in out
             if all(lit != param for lit, param in zip(op.literal, is_param, strict=True))]
    return exact[:1] if exact else out


def _json_success(op: Operation) -> bool:
    """Whether the schema documents a JSON body for a 2xx answer of ``op``."""
    responses = document()["paths"][op.template][op.method.lower()].get("responses", {})
    return any(status.startswith("2") and "application/json" in (r or {}).get("content", {})
               for status, r in responses.items())


@dataclass
class Unvalidated:
    missing: list[str]  # a JSON success answer described, none validated
    not_json: list[str]  # served, the schema describes no JSON success (streams, pages)
    unknown: list[str]  # served, not in the schema


def unvalidated() -> Unvalidated:
    """The served endpoints (the app's routes; docs/mastodon-api.md lists every one) that
    no test response validated, by kind."""
    missing: dict[str, str] = {}
    not_json: set[str] = set()
    unknown: list[str] = []
    for method, path in sorted(COVERAGE.routes, key=lambda r: (r[1], r[0])):
        ops = ops_for_route(method, path)
        if not ops:
            unknown.append(f"{method} {path}")
        for op in ops:
            name = f"{op.method} {op.template}"
            if not _json_success(op):
                not_json.add(name)
                continue
            seen = COVERAGE.statuses.get((op.method, op.template), set())
            if not any(200 <= s < 300 for s in seen):
                errors = ", ".join(str(s) for s in sorted(seen))
                missing[name] = f"{name}  (errors only: {errors})" if seen else name
    return Unvalidated([missing[k] for k in sorted(missing, key=_by_path)],
                       sorted(not_json, key=_by_path), unknown)


def _by_path(name: str) -> tuple[str, str]:
    return name.split()[1], name


def report() -> list[str]:
    if not COVERAGE.validated and not COVERAGE.events:
        return []
    responses = sum(COVERAGE.validated.values())
    lines = [f"{responses} responses of {len(COVERAGE.validated)} operations validated "
             f"against Mastodon 4.7's schema in {COVERAGE.seconds:.2f} s"]
    if COVERAGE.events:
        lines.append("streaming payloads validated: " + ", ".join(
            f"{event} {n}" for event, n in sorted(COVERAGE.events.items())))
    if COVERAGE.mismatches:
        lines.append(f"mismatches ({len(COVERAGE.mismatches)}):")
        lines += [f"  {m}" for m in sorted(COVERAGE.mismatches)]
    suite = {str(p) for p in (HERE.parent / "api").glob("test_mastodon_*.py")}
    if not suite <= {str(Path(m)) for m in COVERAGE.modules}:
        lines.append("(run all of tests/api/test_mastodon_*.py for the list of served "
                     "endpoints that no test validated)")
        return lines
    gaps = unvalidated()
    if gaps.missing:
        lines.append(f"served endpoints whose success answer no test validated "
                     f"({len(gaps.missing)}):")
        lines += [f"  {m}" for m in gaps.missing]
    if gaps.not_json:
        lines.append(f"served, no JSON success answer in the schema ({len(gaps.not_json)}): "
                     + ", ".join(gaps.not_json))
    if gaps.unknown:
        lines.append(f"served, not in Mastodon's schema ({len(gaps.unknown)}): "
                     + ", ".join(gaps.unknown))
    return lines
