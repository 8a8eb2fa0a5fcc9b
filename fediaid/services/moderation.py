"""Domain blocks and the group's follow policy."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from activitypub.vocab import is_http_uri
from fediaid.errors import Invalid
from fediaid.federation import render
from fediaid.services.outbox import enqueue, follower_inboxes
from fediaid.storage import actors as actors_repo
from fediaid.storage import domains as domains_repo

if TYPE_CHECKING:
    from fediaid.services.runtime import Runtime

log = logging.getLogger(__name__)


def _clean_domain(domain: str) -> str:
    d = domain.strip().lower()
    if not d or "/" in d or " " in d or is_http_uri(d):
        raise Invalid("Give a domain name like spam.example, without https://", field="domain")
    return d


BLOCKS_REFRESH_SECONDS = 2.0


class ModerationService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def refresh_blocks(self) -> None:
        async with self.rt.db.read() as conn:
            self.rt.blocked_domains = await domains_repo.blocked_domains(conn)

    async def keep_blocks_fresh(self, stop: asyncio.Event) -> None:
        """Re-read domain blocks every couple of seconds, so a block written by another
        process (the CLI, another server) applies quickly."""
        while not stop.is_set():
            try:
                await self.refresh_blocks()
            except Exception:  # a background loop: log and keep going
                log.exception("refreshing domain blocks failed")
            try:
                await asyncio.wait_for(stop.wait(), BLOCKS_REFRESH_SECONDS)
            except TimeoutError:
                pass

    async def block_domain(self, domain: str, *, reason: str | None = None) -> None:
        d = _clean_domain(domain)
        async with self.rt.db.write() as conn:
            await domains_repo.set_blocked(conn, d, True, reason)
        self.rt.blocked_domains.add(d)

    async def unblock_domain(self, domain: str) -> None:
        d = _clean_domain(domain)
        async with self.rt.db.write() as conn:
            await domains_repo.set_blocked(conn, d, False)
        self.rt.blocked_domains.discard(d)

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
