"""Publishing: an activity and its deliveries are written in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.actors import Actor
from fediaid.federation import render
from fediaid.services.core import Core, Service
from fediaid.storage import follows as follows_repo
from fediaid.storage import outbox as outbox_repo
from fediaid.storage import relationships as relationships_repo

if TYPE_CHECKING:
    from fediaid.services.federation_policy import FederationPolicy


class Outbox(Service):
    """Publishing: an activity and its deliveries, in the caller's transaction."""

    def __init__(self, core: Core, *, policy: FederationPolicy) -> None:
        super().__init__(core)
        self.policy = policy

    async def enqueue(self, conn: AsyncConnection, *, actor: Actor, activity: dict[str, Any],
                      inboxes: Iterable[str], object_uri: str | None = None,
                      public: bool = False) -> int:
        """Store ``activity`` (published by local ``actor``) and one delivery per distinct
        inbox, inside ``conn``'s transaction. Workers are woken after the caller commits.
        The federation policy decides per inbox: nothing is queued for a blocked domain (or,
        in allow-list mode, one not on the list); a domain marked unavailable gets its copy
        queued held."""
        activity_id = await outbox_repo.add_activity(
            conn, uri=activity["id"], actor_id=actor.id, type_=activity["type"],
            object_uri=object_uri, public=public, payload=activity,
        )
        targets, held = await self.policy.delivery_plan(
            conn, [i for i in inboxes if i and not self.urls.is_local(i)])
        await outbox_repo.add_deliveries(conn, activity_id, targets, held_domains=held)
        self.signals.delivery_wakeup.set()
        return activity_id

    async def actor_updated(self, conn: AsyncConnection, actor: Actor) -> None:
        """Queue ``Update`` of local ``actor`` (its whole document, as stored now) to every
        server that knows it, as Mastodon sends profile changes: its followers' and those of
        the accounts it follows. A member's profile edit and the group's profile both
        use this."""
        inboxes = list(dict.fromkeys([
            *await follower_inboxes(conn, actor),
            *await relationships_repo.followed_inboxes(conn, actor.id)]))
        if inboxes:
            await self.enqueue(conn, actor=actor,
                               activity=render.update_actor(self.urls.new_activity(), actor),
                               inboxes=inboxes, object_uri=actor.uri)


async def follower_inboxes(conn: AsyncConnection, actor: Actor) -> list[str]:
    return await follows_repo.follower_inboxes(conn, actor.id)
