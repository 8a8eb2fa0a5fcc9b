"""WebFinger (RFC 7033) as the fediverse uses it, and host-meta (RFC 6415) for the fallback.

Mastodon resolves ``acct:user@host``, requires ``subject`` and a ``self`` link with an
ActivityPub media type, then re-checks that the actor's ``preferredUsername`` and host
round-trip to the same subject (PROTOCOL.md section 3.2).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from activitypub.errors import FetchError
from activitypub.vocab import ACTIVITY_JSON, LD_JSON_PROFILE

if TYPE_CHECKING:
    import httpx

_HANDLE = re.compile(r"^(?:acct:)?@?([^@\s/]+)@([^@\s/]+)$")


def parse_handle(value: str) -> tuple[str, str]:
    """``@user@host``, ``user@host`` or ``acct:user@host`` -> (user, host). Raises ValueError."""
    m = _HANDLE.fullmatch(value.strip())
    if not m:
        raise ValueError(f"not a fediverse handle: {value!r} (expected @name@host)")
    return m.group(1), m.group(2).lower()


def build_jrd(*, subject: str, actor_url: str, profile_url: str | None,
              aliases: list[str] | None = None) -> dict[str, Any]:
    links: list[dict[str, str]] = [
        {"rel": "self", "type": ACTIVITY_JSON, "href": actor_url},
    ]
    if profile_url:
        links.append(
            {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html",
             "href": profile_url}
        )
    return {"subject": subject, "aliases": aliases or [actor_url], "links": links}


def self_link(jrd: Any) -> str | None:
    """The ActivityPub actor URL in a JRD document, or None."""
    if not isinstance(jrd, dict):
        return None
    for link in jrd.get("links") or []:
        if not isinstance(link, dict) or link.get("rel") != "self":
            continue
        mt = str(link.get("type", "")).replace(" ", "")
        if mt in (ACTIVITY_JSON, LD_JSON_PROFILE.replace(" ", "")) and isinstance(
            link.get("href"), str
        ):
            return str(link["href"])
    return None


def host_meta_xrd(base_url: str) -> str:
    template = f"{base_url}/.well-known/webfinger?resource={{uri}}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template="{template}"/>\n'
        "</XRD>\n"
    )


async def resolve(client: httpx.AsyncClient, handle: str, *, scheme: str = "https",
                  deadline: float = 30.0, max_bytes: int = 256 * 1024) -> str:
    """Resolve a handle to its actor URL with a WebFinger request (the client carries the
    network policy: address checks, pools; the whole request, redirects included, takes at
    most ``deadline`` seconds and reads at most ``max_bytes``). Raises FetchError."""
    import httpx  # imported on first use: a server that never resolves saves its memory

    from activitypub.net import send

    user, host = parse_handle(handle)
    resource = quote(f"acct:{user}@{host}", safe=":@")
    url = f"{scheme}://{host}/.well-known/webfinger?resource={resource}"
    try:
        answer = await send(client, "GET", url, headers={"Accept": "application/jrd+json"},
                            deadline=deadline, max_bytes=max_bytes)
    except TimeoutError as exc:
        raise FetchError(f"could not reach {host}: no answer within {deadline:g}s") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"could not reach {host}: {type(exc).__name__}") from exc
    if answer.status != 200:
        raise FetchError(f"{host} answered {answer.status} to WebFinger for {user}")
    try:
        actor = self_link(json.loads(answer.body))
    except ValueError as exc:
        raise FetchError(f"{host} sent an unreadable WebFinger answer") from exc
    if actor is None:
        raise FetchError(f"{host} has no ActivityPub actor for {user}")
    return actor
