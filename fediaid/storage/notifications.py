"""Notifications for local accounts (the Mastodon client API's notifications)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.storage.tables import notifications, users
from fediaid.storage.types import utcnow

TYPES = frozenset({"mention", "status", "reblog", "follow", "follow_request", "favourite",
                   "update"})


async def add(conn: AsyncConnection, *, user_id: int, type_: str, from_actor_id: int,
              status_id: int | None = None) -> int:
    """Record a notification in the caller's transaction; returns its id."""
    assert type_ in TYPES, type_
    result = await conn.execute(notifications.insert().values(
        user_id=user_id, type=type_, from_actor_id=from_actor_id, status_id=status_id,
        created_at=utcnow()).returning(notifications.c.id))
    return int(result.scalar_one())


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
