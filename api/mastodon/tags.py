"""Hashtags: ``GET /api/v1/tags/:name`` (the Tag entity with a week of history, which Elk,
Phanpy and Ice Cubes load on every hashtag page) and following hashtags, which is not a
feature here: follow is refused with 422, unfollow answers the tag (nothing was followed).
``GET /api/v1/followed_tags`` is always ``[]`` (api/mastodon/misc.py)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from api.context import runtime
from api.mastodon.accounts import user_for_follows
from api.mastodon.common import cors, optional_user
from api.responses import FastJSON
from fediaid.domain.users import User
from fediaid.errors import NotFound, Unprocessable
from fediaid.services import tags
from fediaid.services.runtime import Runtime

FOLLOW_REFUSED = "Following hashtags is not supported on this server"


def _name(request: Request) -> str:
    name = tags.tag_name(request.path_params["name"])
    if name is None:
        raise NotFound("Record not found")
    return name


async def tag_entity(rt: Runtime, user: User | None, name: str) -> dict[str, Any]:
    """Mastodon's Tag: ``name`` as asked (without '#'), ``id`` the lower-case name (tags have
    no rows of their own here), counts as strings; ``following`` only for a signed-in user."""
    viewer = await rt.status_reading.viewer(user)
    days = await tags.history(rt.status_reading, viewer, name)
    key = name.lower()
    entity: dict[str, Any] = {
        "id": key, "name": name, "url": f"{rt.settings.base_url}/tags/{key}",
        "history": [{"day": str(int(d.start.timestamp())), "uses": str(d.uses),
                     "accounts": str(d.accounts)} for d in days],
    }
    if user is not None:
        entity["following"] = False
        entity["featuring"] = False
    return entity


@cors
async def show(request: Request) -> Response:
    rt = runtime(request)
    user = await optional_user(request, "read:statuses")
    return FastJSON(await tag_entity(rt, user, _name(request)))


@cors
async def follow(request: Request) -> Response:
    await user_for_follows(request, "write:follows")
    _name(request)
    raise Unprocessable(FOLLOW_REFUSED)


@cors
async def unfollow(request: Request) -> Response:
    rt = runtime(request)
    user = await user_for_follows(request, "write:follows")
    return FastJSON(await tag_entity(rt, user, _name(request)))


ROUTES: list[BaseRoute] = [
    Route("/api/v1/tags/{name}", show, methods=["GET", "OPTIONS"]),
    Route("/api/v1/tags/{name}/follow", follow, methods=["POST", "OPTIONS"]),
    Route("/api/v1/tags/{name}/unfollow", unfollow, methods=["POST", "OPTIONS"]),
]
