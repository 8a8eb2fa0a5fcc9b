"""What the group offers to choose from, a member's own limits, and this API's description."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.fediaid_api.auth import WRITE, member
from api.fediaid_api.openapi import DOCUMENT, SCHEMAS
from api.fediaid_api.parse import check, read_object
from api.responses import FastJSON
from fediaid.domain.posts import DEFAULT_CATEGORIES
from fediaid.errors import Invalid

_DEFAULT_ORDER = {slug: i for i, (slug, _) in enumerate(DEFAULT_CATEGORIES)}
_DEFAULT_LABELS = dict(DEFAULT_CATEGORIES)


async def categories(request: Request) -> Response:
    # The service gives slugs only (PostService.policy); labels come from the defaults.
    slugs = (await runtime(request).posts.policy()).categories
    ordered = sorted(slugs, key=lambda s: (_DEFAULT_ORDER.get(s, len(_DEFAULT_ORDER)), s))
    return FastJSON([{"slug": s, "label": _DEFAULT_LABELS.get(s, s)} for s in ordered])


async def areas(request: Request) -> Response:
    slugs = (await runtime(request).posts.policy()).areas
    return FastJSON([{"slug": s, "label": s} for s in sorted(slugs)])


async def limits(request: Request) -> Response:
    user = await member(request, WRITE)
    body = await read_object(request)
    check(body, SCHEMAS["Limits"], SCHEMAS)
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
