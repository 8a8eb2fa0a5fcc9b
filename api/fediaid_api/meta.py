"""What the group offers to choose from, a member's own limits, and this API's description."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.fediaid_api.auth import READ, WRITE, member
from api.fediaid_api.openapi import DOCUMENT
from api.fediaid_api.parse import read_body
from api.responses import FastJSON
from fediaid.errors import Invalid


async def categories(request: Request) -> Response:
    found = await runtime(request).group_settings.categories()
    return FastJSON([{"slug": slug, "label": label} for slug, label in found])


async def areas(request: Request) -> Response:
    found = await runtime(request).group_settings.areas()
    return FastJSON([{"slug": slug, "label": label} for slug, label in found])


async def my_limits(request: Request) -> Response:
    user = await member(request, READ)
    return FastJSON({"weekly_response_cap": await runtime(request).responses.weekly_cap(user)})


async def set_limits(request: Request) -> Response:
    user = await member(request, WRITE)
    body = await read_body(request, "Limits")
    cap = body["weekly_response_cap"]
    cap = None if cap is None else int(cap)
    try:
        await runtime(request).responses.set_weekly_cap(user, cap)
    except Invalid as exc:
        if exc.field == "cap":  # the service's name for it
            raise Invalid(exc.public, field="weekly_response_cap") from exc
        raise
    return FastJSON({"weekly_response_cap": cap})


async def openapi(request: Request) -> Response:
    return FastJSON(DOCUMENT, headers={"Cache-Control": "public, max-age=3600"})
