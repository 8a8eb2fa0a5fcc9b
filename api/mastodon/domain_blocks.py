"""``GET /api/v1/instance/domain_blocks``: Mastodon's public list of moderated servers
(``domain``, ``digest``: SHA-256 of the name, ``severity``: silence or suspend, ``comment``:
the public comment). Shown as the group chooses on /admin/domains: to members (the
default: any valid user token), to everyone, or to nobody; otherwise 404, as Mastodon
answers when its ``show_domain_blocks`` setting hides the list."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from api.context import runtime
from api.mastodon.common import cors, optional_user
from api.responses import FastJSON


@cors
async def domain_blocks(request: Request) -> Response:
    user = await optional_user(request, "read")
    return FastJSON(await runtime(request).blocklists.moderated_servers(user))


ROUTES: list[BaseRoute] = [
    Route("/api/v1/instance/domain_blocks", domain_blocks, methods=["GET", "OPTIONS"]),
]
