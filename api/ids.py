"""Ids in URLs: the one rule (``fediaid.domain.ids.parse_id``) applied to every route.

- ``{id:id}`` in a route path matches only ids that can exist (1..2**63-1, ASCII digits, no
  leading zero); anything else does not match the route, so it is a 404 before a handler
  or a query sees it. Registered on import (``api.app`` imports this module before building
  its routes).
- ``path_id(request)`` is for routes that keep a plain ``{id}`` (the Mastodon API and the
  JSON API answer an impossible id with their own "not found" body and still answer CORS
  pre-flights on the path): an impossible id raises ``NotFound``.
- ``query_id`` / ``query_ids`` read ids given in query strings and forms.

A value beyond 64 bits used to reach the database and fail there (PostgreSQL: bigint out of
range; SQLite: OverflowError): a 500 instead of a 404.
"""

from __future__ import annotations

from typing import Any

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request

from fediaid.domain.ids import MAX_ID, parse_id
from fediaid.errors import Invalid, NotFound


def _at_most(limit: int) -> str:
    """A regular expression for the decimal numbers 1..``limit`` without leading zeros."""
    digits = str(limit)
    width = len(digits)
    alternatives = [f"[1-9][0-9]{{0,{width - 2}}}"] if width > 1 else []
    for i, ch in enumerate(digits):
        low = 1 if i == 0 else 0
        if int(ch) > low:
            rest = width - i - 1
            tail = f"[0-9]{{{rest}}}" if rest else ""
            alternatives.append(f"{digits[:i]}[{low}-{int(ch) - 1}]{tail}")
    alternatives.append(digits)
    return "(?:" + "|".join(alternatives) + ")"


class IdConvertor(Convertor[int]):
    regex = _at_most(MAX_ID)

    def convert(self, value: str) -> int:
        number = parse_id(value)
        if number is None:  # the pattern admits only valid ids; kept as a second guard
            raise ValueError(f"not an id: {value!r}")
        return number

    def to_string(self, value: int) -> str:
        if parse_id(value) is None:
            raise ValueError(f"not an id: {value!r}")
        return str(value)


register_url_convertor("id", IdConvertor())


def path_id(request: Request, name: str = "id", *, message: str = "Record not found") -> int:
    """The id in the path; an id that cannot exist is not found."""
    raw = request.path_params.get(name)
    number = parse_id(raw)
    if number is None:
        raise NotFound(message)
    return number


def query_id(value: Any, name: str, *, allow_zero: bool = False) -> int | None:
    """An optional id from a query string or form (``max_id``, ``in_reply_to_id``...): None
    when absent, ``Invalid`` (400) when it cannot be an id. ``allow_zero`` accepts "0" (as
    paging does: ``since_id=0`` means from the start)."""
    if value is None or value == "":
        return None
    if allow_zero and value in ("0", 0):
        return 0
    number = parse_id(value)
    if number is None:
        raise Invalid(f"{name} must be an id", field=name)
    return number


def query_ids(values: Any, *, limit: int | None = None) -> list[int]:
    """The ids of a list parameter (``id[]``) that can exist, in order, without repeats;
    the others are skipped (they name nothing)."""
    items = values if isinstance(values, list) else [] if values is None else [values]
    found = (parse_id(v) for v in items[:limit])
    return list(dict.fromkeys(n for n in found if n is not None))
