"""Login attempts per key (an HMAC of an account name or an address), read and written in
the caller's write transaction. On PostgreSQL the rows are locked (``FOR UPDATE``) so
concurrent attempts from several processes count one after another; SQLite has one writer
at a time anyway."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, delete, select, update
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


async def add_hits(conn: AsyncConnection, key: str, hits: int, window_start: datetime,
                   window_end: datetime) -> int:
    """Add ``hits`` to a key's count in the window starting at ``window_start`` (a count
    from an earlier window starts again from zero) and return the new count: one atomic
    statement, so concurrent processes never lose a hit. Request limits
    (``fediaid/services/rate_limits.py``) keep their windows in the same table as login
    attempts: ``failures`` is the count, ``last_at`` the window's start, ``expires_at`` its
    end (``prune`` removes them then)."""
    stmt = upsert(conn, login_attempts, ["key"]).values(
        key=key, failures=hits, last_at=window_start, locked_until=None,
        expires_at=window_end)
    same_window = login_attempts.c.last_at == stmt.excluded.last_at
    stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={
        "failures": case((same_window, login_attempts.c.failures + stmt.excluded.failures),
                         else_=stmt.excluded.failures),
        "last_at": stmt.excluded.last_at,
        "locked_until": None,
        "expires_at": stmt.excluded.expires_at,
    }).returning(login_attempts.c.failures)
    return int((await conn.execute(stmt)).scalar_one())
