"""What a member's own pages read: the posts they created (also as a neighbor or for one),
how many answers each has, and which of their notifications are unread (newer than their
notifications marker, the same position the client API keeps)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.posts import Post
from fediaid.storage.posts import _base, _recipients, _to_post
from fediaid.storage.tables import notifications, posts, responses, statuses


async def created_by(conn: AsyncConnection, user_id: int, *, limit: int) -> list[Post]:
    """The posts ``user_id`` created (``creator_user_id``: their own, anonymous and proxy
    ones), newest first."""
    rows = list(await conn.execute(_base().where(posts.c.creator_user_id == user_id)
                                   .order_by(posts.c.id.desc()).limit(limit)))
    rec = await _recipients(conn, [r.id for r in rows])
    return [_to_post(r, rec.get(r.id, [])) for r in rows]


async def answer_counts(conn: AsyncConnection, post_ids: Sequence[int]) -> dict[int, int]:
    if not post_ids:
        return {}
    rows = await conn.execute(
        select(responses.c.post_id, func.count()).where(responses.c.post_id.in_(list(post_ids)))
        .group_by(responses.c.post_id))
    return {int(r[0]): int(r[1]) for r in rows}


async def unread_count(conn: AsyncConnection, user_id: int, after_id: int, *, limit: int
                       ) -> int:
    """How many notifications are newer than ``after_id`` (at most ``limit``): one indexed
    range (``ix_notifications_user``)."""
    newer = (select(notifications.c.id)
             .where(notifications.c.user_id == user_id, notifications.c.id > after_id)
             .limit(limit).subquery())
    return int((await conn.execute(select(func.count()).select_from(newer))).scalar_one())


async def newest_id(conn: AsyncConnection, user_id: int) -> int:
    found = (await conn.execute(select(func.max(notifications.c.id))
                                .where(notifications.c.user_id == user_id))).scalar_one()
    return int(found or 0)


@dataclass(frozen=True)
class Unread:
    """Unread notifications about statuses in one thread (``conversation``, a post's URI),
    replying to ``in_reply_to_uri`` (the post itself: answers; an answer: messages)."""

    conversation: str
    in_reply_to_uri: str
    count: int


async def unread_by_thread(conn: AsyncConnection, user_id: int, after_id: int
                           ) -> list[Unread]:
    rows = await conn.execute(
        select(statuses.c.conversation, statuses.c.in_reply_to_uri, func.count())
        .select_from(notifications.join(statuses, statuses.c.id == notifications.c.status_id))
        .where(notifications.c.user_id == user_id, notifications.c.id > after_id,
               statuses.c.conversation.is_not(None), statuses.c.in_reply_to_uri.is_not(None))
        .group_by(statuses.c.conversation, statuses.c.in_reply_to_uri))
    return [Unread(r[0], r[1], int(r[2])) for r in rows]


@dataclass(frozen=True)
class StatusPlace:
    """Where a status stands: its thread and what it answers."""

    conversation: str | None
    in_reply_to_uri: str | None


async def places(conn: AsyncConnection, status_ids: Sequence[int]) -> dict[int, StatusPlace]:
    if not status_ids:
        return {}
    rows = await conn.execute(
        select(statuses.c.id, statuses.c.conversation, statuses.c.in_reply_to_uri)
        .where(statuses.c.id.in_(list(status_ids))))
    return {int(r.id): StatusPlace(r.conversation, r.in_reply_to_uri) for r in rows}
