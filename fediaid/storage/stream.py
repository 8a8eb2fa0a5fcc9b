"""What the streaming poller reads: statuses and notifications newer than the last ones
seen (by id), with what routing them to streams needs."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.storage.tables import (
    media_attachments,
    notifications,
    status_recipients,
    status_tags,
    statuses,
)


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


async def high_water(conn: AsyncConnection) -> tuple[int, int]:
    """The newest status id and notification id (0 when there are none)."""
    s = (await conn.execute(select(func.max(statuses.c.id)))).scalar()
    n = (await conn.execute(select(func.max(notifications.c.id)))).scalar()
    return int(s or 0), int(n or 0)


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
