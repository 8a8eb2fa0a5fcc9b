"""Remote domains: policy rules (blocked, silenced, allowed; allow-list mode) and delivery
health (Mastodon's DeliveryFailureTracker). The decisions are made by
``fediaid.domain.federation`` over the ``DomainRules`` read here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, false, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.federation import DomainRules, like_patterns
from fediaid.storage.dialect import insert_ignore
from fediaid.storage.tables import domains, group_settings
from fediaid.storage.types import utcnow


@dataclass(frozen=True)
class DomainHealth:
    domain: str
    failure_days: tuple[str, ...]
    unavailable: bool


async def _ensure(conn: AsyncConnection, domain: str) -> None:
    await conn.execute(
        insert_ignore(conn, domains, ["domain"]).values(
            domain=domain, blocked=False, silenced=False, allowed=False, failure_days="",
            unavailable=False, updated_at=utcnow()
        )
    )


ALLOW_LIST_KEY = "federation_allow_list"
SECURE_MODE_KEY = "secure_mode"


async def load_rules(conn: AsyncConnection) -> DomainRules:
    """Every domain rule and the allow-list mode, in one read."""
    rows = list(await conn.execute(
        select(domains.c.domain, domains.c.blocked, domains.c.silenced, domains.c.allowed,
               domains.c.unavailable)
        .where(domains.c.blocked.is_(True) | domains.c.silenced.is_(True)
               | domains.c.allowed.is_(True) | domains.c.unavailable.is_(True))
    ))
    mode = (await conn.execute(
        select(group_settings.c.value).where(group_settings.c.key == ALLOW_LIST_KEY)
    )).scalar_one_or_none()
    secure = (await conn.execute(
        select(group_settings.c.value).where(group_settings.c.key == SECURE_MODE_KEY)
    )).scalar_one_or_none()
    return DomainRules(
        suspended=frozenset(r.domain for r in rows if r.blocked),
        silenced=frozenset(r.domain for r in rows if r.silenced),
        allowed=frozenset(r.domain for r in rows if r.allowed),
        allow_list_mode=mode == "on",
        unavailable=frozenset(r.domain for r in rows if r.unavailable),
        secure_mode=secure == "on",
    )


async def set_secure_mode(conn: AsyncConnection, on: bool) -> None:
    await conn.execute(delete(group_settings).where(group_settings.c.key == SECURE_MODE_KEY))
    await conn.execute(group_settings.insert().values(key=SECURE_MODE_KEY,
                                                      value="on" if on else "off"))


async def set_allow_list_mode(conn: AsyncConnection, on: bool) -> None:
    await conn.execute(delete(group_settings).where(group_settings.c.key == ALLOW_LIST_KEY))
    await conn.execute(group_settings.insert().values(key=ALLOW_LIST_KEY,
                                                      value="on" if on else "off"))


async def set_rule(conn: AsyncConnection, domain: str, *, blocked: bool | None = None,
                   silenced: bool | None = None, allowed: bool | None = None,
                   reason: str | None = None) -> None:
    """Change one domain's rule (the arguments given; the others stay)."""
    await _ensure(conn, domain)
    values: dict[str, Any] = {"updated_at": utcnow()}
    if blocked is not None:
        values.update(blocked=blocked, block_reason=reason if blocked else None)
    if silenced is not None:
        values["silenced"] = silenced
    if allowed is not None:
        values["allowed"] = allowed
    await conn.execute(update(domains).where(domains.c.domain == domain).values(**values))


def covered_by(column: Any, rules: frozenset[str] | set[str] | list[str]) -> Any:
    """SQL: ``column`` (a ``host[:port]`` value, as in actors.domain and deliveries.domain)
    is covered by one of ``rules`` (the same coverage as domain.federation.matching_rule)."""
    conds: list[Any] = []
    for rule in sorted(rules):
        exact, patterns = like_patterns(rule)
        conds.append(column.in_(exact))
        conds.extend(column.like(p, escape="\\") for p in patterns)
    return or_(*conds) if conds else false()


async def unavailable_domains(conn: AsyncConnection) -> frozenset[str]:
    rows = await conn.execute(select(domains.c.domain).where(domains.c.unavailable.is_(True)))
    return frozenset(r[0] for r in rows)


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
