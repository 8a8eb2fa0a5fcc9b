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
- ``keep_counts``: a post that still counts in the needs picture once deleted (by retention,
  mostly: ``picture.kept_outcome`` decides) leaves its counts behind, with no id, title,
  author or exact time (docs/needs-picture.md). Called in the transaction that deletes it.

Who may see a stored activity that remains is decided by ``visibility.can_view_activity``
on its object's current state (``DiscoveryService``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from fediaid.domain.picture import (
    Deletion,
    counts,
    kept_outcome,
    month_key,
    time_step,
    whole_seconds,
)
from fediaid.domain.posts import Kind, Post, State
from fediaid.storage import inbox as inbox_repo
from fediaid.storage import objects as objects_repo
from fediaid.storage import outbox as outbox_repo
from fediaid.storage import picture_kept
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


async def keep_counts(conn: AsyncConnection, post: Post, why: Deletion) -> bool:
    """Before ``post`` is deleted (in the caller's transaction): if it counts in the needs
    picture and still should once gone (``picture.kept_outcome``), add it to the kept
    counts: its month, kind, category, area and outcome, and for a need the steps it took
    to be met and to get its first answer. Whether it was kept."""
    outcome = kept_outcome(post.state, why) if counts(post) else None
    if outcome is None:
        return False
    month = month_key(post.created_at)
    await picture_kept.add_post(conn, month=month, kind=post.kind.value,
                                category=post.category, area=post.area, outcome=outcome)
    if post.kind is not Kind.NEED:
        return True
    start = whole_seconds(post.created_at)
    if post.state in (State.FULFILLED, State.PARTLY_FULFILLED) and post.closed_at:
        await picture_kept.add_time(
            conn, month=month, category=post.category, measure=picture_kept.MET,
            within_seconds=time_step(whole_seconds(post.closed_at) - start))
    first = await picture_kept.first_answer_at(conn, post.id)
    if first is not None:
        await picture_kept.add_time(
            conn, month=month, category=post.category, measure=picture_kept.FIRST_ANSWER,
            within_seconds=time_step(whole_seconds(first) - start))
    return True
