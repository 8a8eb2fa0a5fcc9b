"""Responses to posts ("I can help" / "I'd like this"), conversations and messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.posts import ResponseState
from fediaid.errors import NotFound
from fediaid.i18n import N_
from fediaid.storage.tables import actors, conversations, messages, responses
from fediaid.storage.types import utcnow


@dataclass(frozen=True)
class Response:
    id: int
    uri: str
    post_id: int
    responder_actor_id: int
    responder_uri: str
    responder_user_id: int | None
    message: str
    quantity: Decimal | None
    state: ResponseState
    note: str | None
    agreement_uri: str | None
    created_at: datetime


@dataclass(frozen=True)
class Conversation:
    id: int
    post_id: int
    response_id: int
    helper_actor_id: int
    other_actor_id: int
    created_at: datetime
    closed_at: datetime | None
    reopened_at: datetime | None


@dataclass(frozen=True)
class Message:
    id: int
    uri: str
    conversation_id: int
    sender_actor_id: int
    sender_uri: str
    body: str
    created_at: datetime


def _resp(r: Any) -> Response:
    q = Decimal(r.quantity).normalize() if r.quantity is not None else None
    return Response(r.id, r.uri, r.post_id, r.responder_actor_id, r.responder_uri,
                    r.responder_user_id, r.message, q, ResponseState(r.state), r.note,
                    r.agreement_uri, r.created_at)


def _select() -> Any:
    return select(responses, actors.c.uri.label("responder_uri")).select_from(
        responses.join(actors, actors.c.id == responses.c.responder_actor_id))


async def insert(conn: AsyncConnection, **values: Any) -> Response:
    now = utcnow()
    rid = (await conn.execute(responses.insert().values(created_at=now, updated_at=now,
                                                        **values).returning(responses.c.id))
           ).scalar_one()
    return await get(conn, int(rid))


async def get(conn: AsyncConnection, response_id: int) -> Response:
    row = (await conn.execute(_select().where(responses.c.id == response_id))).first()
    if row is None:
        raise NotFound(N_("No such response."))
    return _resp(row)


async def find_by_uri(conn: AsyncConnection, uri: str) -> Response | None:
    row = (await conn.execute(_select().where(responses.c.uri == uri))).first()
    return _resp(row) if row else None


async def for_post(conn: AsyncConnection, post_id: int) -> list[Response]:
    rows = await conn.execute(_select().where(responses.c.post_id == post_id)
                              .order_by(responses.c.id))
    return [_resp(r) for r in rows]


async def set_state(conn: AsyncConnection, response_id: int, state: ResponseState, *,
                    note: str | None = None, quantity: Decimal | None = None,
                    agreement_uri: str | None = None) -> None:
    values: dict[str, Any] = {"state": state.value, "updated_at": utcnow()}
    if note is not None:
        values["note"] = note
    if quantity is not None:
        values["quantity"] = quantity
    if agreement_uri is not None:
        values["agreement_uri"] = agreement_uri
    await conn.execute(update(responses).where(responses.c.id == response_id).values(**values))


async def count_since(conn: AsyncConnection, responder_actor_id: int, since: datetime) -> int:
    return int((await conn.execute(
        select(func.count()).select_from(responses).where(
            responses.c.responder_actor_id == responder_actor_id,
            responses.c.created_at >= since,
            responses.c.state != ResponseState.WITHDRAWN.value))).scalar_one())


async def accepted_on_offers_since(conn: AsyncConnection, author_actor_id: int,
                                   since: datetime) -> int:
    """Answers to ``author_actor_id``'s offers accepted since ``since`` (a helper who offers
    takes on what they accept)."""
    from fediaid.storage.tables import posts

    return int((await conn.execute(
        select(func.count()).select_from(responses.join(posts, posts.c.id == responses.c.post_id))
        .where(posts.c.author_actor_id == author_actor_id, posts.c.kind == "offer",
               responses.c.state.in_([ResponseState.ACCEPTED.value,
                                      ResponseState.COMPLETED.value]),
               responses.c.updated_at >= since))).scalar_one())


async def existing(conn: AsyncConnection, post_id: int, responder_actor_id: int
                   ) -> Response | None:
    row = (await conn.execute(_select().where(
        responses.c.post_id == post_id, responses.c.responder_actor_id == responder_actor_id,
        responses.c.state.in_([ResponseState.PENDING.value, ResponseState.ACCEPTED.value])))
    ).first()
    return _resp(row) if row else None


# -- conversations --------------------------------------------------------------------
def _conv(r: Any) -> Conversation:
    return Conversation(r.id, r.post_id, r.response_id, r.helper_actor_id, r.other_actor_id,
                        r.created_at, r.closed_at, r.reopened_at)


async def open_conversation(conn: AsyncConnection, *, post_id: int, response_id: int,
                            helper_actor_id: int, other_actor_id: int) -> Conversation:
    existing_row = (await conn.execute(select(conversations).where(
        conversations.c.response_id == response_id))).first()
    if existing_row is not None:
        return _conv(existing_row)
    cid = (await conn.execute(conversations.insert().values(
        post_id=post_id, response_id=response_id, helper_actor_id=helper_actor_id,
        other_actor_id=other_actor_id, created_at=utcnow()).returning(conversations.c.id))
    ).scalar_one()
    return await get_conversation(conn, int(cid))


async def get_conversation(conn: AsyncConnection, conversation_id: int) -> Conversation:
    row = (await conn.execute(select(conversations).where(
        conversations.c.id == conversation_id))).first()
    if row is None:
        raise NotFound(N_("No such conversation."))
    return _conv(row)


async def conversations_for_post(conn: AsyncConnection, post_id: int) -> list[Conversation]:
    rows = await conn.execute(select(conversations).where(conversations.c.post_id == post_id))
    return [_conv(r) for r in rows]


async def conversations_of(conn: AsyncConnection, actor_id: int) -> list[Conversation]:
    rows = await conn.execute(select(conversations).where(
        (conversations.c.helper_actor_id == actor_id)
        | (conversations.c.other_actor_id == actor_id)).order_by(conversations.c.id.desc()))
    return [_conv(r) for r in rows]


async def close_conversations(conn: AsyncConnection, post_id: int) -> None:
    await conn.execute(update(conversations).where(
        conversations.c.post_id == post_id, conversations.c.closed_at.is_(None))
        .values(closed_at=utcnow()))


async def reopen(conn: AsyncConnection, conversation_id: int) -> None:
    await conn.execute(update(conversations).where(conversations.c.id == conversation_id)
                       .values(reopened_at=utcnow()))


async def add_message(conn: AsyncConnection, *, uri: str, conversation_id: int,
                      sender_actor_id: int, body: str) -> Message:
    mid = (await conn.execute(messages.insert().values(
        uri=uri, conversation_id=conversation_id, sender_actor_id=sender_actor_id, body=body,
        created_at=utcnow()).returning(messages.c.id))).scalar_one()
    rows = await messages_in(conn, conversation_id, after_id=int(mid) - 1)
    return rows[0]


async def messages_in(conn: AsyncConnection, conversation_id: int, *, after_id: int = 0
                      ) -> list[Message]:
    rows = await conn.execute(
        select(messages, actors.c.uri.label("sender_uri"))
        .select_from(messages.join(actors, actors.c.id == messages.c.sender_actor_id))
        .where(messages.c.conversation_id == conversation_id, messages.c.id > after_id)
        .order_by(messages.c.id))
    return [Message(r.id, r.uri, r.conversation_id, r.sender_actor_id, r.sender_uri, r.body,
                    r.created_at) for r in rows]
