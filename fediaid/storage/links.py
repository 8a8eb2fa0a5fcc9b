"""Links with other groups (``group_links``; fediaid/domain/links.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.links import LinkState, Share, parse_shares, shares_text
from fediaid.storage.tables import actors, group_links
from fediaid.storage.types import utcnow


@dataclass(frozen=True)
class Link:
    id: int
    actor_id: int
    actor_uri: str
    handle: str
    domain: str
    name: str
    state: LinkState
    our_shares: frozenset[Share]
    their_shares: frozenset[Share]
    updated_at: datetime


def _cols() -> list[Any]:
    return [group_links, actors.c.uri, actors.c.username, actors.c.domain,
            actors.c.name]


def _to_link(row: Any) -> Link:
    return Link(id=row.id, actor_id=row.actor_id, actor_uri=row.uri,
                handle=f"@{row.username}@{row.domain}", domain=row.domain,
                name=row.name or row.username or row.domain, state=LinkState(row.state),
                our_shares=parse_shares(row.our_shares.split(",")),
                their_shares=parse_shares(row.their_shares.split(",")),
                updated_at=row.updated_at)


def _select() -> Any:
    return select(*_cols()).select_from(
        group_links.join(actors, actors.c.id == group_links.c.actor_id))


async def find(conn: AsyncConnection, actor_id: int) -> Link | None:
    row = (await conn.execute(_select().where(group_links.c.actor_id == actor_id))).first()
    return _to_link(row) if row else None


async def save(conn: AsyncConnection, actor_id: int, state: LinkState, *,
               our_shares: frozenset[Share] | None = None,
               their_shares: frozenset[Share] | None = None) -> None:
    """Insert or update the link with ``actor_id`` (shares left as they are when None)."""
    now = utcnow()
    values: dict[str, Any] = {"state": state.value, "updated_at": now}
    if our_shares is not None:
        values["our_shares"] = shares_text(our_shares)
    if their_shares is not None:
        values["their_shares"] = shares_text(their_shares)
    done = await conn.execute(update(group_links).where(group_links.c.actor_id == actor_id)
                              .values(**values))
    if done.rowcount == 0:
        await conn.execute(group_links.insert().values(
            **{"our_shares": "", "their_shares": "", **values},
            actor_id=actor_id, created_at=now))


async def all_links(conn: AsyncConnection) -> list[Link]:
    rows = await conn.execute(_select().order_by(group_links.c.updated_at.desc()))
    return [_to_link(r) for r in rows]


async def active_domains(conn: AsyncConnection) -> frozenset[str]:
    """Domains of the groups this group is linked with now (active links)."""
    rows = await conn.execute(
        select(actors.c.domain).select_from(
            group_links.join(actors, actors.c.id == group_links.c.actor_id))
        .where(group_links.c.state == LinkState.ACTIVE.value).distinct())
    return frozenset(r[0] for r in rows)


async def active_inboxes(conn: AsyncConnection) -> list[str]:
    """Delivery inboxes of the groups this group is linked with now."""
    inbox = func.coalesce(func.nullif(actors.c.shared_inbox, ""), actors.c.inbox)
    rows = await conn.execute(
        select(inbox).select_from(
            group_links.join(actors, actors.c.id == group_links.c.actor_id))
        .where(group_links.c.state == LinkState.ACTIVE.value, inbox.is_not(None)).distinct())
    return [r[0] for r in rows]
