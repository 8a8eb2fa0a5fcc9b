"""Forwarded needs (``need_forwarding``, ``forwarded_needs``; fediaid/domain/forwarding.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.posts import Kind, State, Visibility
from fediaid.domain.queue import ItemState
from fediaid.storage.dialect import insert_ignore
from fediaid.storage.tables import (
    activities,
    actors,
    deliveries,
    forwarded_needs,
    need_forwarding,
    posts,
)
from fediaid.storage.types import utcnow


# -- the asker's choice ----------------------------------------------------------------------
async def set_choice(conn: AsyncConnection, post_id: int, forward: bool | None) -> None:
    """``None``: follow the group's default."""
    await conn.execute(delete(need_forwarding).where(need_forwarding.c.post_id == post_id))
    if forward is not None:
        await conn.execute(need_forwarding.insert().values(post_id=post_id, forward=forward))


async def choice(conn: AsyncConnection, post_id: int) -> bool | None:
    row = (await conn.execute(select(need_forwarding.c.forward)
                              .where(need_forwarding.c.post_id == post_id))).first()
    return None if row is None else bool(row[0])


# -- outgoing ----------------------------------------------------------------------------------
async def candidates(conn: AsyncConnection, *, created_before: datetime, now: datetime,
                     targets: set[int], by_default: bool, limit: int = 200
                     ) -> list[tuple[int, bool | None]]:
    """Our open needs, public or network, not held or hidden, created at or before
    ``created_before``, not expired at ``now``, wanted (the asker's choice, else
    ``by_default``), not yet offered to every group in ``targets`` (actor ids): (post id,
    the asker's choice). The domain rule (domain/forwarding.due) is asked again."""
    offered = (select(func.count()).select_from(forwarded_needs)
               .where(forwarded_needs.c.post_id == posts.c.id,
                      forwarded_needs.c.outgoing.is_(True),
                      forwarded_needs.c.group_actor_id.in_(targets))
               .scalar_subquery())
    rows = await conn.execute(
        select(posts.c.id, need_forwarding.c.forward)
        .select_from(posts.outerjoin(need_forwarding,
                                     need_forwarding.c.post_id == posts.c.id))
        .where(posts.c.local.is_(True), posts.c.kind == Kind.NEED.value,
               posts.c.state == State.OPEN.value, posts.c.held.is_(False),
               posts.c.hidden.is_(False),
               posts.c.visibility.in_([Visibility.PUBLIC.value, Visibility.NETWORK.value]),
               posts.c.created_at <= created_before, offered < len(targets),
               or_(posts.c.expires_at.is_(None), posts.c.expires_at > now),
               or_(need_forwarding.c.forward.is_(True),
                   need_forwarding.c.forward.is_(None) if by_default else false()))
        .order_by(posts.c.id).limit(limit))
    return [(int(r[0]), None if r[1] is None else bool(r[1])) for r in rows]


async def forwarded_to(conn: AsyncConnection, post_id: int) -> set[int]:
    """The group actors this need was offered to already."""
    rows = await conn.execute(select(forwarded_needs.c.group_actor_id).where(
        forwarded_needs.c.post_id == post_id, forwarded_needs.c.outgoing.is_(True)))
    return {int(r[0]) for r in rows}


async def record(conn: AsyncConnection, *, post_id: int, group_actor_id: int, outgoing: bool,
                 activity_uri: str, shown: bool = True, now: datetime | None = None) -> bool:
    """One row per need, group and direction; False when it was there already."""
    done = await conn.execute(insert_ignore(
        conn, forwarded_needs, ["post_id", "group_actor_id", "outgoing"]).values(
        post_id=post_id, group_actor_id=group_actor_id, outgoing=outgoing,
        activity_uri=activity_uri, shown=shown, created_at=now or utcnow()))
    return bool(done.rowcount)


async def undelivered_offers(conn: AsyncConnection, group_actor_id: int, inbox: str
                             ) -> list[int]:
    """Deliveries of our offers to that group not made yet (pending or held)."""
    offers = select(forwarded_needs.c.activity_uri).where(
        forwarded_needs.c.group_actor_id == group_actor_id,
        forwarded_needs.c.outgoing.is_(True))
    rows = await conn.execute(
        select(deliveries.c.id).join(activities, activities.c.id == deliveries.c.activity_id)
        .where(activities.c.uri.in_(offers), deliveries.c.inbox_url == inbox,
               deliveries.c.state.in_([ItemState.PENDING.value, ItemState.HELD.value])))
    return [int(r[0]) for r in rows]


async def take_back(conn: AsyncConnection, post_id: int) -> list[tuple[int, str]]:
    """Forget our offers of this need (the asker opted out): (group actor id, the offer's
    activity id) of each, for the Undo."""
    rows = list(await conn.execute(
        select(forwarded_needs.c.group_actor_id, forwarded_needs.c.activity_uri).where(
            forwarded_needs.c.post_id == post_id, forwarded_needs.c.outgoing.is_(True))))
    await conn.execute(delete(forwarded_needs).where(
        forwarded_needs.c.post_id == post_id, forwarded_needs.c.outgoing.is_(True)))
    return [(int(r[0]), str(r[1])) for r in rows]


async def forget_received(conn: AsyncConnection, group_actor_id: int, activity_uri: str
                          ) -> int:
    """A linked group took its offer back (Undo of the Announce)."""
    done = await conn.execute(delete(forwarded_needs).where(
        forwarded_needs.c.outgoing.is_(False), forwarded_needs.c.activity_uri == activity_uri,
        forwarded_needs.c.group_actor_id == group_actor_id))
    return int(done.rowcount or 0)


# -- incoming ----------------------------------------------------------------------------------
async def received(conn: AsyncConnection, post_id: int) -> bool:
    """Whether this need came to us forwarded (so it is never forwarded again)."""
    return (await conn.execute(select(forwarded_needs.c.id).where(
        forwarded_needs.c.post_id == post_id, forwarded_needs.c.outgoing.is_(False))
        .limit(1))).first() is not None


async def shown_since(conn: AsyncConnection, since: datetime) -> int:
    return int((await conn.execute(select(func.count()).select_from(forwarded_needs).where(
        forwarded_needs.c.outgoing.is_(False), forwarded_needs.c.shown.is_(True),
        forwarded_needs.c.created_at >= since))).scalar_one())


@dataclass(frozen=True)
class Received:
    post_id: int
    group_uri: str
    group_name: str
    group_handle: str


async def shown_received(conn: AsyncConnection, group_actor_ids: set[int], limit: int = 50
                         ) -> list[Received]:
    """Forwarded needs shown to members, still open, from the given groups (the active
    links), newest first."""
    if not group_actor_ids:
        return []
    rows = await conn.execute(
        select(forwarded_needs.c.post_id, actors.c.uri, actors.c.name, actors.c.username,
               actors.c.domain)
        .select_from(forwarded_needs
                     .join(actors, actors.c.id == forwarded_needs.c.group_actor_id)
                     .join(posts, posts.c.id == forwarded_needs.c.post_id))
        .where(forwarded_needs.c.outgoing.is_(False), forwarded_needs.c.shown.is_(True),
               forwarded_needs.c.group_actor_id.in_(group_actor_ids),
               posts.c.state.in_([State.OPEN.value, State.PROMISED.value]))
        .order_by(forwarded_needs.c.id.desc()).limit(limit))
    return [Received(post_id=int(r[0]), group_uri=r[1],
                     group_name=r[2] or r[3] or r[4], group_handle=f"@{r[3]}@{r[4]}")
            for r in rows]


async def origin_of(conn: AsyncConnection, post_id: int) -> Received | None:
    rows = await conn.execute(
        select(forwarded_needs.c.post_id, actors.c.uri, actors.c.name, actors.c.username,
               actors.c.domain)
        .select_from(forwarded_needs
                     .join(actors, actors.c.id == forwarded_needs.c.group_actor_id))
        .where(forwarded_needs.c.outgoing.is_(False), forwarded_needs.c.post_id == post_id)
        .limit(1))
    r = rows.first()
    return None if r is None else Received(post_id=int(r[0]), group_uri=r[1],
                                           group_name=r[2] or r[3] or r[4],
                                           group_handle=f"@{r[3]}@{r[4]}")


async def received_among(conn: AsyncConnection, post_ids: list[int]
                         ) -> dict[int, tuple[Received, bool]]:
    """Of these posts, the ones that came to us forwarded: post id -> (the group that
    offered it, whether it was shown to members: within the daily cap)."""
    if not post_ids:
        return {}
    rows = await conn.execute(
        select(forwarded_needs.c.post_id, actors.c.uri, actors.c.name, actors.c.username,
               actors.c.domain, forwarded_needs.c.shown, forwarded_needs.c.group_actor_id)
        .select_from(forwarded_needs
                     .join(actors, actors.c.id == forwarded_needs.c.group_actor_id))
        .where(forwarded_needs.c.outgoing.is_(False),
               forwarded_needs.c.post_id.in_(post_ids)))
    return {int(r[0]): (Received(post_id=int(r[0]), group_uri=r[1],
                                 group_name=r[2] or r[3] or r[4],
                                 group_handle=f"@{r[3]}@{r[4]}"), bool(r[5]))
            for r in rows}
