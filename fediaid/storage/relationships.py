"""Queries behind the client API's accounts: who follows whom (both directions at once, for
Mastodon's Relationship entity), follower and following lists paged by follow id, follow
requests, account search, hashtag search, and a local account's profile fields."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.actors import ActorType
from fediaid.domain.follows import FollowState
from fediaid.domain.paging import Page
from fediaid.storage.statuses import paged
from fediaid.storage.tables import actors, follows, status_tags, statuses
from fediaid.storage.types import utcnow

Pair = tuple[FollowState | None, FollowState | None]


async def pairs(conn: AsyncConnection, actor_id: int, other_ids: Sequence[int]
                ) -> dict[int, Pair]:
    """For each of ``other_ids``: (the state of ``actor_id``'s follow of it, the state of
    its follow of ``actor_id``), None where there is none."""
    ids = list(other_ids)
    out: dict[int, Pair] = {i: (None, None) for i in ids}
    if not ids:
        return out
    rows = await conn.execute(
        select(follows.c.follower_id, follows.c.followed_id, follows.c.state).where(or_(
            (follows.c.follower_id == actor_id) & follows.c.followed_id.in_(ids),
            (follows.c.followed_id == actor_id) & follows.c.follower_id.in_(ids))))
    for follower_id, followed_id, state in rows:
        if follower_id == actor_id and followed_id in out:
            out[followed_id] = (FollowState(state), out[followed_id][1])
        if followed_id == actor_id and follower_id in out:
            out[follower_id] = (out[follower_id][0], FollowState(state))
    return out


async def follow_page(conn: AsyncConnection, actor_id: int, page: Page, *, direction: str,
                      state: FollowState = FollowState.ACCEPTED) -> list[tuple[int, int]]:
    """(follow id, other actor id) newest first, paged by follow id: followers of
    ``actor_id`` (``direction='followers'``) or the actors it follows (``'following'``)."""
    if direction == "followers":
        mine, other = follows.c.followed_id, follows.c.follower_id
    else:
        mine, other = follows.c.follower_id, follows.c.followed_id
    q = select(follows.c.id, other).where(mine == actor_id, follows.c.state == state.value)
    rows = [(r[0], r[1]) for r in await conn.execute(paged(q, follows.c.id, page))]
    return sorted(rows, reverse=True)


async def following_ids(conn: AsyncConnection, actor_id: int) -> set[int]:
    rows = await conn.execute(select(follows.c.followed_id).where(
        follows.c.follower_id == actor_id, follows.c.state == FollowState.ACCEPTED.value))
    return {r[0] for r in rows}


async def pending_count(conn: AsyncConnection, actor_id: int) -> int:
    return int((await conn.execute(select(func.count()).select_from(follows).where(
        follows.c.followed_id == actor_id, follows.c.state == FollowState.PENDING.value))
    ).scalar_one())


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search_actors(conn: AsyncConnection, text: str, *, limit: int, offset: int,
                        only_ids: Sequence[int] | None = None) -> list[int]:
    """Accounts (people and groups, local or known remote) whose username starts with
    ``text`` or whose display name contains it, case-insensitively; exact usernames and
    local accounts first."""
    needle = _escape_like(text.lower())
    username = func.lower(func.coalesce(actors.c.username, ""))
    name = func.lower(func.coalesce(actors.c.name, ""))
    q = select(actors.c.id).where(
        actors.c.type != ActorType.APPLICATION.value,
        actors.c.username.is_not(None),
        or_(username.like(needle + "%", escape="\\"),
            name.like("%" + needle + "%", escape="\\")))
    if only_ids is not None:
        q = q.where(actors.c.id.in_(list(only_ids)))
    q = q.order_by(case((username == text.lower(), 0), else_=1), actors.c.local.desc(),
                   username, actors.c.id).limit(limit).offset(offset)
    return [r[0] for r in await conn.execute(q)]


async def tagged_statuses(conn: AsyncConnection, prefix: str, *, limit: int
                          ) -> list[tuple[str, int]]:
    """(tag, status id) for tags starting with ``prefix``, newest statuses first (the
    caller keeps the tags of statuses the viewer may see)."""
    q = (select(status_tags.c.tag, status_tags.c.status_id)
         .where(status_tags.c.tag.like(_escape_like(prefix.lower()) + "%", escape="\\"))
         .order_by(status_tags.c.status_id.desc()).limit(limit))
    return [(r[0], r[1]) for r in await conn.execute(q)]


async def update_profile(conn: AsyncConnection, actor_id: int, *, name: str | None = None,
                         summary: str | None = None, locked: bool | None = None,
                         images: Mapping[str, str | None] | None = None) -> None:
    """Change a local actor's display name, note or "locked" flag (only the ones given), and
    its profile images: ``images`` maps ``icon_url`` (the avatar) and ``header_url`` to a new
    URL, or to None to remove it."""
    values: dict[str, object] = {}
    if name is not None:
        values["name"] = name
    if summary is not None:
        values["summary"] = summary
    if locked is not None:
        values["manually_approves_followers"] = locked
    for column, url in (images or {}).items():
        if column not in ("icon_url", "header_url"):
            raise ValueError(f"not a profile image column: {column}")
        values[column] = url
    if not values:
        return
    await conn.execute(update(actors).where(actors.c.id == actor_id, actors.c.local.is_(True))
                       .values(**values, updated_at=utcnow()))


async def existing_ids(conn: AsyncConnection, ids: Sequence[int]) -> set[int]:
    """Which of ``ids`` are accounts (the instance's own service actor excluded)."""
    if not ids:
        return set()
    rows = await conn.execute(select(actors.c.id).where(
        actors.c.id.in_(list(ids)),
        ~((actors.c.local.is_(True)) & (actors.c.type == ActorType.APPLICATION.value))))
    return {r[0] for r in rows}


async def status_id_by_url(conn: AsyncConnection, url: str) -> int | None:
    """A status (not a boost) whose page URL is ``url``."""
    row = (await conn.execute(select(statuses.c.id).where(
        statuses.c.url == url, statuses.c.reblog_of_id.is_(None)).limit(1))).first()
    return int(row[0]) if row else None


async def followed_inboxes(conn: AsyncConnection, actor_id: int) -> list[str]:
    """Distinct delivery inboxes of the remote accounts ``actor_id`` follows or asked to
    follow (their servers hold a copy of its profile)."""
    inbox = func.coalesce(func.nullif(actors.c.shared_inbox, ""), actors.c.inbox)
    rows = await conn.execute(
        select(inbox).select_from(follows.join(actors, actors.c.id == follows.c.followed_id))
        .where(follows.c.follower_id == actor_id, actors.c.local.is_(False),
               inbox.is_not(None)).distinct())
    return [r[0] for r in rows]
