"""Account entities (PROTOCOL.md 5.3) and ``GET /api/v1/accounts/verify_credentials``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from api.context import runtime
from api.mastodon.common import cors, token_user
from api.responses import FastJSON
from fediaid.domain.actors import Actor, ActorType
from fediaid.errors import ConfigError
from fediaid.services.runtime import Runtime

AVATAR = "/static/avatar.png"


def mastodon_time(dt: datetime) -> str:
    """``2022-08-30T23:05:46.839Z``: UTC, milliseconds, Z (Toot! needs the milliseconds)."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _note(summary: str | None) -> str:
    if not summary:
        return ""
    return "<p>" + escape(summary).replace("\n", "<br>") + "</p>"


def _plain(summary: str | None) -> str:
    return re.sub(r"<[^>]+>", "", summary or "")


async def account_entity(rt: Runtime, actor: Actor) -> dict[str, Any]:
    counts = await rt.accounts.profile_counts(actor)
    avatar = actor.icon_url or rt.settings.base_url + AVATAR
    header = rt.settings.base_url + AVATAR
    username = actor.username or ""
    return {
        "id": str(actor.id), "username": username,
        "acct": username if actor.local else f"{username}@{actor.domain}",
        "display_name": actor.name or username, "locked": actor.manually_approves_followers,
        "bot": False, "discoverable": False, "indexable": False,
        "group": actor.type is ActorType.GROUP, "created_at": mastodon_time(actor.created_at),
        "note": _note(actor.summary), "url": actor.url or actor.uri, "uri": actor.uri,
        "avatar": avatar, "avatar_static": avatar, "header": header, "header_static": header,
        "followers_count": counts["followers"], "following_count": counts["following"],
        "statuses_count": counts["posts"],
        "last_status_at": None, "emojis": [], "fields": [],
    }


async def group_account(rt: Runtime) -> dict[str, Any]:
    try:
        identity = rt.identity
    except ConfigError:
        identity = await rt.load_identity()
    return await account_entity(rt, identity.group)


@cors
async def verify_credentials(request: Request) -> Response:
    """The token's own account as a CredentialAccount (Account + ``source`` + ``role``);
    needs the ``read`` or ``read:accounts`` scope."""
    rt = runtime(request)
    user = await token_user(request, "read:accounts")
    actor = await rt.accounts.actor_of(user)
    entity = await account_entity(rt, actor)
    entity["source"] = {"privacy": "public", "sensitive": False,
                        "language": rt.settings.languages[0] if rt.settings.languages else "",
                        "note": _plain(actor.summary), "fields": [],
                        "follow_requests_count": 0}
    entity["role"] = {"id": "-99", "name": "", "permissions": "0", "color": "",
                      "highlighted": False}
    return FastJSON(entity)


ROUTES: list[BaseRoute] = [
    Route("/api/v1/accounts/verify_credentials", verify_credentials, methods=["GET", "OPTIONS"]),
]
