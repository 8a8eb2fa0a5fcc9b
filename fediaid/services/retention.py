"""Nothing outlives the object it came from (safety issue "Deleted and narrowed posts stay
public").

- ``forget_object``: when an object is deleted (by its author, from an app, by retention) or
  taken back (narrowed to members-only), every stored activity about it (Create, Update,
  Announce, Offer) goes with its deliveries, and so do finished received activities that
  name it (remote copies of it, answers to it). The Delete that takes it back names no
  object and stays until delivered. Called in the transaction that deletes the object.
- ``purge_received``: raw received activities are kept only while they are work, and
  afterwards for ``inbox_retention_days`` (deduplication of redeliveries); run by the
  workers' lifecycle loop.

Who may see a stored activity that remains is decided by ``visibility.can_view_activity``
on its object's current state (``DiscoveryService``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from fediaid.storage import inbox as inbox_repo
from fediaid.storage import objects as objects_repo
from fediaid.storage import outbox as outbox_repo
from fediaid.storage import statuses as statuses_repo
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fediaid.config import Settings
    from fediaid.storage.engine import Database


async def forget_object(conn: AsyncConnection, uri: str, *, gone: bool = True) -> None:
    """Remove what was derived from the object ``uri`` (in the caller's transaction).
    ``gone``: the object itself is deleted, so its stored copy and the remote replies to it
    (which quote and answer it) go too; a post narrowed to members-only keeps them."""
    await outbox_repo.forget_object(conn, uri)
    await inbox_repo.purge_about(conn, uri)
    if gone:
        for removed in await objects_repo.forget_with_remote_replies(conn, uri):
            if removed != uri:
                await statuses_repo.delete_by_uri(conn, removed)


async def purge_received(db: Database, settings: Settings) -> int:
    """Delete finished received activities older than the retention window."""
    before = utcnow() - timedelta(days=settings.inbox_retention_days)
    async with db.write() as conn:
        return await inbox_repo.purge_finished(conn, before=before)
