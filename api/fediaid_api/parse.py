"""Reading requests: the JSON body, path ids and query parameters.

Only the wire is checked here: that the body is a JSON object, that every value has the JSON
type the OpenAPI document (``openapi.py``) gives it, that no unknown field slipped in, and
that strings are I-JSON text (RFC 7493). What the values *mean* (lengths, choices, dates,
quantities) is checked by the services, which name the field in their ``Invalid`` errors.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from api.errors import UnsupportedMediaType
from api.fediaid_api.openapi import SCHEMAS
from api.ids import parse_id
from fediaid.errors import Invalid, NotFound, TooLarge

BODY_MAX = 256 * 1024  # the longest post (5,000 characters) fits many times over
MAX_ID = 2**63 - 1  # ids are 64-bit integers on every backend
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "boolean": (bool,), "array": (list,), "object": (dict,),
    "null": (type(None),), "number": (int, float), "integer": (int, float),
}
TYPE_WORDS = {"string": "text", "boolean": "true or false", "array": "a list",
              "object": "an object", "null": "null", "number": "a number",
              "integer": "a whole number"}


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is an empty object."""
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype and ctype != "application/json" and not ctype.endswith("+json"):
        raise UnsupportedMediaType("Send the request body as JSON (Content-Type: "
                                   "application/json).")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > BODY_MAX:
        raise TooLarge(f"The request body is too large (at most {BODY_MAX // 1024} KiB).")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > BODY_MAX:
            raise TooLarge(f"The request body is too large (at most {BODY_MAX // 1024} KiB).")
    if not raw.strip():
        return {}
    try:
        data = json.loads(bytes(raw), parse_float=_finite_float, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeError are both
        raise Invalid("The request body is not valid JSON.",
                      internal=f"bad JSON body: {exc}") from exc
    if not isinstance(data, dict):
        raise Invalid("The request body must be a JSON object, like {\"kind\": \"need\"}.")
    return data


async def read_body(request: Request, schema: str) -> dict[str, Any]:
    """The JSON body, checked against the named request schema of the OpenAPI document."""
    body = await read_object(request)
    check(body, SCHEMAS[schema], SCHEMAS)
    return body


def check(value: Any, schema: Mapping[str, Any], components: Mapping[str, Any],
          field: str | None = None, *, item: bool = False) -> None:
    """Check ``value`` against the *shape* of a JSON schema from the OpenAPI document: JSON
    types, nested properties, ``required`` and ``additionalProperties: false``. Raises
    ``Invalid`` naming the first offending field (dotted for nested objects; list items
    are named after their list)."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    name = f"Each of {field}" if item else (field or "The request body")
    types = schema.get("type")
    if types is not None:
        allowed = [types] if isinstance(types, str) else list(types)
        if not any(_is(value, t) for t in allowed):
            words = " or ".join(TYPE_WORDS[t] for t in allowed if t != "null" or
                                len(allowed) == 1)
            raise Invalid(f"{name} must be {words}.", field=field)
    if isinstance(value, str):
        _check_text(value, name, field)
    elif isinstance(value, list) and "items" in schema:
        for element in value:
            check(element, schema["items"], components, field, item=True)
    elif isinstance(value, dict):
        props: Mapping[str, Any] = schema.get("properties", {})
        closed = schema.get("additionalProperties") is False
        for key in value:
            if closed and key not in props:
                raise Invalid(f"Unknown field: {_join(field, key)}.", field=_join(field, key))
        for key in schema.get("required", ()):
            if key not in value:
                raise Invalid(f"Please give the {_join(field, key)}.", field=_join(field, key))
        for key, sub in props.items():
            if key in value:
                check(value[key], sub, components, _join(field, key))


def _join(field: str | None, key: str) -> str:
    return f"{field}.{key}" if field else key


def _is(value: Any, json_type: str) -> bool:
    if isinstance(value, bool):
        return json_type == "boolean"
    if json_type == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, JSON_TYPES[json_type])


def _check_text(value: str, name: str, field: str | None) -> None:
    """I-JSON (RFC 7493, section 2.1): strings are Unicode text, without unpaired
    surrogates, which no database here can store."""
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        raise Invalid(f"{name} contains characters that are not text.", field=field)


def object_id(request: Request, what: str) -> int:
    """The ``{id}`` in the path as a database id; anything else is simply not found."""
    number = parse_id(request.path_params["id"])
    if number is None:
        raise NotFound(f"No such {what}.")
    return number


def query_text(request: Request, name: str, *, max_len: int) -> str | None:
    value = request.query_params.get(name)
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > max_len:
        raise Invalid(f"{name} is too long: keep it under {max_len} characters.", field=name)
    if not value.isprintable():
        raise Invalid(f"{name} contains characters that are not text.", field=name)
    return value


def query_int(request: Request, name: str, *, default: int | None, low: int, high: int
              ) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise Invalid(f"{name} must be a whole number from {low} to {high}.", field=name)
    return int(value)
