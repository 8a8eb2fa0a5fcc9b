"""Mastodon entities (PROTOCOL.md 5.3): ids are strings, times have milliseconds and ``Z``,
avatar and header URLs are never null, counts are always present.

Statuses are rendered only from what ``rt.status_reading.bundle`` returns, which holds only what
the viewer may see (fediaid/domain/visibility.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from fediaid.domain.actors import Actor, ActorType
from fediaid.domain.users import User
from fediaid.domain.visibility import Viewer
from fediaid.errors import ConfigError, NotFound
from fediaid.federation.urls import DEFAULT_AVATAR_PATH
from fediaid.services.runtime import Runtime
from fediaid.services.status_reading import Bundle

AVATAR = DEFAULT_AVATAR_PATH  # also the actor document's icon when none is set


def mastodon_time(dt: datetime) -> str:
    """``2022-08-30T23:05:46.839Z``: UTC, milliseconds, Z (Toot! needs the milliseconds)."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _note(summary: str | None) -> str:
    if not summary:
        return ""
    return "<p>" + escape(summary).replace("\n", "<br>") + "</p>"


def plain(summary: str | None) -> str:
    return re.sub(r"<[^>]+>", "", summary or "")


def acct(actor: Actor) -> str:
    username = actor.username or ""
    return username if actor.local else f"{username}@{actor.domain}"


async def account_entity(rt: Runtime, actor: Actor, *,
                         counts: dict[str, int] | None = None) -> dict[str, Any]:
    """``counts``: the actor's ``profile_counts`` when the caller has them already."""
    if counts is None:
        counts = await rt.accounts.profile_counts(actor)
    # Never null (apps expect a URL): the default image when none is set.
    avatar = actor.icon_url or rt.settings.base_url + AVATAR
    header = actor.header_url or rt.settings.base_url + AVATAR
    username = actor.username or ""
    return {
        "id": str(actor.id), "username": username, "acct": acct(actor),
        "display_name": actor.name or username, "locked": actor.manually_approves_followers,
        "bot": actor.type in (ActorType.APPLICATION, ActorType.SERVICE),
        # One source with the actor document (fediaid/domain/actors.py).
        "discoverable": actor.discoverable, "indexable": actor.indexable,
        "group": actor.type is ActorType.GROUP,
        "created_at": mastodon_time(actor.created_at),
        # A remote profile's HTML was sanitized once, on arrival (federation/parse.py).
        "note": _note(actor.summary) if actor.local else actor.summary or "",
        "url": actor.url or actor.uri, "uri": actor.uri,
        "avatar": avatar, "avatar_static": avatar, "header": header, "header_static": header,
        "followers_count": counts["followers"], "following_count": counts["following"],
        "statuses_count": counts["posts"],
        "last_status_at": None, "emojis": [], "fields": [], "noindex": True,
    }


async def accounts_by_id(rt: Runtime, actors: Iterable[Actor]) -> dict[int, dict[str, Any]]:
    unique = {a.id: a for a in actors}
    counts = await rt.accounts.profile_counts_many(unique.values())
    return {aid: await account_entity(rt, a, counts=counts[aid]) for aid, a in unique.items()}


async def group_account(rt: Runtime) -> dict[str, Any]:
    try:
        identity = rt.identity
    except ConfigError:
        identity = await rt.load_identity()
    return await account_entity(rt, identity.group)


def _render(rt: Runtime, b: Bundle, sid: int, accounts: dict[int, dict[str, Any]],
            *, reblog: dict[str, Any] | None = None) -> dict[str, Any]:
    s = b.boosted.get(sid) or next(x for x in b.shown if x.id == sid)
    base = rt.settings.base_url
    counts = b.counts.get(sid, {"replies": 0, "reblogs": 0, "favourites": 0})
    mentions = []
    for aid in b.mentioned.get(sid, []):
        a = b.actors.get(aid)
        if a is not None:
            mentions.append({"id": str(a.id), "username": a.username or "",
                             "url": a.url or a.uri, "acct": acct(a)})
    content = b.post_html.get(sid, s.content) if s.post_id is not None else s.content
    return {
        "id": str(s.id), "uri": s.uri,
        "url": b.post_urls.get(sid) or s.url or (None if s.reblog_of_id else s.uri),
        "created_at": mastodon_time(s.created_at),
        "edited_at": mastodon_time(s.edited_at) if s.edited_at else None,
        "account": accounts[s.account_id],
        "content": "" if s.reblog_of_id is not None else content,
        "visibility": s.visibility, "sensitive": s.sensitive,
        "spoiler_text": s.spoiler_text,
        "media_attachments": b.media.get(sid, []),
        "application": None,
        "mentions": mentions,
        "tags": [{"name": t, "url": f"{base}/tags/{t}"} for t in b.tags.get(sid, [])],
        "emojis": [],
        "reblogs_count": counts["reblogs"], "favourites_count": counts["favourites"],
        "replies_count": counts["replies"],
        "in_reply_to_id": str(s.in_reply_to_id) if s.in_reply_to_id else None,
        "in_reply_to_account_id": (str(s.in_reply_to_account_id)
                                   if s.in_reply_to_account_id else None),
        "reblog": reblog, "poll": None, "card": None, "language": s.language,
        "text": None,
        "favourited": sid in b.marks["favourited"], "reblogged": sid in b.marks["reblogged"],
        "muted": False, "bookmarked": sid in b.marks["bookmarked"], "pinned": False,
        "filtered": [],
    }


async def status_entities(rt: Runtime, user: User | None, ids: Sequence[int], *,
                          viewer: Viewer | None = None) -> list[dict[str, Any]]:
    """Status entities for the ``ids`` that ``user`` may see, in the order given
    (``viewer``: ``user``'s, when the caller has it already)."""
    b = await rt.status_reading.bundle(user, ids, viewer=viewer)
    accounts = await accounts_by_id(rt, b.actors.values())
    out = []
    for s in b.shown:
        inner = None
        if s.reblog_of_id is not None:
            inner = _render(rt, b, s.reblog_of_id, accounts)
            # A boost is seen as reblogged/favourited through its original.
        entity = _render(rt, b, s.id, accounts, reblog=inner)
        if inner is not None:
            for key in ("favourited", "reblogged", "bookmarked"):
                entity[key] = inner[key]
        out.append(entity)
    return out


async def status_entity(rt: Runtime, user: User | None, status_id: int) -> dict[str, Any]:
    found = await status_entities(rt, user, [status_id])
    if not found:
        raise NotFound("Record not found")
    return found[0]
