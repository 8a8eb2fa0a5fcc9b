"""Invitation links and requests to join (fediaid/services/joining.py). Invitation secrets
are stored only as SHA-256 digests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.storage.tables import invitations, join_requests, users
from fediaid.storage.users import digest


@dataclass(frozen=True)
class Invitation:
    id: int
    note: str | None
    max_uses: int
    uses_left: int
    created_by: int | None
    creator_name: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and self.uses_left > 0 and now < self.expires_at


@dataclass(frozen=True)
class JoinRequest:
    id: int
    name: str
    message: str | None
    contact: str | None
    state: str
    created_at: datetime


def _invitation(row: Any) -> Invitation:
    return Invitation(id=row.id, note=row.note, max_uses=row.max_uses, uses_left=row.uses_left,
                      created_by=row.created_by, creator_name=row.username,
                      created_at=row.created_at, expires_at=row.expires_at,
                      revoked_at=row.revoked_at)


def _invitations_query() -> Any:
    return (select(invitations, users.c.username)
            .select_from(invitations.outerjoin(users, users.c.id == invitations.c.created_by)))


async def add_invitation(conn: AsyncConnection, *, secret: str, note: str | None, uses: int,
                         created_by: int | None, now: datetime, expires_at: datetime) -> int:
    result = await conn.execute(insert(invitations).values(
        token_hash=digest(secret), note=note, max_uses=uses, uses_left=uses,
        created_by=created_by, created_at=now, expires_at=expires_at))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def find_invitation(conn: AsyncConnection, secret: str) -> Invitation | None:
    row = (await conn.execute(_invitations_query().where(
        invitations.c.token_hash == digest(secret)))).first()
    return _invitation(row) if row else None


async def invitation_list(conn: AsyncConnection, *, limit: int = 100) -> list[Invitation]:
    rows = await conn.execute(_invitations_query().order_by(invitations.c.id.desc())
                              .limit(limit))
    return [_invitation(r) for r in rows]


async def use_invitation(conn: AsyncConnection, secret: str, now: datetime) -> int | None:
    """Take one use of a valid invitation (atomically: two joins at once cannot both take
    the last use). Its id, or None when it is unknown, used up, expired or revoked."""
    result = await conn.execute(
        update(invitations)
        .where(invitations.c.token_hash == digest(secret), invitations.c.uses_left > 0,
               invitations.c.expires_at > now, invitations.c.revoked_at.is_(None))
        .values(uses_left=invitations.c.uses_left - 1)
        .returning(invitations.c.id))
    row = result.first()
    return int(row[0]) if row else None


async def revoke_invitation(conn: AsyncConnection, invitation_id: int, now: datetime) -> bool:
    result = await conn.execute(
        update(invitations).where(invitations.c.id == invitation_id,
                                  invitations.c.revoked_at.is_(None))
        .values(revoked_at=now))
    return bool(result.rowcount)


async def add_request(conn: AsyncConnection, *, name: str, message: str | None,
                      contact: str | None, now: datetime) -> int:
    result = await conn.execute(insert(join_requests).values(
        name=name, message=message, contact=contact, state="pending", created_at=now))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def pending_requests(conn: AsyncConnection, *, limit: int = 200) -> list[JoinRequest]:
    rows = await conn.execute(
        select(join_requests).where(join_requests.c.state == "pending")
        .order_by(join_requests.c.id).limit(limit))
    return [JoinRequest(id=r.id, name=r.name, message=r.message, contact=r.contact,
                        state=r.state, created_at=r.created_at) for r in rows]


async def count_pending(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(join_requests).where(
        join_requests.c.state == "pending"))).scalar_one())


async def decide_request(conn: AsyncConnection, request_id: int, *, state: str, by: int,
                         now: datetime, user_id: int | None) -> JoinRequest | None:
    """Mark a pending request decided (and forget the message and how to reach them).
    What it was, or None when it is unknown or decided already."""
    row = (await conn.execute(select(join_requests).where(
        join_requests.c.id == request_id, join_requests.c.state == "pending"))).first()
    if row is None:
        return None
    result = await conn.execute(
        update(join_requests).where(join_requests.c.id == request_id,
                                    join_requests.c.state == "pending")
        .values(state=state, decided_by=by, decided_at=now, user_id=user_id, message=None,
                contact=None))
    if not result.rowcount:
        return None
    return JoinRequest(id=row.id, name=row.name, message=row.message, contact=row.contact,
                       state=state, created_at=row.created_at)


async def member_details(conn: AsyncConnection, ids: list[int]
                         ) -> dict[int, tuple[bool, int | None]]:
    """Per account of ``ids``: whether it has a password, and the member's own weekly
    cap."""
    rows = await conn.execute(select(users.c.id, users.c.password_hash.is_not(None),
                                     users.c.weekly_response_cap).where(users.c.id.in_(ids)))
    return {int(r[0]): (bool(r[1]), r[2]) for r in rows}
