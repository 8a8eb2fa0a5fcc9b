"""Notifications: v1 (``/api/v1/notifications``) and 4.3's grouped v2
(``/api/v2/notifications``), dismiss and clear, unread counts, the notification policy.

A notification about a status is shown only while the reader may see that status
(fediaid/services/notifications.py). Answers to one's offers and needs arrive as ``mention``
notifications. We never filter notifications, so the policy is "accept" everywhere and
there are never notification requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from api.context import runtime
from api.ids import parse_id
from api.mastodon.common import cors, params, token_user
from api.mastodon.entities import accounts_by_id, mastodon_time, status_entities
from api.mastodon.paging import link_header, page_from
from api.responses import FastJSON
from fediaid.domain.users import User
from fediaid.errors import Invalid, NotFound
from fediaid.services.notifications import (
    GROUPABLE,
    Filters,
    Group,
    NotificationRow,
    group_key,
)
from fediaid.services.runtime import Runtime

READ = "read:notifications"
WRITE = "write:notifications"


def _strings(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    return tuple(str(v) for v in items if str(v))


def _filters(p: Mapping[str, Any]) -> Filters:
    account = p.get("account_id")
    account_id = None
    if account not in (None, ""):
        try:
            account_id = int(str(account))
        except ValueError:
            raise Invalid("account_id must be an id") from None
    return Filters(types=_strings(p.get("types")),
                   exclude_types=_strings(p.get("exclude_types")) or (),
                   account_id=account_id)


def _record_id(value: Any) -> int:
    n = parse_id(value)
    if n is None:
        raise NotFound("Record not found")
    return n


def _limit(p: Mapping[str, Any], default: int, maximum: int) -> int:
    raw = p.get("limit")
    if raw in (None, ""):
        return default
    try:
        return max(1, min(int(str(raw)), maximum))
    except ValueError:
        raise Invalid("limit must be a number") from None


async def _render(rt: Runtime, user: User, rows: Sequence[NotificationRow]
                  ) -> list[dict[str, Any]]:
    """Notification entities; any whose status or account cannot be shown is left out."""
    status_ids = list(dict.fromkeys(n.status_id for n in rows if n.status_id is not None))
    statuses = {int(s["id"]): s for s in await status_entities(rt, user, status_ids)}
    accounts = await accounts_by_id(rt, await rt.notifications.actors(
        [n.from_actor_id for n in rows]))
    out = []
    for n in rows:
        account = accounts.get(n.from_actor_id)
        if account is None or (n.status_id is not None and n.status_id not in statuses):
            continue
        entity: dict[str, Any] = {"id": str(n.id), "type": n.type,
                                  "created_at": mastodon_time(n.created_at),
                                  "group_key": group_key(n), "account": account}
        if n.status_id is not None:
            entity["status"] = statuses[n.status_id]
        out.append(entity)
    return out


# -- v1 ----------------------------------------------------------------------------------

@cors
async def index(request: Request) -> Response:
    rt = runtime(request)
    user = await token_user(request, READ)
    p = await params(request)
    rows = await rt.notifications.page(user, page_from(p, default=40, maximum=80), _filters(p))
    entities = await _render(rt, user, rows)
    return FastJSON(entities, headers=link_header(request, [e["id"] for e in entities]))


@cors
async def show(request: Request) -> Response:
    rt = runtime(request)
    user = await token_user(request, READ)
    n = await rt.notifications.get(user, _record_id(request.path_params["id"]))
    found = await _render(rt, user, [n])
    if not found:
        raise NotFound("Record not found")
    return FastJSON(found[0])


@cors
async def clear(request: Request) -> Response:
    rt = runtime(request)
    user = await token_user(request, WRITE)
    await rt.notifications.clear(user)
    return FastJSON({})


@cors
async def dismiss(request: Request) -> Response:
    rt = runtime(request)
    user = await token_user(request, WRITE)
    await rt.notifications.dismiss(user, _record_id(request.path_params["id"]))
    return FastJSON({})


@cors
async def dismiss_old(request: Request) -> Response:
    """``POST /api/v1/notifications/dismiss`` with ``id`` (removed in Mastodon 3.0, still
    sent by old apps)."""
    rt = runtime(request)
    user = await token_user(request, WRITE)
    p = await params(request)
    await rt.notifications.dismiss(user, _record_id(p.get("id")))
    return FastJSON({})


@cors
async def unread_count(request: Request) -> Response:
    rt = runtime(request)
    user = await token_user(request, READ)
    p = await params(request)
    count = await rt.notifications.unread_count(user, limit=_limit(p, 100, 1000),
                                                f=_filters(p))
    return FastJSON({"count": count})


@cors
async def requests(request: Request) -> Response:
    """Filtered-notification requests: nothing is ever filtered here, so there are none."""
    await token_user(request, READ)
    return FastJSON([])


@cors
async def request_missing(request: Request) -> Response:
    await token_user(request, READ)
    raise NotFound("Record not found")


@cors
async def requests_merged(request: Request) -> Response:
    await token_user(request, READ)
    return FastJSON({"merged": True})


# -- v2 (grouped) ------------------------------------------------------------------------

def _grouped_types(p: Mapping[str, Any]) -> tuple[str, ...]:
    given = _strings(p.get("grouped_types"))
    return GROUPABLE if given is None else given


def _group_entity(g: Group, *, paged: bool) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "group_key": g.key, "notifications_count": len(g.notifications), "type": g.type,
        # An integer in Mastodon (the other ids are strings); Ice Cubes decodes it as Int.
        "most_recent_notification_id": g.latest.id,
        "sample_account_ids": [str(a) for a in g.sample_account_ids],
    }
    if paged:
        entity |= {"page_min_id": str(g.page_min_id), "page_max_id": str(g.page_max_id),
                   "latest_page_notification_at": mastodon_time(g.latest.created_at)}
    if g.status_id is not None:
        entity["status_id"] = str(g.status_id)
    return entity


async def _grouped(rt: Runtime, user: User, groups: Iterable[Group], *, paged: bool
                   ) -> dict[str, Any]:
    groups = list(groups)
    status_ids = list(dict.fromkeys(g.status_id for g in groups if g.status_id is not None))
    statuses = await status_entities(rt, user, status_ids)
    shown = {int(s["id"]) for s in statuses}
    groups = [g for g in groups if g.status_id is None or g.status_id in shown]
    accounts = await accounts_by_id(rt, await rt.notifications.actors(
        [a for g in groups for a in g.sample_account_ids]))
    return {"accounts": list(accounts.values()), "statuses": statuses,
            "notification_groups": [_group_entity(g, paged=paged) for g in groups]}


@cors
async def index_v2(request: Request) -> Response:
    rt = runtime(request)
    user = await token_user(request, READ)
    p = await params(request)
    groups = await rt.notifications.groups(user, page_from(p, default=40, maximum=80),
                                           _filters(p), grouped_types=_grouped_types(p))
    body = await _grouped(rt, user, groups, paged=True)
    edges: list[int] = []
    if body["notification_groups"]:
        edges = [max(g.page_max_id for g in groups), min(g.page_min_id for g in groups)]
    return FastJSON(body, headers=link_header(request, edges))


@cors
async def show_v2(request: Request) -> Response:
    rt = runtime(request)
    user = await token_user(request, READ)
    g = await rt.notifications.group(user, request.path_params["group_key"])
    body = await _grouped(rt, user, [g], paged=False)
    if not body["notification_groups"]:
        raise NotFound("Record not found")
    return FastJSON(body)


@cors
async def dismiss_v2(request: Request) -> Response:
    rt = runtime(request)
    user = await token_user(request, WRITE)
    await rt.notifications.dismiss_group(user, request.path_params["group_key"])
    return FastJSON({})


@cors
async def unread_count_v2(request: Request) -> Response:
    rt = runtime(request)
    user = await token_user(request, READ)
    p = await params(request)
    count = await rt.notifications.unread_count(user, limit=_limit(p, 100, 1000),
                                                f=_filters(p), grouped_types=_grouped_types(p))
    return FastJSON({"count": count})


@cors
async def policy(request: Request) -> Response:
    rt = runtime(request)
    if request.method == "GET":
        user = await token_user(request, READ)
        return FastJSON(await rt.notifications.policy(user))
    user = await token_user(request, WRITE)
    return FastJSON(await rt.notifications.update_policy(user, await params(request)))


_ANY = ["GET", "OPTIONS"]
_POST = ["POST", "OPTIONS"]

ROUTES: list[BaseRoute] = [
    Route("/api/v1/notifications", index, methods=_ANY),
    Route("/api/v1/notifications/clear", clear, methods=_POST),
    Route("/api/v1/notifications/dismiss", dismiss_old, methods=_POST),
    Route("/api/v1/notifications/unread_count", unread_count, methods=_ANY),
    Route("/api/v1/notifications/requests", requests, methods=_ANY),
    Route("/api/v1/notifications/requests/merged", requests_merged, methods=_ANY),
    Route("/api/v1/notifications/requests/{id}", request_missing, methods=_ANY),
    Route("/api/v1/notifications/{id}", show, methods=_ANY),
    Route("/api/v1/notifications/{id}/dismiss", dismiss, methods=_POST),
    Route("/api/v2/notifications", index_v2, methods=_ANY),
    Route("/api/v2/notifications/unread_count", unread_count_v2, methods=_ANY),
    Route("/api/v2/notifications/policy", policy, methods=["GET", "PATCH", "OPTIONS"]),
    Route("/api/v2/notifications/{group_key}", show_v2, methods=_ANY),
    Route("/api/v2/notifications/{group_key}/dismiss", dismiss_v2, methods=_POST),
]
