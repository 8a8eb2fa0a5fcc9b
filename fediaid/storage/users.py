"""Local user accounts, one-time login links, web sessions and API tokens.

Secrets (tokens, link codes, session ids) are stored only as SHA-256 hex digests.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.actors import Role
from fediaid.domain.users import User
from fediaid.errors import NotFound
from fediaid.i18n import N_
from fediaid.storage import push as push_repo
from fediaid.storage.tables import access_tokens, login_links, oauth_codes, users, web_sessions
from fediaid.storage.types import utcnow


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _to_user(row: Any) -> User:
    return User(row.id, row.actor_id, row.username, Role(row.role), row.password_hash is not None,
                row.disabled, row.created_at, language=row.language, time_zone=row.time_zone)


async def create(conn: AsyncConnection, *, actor_id: int, username: str, role: Role) -> User:
    uid = (await conn.execute(
        users.insert().values(actor_id=actor_id, username=username, role=role.value,
                              disabled=False, created_at=utcnow()).returning(users.c.id)
    )).scalar_one()
    return await get(conn, uid)


async def get(conn: AsyncConnection, user_id: int) -> User:
    row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
    if row is None:
        raise NotFound(N_("No such user."))
    return _to_user(row)


async def find_by_actor(conn: AsyncConnection, actor_id: int) -> User | None:
    row = (await conn.execute(select(users).where(users.c.actor_id == actor_id))).first()
    return _to_user(row) if row else None


async def find_by_username(conn: AsyncConnection, username: str) -> User | None:
    row = (await conn.execute(select(users).where(users.c.username == username))).first()
    return _to_user(row) if row else None


async def find_with_password_hash(conn: AsyncConnection, username: str
                                  ) -> tuple[User, str | None] | None:
    """The user named ``username`` and their stored password hash, in one query."""
    row = (await conn.execute(select(users).where(users.c.username == username))).first()
    return (_to_user(row), row.password_hash) if row else None


async def password_hash(conn: AsyncConnection, user_id: int) -> str | None:
    return (await conn.execute(
        select(users.c.password_hash).where(users.c.id == user_id))).scalar_one_or_none()


async def set_password_hash(conn: AsyncConnection, user_id: int, value: str) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(password_hash=value))


async def count(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(users))).scalar_one())


async def active_since(conn: AsyncConnection, *, days: int) -> int:
    """Users who logged in or used an API token in the last ``days`` days."""
    since = utcnow() - timedelta(days=days)
    sessions = select(web_sessions.c.user_id).where(web_sessions.c.created_at >= since)
    tokens = select(access_tokens.c.user_id).where(access_tokens.c.last_used_at >= since,
                                                   access_tokens.c.user_id.is_not(None))
    q = select(func.count()).select_from(sessions.union(tokens).subquery())
    return int((await conn.execute(q)).scalar_one())


async def add_login_link(conn: AsyncConnection, *, user_id: int, secret: str,
                         ttl: timedelta) -> None:
    await conn.execute(login_links.insert().values(
        token_hash=digest(secret), user_id=user_id, expires_at=utcnow() + ttl))


async def use_login_link(conn: AsyncConnection, secret: str) -> int | None:
    """Consume a login link; returns its user id, or None if unknown, used or expired."""
    now = utcnow()
    result = await conn.execute(
        update(login_links)
        .where(login_links.c.token_hash == digest(secret), login_links.c.used_at.is_(None),
               login_links.c.expires_at > now)
        .values(used_at=now)
        .returning(login_links.c.user_id)
    )
    row = result.first()
    return int(row[0]) if row else None


async def add_session(conn: AsyncConnection, *, user_id: int, secret: str, ttl: timedelta
                      ) -> None:
    now = utcnow()
    await conn.execute(web_sessions.insert().values(
        token_hash=digest(secret), user_id=user_id, created_at=now, expires_at=now + ttl))


async def session_user(conn: AsyncConnection, secret: str) -> User | None:
    row = (await conn.execute(
        select(users).select_from(web_sessions.join(users, users.c.id == web_sessions.c.user_id))
        .where(web_sessions.c.token_hash == digest(secret), web_sessions.c.expires_at > utcnow(),
               users.c.disabled.is_(False))
    )).first()
    return _to_user(row) if row else None


async def end_session(conn: AsyncConnection, secret: str) -> None:
    await conn.execute(delete(web_sessions).where(web_sessions.c.token_hash == digest(secret)))


async def end_other_sessions(conn: AsyncConnection, user_id: int, *, keep: str | None) -> None:
    """End the user's web sessions but ``keep`` (after a password change)."""
    q = delete(web_sessions).where(web_sessions.c.user_id == user_id)
    if keep:
        q = q.where(web_sessions.c.token_hash != digest(keep))
    await conn.execute(q)


async def revoke_all_tokens(conn: AsyncConnection, user_id: int) -> None:
    """Revoke every API and OAuth token of the user, and void unused authorization codes
    (which would become tokens)."""
    now = utcnow()
    await conn.execute(update(access_tokens).where(access_tokens.c.user_id == user_id,
                                                   access_tokens.c.revoked_at.is_(None))
                       .values(revoked_at=now))
    await push_repo.delete_for_user(conn, user_id)  # a revoked token's Web Push goes too
    await conn.execute(update(oauth_codes).where(oauth_codes.c.user_id == user_id,
                                                 oauth_codes.c.used_at.is_(None))
                       .values(used_at=now))


async def add_token(conn: AsyncConnection, *, user_id: int | None, secret: str, scopes: str,
                    name: str | None, app_id: int | None = None) -> None:
    """``user_id`` None: an app-only token (OAuth client_credentials), acting for no user."""
    await conn.execute(access_tokens.insert().values(
        token_hash=digest(secret), user_id=user_id, scopes=scopes, name=name, app_id=app_id,
        created_at=utcnow()))


async def token_user(conn: AsyncConnection, secret: str) -> tuple[User | None, str] | None:
    """The token's user (None for an app-only token) and scopes; None if unknown, revoked or
    its user is disabled."""
    row = (await conn.execute(
        select(users, access_tokens.c.scopes, access_tokens.c.user_id.label("token_user_id"))
        .select_from(access_tokens.outerjoin(users, users.c.id == access_tokens.c.user_id))
        .where(access_tokens.c.token_hash == digest(secret), access_tokens.c.revoked_at.is_(None))
    )).first()
    if row is None:
        return None
    if row.token_user_id is None:
        return None, row.scopes
    if row.disabled:
        return None
    return _to_user(row), row.scopes


async def revoke_token(conn: AsyncConnection, secret: str) -> bool:
    result = await conn.execute(
        update(access_tokens).where(access_tokens.c.token_hash == digest(secret),
                                    access_tokens.c.revoked_at.is_(None))
        .values(revoked_at=utcnow()))
    await push_repo.delete_for_token(conn, digest(secret))
    return bool(result.rowcount)


async def coordinator_needing_password(conn: AsyncConnection) -> str | None:
    rows = (await conn.execute(
        select(users.c.username, users.c.password_hash)
        .where(users.c.role.in_([Role.COORDINATOR.value, Role.ADMIN.value]),
               users.c.disabled.is_(False))
        .order_by(users.c.id)
    )).all()
    if not rows or any(r.password_hash for r in rows):
        return None
    return str(rows[0].username)


async def set_reading(conn: AsyncConnection, user_id: int, *, language: str | None,
                      time_zone: str | None) -> None:
    await conn.execute(update(users).where(users.c.id == user_id)
                       .values(language=language, time_zone=time_zone))


async def weekly_cap(conn: AsyncConnection, user_id: int) -> int | None:
    value = (await conn.execute(select(users.c.weekly_response_cap).where(users.c.id == user_id))
             ).scalar_one_or_none()
    return int(value) if value is not None else None


async def set_weekly_cap(conn: AsyncConnection, user_id: int, cap: int | None) -> None:
    await conn.execute(update(users).where(users.c.id == user_id)
                       .values(weekly_response_cap=cap))
