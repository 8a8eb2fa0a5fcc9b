"""Who may do what: the roles (member, coordinator, admin) and the one permission table every
check asks (web pages, the JSON API, the client API, services). Pure: no I/O.

- A **member** posts, answers, reports, and reads the group's audit log.
- A **coordinator** also moderates, approves, records needs for neighbors (intake), sets the
  group's settings and domain rules, makes accounts and login links, and proposes or approves
  role changes between member and coordinator.
- An **admin** is a coordinator who can also change instance settings, grant or take away
  the admin role and change secure settings (whether role changes need a second coordinator).

Role changes wait for a second coordinator when the group wants that (``needs_second``); a
proposal expires after ``PROPOSAL_TTL``; nobody approves their own.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from fediaid.domain.actors import Role
from fediaid.i18n import N_

# Higher includes lower: an admin may do everything a coordinator may.
RANK: dict[Role, int] = {Role.MEMBER: 0, Role.COORDINATOR: 1, Role.ADMIN: 2}

PROPOSAL_TTL = timedelta(days=7)
# The group setting (in ``group_settings``): "1" on, "0" off, unset: on with 2+ coordinators.
ROLE_SETTING = "role_changes_need_second"


class Permission(enum.StrEnum):
    READ_AUDIT = "read_audit"  # the group's audit log
    COORDINATE = "coordinate"  # the coordinators' pages; who asked (anonymous, proxy posts)
    MODERATE = "moderate"  # reports, hiding and removing posts, limiting, suspending
    APPROVE = "approve"  # posts from outside the group, follow requests of the group
    INTAKE = "intake"  # record a need for a neighbor, open an intake record
    GROUP_SETTINGS = "group_settings"  # visibility, expiry, categories, neighborhoods
    DOMAINS = "domains"  # block, silence, the allow-list, shared blocklists
    ACCOUNTS = "accounts"  # make accounts and login links (resetting a login)
    CHANGE_ROLES = "change_roles"  # propose or approve member <-> coordinator
    GRANT_ADMIN = "grant_admin"  # any change that makes or unmakes an admin
    INSTANCE_SETTINGS = "instance_settings"  # allow-list mode, follow approval of the group
    SECURE_SETTINGS = "secure_settings"  # role_changes_need_second, login security


# The one table: the least role that may do each thing.
PERMISSIONS: dict[Permission, Role] = {
    Permission.READ_AUDIT: Role.MEMBER,
    Permission.COORDINATE: Role.COORDINATOR,
    Permission.MODERATE: Role.COORDINATOR,
    Permission.APPROVE: Role.COORDINATOR,
    Permission.INTAKE: Role.COORDINATOR,
    Permission.GROUP_SETTINGS: Role.COORDINATOR,
    Permission.DOMAINS: Role.COORDINATOR,
    Permission.ACCOUNTS: Role.COORDINATOR,
    Permission.CHANGE_ROLES: Role.COORDINATOR,
    Permission.GRANT_ADMIN: Role.ADMIN,
    Permission.INSTANCE_SETTINGS: Role.ADMIN,
    Permission.SECURE_SETTINGS: Role.ADMIN,
}

ROLE_WORDS: dict[Role, str] = {Role.MEMBER: N_("member"), Role.COORDINATOR: N_("coordinator"),
                               Role.ADMIN: N_("admin")}


def may(role: Role, permission: Permission) -> bool:
    """Whether someone with ``role`` may do ``permission``."""
    return RANK[role] >= RANK[PERMISSIONS[permission]]


def coordinates(role: Role) -> bool:
    """A coordinator or an admin (sees what coordinators see: who asked, intake records)."""
    return may(role, Permission.COORDINATE)


def refusal(permission: Permission) -> str:
    """Plain words for someone whose role may not do ``permission``."""
    if PERMISSIONS[permission] is Role.ADMIN:
        return N_("Only an admin can do that.")
    if PERMISSIONS[permission] is Role.COORDINATOR:
        return N_("Only coordinators can do that.")
    return N_("Only members of the group can do that.")


def change_permission(old: Role, new: Role) -> Permission:
    """What a role change from ``old`` to ``new`` needs."""
    return Permission.GRANT_ADMIN if Role.ADMIN in (old, new) else Permission.CHANGE_ROLES


def change_problem(by: Role | None, old: Role, new: Role, *, admins: int) -> str | None:
    """Plain words on why this role change may not be made (None: it may). ``by`` None is the
    server operator on the command line, who may make any change. ``admins``: how many
    admins there are now."""
    if old is new:
        return {Role.MEMBER: N_("They are already a member."),
                Role.COORDINATOR: N_("They are already a coordinator."),
                Role.ADMIN: N_("They are already an admin.")}[new]
    if by is not None and not may(by, change_permission(old, new)):
        return (N_("Only an admin can make someone an admin or change an admin's role.")
                if change_permission(old, new) is Permission.GRANT_ADMIN
                else N_("Only coordinators can change roles."))
    if old is Role.ADMIN and admins <= 1:
        return N_("They are the only admin: make someone else an admin first.")
    return None


def needs_second(setting: str | None, coordinators: int) -> bool:
    """Whether a role change by a coordinator waits for a second one. ``setting`` is the
    group setting ``role_changes_need_second`` ("1", "0", or None when never set: on when the
    group has more than one coordinator). With one coordinator nobody could approve, so the
    change applies at once."""
    if coordinators < 2:
        return False
    return setting != "0"


class ProposalState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


@dataclass(frozen=True)
class RoleProposal:
    id: int
    user_id: int
    username: str
    old_role: Role
    new_role: Role
    proposed_by: int
    proposer_name: str
    state: ProposalState
    created_at: datetime
    expires_at: datetime
    decided_by: int | None
    decided_at: datetime | None

    def is_pending(self, now: datetime) -> bool:
        return self.state is ProposalState.PENDING and now < self.expires_at


def decision_problem(proposal: RoleProposal, decider_id: int, decider: Role,
                     now: datetime, *, approve: bool) -> str | None:
    """Plain words on why ``decider`` may not approve (or reject) ``proposal`` (None: may).
    The proposer may take back (reject) their own proposal, never approve it."""
    if proposal.state is not ProposalState.PENDING:
        return N_("This change was already decided.")
    if now >= proposal.expires_at:
        return N_("This proposal has expired (after 7 days). Propose it again if it is still "
                  "wanted.")
    if approve and decider_id == proposal.proposed_by:
        return N_("Another coordinator has to approve a change you proposed.")
    if not may(decider, change_permission(proposal.old_role, proposal.new_role)):
        return (N_("Only an admin can approve a change that makes or unmakes an admin.")
                if change_permission(proposal.old_role, proposal.new_role)
                is Permission.GRANT_ADMIN else N_("Only coordinators can approve role changes."))
    return None
