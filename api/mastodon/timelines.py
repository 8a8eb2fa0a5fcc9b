"""Timelines: home, public (all, local or remote), hashtag; Mastodon's pagination and
``Link`` headers (api/mastodon/paging.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from api.context import one_read, runtime
from api.mastodon.common import cors, optional_user, token_user
from api.mastodon.entities import status_entities
from api.mastodon.paging import link_header, page_from
from api.responses import FastJSON
from fediaid.errors import NotFound


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true", "on", "yes")


def _where(request: Request) -> bool | None:
    if _flag(request, "local"):
        return True
    if _flag(request, "remote"):
        return False
    return None


@cors
@one_read
async def home(request: Request) -> Response:
    rt = runtime(request)
    user = await token_user(request, "read:statuses")
    viewer = await rt.status_reading.viewer(user)
    ids = await rt.status_reading.home_ids(user, page_from(request.query_params),
                                           viewer=viewer)
    return FastJSON(await status_entities(rt, user, ids, viewer=viewer),
                    headers=link_header(request, ids))


@cors
@one_read
async def public(request: Request) -> Response:
    rt = runtime(request)
    user = await optional_user(request, "read:statuses")
    viewer = await rt.status_reading.viewer(user)
    ids = await rt.status_reading.public_ids(viewer, page_from(request.query_params),
                                       local=_where(request),
                                       only_media=_flag(request, "only_media"))
    return FastJSON(await status_entities(rt, user, ids, viewer=viewer),
                    headers=link_header(request, ids))


@cors
@one_read
async def tag(request: Request) -> Response:
    rt = runtime(request)
    user = await optional_user(request, "read:statuses")
    viewer = await rt.status_reading.viewer(user)
    name = request.path_params["hashtag"].lstrip("#").lower()[:128]
    any_tags = [t.lstrip("#").lower()[:128] for t in request.query_params.getlist("any[]")]
    ids = await rt.status_reading.public_ids(viewer, page_from(request.query_params),
                                       local=_where(request), tag=name, any_tags=any_tags,
                                       only_media=_flag(request, "only_media"))
    return FastJSON(await status_entities(rt, user, ids, viewer=viewer),
                    headers=link_header(request, ids))


@cors
async def list_timeline(request: Request) -> Response:
    """Lists are not a feature here (GET /api/v1/lists is always empty): no list exists."""
    await token_user(request, "read:lists")
    raise NotFound("Record not found")


ROUTES: list[BaseRoute] = [
    Route("/api/v1/timelines/home", home, methods=["GET", "OPTIONS"]),
    Route("/api/v1/timelines/public", public, methods=["GET", "OPTIONS"]),
    Route("/api/v1/timelines/tag/{hashtag}", tag, methods=["GET", "OPTIONS"]),
    Route("/api/v1/timelines/list/{id}", list_timeline, methods=["GET", "OPTIONS"]),
]
