"""Mastodon's pagination parameters and ``Link`` headers.

Lists are newest first. ``max_id`` gives older items, ``since_id`` newer ones (newest
first), ``min_id`` the oldest ones just above it. The ``Link`` header names the next
(older: ``max_id`` = last id) and previous (newer: ``min_id`` = first id) pages, on the same
URL with the other parameters kept, as Mastodon sends it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from api.ids import query_id
from fediaid.domain.paging import Page
from fediaid.errors import Invalid

DEFAULT_LIMIT = 20
MAX_LIMIT = 40


def _id(value: Any, name: str) -> int | None:
    return query_id(value, name, allow_zero=True)


def page_from(params: Mapping[str, Any], *, default: int = DEFAULT_LIMIT,
              maximum: int = MAX_LIMIT) -> Page:
    raw = params.get("limit")
    limit = default
    if raw not in (None, ""):
        try:
            limit = int(str(raw))
        except ValueError:
            raise Invalid("limit must be a number") from None
    limit = max(1, min(limit, maximum))
    return Page(max_id=_id(params.get("max_id"), "max_id"),
                since_id=_id(params.get("since_id"), "since_id"),
                min_id=_id(params.get("min_id"), "min_id"), limit=limit)


def link_header(request: Request, ids: Sequence[int | str]) -> dict[str, str]:
    """``Link: <...max_id=last>; rel="next", <...min_id=first>; rel="prev"`` (empty when
    the page is empty, as Mastodon does)."""
    if not ids:
        return {}
    keep = [(k, v) for k, v in request.query_params.multi_items()
            if k not in ("max_id", "min_id", "since_id")]
    base = str(request.url.replace(query=""))

    def url(extra: tuple[str, str]) -> str:
        return base + "?" + urlencode([*keep, extra])

    return {"Link": f'<{url(("max_id", str(ids[-1])))}>; rel="next", '
                    f'<{url(("min_id", str(ids[0])))}>; rel="prev"'}
