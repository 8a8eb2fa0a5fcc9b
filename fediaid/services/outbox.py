"""Publishing: an activity and its deliveries are written in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.actors import Actor, ActorType
from fediaid.domain.group_profile import HOTLINE_HOURS, HOTLINE_NUMBER, HOW_TO_JOIN
from fediaid.federation import render
from fediaid.i18n import N_, translations
from fediaid.services.core import Core, Service
from fediaid.storage import follows as follows_repo
from fediaid.storage import outbox as outbox_repo
from fediaid.storage import posts as posts_repo
from fediaid.storage import relationships as relationships_repo

if TYPE_CHECKING:
    from fediaid.config import Settings
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
            document = await local_actor_document(conn, actor, self.settings)
            await self.enqueue(conn, actor=actor,
                               activity=render.update_actor(self.urls.new_activity(), actor,
                                                            document=document),
                               inboxes=inboxes, object_uri=actor.uri)


# The profile fields Mastodon shows on the group's page, in the group's language.
_FIELD_NAMES = (("hotline", N_("Hotline")), ("hours", N_("Hotline hours")),
                ("join", N_("How to join")))


async def local_actor_document(conn: AsyncConnection, actor: Actor, settings: Settings
                               ) -> dict[str, Any]:
    """A local actor's whole document, the same when fetched and when sent in an
    ``Update``: the group's also names its shared blocklist and describes the group for the
    network (its hotline and hours, how to join, the neighborhoods it serves, its
    languages: docs/federation.md, "How a group describes itself")."""
    doc = render.actor_document(actor)
    if actor.type is not ActorType.GROUP:
        return doc
    from fediaid.domain.blocklists import NAMESPACE

    stored = await posts_repo.settings(conn)
    areas = [label for _, label in await posts_repo.area_list(conn)]
    if not areas and settings.area:
        areas = [settings.area]
    languages = list(dict.fromkeys(
        [code for code in (stored.get("language", ""), *settings.languages) if code]))
    words = translations(languages[0] if languages else "en")
    values = {"hotline": stored.get(HOTLINE_NUMBER, ""), "hours": stored.get(HOTLINE_HOURS, ""),
              "join": stored.get(HOW_TO_JOIN, "")}
    doc = render.with_blocklist(doc, NAMESPACE, actor.uri + "/blocklist")
    doc = render.with_directory(doc, NAMESPACE, settings.base_url + "/directory.json")
    doc = render.with_needs_picture(doc, NAMESPACE, settings.base_url + "/picture.json")
    return render.with_self_description(
        doc, NAMESPACE, fields=[(words.gettext(name), values[key]) for key, name in _FIELD_NAMES],
        hotline=values["hotline"].replace(" ", "").replace("-", ""),
        hotline_hours=values["hours"], how_to_join=values["join"], areas=areas,
        languages=languages)


async def follower_inboxes(conn: AsyncConnection, actor: Actor) -> list[str]:
    return await follows_repo.follower_inboxes(conn, actor.id)
