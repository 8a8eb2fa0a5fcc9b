"""The directory of groups (``/directory``, everyone: all of it is what the groups publish)
and this group's entry (``/directory.json``, ActivityPub JSON, anyone may fetch it, with
CORS so a regional map can be built in a browser). Service: fediaid/services/directory.py
(docs/network.md, "Directory"; docs/federation.md, "The directory")."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.responses import CORS, ActivityJSON
from api.web.render import render


async def published(request: Request) -> Response:
    doc = await runtime(request).directory.entry()
    return ActivityJSON(doc, headers={**CORS, "Cache-Control": "public, max-age=300"})


async def page(request: Request) -> Response:
    rt = runtime(request)
    query = str(request.query_params.get("area") or "").strip()[:100]
    own = await rt.directory.entry()
    groups = await rt.directory.groups(query)
    return await render(request, "directory.html", query=query, own=own,
                        groups=[{**g.entry, "hops": g.hops} for g in groups])
