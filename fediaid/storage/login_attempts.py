"""Login attempts per key (an HMAC of an account name or an address), read and written in
the caller's write transaction. On PostgreSQL the rows are locked (``FOR UPDATE``) so
concurrent attempts from several processes count one after another; SQLite has one writer
at a time anyway."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.login_limits import Attempts
from fediaid.storage.dialect import insert_ignore, is_postgres, upsert
from fediaid.storage.tables import login_attempts


async def lock_rows(conn: AsyncConnection, keys: list[str], now: datetime
                    ) -> dict[str, Attempts]:
    """The keys' attempts (failures 0 for a key not seen yet), their rows locked until the
    transaction ends."""
    keys = sorted(set(keys))  # one order for every process: no deadlocks
    await conn.execute(insert_ignore(conn, login_attempts, ["key"]), [
        {"key": k, "failures": 0, "last_at": now, "locked_until": None, "expires_at": now}
        for k in keys])
    q = select(login_attempts).where(login_attempts.c.key.in_(keys)).order_by(
        login_attempts.c.key)
    if is_postgres(conn):
        q = q.with_for_update()
    rows = (await conn.execute(q)).all()
    return {r.key: Attempts(r.failures, r.last_at, r.locked_until) for r in rows}


async def save(conn: AsyncConnection, key: str, attempts: Attempts, expires_at: datetime
               ) -> None:
    await conn.execute(update(login_attempts).where(login_attempts.c.key == key).values(
        failures=attempts.failures, last_at=attempts.last_at,
        locked_until=attempts.locked_until, expires_at=expires_at))


async def forget(conn: AsyncConnection, key: str) -> None:
    await conn.execute(delete(login_attempts).where(login_attempts.c.key == key))


async def prune(conn: AsyncConnection, now: datetime) -> int:
    """Delete attempts that are forgotten anyway."""
    result = await conn.execute(delete(login_attempts).where(
        login_attempts.c.expires_at <= now))
    return int(result.rowcount or 0)


async def add_hits(conn: AsyncConnection, key: str, hits: int, slice_start: datetime,
                   forgotten_at: datetime, earlier: list[str]) -> list[int]:
    """Add ``hits`` to the count of a request limit's slice (``key`` names the subject and
    the slice) and return the new count followed by the counts of the ``earlier`` slices'
    keys (0 for a slice without hits): one atomic statement, so concurrent processes never
    lose a hit and the counting costs what it did with one fixed window. Request limits
    (``fediaid/services/rate_limits.py``) keep their slices in the same table as login
    attempts: ``failures`` is the count, ``last_at`` the slice's start, ``expires_at`` when
    it stops being counted (``prune`` removes it then)."""
    stmt = upsert(conn, login_attempts, ["key"]).values(
        key=key, failures=hits, last_at=slice_start, locked_until=None,
        expires_at=forgotten_at)
    other = login_attempts.alias("earlier")
    stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={
        "failures": login_attempts.c.failures + stmt.excluded.failures,
    }).returning(login_attempts.c.failures, *(
        select(other.c.failures).where(other.c.key == k).scalar_subquery() for k in earlier))
    row = (await conn.execute(stmt)).one()
    return [int(n or 0) for n in row]
