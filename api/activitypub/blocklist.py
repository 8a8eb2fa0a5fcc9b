"""The group's shared blocklist for linked groups (``GET /groups/{name}/blocklist``): only a
fetch signed by the actor of a group linked with this one, over an active link on which this
group shares ``blocklists``, gets it (docs/federation.md, "Shared blocklists"). Unsigned: 401;
a bad signature: 401; blocked, not linked, not shared with, or another actor on the linked
group's server: 403. Service: fediaid/services/blocklists.py (``published``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.responses import ActivityJSON
from fediaid.errors import Unauthenticated


async def published(request: Request) -> Response:
    rt = runtime(request)
    url = rt.settings.base_url + request.url.path
    full = url + (f"?{request.url.query}" if request.url.query else "")
    signer = await rt.discovery.fetch_signer(method="GET", url=full, headers=request.headers)
    if signer is None:
        raise Unauthenticated("This list is only for linked groups: sign the request.")
    doc = await rt.blocklists.published(request.path_params["name"], signer)
    return ActivityJSON(doc, headers={"Vary": "Accept, Signature",
                                      "Cache-Control": "private, no-store"})
