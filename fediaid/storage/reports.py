"""Reports, the posts they name, takedowns, suspended remote accounts, and the moderation
flags kept on other tables (``posts.hidden``, ``statuses.hidden``, ``users.limited``,
``users.disabled``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.reports import (
    Action,
    Category,
    Report,
    ReportItem,
    ReportState,
    Takedown,
    TakedownAction,
)
from fediaid.storage.dialect import insert_ignore
from fediaid.storage.tables import (
    objects,
    posts,
    report_items,
    reports,
    statuses,
    suspended_actors,
    takedowns,
    users,
)
from fediaid.storage.types import utcnow


def _to_report(row: Any, items: Sequence[ReportItem] = ()) -> Report:
    return Report(
        id=row.id, reporter_user_id=row.reporter_user_id, reporter_domain=row.reporter_domain,
        target_actor_id=row.target_actor_id, category=Category(row.category),
        comment=row.comment or "", rule_ids=tuple(r for r in (row.rule_ids or "").split(",")
                                                  if r),
        forward=row.forward, forwarded_at=row.forwarded_at, state=ReportState(row.state),
        action=Action(row.action) if row.action else None, outcome=row.outcome,
        resolved_by_user_id=row.resolved_by_user_id, created_at=row.created_at,
        resolved_at=row.resolved_at, items=tuple(items))


async def _items(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, list[ReportItem]]:
    out: dict[int, list[ReportItem]] = {}
    if ids:
        rows = await conn.execute(select(report_items).where(report_items.c.report_id.in_(ids))
                                  .order_by(report_items.c.object_uri))
        for r in rows:
            out.setdefault(r.report_id, []).append(
                ReportItem(r.object_uri, r.status_id, r.post_id))
    return out


async def _reports(conn: AsyncConnection, query: Any) -> list[Report]:
    rows = list(await conn.execute(query))
    items = await _items(conn, [r.id for r in rows])
    return [_to_report(r, items.get(r.id, ())) for r in rows]


async def insert(conn: AsyncConnection, *, target_actor_id: int, category: Category,
                 comment: str, items: Sequence[ReportItem], reporter_user_id: int | None = None,
                 reporter_actor_id: int | None = None, reporter_domain: str | None = None,
                 activity_uri: str | None = None, forward: bool = False,
                 rule_ids: Sequence[str] = ()) -> int | None:
    """A new open report; None when a Flag with this ``activity_uri`` was stored before."""
    values = dict(
        reporter_user_id=reporter_user_id, reporter_actor_id=reporter_actor_id,
        reporter_domain=reporter_domain, activity_uri=activity_uri,
        target_actor_id=target_actor_id, category=category.value, comment=comment,
        rule_ids=",".join(rule_ids)[:255], forward=forward, state=ReportState.OPEN.value,
        created_at=utcnow())
    if activity_uri is not None:
        result = await conn.execute(insert_ignore(conn, reports, ["activity_uri"]).values(**values)
                                    .returning(reports.c.id))
        row = result.first()
        if row is None:
            return None
        report_id = int(row[0])
    else:
        report_id = int((await conn.execute(
            reports.insert().values(**values).returning(reports.c.id))).scalar_one())
    seen: set[str] = set()
    for item in items:
        if item.object_uri in seen:
            continue
        seen.add(item.object_uri)
        await conn.execute(report_items.insert().values(
            report_id=report_id, object_uri=item.object_uri, status_id=item.status_id,
            post_id=item.post_id))
    return report_id


async def find(conn: AsyncConnection, report_id: int) -> Report | None:
    found = await _reports(conn, select(reports).where(reports.c.id == report_id))
    return found[0] if found else None


async def listed(conn: AsyncConnection, *, state: ReportState | None, limit: int = 100
                 ) -> list[Report]:
    q = select(reports)
    if state is not None:
        q = q.where(reports.c.state == state.value)
    return await _reports(conn, q.order_by(reports.c.id.desc()).limit(limit))


async def by_reporter(conn: AsyncConnection, user_id: int, *, limit: int = 50) -> list[Report]:
    return await _reports(conn, select(reports).where(reports.c.reporter_user_id == user_id)
                          .order_by(reports.c.id.desc()).limit(limit))


async def count_open(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(reports).where(
        reports.c.state == ReportState.OPEN.value))).scalar_one())


async def resolve(conn: AsyncConnection, report_id: int, *, action: Action, outcome: str,
                  by_user_id: int) -> bool:
    result = await conn.execute(
        update(reports).where(reports.c.id == report_id,
                              reports.c.state == ReportState.OPEN.value)
        .values(state=ReportState.RESOLVED.value, action=action.value, outcome=outcome,
                resolved_by_user_id=by_user_id, resolved_at=utcnow()))
    return bool(result.rowcount)


async def mark_forwarded(conn: AsyncConnection, report_id: int) -> None:
    await conn.execute(update(reports).where(reports.c.id == report_id)
                       .values(forwarded_at=utcnow()))


# -- takedowns ----------------------------------------------------------------------------

def _to_takedown(r: Any) -> Takedown:
    return Takedown(id=r.id, object_uri=r.object_uri, post_id=r.post_id, status_id=r.status_id,
                    author_user_id=r.author_user_id, kind=r.kind, posted_at=r.posted_at,
                    action=TakedownAction(r.action), reason=r.reason, created_at=r.created_at)


async def add_takedown(conn: AsyncConnection, *, object_uri: str, post_id: int | None,
                       status_id: int | None, author_user_id: int | None, kind: str,
                       posted_at: datetime | None, action: TakedownAction, reason: str,
                       by_user_id: int, report_id: int | None) -> int:
    return int((await conn.execute(takedowns.insert().values(
        object_uri=object_uri, post_id=post_id, status_id=status_id,
        author_user_id=author_user_id, kind=kind, posted_at=posted_at, action=action.value,
        reason=reason, by_user_id=by_user_id, report_id=report_id, created_at=utcnow(),
    ).returning(takedowns.c.id))).scalar_one())


async def takedowns_of_author(conn: AsyncConnection, user_id: int, *, limit: int = 50
                              ) -> list[Takedown]:
    rows = await conn.execute(select(takedowns).where(takedowns.c.author_user_id == user_id)
                              .order_by(takedowns.c.id.desc()).limit(limit))
    return [_to_takedown(r) for r in rows]


async def takedown_of(conn: AsyncConnection, object_uri: str) -> Takedown | None:
    row = (await conn.execute(select(takedowns).where(takedowns.c.object_uri == object_uri)
                              .order_by(takedowns.c.id.desc()).limit(1))).first()
    return _to_takedown(row) if row else None


async def set_post_hidden(conn: AsyncConnection, post_id: int, hidden: bool) -> None:
    await conn.execute(update(posts).where(posts.c.id == post_id).values(hidden=hidden))


async def set_status_hidden(conn: AsyncConnection, status_id: int, hidden: bool) -> None:
    """Hide a note; its stored ActivityPub copy stops being served as public (an
    ActivityPub fetch of a local note asks ``objects.public``)."""
    await conn.execute(update(statuses).where(statuses.c.id == status_id)
                       .values(hidden=hidden))
    if hidden:
        uri = select(statuses.c.uri).where(statuses.c.id == status_id).scalar_subquery()
        await conn.execute(update(objects).where(objects.c.uri == uri).values(public=False))


async def hide_posts_of_actor(conn: AsyncConnection, actor_id: int) -> None:
    await conn.execute(update(posts).where(posts.c.author_actor_id == actor_id)
                       .values(hidden=True))


# -- accounts -----------------------------------------------------------------------------

async def set_limited(conn: AsyncConnection, user_id: int, limited: bool) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(limited=limited))


async def is_limited(conn: AsyncConnection, user_id: int) -> bool:
    return bool((await conn.execute(select(users.c.limited).where(users.c.id == user_id))
                 ).scalar_one_or_none())


async def set_disabled(conn: AsyncConnection, user_id: int, disabled: bool) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(disabled=disabled))


async def end_all_sessions(conn: AsyncConnection, user_id: int) -> None:
    from fediaid.storage.tables import web_sessions

    await conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user_id))


async def suspend_actor(conn: AsyncConnection, uri: str, reason: str) -> None:
    await conn.execute(insert_ignore(conn, suspended_actors, ["uri"]).values(
        uri=uri, reason=reason, created_at=utcnow()))


async def unsuspend_actor(conn: AsyncConnection, uri: str) -> bool:
    done = await conn.execute(delete(suspended_actors).where(suspended_actors.c.uri == uri))
    return done.rowcount > 0


async def actor_suspended(conn: AsyncConnection, uri: str) -> bool:
    return (await conn.execute(select(suspended_actors.c.uri).where(
        suspended_actors.c.uri == uri))).first() is not None


async def suspended_among(conn: AsyncConnection, uris: Iterable[str]) -> frozenset[str]:
    """Which of ``uris`` are suspended remote accounts (one query)."""
    wanted = sorted(set(uris))
    if not wanted:
        return frozenset()
    rows = await conn.execute(select(suspended_actors.c.uri).where(
        suspended_actors.c.uri.in_(wanted)))
    return frozenset(r[0] for r in rows)
