"""Publishing: an activity and its deliveries are written in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.actors import Actor
from fediaid.storage import follows as follows_repo
from fediaid.storage import outbox as outbox_repo

if TYPE_CHECKING:
    from fediaid.services.runtime import Runtime


async def enqueue(
    conn: AsyncConnection,
    rt: Runtime,
    *,
    actor: Actor,
    activity: dict[str, Any],
    inboxes: Iterable[str],
    object_uri: str | None = None,
    public: bool = False,
) -> int:
    """Store ``activity`` (published by local ``actor``) and one delivery per distinct inbox,
    inside ``conn``'s transaction. Workers are woken after the caller commits. The federation
    policy decides per inbox: nothing is queued for a blocked domain (or, in allow-list
    mode, one not on the list); a domain marked unavailable gets its copy queued held."""
    activity_id = await outbox_repo.add_activity(
        conn, uri=activity["id"], actor_id=actor.id, type_=activity["type"],
        object_uri=object_uri, public=public, payload=activity,
    )
    own = rt.urls
    targets, held = await rt.policy.delivery_plan(
        conn, [i for i in inboxes if i and not own.is_local(i)])
    await outbox_repo.add_deliveries(conn, activity_id, targets, held_domains=held)
    rt.delivery_wakeup.set()
    return activity_id


async def follower_inboxes(conn: AsyncConnection, actor: Actor) -> list[str]:
    return await follows_repo.follower_inboxes(conn, actor.id)
