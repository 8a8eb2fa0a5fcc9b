"""TOTP secrets and recovery codes per user (fediaid/services/two_factor.py), and the
group setting that requires two-factor login of coordinators."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.storage.tables import group_settings, recovery_codes, two_factor

REQUIRED_KEY = "require_two_factor"


async def find(conn: AsyncConnection, user_id: int) -> tuple[str, bool] | None:
    """The stored (encrypted) secret and whether enrolment was confirmed."""
    row = (await conn.execute(select(two_factor.c.secret, two_factor.c.confirmed_at).where(
        two_factor.c.user_id == user_id))).first()
    return (row.secret, row.confirmed_at is not None) if row else None


async def start(conn: AsyncConnection, user_id: int, secret: str) -> None:
    """A new, unconfirmed secret (replacing an unconfirmed one)."""
    await conn.execute(delete(two_factor).where(and_(two_factor.c.user_id == user_id,
                                                     two_factor.c.confirmed_at.is_(None))))
    await conn.execute(two_factor.insert().values(user_id=user_id, secret=secret))


async def confirm(conn: AsyncConnection, user_id: int, now: datetime, step: int,
                  code_hashes: list[str]) -> None:
    await conn.execute(update(two_factor).where(two_factor.c.user_id == user_id).values(
        confirmed_at=now, last_step=step))
    await replace_codes(conn, user_id, code_hashes)


async def replace_codes(conn: AsyncConnection, user_id: int, code_hashes: list[str]) -> None:
    await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
    await conn.execute(recovery_codes.insert(), [
        {"user_id": user_id, "code_hash": h} for h in code_hashes])


async def use_step(conn: AsyncConnection, user_id: int, step: int) -> bool:
    """Record ``step`` as used if it is later than the last one used (atomic: two
    processes cannot both accept one code)."""
    result = await conn.execute(update(two_factor).where(and_(
        two_factor.c.user_id == user_id, two_factor.c.confirmed_at.is_not(None),
        or_(two_factor.c.last_step.is_(None), two_factor.c.last_step < step))).values(
        last_step=step))
    return bool(result.rowcount)


async def use_recovery_code(conn: AsyncConnection, user_id: int, code_hash: str,
                            now: datetime) -> bool:
    result = await conn.execute(update(recovery_codes).where(and_(
        recovery_codes.c.user_id == user_id, recovery_codes.c.code_hash == code_hash,
        recovery_codes.c.used_at.is_(None))).values(used_at=now))
    return bool(result.rowcount)


async def codes_left(conn: AsyncConnection, user_id: int) -> int:
    rows = await conn.execute(select(recovery_codes.c.id).where(and_(
        recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None))))
    return len(rows.all())


async def remove(conn: AsyncConnection, user_id: int) -> None:
    await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
    await conn.execute(delete(two_factor).where(two_factor.c.user_id == user_id))


async def required(conn: AsyncConnection) -> bool:
    value = (await conn.execute(select(group_settings.c.value).where(
        group_settings.c.key == REQUIRED_KEY))).scalar_one_or_none()
    return value == "1"


async def set_required(conn: AsyncConnection, value: bool) -> None:
    await conn.execute(delete(group_settings).where(group_settings.c.key == REQUIRED_KEY))
    await conn.execute(group_settings.insert().values(key=REQUIRED_KEY,
                                                      value="1" if value else "0"))
