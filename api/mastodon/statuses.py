"""Statuses: post (notes, or offers and needs with ``#offer``/``#need``), read, edit,
delete, thread context, favourite, boost, bookmark, who favourited/boosted; the
favourites and bookmarks lists."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from api.context import runtime
from api.ids import path_id as _path_id
from api.ids import query_id
from api.mastodon.common import cors, optional_user, params, token_user
from api.mastodon.entities import (
    account_entity,
    mastodon_time,
    status_entities,
    status_entity,
)
from api.mastodon.paging import link_header, page_from
from api.mastodon.params import status_change, status_draft
from api.responses import FastJSON
from fediaid.errors import Unprocessable
from fediaid.services.runtime import Runtime


def path_id(request: Request, name: str = "id") -> int:
    return _path_id(request, name)


async def _accounts(rt: Runtime, actor_ids: list[int]) -> list[dict[str, Any]]:
    actors = await rt.client_accounts.actors(actor_ids)
    return [await account_entity(rt, a) for a in actors]


@cors
async def create(request: Request) -> Response:
    rt = runtime(request)
    user = await token_user(request, "write:statuses")
    draft = status_draft(await params(request))
    sid = await rt.status_posting.create(
        user, draft, idempotency_key=request.headers.get("idempotency-key"))
    return FastJSON(await status_entity(rt, user, sid))


@cors
async def show(request: Request) -> Response:
    rt = runtime(request)
    user = await optional_user(request, "read:statuses")
    return FastJSON(await status_entity(rt, user, path_id(request)))


@cors
async def many(request: Request) -> Response:
    rt = runtime(request)
    user = await optional_user(request, "read:statuses")
    raw = request.query_params.getlist("id[]") or request.query_params.getlist("id")
    ids = [n for value in raw[:40] if (n := query_id(value, "id")) is not None]
    return FastJSON(await status_entities(rt, user, ids))


@cors
async def delete(request: Request) -> Response:
    rt = runtime(request)
    user = await token_user(request, "write:statuses")
    sid = path_id(request)
    entity = await status_entity(rt, user, sid)
    status = await rt.status_posting.delete(user, sid)
    entity["text"] = status.text or ""
    return FastJSON(entity)


@cors
async def edit(request: Request) -> Response:
    rt = runtime(request)
    user = await token_user(request, "write:statuses")
    sid = path_id(request)
    data = await params(request)
    if data.get("media_ids") or data.get("poll"):
        raise Unprocessable("Editing attachments or polls is not supported on this server")
    await rt.status_posting.edit(user, sid, status_change(data))
    return FastJSON(await status_entity(rt, user, sid))


@cors
async def source(request: Request) -> Response:
    rt = runtime(request)
    user = await token_user(request, "read:statuses")
    s = await rt.status_reading.source(user, path_id(request))
    return FastJSON({"id": str(s.id), "text": s.text or "", "spoiler_text": s.spoiler_text})


@cors
async def history(request: Request) -> Response:
    """Earlier versions (kept since edits were first recorded), then the current one."""
    rt = runtime(request)
    user = await optional_user(request, "read:statuses")
    viewer = await rt.status_reading.viewer(user)
    _, earlier = await rt.status_reading.history(viewer, path_id(request))
    e = await status_entity(rt, user, path_id(request))
    versions = [{"content": v.content, "spoiler_text": v.spoiler_text,
                 "sensitive": v.sensitive, "created_at": mastodon_time(v.created_at),
                 "account": e["account"], "media_attachments": e["media_attachments"],
                 "emojis": []} for v in earlier]
    versions.append({"content": e["content"], "spoiler_text": e["spoiler_text"],
                     "sensitive": e["sensitive"], "created_at": e["edited_at"]
                     or e["created_at"], "account": e["account"],
                     "media_attachments": e["media_attachments"], "emojis": []})
    return FastJSON(versions)


@cors
async def context(request: Request) -> Response:
    rt = runtime(request)
    user = await optional_user(request, "read:statuses")
    viewer = await rt.status_reading.viewer(user)
    ancestors, descendants = await rt.status_reading.context(viewer, path_id(request))
    return FastJSON({"ancestors": await status_entities(rt, user, ancestors),
                     "descendants": await status_entities(rt, user, descendants)})


def _toggle(kind: str, on: bool, scope: str) -> Any:
    @cors
    async def handler(request: Request) -> Response:
        rt = runtime(request)
        user = await token_user(request, scope)
        sid = path_id(request)
        if kind == "favourite":
            await rt.reactions.favourite(user, sid, on=on)
        elif kind == "bookmark":
            await rt.reactions.bookmark(user, sid, on=on)
        else:
            boost = await rt.reactions.reblog(user, sid, on=on)
            if on and boost is not None:
                return FastJSON(await status_entity(rt, user, boost))
        return FastJSON(await status_entity(rt, user, sid))

    handler.__name__ = f"{'' if on else 'un'}{kind}"
    return handler


@cors
async def not_supported(request: Request) -> Response:
    await token_user(request, "write:accounts")
    raise Unprocessable("Pinning and muting conversations are not supported on this server")


def _who(kind: str) -> Any:
    @cors
    async def handler(request: Request) -> Response:
        rt = runtime(request)
        user = await optional_user(request, "read:statuses")
        viewer = await rt.status_reading.viewer(user)
        page = page_from(request.query_params)
        reading = rt.status_reading
        fn = reading.favourited_by if kind == "favourited" else reading.reblogged_by
        rows = await fn(viewer, path_id(request), page)
        rows = sorted(rows, reverse=True)
        return FastJSON(await _accounts(rt, [a for _, a in rows]),
                        headers=link_header(request, [i for i, _ in rows]))

    handler.__name__ = f"{kind}_by"
    return handler


def _marked(kind: str) -> Any:
    @cors
    async def handler(request: Request) -> Response:
        rt = runtime(request)
        user = await token_user(request, f"read:{kind}")
        page = page_from(request.query_params)
        reading = rt.status_reading
        fn = reading.my_favourites if kind == "favourites" else reading.my_bookmarks
        rows = await fn(user, page)
        return FastJSON(await status_entities(rt, user, [s for _, s in rows]),
                        headers=link_header(request, [i for i, _ in rows]))

    handler.__name__ = kind
    return handler


ROUTES: list[BaseRoute] = [
    Route("/api/v1/statuses", create, methods=["POST", "OPTIONS"]),
    Route("/api/v1/statuses", many, methods=["GET"]),
    Route("/api/v1/statuses/{id}", show, methods=["GET", "OPTIONS"]),
    Route("/api/v1/statuses/{id}", delete, methods=["DELETE"]),
    Route("/api/v1/statuses/{id}", edit, methods=["PUT"]),
    Route("/api/v1/statuses/{id}/context", context, methods=["GET", "OPTIONS"]),
    Route("/api/v1/statuses/{id}/source", source, methods=["GET", "OPTIONS"]),
    Route("/api/v1/statuses/{id}/history", history, methods=["GET", "OPTIONS"]),
    Route("/api/v1/statuses/{id}/favourite", _toggle("favourite", True, "write:favourites"),
          methods=["POST", "OPTIONS"]),
    Route("/api/v1/statuses/{id}/unfavourite",
          _toggle("favourite", False, "write:favourites"), methods=["POST", "OPTIONS"]),
    Route("/api/v1/statuses/{id}/reblog", _toggle("reblog", True, "write:statuses"),
          methods=["POST", "OPTIONS"]),
    Route("/api/v1/statuses/{id}/unreblog", _toggle("reblog", False, "write:statuses"),
          methods=["POST", "OPTIONS"]),
    Route("/api/v1/statuses/{id}/bookmark", _toggle("bookmark", True, "write:bookmarks"),
          methods=["POST", "OPTIONS"]),
    Route("/api/v1/statuses/{id}/unbookmark", _toggle("bookmark", False, "write:bookmarks"),
          methods=["POST", "OPTIONS"]),
    Route("/api/v1/statuses/{id}/favourited_by", _who("favourited"),
          methods=["GET", "OPTIONS"]),
    Route("/api/v1/statuses/{id}/reblogged_by", _who("reblogged"),
          methods=["GET", "OPTIONS"]),
    Route("/api/v1/statuses/{id}/pin", not_supported, methods=["POST", "OPTIONS"]),
    Route("/api/v1/statuses/{id}/unpin", not_supported, methods=["POST", "OPTIONS"]),
    Route("/api/v1/statuses/{id}/mute", not_supported, methods=["POST", "OPTIONS"]),
    Route("/api/v1/statuses/{id}/unmute", not_supported, methods=["POST", "OPTIONS"]),
    Route("/api/v1/favourites", _marked("favourites"), methods=["GET", "OPTIONS"]),
    Route("/api/v1/bookmarks", _marked("bookmarks"), methods=["GET", "OPTIONS"]),
]
