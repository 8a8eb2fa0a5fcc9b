"""Follows repository."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, literal_column, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.follows import FollowState
from fediaid.storage.domains import covered_by
from fediaid.storage.tables import actors, follows
from fediaid.storage.types import utcnow


@dataclass(frozen=True)
class Follow:
    id: int
    follower_id: int
    followed_id: int
    uri: str
    state: FollowState
    created_at: datetime


def _to_follow(row: Any) -> Follow:
    return Follow(
        id=row.id,
        follower_id=row.follower_id,
        followed_id=row.followed_id,
        uri=row.uri,
        state=FollowState(row.state),
        created_at=row.created_at,
    )


async def find(conn: AsyncConnection, follower_id: int, followed_id: int) -> Follow | None:
    row = (
        await conn.execute(
            select(follows).where(
                follows.c.follower_id == follower_id, follows.c.followed_id == followed_id
            )
        )
    ).first()
    return _to_follow(row) if row else None


async def find_by_uri(conn: AsyncConnection, uri: str) -> Follow | None:
    row = (await conn.execute(select(follows).where(follows.c.uri == uri))).first()
    return _to_follow(row) if row else None


async def create(
    conn: AsyncConnection, *, follower_id: int, followed_id: int, uri: str, state: FollowState
) -> Follow:
    now = utcnow()
    fid = (
        await conn.execute(
            follows.insert()
            .values(
                follower_id=follower_id,
                followed_id=followed_id,
                uri=uri,
                state=state.value,
                created_at=now,
                accepted_at=now if state is FollowState.ACCEPTED else None,
            )
            .returning(follows.c.id)
        )
    ).scalar_one()
    row = (await conn.execute(select(follows).where(follows.c.id == fid))).one()
    return _to_follow(row)


async def set_state(conn: AsyncConnection, follow_id: int, state: FollowState) -> None:
    await conn.execute(
        update(follows)
        .where(follows.c.id == follow_id)
        .values(state=state.value,
                accepted_at=utcnow() if state is FollowState.ACCEPTED else None)
    )


async def remove(conn: AsyncConnection, follow_id: int) -> None:
    await conn.execute(delete(follows).where(follows.c.id == follow_id))


async def follower_inboxes(conn: AsyncConnection, followed_id: int) -> list[str]:
    """Distinct delivery inboxes of accepted remote followers: ``coalesce(shared_inbox,
    inbox)``, one per server that shares an inbox (Mastodon's ``Account.inboxes``)."""
    inbox = func.coalesce(func.nullif(actors.c.shared_inbox, ""), actors.c.inbox)
    rows = await conn.execute(
        select(inbox)
        .select_from(follows.join(actors, actors.c.id == follows.c.follower_id))
        .where(
            follows.c.followed_id == followed_id,
            follows.c.state == FollowState.ACCEPTED.value,
            actors.c.local.is_(False),
            inbox.is_not(None),
        )
        .distinct()
    )
    return [r[0] for r in rows]


async def page(
    conn: AsyncConnection,
    *,
    actor_id: int,
    direction: str,
    limit: int,
    offset: int,
    state: FollowState = FollowState.ACCEPTED,
) -> list[str]:
    """URIs of followers (``direction='followers'``) or followed actors, newest first."""
    if direction == "followers":
        mine, other = follows.c.followed_id, follows.c.follower_id
    else:
        mine, other = follows.c.follower_id, follows.c.followed_id
    rows = await conn.execute(
        select(actors.c.uri)
        .select_from(follows.join(actors, actors.c.id == other))
        .where(and_(mine == actor_id, follows.c.state == state.value))
        .order_by(follows.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [r[0] for r in rows]


async def count(conn: AsyncConnection, *, actor_id: int, direction: str,
                state: FollowState = FollowState.ACCEPTED) -> int:
    mine = follows.c.followed_id if direction == "followers" else follows.c.follower_id
    return int(
        (
            await conn.execute(
                select(func.count())
                .select_from(follows)
                .where(mine == actor_id, follows.c.state == state.value)
            )
        ).scalar_one()
    )


async def counts(conn: AsyncConnection, actor_ids: Iterable[int], *, direction: str,
                 state: FollowState = FollowState.ACCEPTED) -> dict[int, int]:
    """``count`` of several actors in one statement."""
    wanted = sorted(set(actor_ids))
    out = dict.fromkeys(wanted, 0)
    if not wanted:
        return out
    mine = follows.c.followed_id if direction == "followers" else follows.c.follower_id
    rows = await conn.execute(select(mine, func.count()).where(
        mine.in_(wanted), follows.c.state == state.value).group_by(mine))
    for aid, n in rows:
        out[aid] = int(n)
    return out


async def counts_both(conn: AsyncConnection, actor_ids: Iterable[int], *,
                      state: FollowState = FollowState.ACCEPTED
                      ) -> tuple[dict[int, int], dict[int, int]]:
    """(followers, following) ``counts`` of several actors, in one statement."""
    wanted = sorted(set(actor_ids))
    followers, following = dict.fromkeys(wanted, 0), dict.fromkeys(wanted, 0)
    if not wanted:
        return followers, following
    arms = [select(literal_column(str(n)).label("k"), mine.label("aid"),
                   func.count().label("n"))
            .where(mine.in_(wanted), follows.c.state == state.value).group_by(mine)
            for n, mine in enumerate((follows.c.followed_id, follows.c.follower_id))]
    for k, aid, n in await conn.execute(union_all(*arms)):
        (followers if k == 0 else following)[aid] = int(n)
    return followers, following


async def pending_for(conn: AsyncConnection, followed_id: int) -> list[tuple[Follow, str]]:
    rows = await conn.execute(
        select(follows, actors.c.uri.label("follower_uri"))
        .select_from(follows.join(actors, actors.c.id == follows.c.follower_id))
        .where(follows.c.followed_id == followed_id,
               follows.c.state == FollowState.PENDING.value)
        .order_by(follows.c.id)
    )
    return [(_to_follow(r), r.follower_uri) for r in rows]


async def domain_has_follower(conn: AsyncConnection, followed_id: int, domain: str) -> bool:
    """Does any accepted follower of ``followed_id`` live on ``domain``?"""
    row = (await conn.execute(
        select(follows.c.id).select_from(follows.join(actors, actors.c.id == follows.c.follower_id))
        .where(follows.c.followed_id == followed_id, follows.c.state == FollowState.ACCEPTED.value,
               actors.c.domain == domain).limit(1))).first()
    return row is not None


async def remove_with_domains(conn: AsyncConnection, rules: frozenset[str] | set[str]) -> int:
    """Delete follows in both directions between our actors and remote actors on domains
    covered by ``rules`` (a domain block, as Mastodon's suspension)."""
    if not rules:
        return 0
    remote = select(actors.c.id).where(actors.c.local.is_(False),
                                       covered_by(actors.c.domain, rules))
    result = await conn.execute(
        delete(follows).where(or_(follows.c.follower_id.in_(remote.scalar_subquery()),
                                  follows.c.followed_id.in_(remote.scalar_subquery())))
    )
    return int(result.rowcount or 0)
