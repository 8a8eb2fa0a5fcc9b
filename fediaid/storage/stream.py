"""What the streaming poller reads: statuses, notifications and stream events (deletions
and edits) newer than the last ones seen (by id), with what routing them to streams
needs."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.storage.tables import (
    media_attachments,
    notifications,
    status_recipients,
    status_tags,
    statuses,
    stream_events,
)
from fediaid.storage.types import utcnow


@dataclass(frozen=True)
class NewStatus:
    id: int
    account_id: int
    local: bool
    level: str
    listed: bool
    reblog: bool
    post: bool  # an offer or need
    tags: frozenset[str]
    recipients: frozenset[int]  # actor ids addressed or mentioned
    media: bool


async def high_water(conn: AsyncConnection) -> tuple[int, int, int]:
    """The newest status id, notification id and stream event id (0 when there are none)."""
    s = (await conn.execute(select(func.max(statuses.c.id)))).scalar()
    n = (await conn.execute(select(func.max(notifications.c.id)))).scalar()
    e = (await conn.execute(select(func.max(stream_events.c.id)))).scalar()
    return int(s or 0), int(n or 0), int(e or 0)


async def record(conn: AsyncConnection, events: Iterable[tuple[str, int]]) -> None:
    """Store (kind, status id) events: "delete" or "update"."""
    now = utcnow()
    rows = [{"kind": kind, "status_id": sid, "created_at": now} for kind, sid in events]
    if rows:
        await conn.execute(stream_events.insert(), rows)


async def events_after(conn: AsyncConnection, after: int, also: Collection[int] = (), *,
                       limit: int = 500) -> list[tuple[int, str, int]]:
    """(event id, kind, status id), oldest first."""
    cond = stream_events.c.id > after
    if also:
        cond = or_(cond, stream_events.c.id.in_(list(also)))
    rows = await conn.execute(
        select(stream_events.c.id, stream_events.c.kind, stream_events.c.status_id)
        .where(cond).order_by(stream_events.c.id).limit(limit))
    return [(r.id, r.kind, r.status_id) for r in rows]


async def purge_events(conn: AsyncConnection, *, before: datetime) -> int:
    result = await conn.execute(delete(stream_events).where(stream_events.c.created_at < before))
    return int(result.rowcount or 0)


async def statuses_with_ids(conn: AsyncConnection, ids: Collection[int]) -> list[NewStatus]:
    """What routing needs of these statuses (those that still exist)."""
    if not ids:
        return []
    return await statuses_after(conn, 2**62, ids, limit=len(ids))


async def statuses_after(conn: AsyncConnection, after: int, also: Collection[int] = (), *,
                         limit: int = 500) -> list[NewStatus]:
    cond = statuses.c.id > after
    if also:
        cond = or_(cond, statuses.c.id.in_(list(also)))
    rows = (await conn.execute(
        select(statuses.c.id, statuses.c.account_id, statuses.c.local, statuses.c.visibility,
               statuses.c.listed, statuses.c.reblog_of_id, statuses.c.post_id)
        .where(cond).order_by(statuses.c.id).limit(limit))).all()
    if not rows:
        return []
    ids = [r.id for r in rows]
    tags: dict[int, set[str]] = {}
    for sid, tag in await conn.execute(select(status_tags.c.status_id, status_tags.c.tag)
                                       .where(status_tags.c.status_id.in_(ids))):
        tags.setdefault(sid, set()).add(tag)
    recipients: dict[int, set[int]] = {}
    for sid, actor_id in await conn.execute(
            select(status_recipients.c.status_id, status_recipients.c.actor_id)
            .where(status_recipients.c.status_id.in_(ids))):
        recipients.setdefault(sid, set()).add(actor_id)
    with_media = {sid for (sid,) in await conn.execute(
        select(media_attachments.c.status_id).where(media_attachments.c.status_id.in_(ids)))}
    return [NewStatus(id=r.id, account_id=r.account_id, local=bool(r.local),
                      level=r.visibility, listed=bool(r.listed),
                      reblog=r.reblog_of_id is not None, post=r.post_id is not None,
                      tags=frozenset(tags.get(r.id, ())),
                      recipients=frozenset(recipients.get(r.id, ())), media=r.id in with_media)
            for r in rows]


async def notifications_after(conn: AsyncConnection, after: int, also: Collection[int] = (),
                              *, limit: int = 500) -> list[tuple[int, int]]:
    """(notification id, user id), oldest first."""
    cond = notifications.c.id > after
    if also:
        cond = or_(cond, notifications.c.id.in_(list(also)))
    rows = await conn.execute(select(notifications.c.id, notifications.c.user_id)
                              .where(cond).order_by(notifications.c.id).limit(limit))
    return [(r.id, r.user_id) for r in rows]
