"""The audit log and role proposals (tables ``audit_log``, ``role_proposals``).

``audit_log`` is append-only: this module inserts and reads, nothing else (the database
refuses UPDATE and DELETE on it as well, see migration 0012)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.actors import Role
from fediaid.domain.audit import AuditAction, AuditEntry
from fediaid.domain.roles import ProposalState, RoleProposal
from fediaid.storage.tables import audit_log, role_proposals, users
from fediaid.storage.types import utcnow


async def append(conn: AsyncConnection, *, actor_user_id: int | None, actor_label: str,
                 action: str, target_kind: str, target_id: str | None, summary: str,
                 detail: str | None, summary_words: str | None = None) -> int:
    return int((await conn.execute(audit_log.insert().values(
        created_at=utcnow(), actor_user_id=actor_user_id, actor_label=actor_label,
        action=action, target_kind=target_kind, target_id=target_id, summary=summary,
        detail=detail, summary_words=summary_words).returning(audit_log.c.id))).scalar_one())


def _action(value: str) -> AuditAction | str:
    try:
        return AuditAction(value)
    except ValueError:
        return value


def _entry(row: Any, *, with_detail: bool) -> AuditEntry:
    return AuditEntry(row.id, row.created_at, row.actor_user_id, row.actor_label,
                      _action(row.action), row.target_kind, row.target_id, row.summary,
                      row.detail if with_detail else None, row.summary_words)


async def page(conn: AsyncConnection, *, before_id: int | None, limit: int,
               with_detail: bool) -> list[AuditEntry]:
    """Newest first, below ``before_id``."""
    q = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if before_id is not None:
        q = q.where(audit_log.c.id < before_id)
    return [_entry(r, with_detail=with_detail) for r in await conn.execute(q)]


async def count(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(audit_log))).scalar_one())


# -- role proposals -------------------------------------------------------------------
def _proposal(row: Any) -> RoleProposal:
    return RoleProposal(row.id, row.user_id, row.username, Role(row.old_role),
                        Role(row.new_role), row.proposed_by, row.proposer_name,
                        ProposalState(row.state), row.created_at, row.expires_at,
                        row.decided_by, row.decided_at)


def _proposals() -> Any:
    target = users.alias("target")
    proposer = users.alias("proposer")
    return (select(role_proposals, target.c.username.label("username"),
                   proposer.c.username.label("proposer_name"))
            .select_from(role_proposals
                         .join(target, target.c.id == role_proposals.c.user_id)
                         .join(proposer, proposer.c.id == role_proposals.c.proposed_by)))


async def add_proposal(conn: AsyncConnection, *, user_id: int, old: Role, new: Role,
                       proposed_by: int, expires_at: datetime) -> RoleProposal:
    pid = (await conn.execute(role_proposals.insert().values(
        user_id=user_id, old_role=old.value, new_role=new.value, proposed_by=proposed_by,
        state=ProposalState.PENDING.value, created_at=utcnow(), expires_at=expires_at,
    ).returning(role_proposals.c.id))).scalar_one()
    found = await proposal(conn, int(pid))
    assert found is not None
    return found


async def proposal(conn: AsyncConnection, proposal_id: int) -> RoleProposal | None:
    row = (await conn.execute(_proposals().where(role_proposals.c.id == proposal_id))).first()
    return _proposal(row) if row else None


async def pending(conn: AsyncConnection, *, now: datetime,
                  user_id: int | None = None) -> list[RoleProposal]:
    q = _proposals().where(role_proposals.c.state == ProposalState.PENDING.value,
                           role_proposals.c.expires_at > now).order_by(role_proposals.c.id)
    if user_id is not None:
        q = q.where(role_proposals.c.user_id == user_id)
    return [_proposal(r) for r in await conn.execute(q)]


async def decide(conn: AsyncConnection, proposal_id: int, state: ProposalState, *,
                 by: int | None) -> bool:
    """Pending -> ``state``, once (False: someone decided it first)."""
    result = await conn.execute(
        update(role_proposals).where(role_proposals.c.id == proposal_id,
                                     role_proposals.c.state == ProposalState.PENDING.value)
        .values(state=state.value, decided_by=by, decided_at=utcnow()))
    return bool(result.rowcount)


async def expire(conn: AsyncConnection, *, now: datetime) -> int:
    result = await conn.execute(
        update(role_proposals).where(role_proposals.c.state == ProposalState.PENDING.value,
                                     role_proposals.c.expires_at <= now)
        .values(state=ProposalState.EXPIRED.value))
    return int(result.rowcount or 0)


# -- roles ------------------------------------------------------------------------------
async def set_role(conn: AsyncConnection, user_id: int, role: Role) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(role=role.value))


async def count_role(conn: AsyncConnection, *roles: Role) -> int:
    return int((await conn.execute(select(func.count()).select_from(users).where(
        users.c.role.in_([r.value for r in roles]), users.c.disabled.is_(False)))).scalar_one())


async def members(conn: AsyncConnection, *, after: str | None = None, search: str = "",
                  limit: int | None = None) -> list[tuple[int, str, Role, bool]]:
    """Accounts by name (id, name, role, disabled): those after the name ``after``, whose
    name contains ``search``, at most ``limit`` (a page: a group may have thousands)."""
    stmt = select(users.c.id, users.c.username, users.c.role,
                  users.c.disabled).order_by(users.c.username)
    if after is not None:
        stmt = stmt.where(users.c.username > after)
    if search:
        stmt = stmt.where(func.lower(users.c.username).contains(search.lower(),
                                                                 autoescape=True))
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = await conn.execute(stmt)
    return [(int(r.id), str(r.username), Role(r.role), bool(r.disabled)) for r in rows]
