"""Offers and needs, their recipients and intake records; group settings, categories and
areas."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, func, literal, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.posts import Kind, Post, State, Urgency, Visibility
from fediaid.errors import NotFound
from fediaid.i18n import N_
from fediaid.storage.tables import (
    actors,
    areas,
    categories,
    group_settings,
    intake_records,
    post_recipients,
    posts,
)
from fediaid.storage.types import utcnow

_COLUMNS = [posts, actors.c.uri.label("author_uri")]


def _to_post(row: Any, recipients: Sequence[str] = ()) -> Post:
    return Post(
        id=row.id, uri=row.uri, kind=Kind(row.kind), title=row.title,
        description=row.description, category=row.category,
        quantity=Decimal(row.quantity).normalize() if row.quantity is not None else None,
        unit=row.unit, area=row.area, starts_at=row.starts_at, ends_at=row.ends_at,
        urgency=Urgency(row.urgency), visibility=Visibility(row.visibility),
        state=State(row.state), local=row.local, author_uri=row.author_uri,
        creator_user_id=row.creator_user_id, anonymous=row.anonymous, proxy=row.proxy,
        held=row.held, via_group=row.via_group, recipients=tuple(recipients),
        created_at=row.created_at, updated_at=row.updated_at, expires_at=row.expires_at,
        closed_at=row.closed_at,
        delete_after=row.delete_after, hidden=row.hidden,
    )


def _base() -> Any:
    return select(*_COLUMNS).select_from(posts.join(actors, actors.c.id == posts.c.author_actor_id))


async def _recipients(conn: AsyncConnection, ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if ids:
        rows = await conn.execute(select(post_recipients).where(post_recipients.c.post_id.in_(ids)))
        for r in rows:
            out.setdefault(r.post_id, []).append(r.actor_uri)
    return out


async def find(conn: AsyncConnection, post_id: int) -> Post | None:
    row = (await conn.execute(_base().where(posts.c.id == post_id))).first()
    if row is None:
        return None
    return _to_post(row, (await _recipients(conn, [row.id])).get(row.id, []))


async def load_many(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Post]:
    """Posts by id with their recipients, in two queries (missing ones are absent)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = (await conn.execute(_base().where(posts.c.id.in_(wanted)))).all()
    recipients = await _recipients(conn, [r.id for r in rows])
    return {r.id: _to_post(r, recipients.get(r.id, [])) for r in rows}


async def get(conn: AsyncConnection, post_id: int) -> Post:
    post = await find(conn, post_id)
    if post is None:
        raise NotFound(N_("No such post."))
    return post


async def find_by_uri(conn: AsyncConnection, uri: str) -> Post | None:
    row = (await conn.execute(_base().where(posts.c.uri == uri))).first()
    if row is None:
        return None
    return _to_post(row, (await _recipients(conn, [row.id])).get(row.id, []))


async def insert(conn: AsyncConnection, values: dict[str, Any], recipients: Sequence[str]
                 ) -> tuple[int, datetime]:
    """A post and its recipients; returns its id and creation time."""
    now = utcnow()
    pid = (await conn.execute(
        posts.insert().values(created_at=now, updated_at=now, **values).returning(posts.c.id)
    )).scalar_one()
    if recipients:
        await conn.execute(post_recipients.insert(),
                           [{"post_id": pid, "actor_uri": r} for r in dict.fromkeys(recipients)])
    return int(pid), now


async def update_fields(conn: AsyncConnection, post_id: int, values: dict[str, Any]) -> None:
    await conn.execute(update(posts).where(posts.c.id == post_id)
                       .values(updated_at=utcnow(), **values))


async def replace_recipients(conn: AsyncConnection, post_id: int, recipients: Sequence[str]
                             ) -> None:
    await conn.execute(delete(post_recipients).where(post_recipients.c.post_id == post_id))
    if recipients:
        rows = [{"post_id": post_id, "actor_uri": r} for r in dict.fromkeys(recipients)]
        await conn.execute(post_recipients.insert(), rows)


async def uri_of(conn: AsyncConnection, post_id: int) -> str | None:
    return (await conn.execute(select(posts.c.uri).where(posts.c.id == post_id))
            ).scalar_one_or_none()


async def remove(conn: AsyncConnection, post_id: int) -> None:
    """Delete a post (the database cascades to what is private to it: answers,
    conversations, messages, intake record, recipients, its status)."""
    await conn.execute(delete(posts).where(posts.c.id == post_id))


@dataclass(frozen=True)
class Filters:
    kind: Kind | None = None
    category: str | None = None
    area: str | None = None
    states: tuple[State, ...] = (State.OPEN, State.PROMISED)
    text: str | None = None
    author_actor_id: int | None = None
    held: bool | None = False
    order: str = "newest"  # or "urgent"
    limit: int = 50
    before_id: int | None = None


async def search(conn: AsyncConnection, f: Filters) -> list[Post]:
    """Candidates matching the filters. Visibility is applied by the caller (services), which
    asks for a few more than it shows."""
    q = _base()
    conds = []
    if f.kind:
        conds.append(posts.c.kind == f.kind.value)
    if f.category:
        conds.append(posts.c.category == f.category)
    if f.area:
        conds.append(posts.c.area == f.area)
    if f.states:
        # Not offered to SQLite as an index (ix_posts_state_kind): newest first, walking the
        # posts back from the newest stops after a page; reading every open post on the
        # index and sorting them all grew with the group (~300 ms at 20,000 posts).
        state = posts.c.state if f.order == "urgent" else func.coalesce(posts.c.state, "")
        conds.append(state.in_([s.value for s in f.states]))
    if f.text:
        like = "%" + f.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conds.append(or_(posts.c.title.ilike(like, escape="\\"),
                         posts.c.description.ilike(like, escape="\\")))
    if f.author_actor_id is not None:
        conds.append(posts.c.author_actor_id == f.author_actor_id)
    if f.held is not None:
        conds.append(posts.c.held.is_(f.held))
    if f.before_id is not None:
        conds.append(posts.c.id < f.before_id)
    if conds:
        q = q.where(and_(*conds))
    if f.order == "urgent":
        from sqlalchemy import case

        rank = case((posts.c.urgency == "urgent", 2), (posts.c.urgency == "normal", 1), else_=0)
        q = q.order_by(rank.desc(), posts.c.ends_at.is_(None), posts.c.ends_at, posts.c.id.desc())
    else:
        q = q.order_by(posts.c.id.desc())
    rows = list(await conn.execute(q.limit(f.limit)))
    rec = await _recipients(conn, [r.id for r in rows])
    return [_to_post(r, rec.get(r.id, [])) for r in rows]


async def due_to_expire(conn: AsyncConnection, now: datetime, limit: int = 200) -> list[int]:
    rows = await conn.execute(select(posts.c.id).where(
        posts.c.state.in_([State.OPEN.value, State.PROMISED.value]),
        posts.c.expires_at.is_not(None), posts.c.expires_at <= now).limit(limit))
    return [r[0] for r in rows]


async def due_for_deletion(conn: AsyncConnection, now: datetime, limit: int = 200) -> list[int]:
    rows = await conn.execute(select(posts.c.id).where(
        posts.c.delete_after.is_not(None), posts.c.delete_after <= now).limit(limit))
    return [r[0] for r in rows]


# -- intake ---------------------------------------------------------------------------
async def add_intake(conn: AsyncConnection, *, post_id: int, name: str, callback: str | None,
                     notes: str | None, user_id: int) -> None:
    await conn.execute(intake_records.insert().values(
        post_id=post_id, name=name, callback=callback, notes=notes,
        created_by_user_id=user_id, created_at=utcnow()))


async def intake_for(conn: AsyncConnection, post_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(select(intake_records).where(
        intake_records.c.post_id == post_id))).first()
    return dict(row._mapping) if row else None


# -- settings, categories, areas -----------------------------------------------------------
async def settings(conn: AsyncConnection) -> dict[str, str]:
    return {r.key: r.value for r in await conn.execute(select(group_settings))}


async def set_setting(conn: AsyncConnection, key: str, value: str) -> None:
    await conn.execute(delete(group_settings).where(group_settings.c.key == key))
    await conn.execute(group_settings.insert().values(key=key, value=value))


async def category_list(conn: AsyncConnection, *, active_only: bool = True
                        ) -> list[tuple[str, str]]:
    q = select(categories.c.slug, categories.c.label).order_by(categories.c.position,
                                                                categories.c.slug)
    if active_only:
        q = q.where(categories.c.active.is_(True))
    return [(r[0], r[1]) for r in await conn.execute(q)]


async def labels(conn: AsyncConnection) -> tuple[dict[str, str], dict[str, str]]:
    """(every category's label, every area's label) by slug, in one statement (a page of
    posts shown as Notes)."""
    q = union_all(select(literal(0).label("k"), categories.c.slug, categories.c.label),
                  select(literal(1).label("k"), areas.c.slug, areas.c.label))
    out: tuple[dict[str, str], dict[str, str]] = ({}, {})
    for k, slug, label in await conn.execute(q):
        out[k][slug] = label
    return out


async def upsert_category(conn: AsyncConnection, slug: str, label: str, active: bool) -> None:
    exists = (await conn.execute(select(categories.c.slug).where(categories.c.slug == slug))
              ).first()
    if exists:
        await conn.execute(update(categories).where(categories.c.slug == slug)
                           .values(label=label, active=active))
    else:
        pos = (await conn.execute(select(func.coalesce(func.max(categories.c.position), 0))
                                  )).scalar_one()
        await conn.execute(categories.insert().values(slug=slug, label=label,
                                                      position=int(pos) + 1, active=active))


async def area_list(conn: AsyncConnection) -> list[tuple[str, str]]:
    q = select(areas.c.slug, areas.c.label).order_by(areas.c.position, areas.c.slug)
    return [(r[0], r[1]) for r in await conn.execute(q)]


async def set_areas(conn: AsyncConnection, items: Sequence[tuple[str, str]]) -> None:
    await conn.execute(delete(areas))
    if items:
        await conn.execute(areas.insert(), [{"slug": s, "label": lbl, "position": i}
                                            for i, (s, lbl) in enumerate(items)])


async def count_by_author(conn: AsyncConnection, actor_id: int) -> int:
    return int((await conn.execute(select(func.count()).select_from(posts).where(
        posts.c.author_actor_id == actor_id, posts.c.local.is_(True)))).scalar_one())
