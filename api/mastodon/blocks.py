"""Blocks, mutes and a member's own domain blocks in the Mastodon client API:
``POST /api/v1/accounts/:id/block|unblock|mute|unmute`` (answered with the Relationship),
``GET /api/v1/blocks``, ``GET /api/v1/mutes`` (accounts, with ``mute_expires_at``),
``GET|POST|DELETE /api/v1/domain_blocks``. What they do: fediaid/services/blocks.py.

Scopes as Mastodon's: ``read:blocks``/``write:blocks``, ``read:mutes``/``write:mutes``,
or the legacy ``follow`` scope.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from api.context import runtime
from api.mastodon.accounts import (
    ACCOUNT_LIST_LIMIT,
    accounts_json,
    flag,
    path_id,
    relationship_of,
    user_for_follows,
)
from api.mastodon.common import cors, params
from api.mastodon.entities import mastodon_time
from api.mastodon.paging import link_header, page_from
from api.responses import FastJSON
from fediaid.errors import Invalid


@cors
async def block(request: Request) -> Response:
    rt = runtime(request)
    user = await user_for_follows(request, "write:blocks")
    actor_id = path_id(request)
    await rt.blocks.block(user, actor_id)
    return FastJSON(await relationship_of(rt, user, actor_id))


@cors
async def unblock(request: Request) -> Response:
    rt = runtime(request)
    user = await user_for_follows(request, "write:blocks")
    actor_id = path_id(request)
    await rt.blocks.unblock(user, actor_id)
    return FastJSON(await relationship_of(rt, user, actor_id))


def _duration(value: Any) -> int:
    if value in (None, ""):
        return 0
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()):
        raise Invalid("duration must be a number of seconds", field="duration")
    return int(text) if len(text) <= 12 else -1


@cors
async def mute(request: Request) -> Response:
    """``notifications`` (default true) and ``duration`` in seconds (0: until unmuted)."""
    rt = runtime(request)
    user = await user_for_follows(request, "write:mutes")
    p = await params(request)
    actor_id = path_id(request)
    await rt.blocks.mute(user, actor_id,
                         notifications=flag(p.get("notifications"), "notifications", True),
                         duration=_duration(p.get("duration")))
    return FastJSON(await relationship_of(rt, user, actor_id))


@cors
async def unmute(request: Request) -> Response:
    rt = runtime(request)
    user = await user_for_follows(request, "write:mutes")
    actor_id = path_id(request)
    await rt.blocks.unmute(user, actor_id)
    return FastJSON(await relationship_of(rt, user, actor_id))


@cors
async def blocks(request: Request) -> Response:
    rt = runtime(request)
    user = await user_for_follows(request, "read:blocks")
    page = page_from(await params(request), default=ACCOUNT_LIST_LIMIT[0],
                     maximum=ACCOUNT_LIST_LIMIT[1])
    rows = await rt.blocks.blocks(user, page)
    body = await accounts_json(rt, [actor_id for _, actor_id in rows])
    return FastJSON(body, headers=link_header(request, [i for i, _ in rows]))


@cors
async def mutes(request: Request) -> Response:
    rt = runtime(request)
    user = await user_for_follows(request, "read:mutes")
    page = page_from(await params(request), default=ACCOUNT_LIST_LIMIT[0],
                     maximum=ACCOUNT_LIST_LIMIT[1])
    rows = await rt.blocks.mutes(user, page)
    body = await accounts_json(rt, [actor_id for _, actor_id, _ in rows])
    ends = {str(actor_id): end for _, actor_id, end in rows}
    for account in body:
        end = ends.get(account["id"])
        account["mute_expires_at"] = mastodon_time(end) if end is not None else None
    return FastJSON(body, headers=link_header(request, [i for i, _, _ in rows]))


@cors
async def domain_blocks(request: Request) -> Response:
    """GET: the member's blocked domains (strings); POST ``domain``: block it; DELETE
    ``domain``: unblock it (both answer ``{}``)."""
    rt = runtime(request)
    if request.method == "GET":
        user = await user_for_follows(request, "read:blocks")
        page = page_from(await params(request), default=100, maximum=200)
        rows = await rt.blocks.domain_blocks(user, page)
        return FastJSON([d for _, d in rows],
                        headers=link_header(request, [i for i, _ in rows]))
    user = await user_for_follows(request, "write:blocks")
    domain = (await params(request)).get("domain")
    if domain is None and request.method == "DELETE":
        domain = await _body_domain(request)  # Mastodon.py sends it in the body
    if request.method == "POST":
        await rt.blocks.block_domain(user, domain)
    else:
        await rt.blocks.unblock_domain(user, domain)
    return FastJSON({})


async def _body_domain(request: Request) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            data = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError as exc:
            raise Invalid("The body is not valid JSON.") from exc
        return data.get("domain") if isinstance(data, dict) else None
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = (await request.form()).get("domain")
        return value if isinstance(value, str) else None
    return None


def _post(path: str, handler: Any) -> Route:
    return Route(path, handler, methods=["POST", "OPTIONS"])


ROUTES: list[BaseRoute] = [
    _post("/api/v1/accounts/{id}/block", block),
    _post("/api/v1/accounts/{id}/unblock", unblock),
    _post("/api/v1/accounts/{id}/mute", mute),
    _post("/api/v1/accounts/{id}/unmute", unmute),
    Route("/api/v1/blocks", blocks, methods=["GET", "OPTIONS"]),
    Route("/api/v1/mutes", mutes, methods=["GET", "OPTIONS"]),
    Route("/api/v1/domain_blocks", domain_blocks,
          methods=["GET", "POST", "DELETE", "OPTIONS"]),
]
