"""Roles: who is a member, a coordinator or an admin, and changing that.

A coordinator's role change waits for a second coordinator when the group has more than one
and the group setting ``role_changes_need_second`` is not off (``fediaid.domain.roles``);
another coordinator approves or rejects it on the members page; proposals expire after 7
days. The server operator (``fediaid admin role``) changes roles at once. Every step is in
the audit log, in its own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fediaid.domain.actors import Role
from fediaid.domain.audit import AuditAction
from fediaid.domain.roles import (
    PROPOSAL_TTL,
    ROLE_SETTING,
    Permission,
    ProposalState,
    RoleProposal,
    change_problem,
    decision_problem,
    needs_second,
)
from fediaid.domain.users import User
from fediaid.errors import Conflict, Forbidden, Invalid, NotFound
from fediaid.i18n import N_, Message
from fediaid.services.audit import record
from fediaid.services.core import Core, Service
from fediaid.storage import audit as repo
from fediaid.storage import posts as posts_repo
from fediaid.storage import users as users_repo
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection



def _a(role: Role) -> str:
    """"a member", "a coordinator", "an admin" (marked words, inside the log's words)."""
    return Message({Role.MEMBER: N_("a member"), Role.COORDINATOR: N_("a coordinator"),
                    Role.ADMIN: N_("an admin")}[role], {})


def parse_role(value: object) -> Role:
    for role in Role:
        if role.value == value:
            return role
    raise Invalid(N_("Choose member, coordinator or admin."), field="role")


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    role: Role
    disabled: bool


@dataclass(frozen=True)
class Change:
    """What a role change did: applied at once, or proposed (waiting for a second)."""

    applied: bool
    proposal: RoleProposal | None = None


class RoleService(Service):
    def __init__(self, core: Core) -> None:
        super().__init__(core)

    @staticmethod
    def _require(user: User, permission: Permission = Permission.CHANGE_ROLES) -> None:
        if not user.may(permission):
            raise Forbidden(N_("Only coordinators can see and change roles."))

    async def accounts(self, user: User, *, after: str | None = None, search: str = "",
                       limit: int | None = None) -> list[Account]:
        """Accounts by name: after ``after``, containing ``search``, at most ``limit``."""
        self._require(user)
        async with self.db.read() as conn:
            return [Account(*row) for row in await repo.members(
                conn, after=after, search=search, limit=limit)]

    async def pending(self, user: User) -> list[RoleProposal]:
        self._require(user)
        async with self.db.read() as conn:
            return await repo.pending(conn, now=utcnow())

    async def second_needed(self) -> bool:
        """Whether a coordinator's role change waits for another one, now."""
        async with self.db.read() as conn:
            return await self._second_needed(conn)

    async def setting(self) -> str | None:
        """The group setting as stored ("1", "0"), None while never set."""
        async with self.db.read() as conn:
            return (await posts_repo.settings(conn)).get(ROLE_SETTING)

    @staticmethod
    async def _second_needed(conn: AsyncConnection) -> bool:
        setting = (await posts_repo.settings(conn)).get(ROLE_SETTING)
        return needs_second(setting, await repo.count_role(conn, Role.COORDINATOR, Role.ADMIN))

    async def change(self, by: User | None, username: str, new: Role) -> Change:
        """Change ``username``'s role to ``new``: at once for the operator (``by`` None) or a
        coordinator when no second one is needed, else a proposal for another coordinator."""
        if by is not None:
            self._require(by)
        async with self.db.write() as conn:
            target = await users_repo.find_by_username(conn, username)
            if target is None:
                raise NotFound(N_("There is no account called {name}.", name=username))
            problem = change_problem(by.role if by else None, target.role, new,
                                     admins=await repo.count_role(conn, Role.ADMIN))
            if problem:
                raise Invalid(problem, field="role")
            if by is not None and await self._second_needed(conn):
                if await repo.pending(conn, now=utcnow(), user_id=target.id):
                    raise Conflict(N_("A change of {name}'s role is already waiting for a "
                                      "second coordinator.", name=username))
                proposal = await repo.add_proposal(
                    conn, user_id=target.id, old=target.role, new=new, proposed_by=by.id,
                    expires_at=utcnow() + PROPOSAL_TTL)
                await record(conn, by, AuditAction.ROLE_PROPOSED, target_kind="account",
                             target_id=target.id,
                             summary=N_("proposed making {name} {new} (now {old}); it waits "
                                        "for a second coordinator", name=username, new=_a(new),
                                        old=_a(target.role)))
                return Change(applied=False, proposal=proposal)
            await repo.set_role(conn, target.id, new)
            await record(conn, by, AuditAction.ROLE_CHANGED, target_kind="account",
                         target_id=target.id,
                         summary=N_("made {name} {new} (was {old})", name=username,
                                    new=_a(new), old=_a(target.role)))
        return Change(applied=True)

    async def decide(self, by: User, proposal_id: int, *, approve: bool) -> RoleProposal:
        """Another coordinator approves (the change applies) or rejects a proposal; the
        proposer may reject (take back) their own, never approve it."""
        self._require(by)
        now = utcnow()
        async with self.db.write() as conn:
            proposal = await repo.proposal(conn, proposal_id)
            if proposal is None:
                raise NotFound(N_("No such role change."))
            problem = decision_problem(proposal, by.id, by.role, now, approve=approve)
            if problem:
                raise Forbidden(problem) if approve and by.id == proposal.proposed_by \
                    else Invalid(problem, field="proposal")
            target = await users_repo.get(conn, proposal.user_id)
            if approve:
                if target.role is not proposal.old_role:
                    raise Conflict(N_("{name}'s role changed since this was proposed: reject "
                                      "it and propose again.", name=target.username))
                problem = change_problem(by.role, target.role, proposal.new_role,
                                         admins=await repo.count_role(conn, Role.ADMIN))
                if problem:
                    raise Invalid(problem, field="proposal")
            if not await repo.decide(conn, proposal.id, ProposalState.APPROVED if approve
                                     else ProposalState.REJECTED, by=by.id):
                raise Conflict(N_("This change was already decided."))
            name, new = target.username, _a(proposal.new_role)
            if approve:
                await repo.set_role(conn, target.id, proposal.new_role)
                await record(conn, by, AuditAction.ROLE_CHANGED, target_kind="account",
                             target_id=target.id,
                             summary=N_("approved {who}'s proposal of making {name} {new} (was "
                                        "{old})", who=proposal.proposer_name, name=name,
                                        new=new, old=_a(proposal.old_role)))
            else:
                mine = by.id == proposal.proposed_by
                await record(conn, by, AuditAction.ROLE_REJECTED, target_kind="account",
                             target_id=target.id,
                             summary=N_("took back their proposal of making {name} {new}",
                                        name=name, new=new) if mine else
                             N_("rejected {who}'s proposal of making {name} {new}",
                                who=proposal.proposer_name, name=name, new=new))
            found = await repo.proposal(conn, proposal.id)
        assert found is not None
        return found

    async def expire(self) -> int:
        """Mark proposals older than 7 days expired (they are refused either way)."""
        async with self.db.write() as conn:
            return await repo.expire(conn, now=utcnow())
