"""``GET /api/v2/search``: accounts (by name, by address resolved through WebFinger, by
actor URL), hashtags (only those on statuses the asker may see) and statuses (by the URL of a
status we hold, shown only when visible, or, for signed-in users, by the words of their text:
every word must appear; offers and needs match on their title and description too).

As in Mastodon: public without a token, but resolving remote accounts and ``offset`` need a
logged-in account (401 otherwise); a token that is given must cover ``read:search``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from api.context import runtime
from api.mastodon.accounts import accounts_json, flag
from api.mastodon.common import cors, optional_user, params, text
from api.mastodon.entities import status_entities
from api.mastodon.paging import page_from
from api.responses import FastJSON
from fediaid.errors import Invalid, Unauthenticated

TYPES = ("accounts", "hashtags", "statuses")


@cors
async def search_v2(request: Request) -> Response:
    rt = runtime(request)
    user = await optional_user(request, "read:search")
    p = await params(request)
    q = (text(p.get("q")) or "").strip()
    if not q:
        raise Invalid("q is required", field="q")
    kind = text(p.get("type")) or None
    if kind is not None and kind not in TYPES:
        raise Invalid("type must be accounts, hashtags or statuses", field="type")
    resolve = flag(p.get("resolve"), "resolve")
    offset_raw = p.get("offset")
    if offset_raw not in (None, "") and not (str(offset_raw).isascii()
                                             and str(offset_raw).isdigit()):
        raise Invalid("offset must be a number", field="offset")
    offset = min(int(offset_raw or 0), 10_000)
    if user is None and resolve:
        raise Unauthenticated("Search queries that resolve remote resources are not "
                              "supported without authentication")
    if user is None and offset:
        raise Unauthenticated("Search queries pagination is not supported without "
                              "authentication")
    limit = page_from(p).limit
    out: dict[str, list[Any]] = {"accounts": [], "statuses": [], "hashtags": []}
    if kind in (None, "accounts"):
        ids = await rt.client_accounts.search(
            user, q, resolve=resolve, following=flag(p.get("following"), "following"),
            limit=limit, offset=offset)
        out["accounts"] = await accounts_json(rt, ids)
    if kind in (None, "statuses") and not offset:
        ids = await rt.client_accounts.search_status(q)
        if not ids and user is not None:
            # Full text, among what the asker may see (signed-in users, as Mastodon).
            ids = await rt.status_reading.search_text(user, q, page_from(p))
        out["statuses"] = await status_entities(rt, user, ids)
    if kind in (None, "hashtags") and not offset:
        base = rt.settings.base_url
        # Mastodon's Tag; ``id`` as GET /api/v1/tags/:name gives it (the lower-case name).
        out["hashtags"] = [{"id": tag.lower(), "name": tag, "url": f"{base}/tags/{tag}",
                            "history": [], "following": False}
                           for tag in await rt.client_accounts.search_tags(user, q,
                                                                           limit=limit)]
    return FastJSON(out)


ROUTES: list[BaseRoute] = [
    Route("/api/v2/search", search_v2, methods=["GET", "OPTIONS"]),
]
