"""``GET /api/v1/instance`` and ``/api/v2/instance`` (PROTOCOL.md 5.2)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.mastodon.common import cors
from api.responses import FastJSON
from fediaid import __version__
from fediaid.services.discovery import REPOSITORY
from fediaid.services.images import CONTENT_TYPES
from fediaid.services.runtime import Runtime

#: We claim 4.3.0 because the 4.3 OAuth pieces clients look for are real here (PKCE S256 and
#: /.well-known/oauth-authorization-server), and Mastodon.py warns when a >= 4.3.0 server
#: has no ``api_versions``.
VERSION = f"4.3.0 (compatible; fediaid {__version__})"
#: ``api_versions.mastodon``: 2 is what Mastodon 4.3 reports (PROTOCOL.md 5.2); the 4.3
#: additions clients switch on with it (grouped notifications v2, the notification policy,
#: RFC 8414 metadata) are served here. docs/mastodon-api.md lists each endpoint's status.
API_VERSIONS = {"mastodon": 2}
AVATAR = "/static/avatar.png"
MAX_CHARACTERS = 5000


def streaming_url(rt: Runtime) -> str:
    """``wss://domain`` (``ws://`` for a plain-http development instance)."""
    scheme = "ws" if rt.settings.base_url.startswith("http://") else "wss"
    return f"{scheme}://{rt.settings.domain}"


def _configuration(rt: Runtime) -> dict[str, Any]:
    return {
        "urls": {"streaming": streaming_url(rt), "status": None},
        "vapid": {"public_key": ""},
        "accounts": {"max_featured_tags": 0, "max_pinned_statuses": 0},
        "statuses": {"max_characters": MAX_CHARACTERS, "max_media_attachments": 4,
                     "characters_reserved_per_url": 23},
        "media_attachments": {"supported_mime_types": list(CONTENT_TYPES),
                              "image_size_limit": rt.settings.media_max_bytes,
                              "image_matrix_limit": rt.settings.media_max_pixels,
                              "description_limit": 1500, "video_size_limit": 0,
                              "video_frame_rate_limit": 0, "video_matrix_limit": 0},
        "polls": {"max_options": 0, "max_characters_per_option": 0,
                  "min_expiration": 300, "max_expiration": 2629746},
        "translation": {"enabled": False},
    }


def _description(rt: Runtime) -> str:
    area = f" in {rt.settings.area}" if rt.settings.area else ""
    return f"{rt.settings.group_name}: a mutual aid group{area}. Offers and needs, neighbor " \
           "to neighbor."


async def _contact_account(rt: Runtime) -> dict[str, Any] | None:
    from api.mastodon.entities import group_account

    return await group_account(rt)


@cors
async def instance_v2(request: Request) -> Response:
    """Instance information, v2 shape. Registrations are closed (coordinators create
    accounts); ``contact.account`` is the group's own account."""
    rt = runtime(request)
    active = (await rt.accounts.user_counts())["active_month"]
    return FastJSON({
        "domain": rt.settings.domain, "title": rt.settings.group_name, "version": VERSION,
        "source_url": REPOSITORY or "", "description": _description(rt),
        "usage": {"users": {"active_month": active}},
        "thumbnail": {"url": rt.settings.base_url + AVATAR, "blurhash": None, "versions": {}},
        "icon": [], "languages": list(rt.settings.languages),
        "configuration": {**_configuration(rt),
                          "vapid": {"public_key": await rt.push.server_key()}},
        "registrations": {"enabled": False, "approval_required": True, "message": None,
                          "url": None},
        "api_versions": API_VERSIONS,
        "contact": {"email": "", "account": await _contact_account(rt)},
        "rules": [],
    })


@cors
async def instance_v1(request: Request) -> Response:
    """Instance information, the deprecated v1 shape (Elk still reads it)."""
    rt = runtime(request)
    counts = await rt.accounts.user_counts()
    configuration = _configuration(rt)
    configuration.pop("vapid")
    configuration.pop("translation")
    configuration["urls"] = {}
    return FastJSON({
        "uri": rt.settings.domain, "title": rt.settings.group_name,
        "short_description": _description(rt), "description": _description(rt), "email": "",
        "version": VERSION, "urls": {"streaming_api": streaming_url(rt)},
        "stats": {"user_count": counts["total"], "status_count": counts["posts"],
                  "domain_count": counts["domains"]},
        "thumbnail": rt.settings.base_url + AVATAR, "languages": list(rt.settings.languages),
        "registrations": False, "approval_required": True, "invites_enabled": False,
        "configuration": configuration, "contact_account": await _contact_account(rt),
        "rules": [],
    })
