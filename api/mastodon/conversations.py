"""Conversations (direct messages): ``GET /api/v1/conversations``,
``POST /api/v1/conversations/:id/read``, ``DELETE /api/v1/conversations/:id``.

Built from the direct statuses the account wrote or received, answers to its offers and
needs included (fediaid/services/client_conversations.py). The last status is rendered
through ``status_entities``, so it is shown only if the reader may see it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from api.context import runtime
from api.ids import parse_id
from api.mastodon.common import cors, token_user
from api.mastodon.entities import accounts_by_id, status_entities
from api.mastodon.paging import link_header, page_from
from api.responses import FastJSON
from fediaid.domain.users import User
from fediaid.errors import NotFound
from fediaid.services.client_conversations import ClientConversation
from fediaid.services.runtime import Runtime


def _record_id(value: Any) -> int:
    n = parse_id(value)
    if n is None:
        raise NotFound("Record not found")
    return n


async def _entities(rt: Runtime, user: User, items: list[ClientConversation]
                    ) -> list[dict[str, Any]]:
    statuses = {int(s["id"]): s for s in await status_entities(
        rt, user, [c.last_status_id for c in items])}
    accounts = await accounts_by_id(rt, await rt.notifications.actors(
        [a for c in items for a in c.account_ids]))
    return [{"id": str(c.id), "unread": c.unread,
             "accounts": [accounts[a] for a in c.account_ids if a in accounts],
             "last_status": statuses.get(c.last_status_id)} for c in items]


@cors
async def index(request: Request) -> Response:
    rt = runtime(request)
    user = await token_user(request, "read:statuses")
    items = await rt.client_conversations.page(user, page_from(request.query_params))
    # Paged by the newest status of each conversation, as Mastodon does.
    return FastJSON(await _entities(rt, user, items),
                    headers=link_header(request, [c.last_status_id for c in items]))


@cors
async def read(request: Request) -> Response:
    rt = runtime(request)
    user = await token_user(request, "write:conversations")
    item = await rt.client_conversations.read(user, _record_id(request.path_params["id"]))
    return FastJSON((await _entities(rt, user, [item]))[0])


@cors
async def remove(request: Request) -> Response:
    rt = runtime(request)
    user = await token_user(request, "write:conversations")
    await rt.client_conversations.remove(user, _record_id(request.path_params["id"]))
    return FastJSON({})


ROUTES: list[BaseRoute] = [
    Route("/api/v1/conversations", index, methods=["GET", "OPTIONS"]),
    Route("/api/v1/conversations/{id}", remove, methods=["DELETE", "OPTIONS"]),
    Route("/api/v1/conversations/{id}/read", read, methods=["POST", "OPTIONS"]),
]
