"""Domain blocks (through the federation policy) and the group's follow policy."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fediaid.domain.audit import AuditAction
from fediaid.domain.roles import Permission
from fediaid.domain.users import User
from fediaid.errors import Forbidden
from fediaid.i18n import N_
from fediaid.services.audit import record
from fediaid.services.core import Core, Service
from fediaid.storage import actors as actors_repo

if TYPE_CHECKING:
    from fediaid.services.federation_policy import FederationPolicy

log = logging.getLogger(__name__)


class ModerationService(Service):
    """Coordinators' moderation: domain rules (kept and enforced by the federation policy,
    ``fediaid/services/federation_policy.py``) and the group's follow policy."""

    def __init__(self, core: Core, *, policy: FederationPolicy) -> None:
        super().__init__(core)
        self.policy = policy

    async def block_domain(self, domain: str, *, reason: str | None = None,
                           by: User | None = None) -> tuple[int, int]:
        """Block (suspend) a domain: see ``FederationPolicy.block``. ``by``: who, for the
        audit log (None: the server operator)."""
        return await self.policy.block(domain, reason=reason, by=by)

    async def unblock_domain(self, domain: str, *, by: User | None = None) -> None:
        await self.policy.unblock(domain, by=by)

    async def set_follow_approval(self, required: bool, *, by: User | None = None) -> None:
        """Whether new follows of the group wait for a coordinator. Nothing is announced:
        the group's actor keeps ``manuallyApprovesFollowers: false`` either way (Lemmy would
        take a Group that says true for a private community; fediaid/federation/render.py),
        and a held Follow simply waits for the coordinator's Accept or Reject."""
        if by is not None and not by.may(Permission.INSTANCE_SETTINGS):
            raise Forbidden(N_("Only an admin can change that."))
        group = self.identity.group
        async with self.db.write() as conn:
            await actors_repo.set_manually_approves(conn, group.id, required)
            await record(conn, by, AuditAction.FOLLOW_APPROVAL, target_kind="setting",
                         target_id="follow_approval",
                         summary=N_("made new follows of the group wait for a coordinator")
                         if required else N_("let new follows of the group in without waiting"))
        await self.core.load_identity()
