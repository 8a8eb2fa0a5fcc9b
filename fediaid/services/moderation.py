"""Domain blocks (through the federation policy) and the group's follow policy."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fediaid.federation import render
from fediaid.services.outbox import enqueue, follower_inboxes
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
        """Whether new follows of the group wait for a coordinator; the change is announced
        to followers with an Update of the group actor."""
        group = self.rt.identity.group
        async with self.rt.db.write() as conn:
            await actors_repo.set_manually_approves(conn, group.id, required)
            updated = await actors_repo.get_by_id(conn, group.id)
            doc = render.actor_document(updated)
            activity = {"@context": doc["@context"], "id": self.rt.urls.new_activity(),
                        "type": "Update", "actor": group.uri, "object":
                        {k: v for k, v in doc.items() if k != "@context"},
                        "to": ["https://www.w3.org/ns/activitystreams#Public"]}
            await enqueue(conn, self.rt, actor=updated, activity=activity,
                          inboxes=await follower_inboxes(conn, updated), public=True)
        await self.rt.load_identity()
