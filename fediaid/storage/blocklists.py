"""Domain rules as coordinators see and share them (reason, public comment, since when, the
subscribed list they came from), the group's blocklist settings, subscriptions to linked
groups' blocklists and their proposals. The rule flags themselves are written by
``storage/domains.set_rule`` through the federation policy service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.blocklists import Change, Current, Severity
from fediaid.storage.tables import (
    blocklist_proposals,
    blocklist_subscriptions,
    domains,
    group_settings,
)
from fediaid.storage.types import utcnow


@dataclass(frozen=True)
class RuleRow:
    domain: str
    severity: Severity  # suspend, silence, or noop (only on the allow-list)
    allowed: bool
    reason: str
    public_comment: str
    obfuscate: bool
    rule_at: datetime | None
    source_id: int | None

    @property
    def current(self) -> Current:
        return Current(self.severity, self.public_comment, self.source_id)


def _severity(row: Any) -> Severity:
    return (Severity.SUSPEND if row.blocked else Severity.SILENCE if row.silenced
            else Severity.NOOP)


async def rules(conn: AsyncConnection) -> list[RuleRow]:
    """Every domain with a rule (blocked, silenced or allowed), by name."""
    rows = await conn.execute(
        select(domains).where(domains.c.blocked.is_(True) | domains.c.silenced.is_(True)
                              | domains.c.allowed.is_(True)).order_by(domains.c.domain))
    return [RuleRow(r.domain, _severity(r), bool(r.allowed), r.block_reason or "",
                    r.public_comment or "", bool(r.obfuscate), r.rule_at, r.source_id)
            for r in rows]


async def set_details(conn: AsyncConnection, domain: str, *, reason: str | None = None,
                      public_comment: str | None = None, obfuscate: bool | None = None,
                      source_id: int | bool | None = False, touch: bool = True) -> None:
    """The words and origin of a domain's rule (the arguments given). ``source_id``: False
    leaves it, None clears it."""
    values: dict[str, Any] = {}
    if reason is not None:
        values["block_reason"] = reason or None
    if public_comment is not None:
        values["public_comment"] = public_comment or None
    if obfuscate is not None:
        values["obfuscate"] = obfuscate
    if source_id is not False:
        values["source_id"] = source_id
    if touch:
        values["rule_at"] = utcnow()
    if values:
        await conn.execute(update(domains).where(domains.c.domain == domain).values(**values))


# -- settings ----------------------------------------------------------------------------------

async def setting(conn: AsyncConnection, key: str) -> str | None:
    return (await conn.execute(select(group_settings.c.value)
                               .where(group_settings.c.key == key))).scalar_one_or_none()


async def set_setting(conn: AsyncConnection, key: str, value: str) -> None:
    await conn.execute(delete(group_settings).where(group_settings.c.key == key))
    await conn.execute(group_settings.insert().values(key=key, value=value))


# -- subscriptions -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Subscription:
    id: int
    url: str
    publisher: str | None
    created_at: datetime
    fetched_at: datetime | None
    last_error: str | None


def _subscription(r: Any) -> Subscription:
    return Subscription(r.id, r.url, r.publisher, r.created_at, r.fetched_at, r.last_error)


async def subscriptions(conn: AsyncConnection) -> list[Subscription]:
    rows = await conn.execute(select(blocklist_subscriptions)
                              .order_by(blocklist_subscriptions.c.id))
    return [_subscription(r) for r in rows]


async def subscription(conn: AsyncConnection, sub_id: int) -> Subscription | None:
    r = (await conn.execute(select(blocklist_subscriptions)
                            .where(blocklist_subscriptions.c.id == sub_id))).first()
    return _subscription(r) if r else None


async def subscription_by_url(conn: AsyncConnection, url: str) -> Subscription | None:
    r = (await conn.execute(select(blocklist_subscriptions)
                            .where(blocklist_subscriptions.c.url == url))).first()
    return _subscription(r) if r else None


async def add_subscription(conn: AsyncConnection, url: str, publisher: str | None) -> int:
    result = await conn.execute(blocklist_subscriptions.insert().values(
        url=url, publisher=publisher, created_at=utcnow()).returning(
        blocklist_subscriptions.c.id))
    return int(result.scalar_one())


async def remove_subscription(conn: AsyncConnection, sub_id: int) -> None:
    """Forget a subscription and its proposals; rules taken from it stay, as our own."""
    await conn.execute(update(domains).where(domains.c.source_id == sub_id)
                       .values(source_id=None))
    await conn.execute(delete(blocklist_proposals)
                       .where(blocklist_proposals.c.subscription_id == sub_id))
    await conn.execute(delete(blocklist_subscriptions)
                       .where(blocklist_subscriptions.c.id == sub_id))


async def record_fetch(conn: AsyncConnection, sub_id: int, *, error: str | None,
                       publisher: str | None = None) -> None:
    values: dict[str, Any] = {"fetched_at": utcnow(), "last_error": error}
    if publisher:
        values["publisher"] = publisher
    await conn.execute(update(blocklist_subscriptions)
                       .where(blocklist_subscriptions.c.id == sub_id).values(**values))


# -- proposals ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Proposal:
    id: int
    subscription_id: int
    domain: str
    change: Change
    severity: Severity
    comment: str
    dismissed: bool
    created_at: datetime


def _proposal(r: Any) -> Proposal:
    return Proposal(r.id, r.subscription_id, r.domain, Change(r.change), Severity(r.severity),
                    r.comment, bool(r.dismissed), r.created_at)


async def proposals(conn: AsyncConnection, *, sub_id: int | None = None,
                    pending_only: bool = True) -> list[Proposal]:
    q = select(blocklist_proposals).order_by(blocklist_proposals.c.domain,
                                             blocklist_proposals.c.id)
    if sub_id is not None:
        q = q.where(blocklist_proposals.c.subscription_id == sub_id)
    if pending_only:
        q = q.where(blocklist_proposals.c.dismissed.is_(False))
    return [_proposal(r) for r in await conn.execute(q)]


async def proposal(conn: AsyncConnection, proposal_id: int) -> Proposal | None:
    r = (await conn.execute(select(blocklist_proposals)
                            .where(blocklist_proposals.c.id == proposal_id))).first()
    return _proposal(r) if r else None


async def replace_proposals(conn: AsyncConnection, sub_id: int,
                            wanted: list[tuple[str, Change, Severity, str]]) -> int:
    """Make the subscription's proposals ``wanted`` (domain, change, severity, comment): a
    proposal that stays the same keeps its state (a dismissed one stays dismissed); a
    changed one is shown again; one no longer wanted is removed. Returns how many are new
    or shown again."""
    existing = {p.domain: p for p in await proposals(conn, sub_id=sub_id, pending_only=False)}
    keep = {w[0] for w in wanted}
    gone = [p.id for d, p in existing.items() if d not in keep]
    if gone:
        await conn.execute(delete(blocklist_proposals).where(blocklist_proposals.c.id.in_(gone)))
    fresh = 0
    for domain, change, severity, comment in wanted:
        old = existing.get(domain)
        if old is not None and (old.change, old.severity, old.comment) == (
                change, severity, comment):
            continue
        fresh += 1
        if old is not None:
            await conn.execute(update(blocklist_proposals)
                               .where(blocklist_proposals.c.id == old.id).values(
                change=change.value, severity=severity.value, comment=comment,
                dismissed=False, created_at=utcnow()))
        else:
            await conn.execute(blocklist_proposals.insert().values(
                subscription_id=sub_id, domain=domain, change=change.value,
                severity=severity.value, comment=comment, dismissed=False,
                created_at=utcnow()))
    return fresh


async def settle(conn: AsyncConnection, proposal_id: int, *, dismiss: bool) -> None:
    """An accepted proposal is removed (the next fetch finds nothing to propose); a
    dismissed one is kept, dismissed, so the same proposal is not shown again."""
    if dismiss:
        await conn.execute(update(blocklist_proposals)
                           .where(blocklist_proposals.c.id == proposal_id)
                           .values(dismissed=True))
    else:
        await conn.execute(delete(blocklist_proposals)
                           .where(blocklist_proposals.c.id == proposal_id))


async def pending_count(conn: AsyncConnection) -> int:
    from sqlalchemy import func

    return int((await conn.execute(select(func.count()).select_from(blocklist_proposals)
                                   .where(blocklist_proposals.c.dismissed.is_(False))))
               .scalar_one())
