"""Fetching ActivityPub documents over HTTP.

The caller supplies the ``httpx.AsyncClient`` (``activitypub.net.make_client``: address
policy, pools and signing auth), so this module has no configuration and no globals.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urldefrag

import httpx

from activitypub.errors import FetchError
from activitypub.net import send
from activitypub.vocab import ACTIVITY_JSON, LD_JSON_PROFILE, is_activitypub_media_type, same_origin

ACCEPT = f"{ACTIVITY_JSON}, {LD_JSON_PROFILE}"


class NotFoundRemote(FetchError):
    """The remote server says the document does not exist (404) or is gone (410)."""


async def fetch_document(
    client: httpx.AsyncClient, url: str, *, max_bytes: int, deadline: float = 30.0,
    max_redirects: int = 3, auth: httpx.Auth | None = None,
) -> dict[str, Any]:
    """GET an ActivityPub document and return it parsed.

    Follows Mastodon's rules for fetched documents (PROTOCOL.md section 3.3): status 200, an
    ActivityPub media type, a body under ``max_bytes``, a JSON object whose ``id`` has the
    same origin as the URL finally fetched (so a server cannot speak for another). The whole
    fetch, redirects and body included, takes at most ``deadline`` seconds. ``auth``: sign
    the GET with it instead of the client's own signing auth.
    """
    target, _fragment = urldefrag(url)
    try:
        answer = await send(client, "GET", target, headers={"Accept": ACCEPT},
                            deadline=deadline, max_bytes=max_bytes,
                            max_redirects=max_redirects, auth=auth)
    except TimeoutError as exc:
        raise FetchError(f"could not fetch {target}: no answer within {deadline:g}s") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"could not fetch {target}: {type(exc).__name__}") from exc
    if answer.status in (404, 410):
        raise NotFoundRemote(f"{target} answered {answer.status}")
    if answer.status != 200:
        raise FetchError(f"{target} answered {answer.status}")
    if not is_activitypub_media_type(answer.headers.get("content-type"), strict=True):
        raise FetchError(f"{target} did not answer with ActivityPub JSON")
    try:
        doc = json.loads(answer.body)
    except ValueError as exc:
        raise FetchError(f"{target} sent invalid JSON") from exc
    if not isinstance(doc, dict):
        raise FetchError(f"{target} sent JSON that is not an object")
    ident = doc.get("id")
    if not isinstance(ident, str) or not same_origin(ident, answer.url):
        raise FetchError(f"{target} sent a document whose id is not on its own host")
    return doc
