"""The hotline: calls to return (``hotline_calls``) and the callback list (needs taken by a
coordinator or by text whose neighbor has new answers to be told)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.posts import ResponseState
from fediaid.storage.tables import hotline_calls, intake_records, posts, responses
from fediaid.storage.types import utcnow


@dataclass(frozen=True)
class Call:
    id: int
    number: str
    name: str
    note: str
    kind: str
    created_at: datetime
    returned_at: datetime | None


@dataclass(frozen=True)
class Callback:
    post_id: int
    kind: str
    title: str
    channel: str | None
    answers: int
    newest: datetime
    told_at: datetime | None


def _call(r: Any) -> Call:
    return Call(r.id, r.number, r.name, r.note, r.kind, r.created_at, r.returned_at)


async def add_call(conn: AsyncConnection, *, number: str, name: str, note: str, kind: str,
                   user_id: int | None) -> int:
    return int((await conn.execute(hotline_calls.insert().values(
        number=number, name=name, note=note, kind=kind, created_by_user_id=user_id,
        created_at=utcnow()).returning(hotline_calls.c.id))).scalar_one())


async def calls(conn: AsyncConnection, *, returned_since: datetime) -> list[Call]:
    """Calls still to return (oldest first), then those returned since ``returned_since``."""
    rows = await conn.execute(select(hotline_calls).where(or_(
        hotline_calls.c.returned_at.is_(None), hotline_calls.c.returned_at >= returned_since))
        .order_by(hotline_calls.c.returned_at.is_not(None), hotline_calls.c.created_at))
    return [_call(r) for r in rows]


async def mark_returned(conn: AsyncConnection, call_id: int, user_id: int) -> bool:
    result = await conn.execute(update(hotline_calls).where(
        hotline_calls.c.id == call_id, hotline_calls.c.returned_at.is_(None)).values(
        returned_at=utcnow(), returned_by_user_id=user_id))
    return bool(result.rowcount)


async def delete_call(conn: AsyncConnection, call_id: int) -> bool:
    result = await conn.execute(delete(hotline_calls).where(hotline_calls.c.id == call_id))
    return bool(result.rowcount)


async def purge_calls(conn: AsyncConnection, *, returned_before: datetime,
                      noted_before: datetime) -> int:
    result = await conn.execute(delete(hotline_calls).where(or_(
        hotline_calls.c.returned_at < returned_before,
        hotline_calls.c.created_at < noted_before)))
    return int(result.rowcount or 0)


async def callbacks(conn: AsyncConnection) -> list[Callback]:
    """Needs and offers taken for a neighbor (by a coordinator or by text) with answers the
    neighbor has not been told about: answers newer than the record's ``told_at``, waiting
    or accepted."""
    newer = or_(intake_records.c.told_at.is_(None),
                responses.c.created_at > intake_records.c.told_at)
    rows = await conn.execute(
        select(posts.c.id, posts.c.kind, posts.c.title, intake_records.c.channel,
               func.count(responses.c.id).label("answers"),
               func.max(responses.c.created_at).label("newest"), intake_records.c.told_at)
        .select_from(intake_records.join(posts, posts.c.id == intake_records.c.post_id)
                     .join(responses, responses.c.post_id == posts.c.id))
        .where(and_(posts.c.proxy.is_(True), newer, responses.c.state.in_(
            [ResponseState.PENDING.value, ResponseState.ACCEPTED.value])))
        .group_by(posts.c.id, posts.c.kind, posts.c.title, intake_records.c.channel,
                  intake_records.c.told_at)
        .order_by(func.max(responses.c.created_at)))
    return [Callback(r.id, r.kind, r.title, r.channel, int(r.answers), r.newest, r.told_at)
            for r in rows]


async def told(conn: AsyncConnection, post_id: int) -> bool:
    result = await conn.execute(update(intake_records).where(
        intake_records.c.post_id == post_id).values(told_at=utcnow()))
    return bool(result.rowcount)
