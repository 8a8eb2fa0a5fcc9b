"""Notifications for local accounts (the Mastodon client API's notifications)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.paging import Page
from fediaid.storage import push as push_repo
from fediaid.storage.tables import notifications, users
from fediaid.storage.types import utcnow

TYPES = frozenset({"mention", "status", "reblog", "follow", "follow_request", "favourite",
                   "update"})


async def add(conn: AsyncConnection, *, user_id: int, type_: str, from_actor_id: int,
              status_id: int | None = None) -> int:
    """Record a notification in the caller's transaction, with a Web Push for each of the
    member's push subscriptions that wants it (storage/push.py); returns its id."""
    assert type_ in TYPES, type_
    result = await conn.execute(notifications.insert().values(
        user_id=user_id, type=type_, from_actor_id=from_actor_id, status_id=status_id,
        created_at=utcnow()).returning(notifications.c.id))
    notification_id = int(result.scalar_one())
    await push_repo.queue_for(conn, user_id=user_id, notification_id=notification_id,
                              type_=type_)
    return notification_id


async def add_for_actor(conn: AsyncConnection, *, actor_id: int, type_: str,
                        from_actor_id: int, status_id: int | None = None) -> int | None:
    """Notify the local account behind ``actor_id``, if there is one (and it is not the
    one acting)."""
    if actor_id == from_actor_id:
        return None
    user_id = (await conn.execute(select(users.c.id).where(users.c.actor_id == actor_id))
               ).scalar_one_or_none()
    if user_id is None:
        return None
    return await add(conn, user_id=user_id, type_=type_, from_actor_id=from_actor_id,
                     status_id=status_id)


# -- reading and dismissing (the client API) ------------------------------------------------

@dataclass(frozen=True)
class NotificationRow:
    id: int
    user_id: int
    type: str
    from_actor_id: int
    status_id: int | None
    created_at: datetime


def _row(r: Any) -> NotificationRow:
    return NotificationRow(id=r.id, user_id=r.user_id, type=r.type,
                           from_actor_id=r.from_actor_id, status_id=r.status_id,
                           created_at=r.created_at)


def _filtered(user_id: int, *, types: Iterable[str] | None = None,
              exclude_types: Iterable[str] = (), account_id: int | None = None) -> Any:
    q = select(notifications).where(notifications.c.user_id == user_id)
    if types is not None:
        q = q.where(notifications.c.type.in_(list(types)))
    excluded = list(exclude_types)
    if excluded:
        q = q.where(notifications.c.type.not_in(excluded))
    if account_id is not None:
        q = q.where(notifications.c.from_actor_id == account_id)
    return q


async def page_of(conn: AsyncConnection, user_id: int, page: Page, *,
                  types: Iterable[str] | None = None, exclude_types: Iterable[str] = (),
                  account_id: int | None = None) -> list[NotificationRow]:
    """One page of a user's notifications, newest first (also with ``min_id``)."""
    q = _filtered(user_id, types=types, exclude_types=exclude_types, account_id=account_id)
    c = notifications.c.id
    if page.max_id is not None:
        q = q.where(c < page.max_id)
    if page.since_id is not None:
        q = q.where(c > page.since_id)
    if page.min_id is not None:
        q = q.where(c > page.min_id).order_by(c.asc())
    else:
        q = q.order_by(c.desc())
    rows = [_row(r) for r in await conn.execute(q.limit(page.limit))]
    return sorted(rows, key=lambda n: -n.id)


async def find(conn: AsyncConnection, user_id: int, notification_id: int
               ) -> NotificationRow | None:
    row = (await conn.execute(select(notifications).where(
        notifications.c.id == notification_id, notifications.c.user_id == user_id))).first()
    return _row(row) if row else None


async def of_ids(conn: AsyncConnection, user_id: int, ids: Sequence[int]
                 ) -> list[NotificationRow]:
    if not ids:
        return []
    rows = await conn.execute(select(notifications).where(
        notifications.c.user_id == user_id, notifications.c.id.in_(list(ids)))
        .order_by(notifications.c.id.desc()))
    return [_row(r) for r in rows]


async def matching(conn: AsyncConnection, user_id: int, *, type_: str,
                   status_id: int | None = None, since: datetime | None = None,
                   until: datetime | None = None) -> list[NotificationRow]:
    """A user's notifications of one type (about one status, or in a time range),
    newest first: the members of a notification group."""
    q = select(notifications).where(notifications.c.user_id == user_id,
                                    notifications.c.type == type_)
    if status_id is not None:
        q = q.where(notifications.c.status_id == status_id)
    if since is not None:
        q = q.where(notifications.c.created_at >= since)
    if until is not None:
        q = q.where(notifications.c.created_at < until)
    return [_row(r) for r in await conn.execute(q.order_by(notifications.c.id.desc()))]


async def exists(conn: AsyncConnection, *, user_id: int, type_: str, status_id: int) -> bool:
    return (await conn.execute(select(notifications.c.id).where(
        notifications.c.user_id == user_id, notifications.c.type == type_,
        notifications.c.status_id == status_id).limit(1))).first() is not None


async def dismiss(conn: AsyncConnection, user_id: int, ids: Sequence[int]) -> int:
    if not ids:
        return 0
    result = await conn.execute(delete(notifications).where(
        notifications.c.user_id == user_id, notifications.c.id.in_(list(ids))))
    return int(result.rowcount or 0)


async def clear(conn: AsyncConnection, user_id: int) -> int:
    result = await conn.execute(delete(notifications).where(
        notifications.c.user_id == user_id))
    return int(result.rowcount or 0)


async def ids_after(conn: AsyncConnection, user_id: int, after_id: int, *, limit: int,
                    types: Iterable[str] | None = None, exclude_types: Iterable[str] = (),
                    account_id: int | None = None) -> list[NotificationRow]:
    """Notifications newer than ``after_id`` (the unread ones), newest first, at most
    ``limit``."""
    q = _filtered(user_id, types=types, exclude_types=exclude_types, account_id=account_id)
    q = q.where(notifications.c.id > after_id).order_by(notifications.c.id.desc())
    return [_row(r) for r in await conn.execute(q.limit(limit))]
