"""Inbox endpoints: per-actor inboxes and the shared inbox.

Order of checks, cheapest first: media type (415), size (413), then the service verifies
the signature (401), JSON (400), blocks (403) and stores the activity. We answer 202 only
after the activity is committed to the database.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from activitypub.vocab import is_activitypub_media_type
from api.context import runtime
from api.errors import UnsupportedMediaType
from fediaid.domain.actors import ActorType
from fediaid.errors import TooLarge

ACCEPTED = Response(status_code=202)


async def read_limited_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"The body is larger than {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"The body is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _path_and_query(request: Request) -> str:
    """``request.url.path`` and ``?query`` as Starlette would give them, without building a
    URL object (that parses the Host header and more on every request: ~15 us here)."""
    scope = request.scope
    path: str = scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    query: bytes = scope.get("query_string", b"")
    return f"{path}?{query.decode('utf-8', 'replace')}" if query else path


async def _receive(request: Request) -> Response:
    headers = request.headers
    if not is_activitypub_media_type(headers.get("content-type")):
        raise UnsupportedMediaType("Send application/activity+json.")
    rt = runtime(request)
    body = await read_limited_body(request, rt.settings.inbox_max_bytes)
    url = rt.settings.base_url + _path_and_query(request)
    await rt.inbox.accept(method=request.method, url=url, headers=headers, body=body)
    return Response(status_code=202)


async def shared_inbox(request: Request) -> Response:
    return await _receive(request)


async def actor_inbox(request: Request) -> Response:
    kind = ActorType.GROUP if request.url.path.startswith("/groups/") else ActorType.PERSON
    await runtime(request).discovery.local_actor(request.path_params["name"], kind)
    return await _receive(request)


async def instance_inbox(request: Request) -> Response:
    return await _receive(request)
