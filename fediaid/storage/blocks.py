"""Blocks, mutes and a member's own domain blocks (tables ``account_blocks``,
``account_mutes``, ``account_domain_blocks``); what a viewer's relations are, in a few
queries (fediaid/services/blocks.py builds them into ``visibility.Viewer``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, false, literal_column, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.paging import Page
from fediaid.storage.dialect import insert_ignore
from fediaid.storage.domains import covered_by
from fediaid.storage.statuses import paged
from fediaid.storage.tables import account_blocks, account_domain_blocks, account_mutes, actors
from fediaid.storage.types import utcnow


@dataclass(frozen=True)
class Relations:
    """One account's blocks and mutes, by actor id and URI."""

    blocking: dict[int, str]  # blocked by this account
    blocked_by: dict[int, str]  # accounts that block this one
    muting: dict[int, str]  # muted (not expired)
    muting_notifications: dict[int, str]
    domains: frozenset[str]  # this account's own domain blocks

    @property
    def hidden_ids(self) -> frozenset[int]:
        """Accounts whose statuses are left out of this account's lists."""
        return frozenset(self.blocking) | frozenset(self.blocked_by) | frozenset(self.muting)


def _not_expired(now: datetime) -> Any:
    return or_(account_mutes.c.expires_at.is_(None), account_mutes.c.expires_at > now)


async def relations(conn: AsyncConnection, actor_id: int) -> Relations:
    blocking: dict[int, str] = {}
    blocked_by: dict[int, str] = {}
    muting: dict[int, str] = {}
    notes: dict[int, str] = {}
    domains: set[str] = set()
    # One statement (read for every request of a member): blocks both ways, mutes, and
    # the member's domain blocks (id 0: the URI column holds the domain).
    arms = [select(literal_column(str(n)).label("k"), actors.c.id, actors.c.uri,
                   false().label("notifications"))
            .join(account_blocks, actors.c.id == col_other).where(col_me == actor_id)
            for n, (col_me, col_other) in enumerate((
                (account_blocks.c.actor_id, account_blocks.c.target_id),
                (account_blocks.c.target_id, account_blocks.c.actor_id)))]
    arms.append(select(literal_column("2").label("k"), actors.c.id, actors.c.uri,
                       account_mutes.c.notifications)
                .join(account_mutes, actors.c.id == account_mutes.c.target_id)
                .where(account_mutes.c.actor_id == actor_id, _not_expired(utcnow())))
    arms.append(select(literal_column("3").label("k"), literal_column("0").label("id"),
                       account_domain_blocks.c.domain, false().label("notifications"))
                .where(account_domain_blocks.c.actor_id == actor_id))
    for k, aid, uri, notifications in await conn.execute(union_all(*arms)):
        if k == 3:
            domains.add(uri)
        elif k == 2:
            muting[aid] = uri
            if notifications:
                notes[aid] = uri
        else:
            (blocking if k == 0 else blocked_by)[aid] = uri
    return Relations(blocking, blocked_by, muting, notes, frozenset(domains))


async def blockers_of(conn: AsyncConnection, actor_id: int, domain: str) -> dict[int, str]:
    """Local accounts that block ``actor_id`` (a remote actor) or its ``domain``."""
    by_account = await conn.execute(
        select(actors.c.id, actors.c.uri).join(account_blocks,
                                               actors.c.id == account_blocks.c.actor_id)
        .where(account_blocks.c.target_id == actor_id, actors.c.local.is_(True)))
    out = {r[0]: r[1] for r in by_account}
    rows = await conn.execute(select(account_domain_blocks.c.actor_id,
                                     account_domain_blocks.c.domain))
    owners = {aid for aid, rule in rows if covered(domain, rule)}
    if owners:
        for aid, uri in await conn.execute(select(actors.c.id, actors.c.uri)
                                           .where(actors.c.id.in_(sorted(owners)))):
            out[aid] = uri
    return out


def covered(domain: str, rule: str) -> bool:
    from fediaid.domain.federation import covers

    return covers(rule, domain)


# -- blocks -----------------------------------------------------------------------------

async def find_block(conn: AsyncConnection, actor_id: int, target_id: int) -> str | None:
    """The block's activity URI, or None."""
    return (await conn.execute(select(account_blocks.c.uri).where(
        account_blocks.c.actor_id == actor_id, account_blocks.c.target_id == target_id))
    ).scalar_one_or_none()


async def add_block(conn: AsyncConnection, actor_id: int, target_id: int, uri: str) -> bool:
    result = await conn.execute(insert_ignore(conn, account_blocks, ["actor_id", "target_id"])
                                .values(actor_id=actor_id, target_id=target_id, uri=uri,
                                        created_at=utcnow()))
    return bool(result.rowcount)


async def remove_block(conn: AsyncConnection, actor_id: int, target_id: int) -> bool:
    result = await conn.execute(delete(account_blocks).where(
        account_blocks.c.actor_id == actor_id, account_blocks.c.target_id == target_id))
    return bool(result.rowcount)


async def remove_block_by_uri(conn: AsyncConnection, uri: str, *, actor_id: int) -> bool:
    result = await conn.execute(delete(account_blocks).where(
        account_blocks.c.uri == uri, account_blocks.c.actor_id == actor_id))
    return bool(result.rowcount)


async def block_page(conn: AsyncConnection, actor_id: int, page: Page
                     ) -> list[tuple[int, int]]:
    """(block id, blocked account id), newest first."""
    q = select(account_blocks.c.id, account_blocks.c.target_id).where(
        account_blocks.c.actor_id == actor_id)
    rows = [(r[0], r[1]) for r in await conn.execute(paged(q, account_blocks.c.id, page))]
    return sorted(rows, reverse=True)


# -- mutes ------------------------------------------------------------------------------

async def set_mute(conn: AsyncConnection, actor_id: int, target_id: int, *,
                   notifications: bool, expires_at: datetime | None) -> None:
    existing = (await conn.execute(select(account_mutes.c.id).where(
        account_mutes.c.actor_id == actor_id, account_mutes.c.target_id == target_id))
    ).scalar_one_or_none()
    if existing is None:
        await conn.execute(account_mutes.insert().values(
            actor_id=actor_id, target_id=target_id, notifications=notifications,
            expires_at=expires_at, created_at=utcnow()))
    else:
        await conn.execute(update(account_mutes).where(account_mutes.c.id == existing)
                           .values(notifications=notifications, expires_at=expires_at))


async def remove_mute(conn: AsyncConnection, actor_id: int, target_id: int) -> bool:
    result = await conn.execute(delete(account_mutes).where(
        account_mutes.c.actor_id == actor_id, account_mutes.c.target_id == target_id))
    return bool(result.rowcount)


async def mute_page(conn: AsyncConnection, actor_id: int, page: Page
                    ) -> list[tuple[int, int, datetime | None]]:
    """(mute id, muted account id, end or None), newest first; ended mutes left out."""
    q = select(account_mutes.c.id, account_mutes.c.target_id,
               account_mutes.c.expires_at).where(account_mutes.c.actor_id == actor_id,
                                                 _not_expired(utcnow()))
    rows = [(r[0], r[1], r[2]) for r in await conn.execute(paged(q, account_mutes.c.id, page))]
    return sorted(rows, key=lambda r: -r[0])


async def mute_ends(conn: AsyncConnection, actor_id: int, target_ids: Sequence[int]
                    ) -> dict[int, datetime | None]:
    if not target_ids:
        return {}
    rows = await conn.execute(select(account_mutes.c.target_id, account_mutes.c.expires_at)
                              .where(account_mutes.c.actor_id == actor_id,
                                     account_mutes.c.target_id.in_(list(target_ids)),
                                     _not_expired(utcnow())))
    return {r[0]: r[1] for r in rows}


async def remove_expired_mutes(conn: AsyncConnection) -> int:
    result = await conn.execute(delete(account_mutes).where(
        account_mutes.c.expires_at.is_not(None), account_mutes.c.expires_at <= utcnow()))
    return int(result.rowcount or 0)


# -- a member's own domain blocks ------------------------------------------------------------

async def add_domain_block(conn: AsyncConnection, actor_id: int, domain: str) -> None:
    await conn.execute(insert_ignore(conn, account_domain_blocks, ["actor_id", "domain"])
                       .values(actor_id=actor_id, domain=domain, created_at=utcnow()))


async def remove_domain_block(conn: AsyncConnection, actor_id: int, domain: str) -> None:
    await conn.execute(delete(account_domain_blocks).where(
        account_domain_blocks.c.actor_id == actor_id, account_domain_blocks.c.domain == domain))


async def domain_block_page(conn: AsyncConnection, actor_id: int, page: Page
                            ) -> list[tuple[int, str]]:
    q = select(account_domain_blocks.c.id, account_domain_blocks.c.domain).where(
        account_domain_blocks.c.actor_id == actor_id)
    rows = [(r[0], r[1]) for r in await conn.execute(
        paged(q, account_domain_blocks.c.id, page))]
    return sorted(rows, reverse=True)


async def actors_on_domains(conn: AsyncConnection, domains: frozenset[str]) -> list[int]:
    """Accounts (remote) on any of ``domains`` (subdomains included)."""
    if not domains:
        return []
    rows = await conn.execute(select(actors.c.id).where(
        actors.c.local.is_(False), covered_by(actors.c.domain, domains)))
    return [r[0] for r in rows]
