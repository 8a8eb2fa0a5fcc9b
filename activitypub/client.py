"""Fetching ActivityPub documents over HTTP.

The caller supplies the ``httpx.AsyncClient`` (with its transport, limits and signing auth),
so this module has no configuration and no globals.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urldefrag

import httpx

from activitypub.errors import FetchError
from activitypub.net import read_limited
from activitypub.vocab import ACTIVITY_JSON, LD_JSON_PROFILE, is_activitypub_media_type, same_origin

ACCEPT = f"{ACTIVITY_JSON}, {LD_JSON_PROFILE}"


class NotFoundRemote(FetchError):
    """The remote server says the document does not exist (404) or is gone (410)."""


async def fetch_document(
    client: httpx.AsyncClient, url: str, *, max_bytes: int
) -> dict[str, Any]:
    """GET an ActivityPub document and return it parsed.

    Follows Mastodon's rules for fetched documents (PROTOCOL.md section 3.3): status 200, an
    ActivityPub media type, a body under ``max_bytes``, a JSON object whose ``id`` has the
    same origin as the URL finally fetched (so a server cannot speak for another).
    """
    target, _fragment = urldefrag(url)
    try:
        async with client.stream("GET", target, headers={"Accept": ACCEPT}) as resp:
            if resp.status_code in (404, 410):
                raise NotFoundRemote(f"{target} answered {resp.status_code}")
            if resp.status_code != 200:
                raise FetchError(f"{target} answered {resp.status_code}")
            if not is_activitypub_media_type(resp.headers.get("content-type"), strict=True):
                raise FetchError(f"{target} did not answer with ActivityPub JSON")
            body = await read_limited(resp, max_bytes)
            final_url = str(resp.url)
    except httpx.HTTPError as exc:
        raise FetchError(f"could not fetch {target}: {type(exc).__name__}") from exc
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise FetchError(f"{target} sent invalid JSON") from exc
    if not isinstance(doc, dict):
        raise FetchError(f"{target} sent JSON that is not an object")
    ident = doc.get("id")
    if not isinstance(ident, str) or not same_origin(ident, final_url):
        raise FetchError(f"{target} sent a document whose id is not on its own host")
    return doc
