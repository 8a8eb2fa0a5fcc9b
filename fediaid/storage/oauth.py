"""OAuth client applications and authorization codes (Mastodon client API).

Client secrets and codes are stored only as SHA-256 hex digests (like tokens)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.storage import push as push_repo
from fediaid.storage.tables import access_tokens, oauth_apps, oauth_codes
from fediaid.storage.types import utcnow
from fediaid.storage.users import digest


@dataclass(frozen=True)
class App:
    id: int
    client_id: str
    client_secret_hash: str
    name: str
    redirect_uris: list[str]
    scopes: list[str]
    website: str | None
    created_at: datetime


@dataclass(frozen=True)
class Code:
    app_id: int
    user_id: int
    redirect_uri: str
    scopes: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: datetime
    used_at: datetime | None


def _to_app(row: Any) -> App:
    return App(row.id, row.client_id, row.client_secret_hash, row.name,
               row.redirect_uris.split("\n"), row.scopes.split(), row.website, row.created_at)


async def create_app(conn: AsyncConnection, *, client_id: str, client_secret: str, name: str,
                     redirect_uris: list[str], scopes: list[str], website: str | None) -> App:
    app_id = (await conn.execute(oauth_apps.insert().values(
        client_id=client_id, client_secret_hash=digest(client_secret), name=name,
        redirect_uris="\n".join(redirect_uris), scopes=" ".join(scopes), website=website,
        created_at=utcnow()).returning(oauth_apps.c.id))).scalar_one()
    row = (await conn.execute(select(oauth_apps).where(oauth_apps.c.id == app_id))).one()
    return _to_app(row)


async def find_app(conn: AsyncConnection, client_id: str) -> App | None:
    row = (await conn.execute(select(oauth_apps).where(oauth_apps.c.client_id == client_id))
           ).first()
    return _to_app(row) if row else None


async def add_code(conn: AsyncConnection, *, code: str, app_id: int, user_id: int,
                   redirect_uri: str, scopes: str, code_challenge: str | None,
                   code_challenge_method: str | None, expires_at: datetime) -> None:
    await conn.execute(oauth_codes.insert().values(
        code_hash=digest(code), app_id=app_id, user_id=user_id, redirect_uri=redirect_uri,
        scopes=scopes, code_challenge=code_challenge,
        code_challenge_method=code_challenge_method, expires_at=expires_at))


async def find_code(conn: AsyncConnection, code: str) -> Code | None:
    row = (await conn.execute(select(oauth_codes).where(oauth_codes.c.code_hash == digest(code)))
           ).first()
    if row is None:
        return None
    return Code(row.app_id, row.user_id, row.redirect_uri, row.scopes, row.code_challenge,
                row.code_challenge_method, row.expires_at, row.used_at)


async def use_code(conn: AsyncConnection, code: str) -> bool:
    """Mark the code used; False if it already was (a concurrent exchange won)."""
    result = await conn.execute(
        update(oauth_codes).where(oauth_codes.c.code_hash == digest(code),
                                  oauth_codes.c.used_at.is_(None))
        .values(used_at=utcnow()))
    return bool(result.rowcount)


async def revoke_app_token(conn: AsyncConnection, *, app_id: int, token: str) -> bool:
    result = await conn.execute(
        update(access_tokens).where(access_tokens.c.token_hash == digest(token),
                                    access_tokens.c.app_id == app_id,
                                    access_tokens.c.revoked_at.is_(None))
        .values(revoked_at=utcnow()))
    if result.rowcount:  # its Web Push subscription goes with it
        await push_repo.delete_for_token(conn, digest(token))
    return bool(result.rowcount)
