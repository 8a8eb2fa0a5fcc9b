"""Per-account client state of the Mastodon API: timeline markers, and direct-message
threads (Mastodon's "conversations") with their read/removed marks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.paging import Page
from fediaid.domain.statuses import Level
from fediaid.storage.dialect import upsert
from fediaid.storage.tables import conversation_marks, markers, status_recipients, statuses
from fediaid.storage.types import utcnow

# -- markers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Marker:
    timeline: str
    last_read_id: str
    version: int
    updated_at: datetime


async def markers_of(conn: AsyncConnection, user_id: int, timelines: Sequence[str]
                     ) -> dict[str, Marker]:
    if not timelines:
        return {}
    rows = await conn.execute(select(markers).where(markers.c.user_id == user_id,
                                                    markers.c.timeline.in_(list(timelines))))
    return {r.timeline: Marker(r.timeline, r.last_read_id, r.version, r.updated_at)
            for r in rows}


async def set_marker(conn: AsyncConnection, user_id: int, timeline: str, last_read_id: str
                     ) -> Marker:
    """Save a position; the version goes up by one each time."""
    now = utcnow()
    stmt = upsert(conn, markers, ["user_id", "timeline"]).values(
        user_id=user_id, timeline=timeline, last_read_id=last_read_id, version=1,
        updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["user_id", "timeline"],
        set_={"last_read_id": last_read_id, "version": markers.c.version + 1,
              "updated_at": now})
    await conn.execute(stmt)
    return (await markers_of(conn, user_id, [timeline]))[timeline]


# -- direct-message threads ------------------------------------------------------------------

# A thread is the statuses sharing ``statuses.conversation``; a status without one is a
# thread of its own.
THREAD = func.coalesce(statuses.c.conversation, statuses.c.uri)


@dataclass(frozen=True)
class Thread:
    key: str  # statuses.conversation (or the lone status's URI)
    first_id: int  # the oldest status still there: the conversation's id in the API
    last_id: int  # the newest status: what the list is ordered and paged by
    unread: bool


def _direct_of(actor_id: int) -> Any:
    """Direct statuses (not offers or needs, not boosts) the actor wrote or received."""
    return and_(
        statuses.c.visibility == Level.DIRECT.value,
        statuses.c.post_id.is_(None),
        statuses.c.reblog_of_id.is_(None),
        or_(statuses.c.account_id == actor_id,
            statuses.c.id.in_(select(status_recipients.c.status_id)
                              .where(status_recipients.c.actor_id == actor_id))),
    )


async def threads(conn: AsyncConnection, *, user_id: int, actor_id: int, page: Page
                  ) -> list[Thread]:
    """The actor's direct threads, newest activity first, paged by the newest status id;
    threads the user removed stay out until a newer status arrives."""
    last = func.max(statuses.c.id)
    q = (select(THREAD.label("key"), func.min(statuses.c.id).label("first_id"),
                last.label("last_id"))
         .where(_direct_of(actor_id)).group_by(THREAD))
    marks = await _marks(conn, user_id)
    out: list[Thread] = []
    max_id = page.max_id
    min_id = page.min_id
    # Removed threads are skipped in Python (the marks are few); fetch in rounds until the
    # page is full.
    for _ in range(20):
        rq = q
        if max_id is not None:
            rq = rq.having(last < max_id)
        if page.since_id is not None:
            rq = rq.having(last > page.since_id)
        if min_id is not None:
            rq = rq.having(last > min_id).order_by(last.asc())
        else:
            rq = rq.order_by(last.desc())
        rows = (await conn.execute(rq.limit(page.limit))).all()
        for r in rows:
            mark = marks.get(r.key)
            if mark is not None and mark.hidden and (mark.last_status_id or 0) >= r.last_id:
                continue
            out.append(Thread(r.key, r.first_id, r.last_id, unread=False))
        if len(rows) < page.limit or len(out) >= page.limit:
            break
        if min_id is not None:
            min_id = rows[-1].last_id
        else:
            max_id = rows[-1].last_id
    out = sorted(out, key=lambda t: -t.last_id)
    if page.min_id is not None:
        out = out[-page.limit:]
    else:
        out = out[:page.limit]
    unread = await _unread(conn, actor_id, out, marks)
    return [Thread(t.key, t.first_id, t.last_id, t.key in unread) for t in out]


async def thread_by_id(conn: AsyncConnection, *, user_id: int, actor_id: int,
                       first_id: int) -> Thread | None:
    """The thread whose oldest status is ``first_id``, if the actor takes part in it."""
    key = (await conn.execute(select(THREAD).where(statuses.c.id == first_id,
                                                   _direct_of(actor_id)))).scalar_one_or_none()
    if key is None:
        return None
    row = (await conn.execute(
        select(func.min(statuses.c.id), func.max(statuses.c.id))
        .where(_direct_of(actor_id), THREAD == key))).one()
    if row[0] != first_id:
        return None
    thread = Thread(key, row[0], row[1], unread=False)
    marks = await _marks(conn, user_id)
    return Thread(key, row[0], row[1], key in await _unread(conn, actor_id, [thread], marks))


async def participants(conn: AsyncConnection, actor_id: int, keys: Sequence[str]
                       ) -> dict[str, list[int]]:
    """The other people in each thread: authors and those addressed by name (not the
    hidden recipients, such as who really wrote an anonymous post), oldest first."""
    out: dict[str, list[int]] = {k: [] for k in keys}
    if not keys:
        return out
    base = _direct_of(actor_id)
    authors = await conn.execute(
        select(THREAD, statuses.c.account_id, func.min(statuses.c.id))
        .where(base, THREAD.in_(list(keys))).group_by(THREAD, statuses.c.account_id))
    named = await conn.execute(
        select(THREAD, status_recipients.c.actor_id, func.min(statuses.c.id))
        .join(status_recipients, status_recipients.c.status_id == statuses.c.id)
        .where(base, THREAD.in_(list(keys)), status_recipients.c.mention.is_(True))
        .group_by(THREAD, status_recipients.c.actor_id))
    found: dict[str, dict[int, int]] = {k: {} for k in keys}
    for key, account, first in [*authors, *named]:
        seen = found[key]
        seen[account] = min(first, seen.get(account, first))
    for key, seen in found.items():
        out[key] = [a for a, _ in sorted(seen.items(), key=lambda kv: kv[1]) if a != actor_id]
    return out


@dataclass(frozen=True)
class _Mark:
    unread: bool
    hidden: bool
    last_status_id: int | None


async def _marks(conn: AsyncConnection, user_id: int) -> dict[str, _Mark]:
    rows = await conn.execute(select(conversation_marks).where(
        conversation_marks.c.user_id == user_id))
    return {r.conversation: _Mark(r.unread, r.hidden, r.last_status_id) for r in rows}


async def _unread(conn: AsyncConnection, actor_id: int, items: Sequence[Thread],
                  marks: dict[str, _Mark]) -> set[str]:
    """Threads with a status from someone else newer than what the user marked read."""
    if not items:
        return set()
    rows = await conn.execute(
        select(THREAD, func.max(statuses.c.id))
        .where(_direct_of(actor_id), THREAD.in_([t.key for t in items]),
               statuses.c.account_id != actor_id).group_by(THREAD))
    out = set()
    for key, newest_from_others in rows:
        mark = marks.get(key)
        seen = mark.last_status_id if mark is not None and not mark.unread else None
        if seen is None or newest_from_others > seen:
            out.add(key)
    return out


async def mark_thread(conn: AsyncConnection, *, user_id: int, thread: Thread,
                      hidden: bool = False) -> None:
    """Mark the thread read up to its newest status, and removed from the list or not
    (reading a removed thread brings it back)."""
    now = utcnow()
    changes: dict[str, Any] = {"unread": False, "hidden": hidden,
                               "last_status_id": thread.last_id, "updated_at": now}
    stmt = upsert(conn, conversation_marks, ["user_id", "conversation"]).values(
        user_id=user_id, conversation=thread.key, **changes)
    stmt = stmt.on_conflict_do_update(index_elements=["user_id", "conversation"],
                                      set_=changes)
    await conn.execute(stmt)
