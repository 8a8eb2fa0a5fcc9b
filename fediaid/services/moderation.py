"""Domain blocks (through the federation policy) and the group's follow policy."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fediaid.storage import actors as actors_repo

if TYPE_CHECKING:
    from fediaid.services.runtime import Runtime

log = logging.getLogger(__name__)


class ModerationService:
    """Coordinators' moderation: domain rules (kept and enforced by the federation policy,
    ``fediaid/services/federation_policy.py``) and the group's follow policy."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def block_domain(self, domain: str, *, reason: str | None = None) -> tuple[int, int]:
        """Block (suspend) a domain: see ``FederationPolicy.block``."""
        return await self.rt.policy.block(domain, reason=reason)

    async def unblock_domain(self, domain: str) -> None:
        await self.rt.policy.unblock(domain)

    async def set_follow_approval(self, required: bool) -> None:
        """Whether new follows of the group wait for a coordinator. Nothing is announced:
        the group's actor keeps ``manuallyApprovesFollowers: false`` either way (Lemmy would
        take a Group that says true for a private community; fediaid/federation/render.py),
        and a held Follow simply waits for the coordinator's Accept or Reject."""
        group = self.rt.identity.group
        async with self.rt.db.write() as conn:
            await actors_repo.set_manually_approves(conn, group.id, required)
        await self.rt.load_identity()
