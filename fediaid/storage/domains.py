"""Remote domains: blocks and delivery health (Mastodon's DeliveryFailureTracker)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.storage.dialect import insert_ignore
from fediaid.storage.tables import domains
from fediaid.storage.types import utcnow


@dataclass(frozen=True)
class DomainHealth:
    domain: str
    failure_days: tuple[str, ...]
    unavailable: bool


async def _ensure(conn: AsyncConnection, domain: str) -> None:
    await conn.execute(
        insert_ignore(conn, domains, ["domain"]).values(
            domain=domain, blocked=False, failure_days="", unavailable=False,
            updated_at=utcnow()
        )
    )


async def blocked_domains(conn: AsyncConnection) -> set[str]:
    rows = await conn.execute(select(domains.c.domain).where(domains.c.blocked.is_(True)))
    return {r[0] for r in rows}


async def unavailable_domains(conn: AsyncConnection) -> frozenset[str]:
    rows = await conn.execute(select(domains.c.domain).where(domains.c.unavailable.is_(True)))
    return frozenset(r[0] for r in rows)


async def set_blocked(conn: AsyncConnection, domain: str, blocked: bool,
                      reason: str | None = None) -> None:
    await _ensure(conn, domain)
    await conn.execute(
        update(domains).where(domains.c.domain == domain)
        .values(blocked=blocked, block_reason=reason, updated_at=utcnow())
    )


async def record_failure(conn: AsyncConnection, domain: str, *, day: str,
                         unavailable_after_days: int) -> bool:
    """Add ``day`` to the domain's failure days. Returns True if the domain just became
    unavailable (failed on ``unavailable_after_days`` separate days)."""
    await _ensure(conn, domain)
    row = (await conn.execute(
        select(domains.c.failure_days, domains.c.unavailable).where(domains.c.domain == domain)
    )).one()
    days = [d for d in row.failure_days.split(",") if d]
    if day not in days:
        days.append(day)
    days = days[-30:]
    became = not row.unavailable and len(days) >= unavailable_after_days
    await conn.execute(
        update(domains).where(domains.c.domain == domain).values(
            failure_days=",".join(days), unavailable=row.unavailable or became,
            last_failure_at=utcnow(), updated_at=utcnow(),
        )
    )
    return became


async def record_success(conn: AsyncConnection, domain: str) -> bool:
    """Clear the failure history. Returns True if the domain was unavailable until now."""
    row = (await conn.execute(
        select(domains.c.unavailable, domains.c.failure_days).where(domains.c.domain == domain)
    )).first()
    if row is None:
        return False
    if row.failure_days or row.unavailable:
        await conn.execute(
            update(domains).where(domains.c.domain == domain).values(
                failure_days="", unavailable=False, last_success_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    return bool(row.unavailable)


async def health(conn: AsyncConnection, domain: str) -> DomainHealth | None:
    row = (await conn.execute(select(domains).where(domains.c.domain == domain))).first()
    if row is None:
        return None
    return DomainHealth(row.domain, tuple(d for d in row.failure_days.split(",") if d),
                        row.unavailable)


def utc_day(now: datetime | None = None) -> str:
    return (now or utcnow()).strftime("%Y-%m-%d")


async def clear_failures(conn: AsyncConnection, names: list[str]) -> list[str]:
    """Successful deliveries to ``names``: clear their failure history in one statement.
    Returns the domains that were marked unavailable until now."""
    if not names:
        return []
    rows = await conn.execute(
        select(domains.c.domain, domains.c.unavailable).where(
            domains.c.domain.in_(names),
            (domains.c.failure_days != "") | domains.c.unavailable.is_(True),
        )
    )
    found = list(rows)
    if found:
        await conn.execute(
            update(domains).where(domains.c.domain.in_([r.domain for r in found])).values(
                failure_days="", unavailable=False, last_success_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    return [r.domain for r in found if r.unavailable]
