"""Turning domain values into the API's JSON: ids as strings, times as ISO 8601 UTC with
``Z``, quantities as strings. What a viewer may not know is left out, never blanked:
``creator`` only when the service names one, ``recipients`` and the anonymous/proxy flags
only for whoever manages the post, ``forwarded_by`` only on a need a linked group offered
this group (the web page's "From a linked group")."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from api.fediaid_api.auth import Caller
from fediaid.domain.posts import Post
from fediaid.domain.users import User
from fediaid.services.responses import (  # type: ignore[attr-defined]  # storage's types
    Conversation,
    Message,
    Response,
)
from fediaid.services.runtime import Runtime

PREFIX = "/api/fediaid/v1"  # where api/app.py mounts routes()


def when(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def amount(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


async def post(rt: Runtime, who: Caller, p: Post) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(p.id), "uri": p.uri, "kind": p.kind.value, "title": p.title,
        "description": p.description, "category": p.category, "quantity": amount(p.quantity),
        "unit": p.unit, "area": p.area, "starts_at": when(p.starts_at),
        "ends_at": when(p.ends_at), "urgency": p.urgency.value,
        "visibility": p.visibility.value, "state": p.state.value, "local": p.local,
        "held": p.held, "author": {"uri": p.author_uri},
        "created_at": when(p.created_at), "updated_at": when(p.updated_at),
        "expires_at": when(p.expires_at), "closed_at": when(p.closed_at),
    }
    creator = await rt.posts.creator_name(who.viewer, p)
    if creator is not None:
        out["creator"] = creator
    if not p.local:  # a need a linked group offered us (services/forwarding.py)
        origin = await rt.forwarding.origin(p.id)
        if origin is not None:
            out["forwarded_by"] = {"name": origin.group_name, "uri": origin.group_uri,
                                   "handle": origin.group_handle}
    if who.user is not None and rt.posts.can_manage(who.user, p):
        out["recipients"] = list(p.recipients)
        out["anonymous"] = p.anonymous
        out["proxy"] = p.proxy
    return out


def response(r: Response) -> dict[str, Any]:
    return {
        "id": str(r.id), "uri": r.uri, "post_id": str(r.post_id),
        "responder": {"uri": r.responder_uri}, "message": r.message,
        "quantity": amount(r.quantity), "state": r.state.value, "note": r.note,
        "created_at": when(r.created_at),
    }


def side(rt: Runtime, user: User, conv: Conversation) -> int:
    """The actor ``user`` speaks as (themself, or the group for the posts they manage on its
    behalf); the service has already checked that they are part of the conversation."""
    if user.actor_id in (conv.helper_actor_id, conv.other_actor_id):
        return user.actor_id
    return rt.identity.group.id


def conversation(rt: Runtime, user: User, conv: Conversation,
                 messages: list[Message] | None = None) -> dict[str, Any]:
    me = side(rt, user, conv)
    closed = conv.closed_at is not None and (conv.reopened_at is None
                                             or conv.reopened_at < conv.closed_at)
    out: dict[str, Any] = {
        "id": str(conv.id), "post_id": str(conv.post_id),
        "response_id": str(conv.response_id),
        "you_are": "helper" if me == conv.helper_actor_id else "other",
        "closed": closed, "created_at": when(conv.created_at),
        "closed_at": when(conv.closed_at), "reopened_at": when(conv.reopened_at),
    }
    if messages is not None:
        out["messages"] = [message(m, me=me) for m in messages]
    return out


def message(m: Message, *, me: int) -> dict[str, Any]:
    return {
        "id": str(m.id), "uri": m.uri, "conversation_id": str(m.conversation_id),
        "sender": {"uri": m.sender_uri}, "from_you": m.sender_actor_id == me,
        "body": m.body, "created_at": when(m.created_at),
    }


def intake(post_id: int, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "post_id": str(post_id), "name": record["name"], "callback": record.get("callback"),
        "notes": record.get("notes"), "created_at": when(record.get("created_at")),
    }
