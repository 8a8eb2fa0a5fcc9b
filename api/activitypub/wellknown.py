"""WebFinger, host-meta, NodeInfo and the health check."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from activitypub import nodeinfo
from activitypub.webfinger import host_meta_xrd
from api.context import runtime
from api.responses import CORS, JRD, FastJSON
from fediaid.errors import Invalid


async def webfinger(request: Request) -> Response:
    resource = request.query_params.get("resource")
    if not resource:
        raise Invalid("The resource parameter is required.", field="resource")
    jrd = await runtime(request).discovery.webfinger(resource)
    return JRD(jrd, headers={**CORS, "Cache-Control": "max-age=259200, public"})


async def host_meta(request: Request) -> Response:
    xml = host_meta_xrd(runtime(request).settings.base_url)
    return Response(xml, media_type="application/xrd+xml", headers=CORS)


async def nodeinfo_discovery(request: Request) -> Response:
    return FastJSON(nodeinfo.discovery(runtime(request).settings.base_url), headers=CORS)


async def nodeinfo_document(request: Request) -> Response:
    version = request.path_params["version"]
    doc = await runtime(request).discovery.nodeinfo(version)
    return FastJSON(doc, headers={**CORS, "Content-Type": nodeinfo.content_type(version)})


async def healthz(request: Request) -> Response:
    await runtime(request).db.ping()
    return FastJSON({"status": "ok"})
