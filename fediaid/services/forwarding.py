"""Forwarding unmet needs to linked groups (issue 12; the rules: fediaid/domain/forwarding.py;
the wire: docs/federation.md, "Forwarded needs"; in plain words: docs/network.md).

- **Sending** (``forward_due``, from the worker's periodic loop, and ``fediaid admin
  forward-needs``): each of our open needs that is due is offered to every linked group
  whose link is active and on which we share ``forwardedNeeds``, and whose server the
  federation policy lets us exchange with (``FederationPolicy.may_exchange``; the outbox
  asks it again per inbox). The offer is an ``Announce`` by our group of the need's
  ``Note`` (embedded, the same document every server gets), addressed only to that group's
  actor and marked ``forwardedNeed``. One row per need and group (``forwarded_needs``):
  never offered twice. Pausing or ending a link stops it at once: only active links are
  offered anything, and what was queued for the link and not yet delivered is cancelled
  (``services/links._stop_forwarding``). When the need closes or goes, the usual
  ``Update`` (with ``closedAs``) or ``Delete`` reaches every inbox it was sent to, these
  included (PostFederation).
- **Receiving** (``on_forwarded``, from the inbox, after the Announce stored the need as a
  remote post): kept only from a group linked with us now that says it shares forwarded
  needs; recorded once per need (duplicates recognised by id), shown to members within the
  group's daily cap ("From linked groups" on the home page). A received need is never
  forwarded again: only our own (local) needs are ever candidates. An asker who opts out
  after the offer takes it back: ``Undo`` of the Announce (PostFederation
  ``offers_taken_back``), and the receiver forgets it (``on_taken_back``).
- Answers ("I can help") are the existing FEP-0837 ``Offer``/``Accept`` exchange between
  the member here and the need's author there (PostFederation, PostInbox).

Time comes from ``clock`` (tests move it), as the rate limits do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from activitypub.vocab import id_of, same_origin
from fediaid.domain.actors import Actor, ActorType
from fediaid.domain.audit import AuditAction
from fediaid.domain.forwarding import (
    AFTER_HOURS,
    BY_DEFAULT,
    DAILY_CAP,
    DAY,
    MAX_AFTER_HOURS,
    MAX_DAILY_CAP,
    ForwardingSettings,
    due,
    oldest_due,
    read_settings,
    shown,
)
from fediaid.domain.links import LinkState, Share
from fediaid.domain.posts import Kind, Post
from fediaid.domain.roles import Permission
from fediaid.domain.users import User
from fediaid.errors import Forbidden, Invalid
from fediaid.federation import render
from fediaid.i18n import N_, Listed, Message
from fediaid.services.audit import record
from fediaid.services.core import Core, Service
from fediaid.storage import actors as actors_repo
from fediaid.storage import forwarding as repo
from fediaid.storage import links as links_repo
from fediaid.storage import posts as posts_repo
from fediaid.storage.forwarding import Received
from fediaid.storage.links import Link
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fediaid.services.federation_policy import FederationPolicy
    from fediaid.services.outbox import Outbox
    from fediaid.services.post_federation import PostFederation

log = logging.getLogger(__name__)

_SETTING_WORDS = {
    AFTER_HOURS: N_("unmet needs are offered to linked groups after {value} hours"),
    BY_DEFAULT: N_("needs are offered to linked groups unless the asker says no: {value}"),
    DAILY_CAP: N_("at most {value} needs from linked groups are shown a day"),
}


class ForwardingService(Service):
    def __init__(self, core: Core, *, outbox: Outbox, policy: FederationPolicy,
                 post_federation: PostFederation) -> None:
        super().__init__(core)
        self.outbox = outbox
        self.policy = policy
        self.post_federation = post_federation
        self.clock: Callable[[], datetime] = utcnow

    # -- settings -------------------------------------------------------------------------
    async def settings_now(self) -> ForwardingSettings:
        async with self.db.read() as conn:
            return read_settings(await posts_repo.settings(conn))

    async def update_settings(self, user: User | None, values: dict[str, Any]
                              ) -> ForwardingSettings:
        """Coordinators (``None``: the server operator, from the command line):
        ``after_hours`` (0: off), ``by_default``, ``daily_cap``."""
        if user is not None and not user.may(Permission.GROUP_SETTINGS):
            raise Forbidden(N_("Only coordinators can change the group's settings."))
        out: dict[str, str] = {}
        for key, field, high in ((AFTER_HOURS, "after_hours", MAX_AFTER_HOURS),
                                 (DAILY_CAP, "daily_cap", MAX_DAILY_CAP)):
            if field not in values:
                continue
            try:
                n = int(str(values[field]).strip() or "0")
            except ValueError as exc:
                raise Invalid(N_("Write a whole number from 0 to {high}.", high=high),
                              field=field) from exc
            if not 0 <= n <= high:
                raise Invalid(N_("Write a whole number from 0 to {high}.", high=high),
                              field=field)
            out[key] = str(n)
        if "by_default" in values:
            out[BY_DEFAULT] = "1" if values["by_default"] in (
                True, "1", "on", "yes", "true") else "0"
        async with self.db.write() as conn:
            before = await posts_repo.settings(conn)
            for key, value in out.items():
                await posts_repo.set_setting(conn, key, value)
            changed = [Message(_SETTING_WORDS[k], {"value": v if k != BY_DEFAULT else Message(
                N_("yes") if v == "1" else N_("no"), {})})
                for k, v in out.items() if before.get(k) != v]
            if changed:
                await record(conn, user, AuditAction.SETTING_CHANGED, target_kind="setting",
                             target_id=",".join(k for k, v in out.items()
                                                if before.get(k) != v),
                             summary=N_("changed the group's settings: {what}",
                                        what=Listed(changed)))
            return read_settings(await posts_repo.settings(conn))

    async def choice(self, post_id: int) -> bool | None:
        async with self.db.read() as conn:
            return await repo.choice(conn, post_id)

    # -- sending ----------------------------------------------------------------------------
    def _targets(self, links: list[Link]) -> list[Link]:
        return [link for link in links if link.state is LinkState.ACTIVE
                and Share.FORWARDED_NEEDS in link.our_shares
                and self.policy.may_exchange(link.actor_uri)]

    async def forward_due(self, now: datetime | None = None) -> int:
        """Offer every due need to the linked groups it was not offered to yet; returns how
        many offers were queued. ``now``: the clock (tests and ``fediaid admin
        forward-needs --at``)."""
        now = now or self.clock()
        async with self.db.read() as conn:
            settings = read_settings(await posts_repo.settings(conn))
            if not settings.on:
                return 0
            targets = self._targets(await links_repo.all_links(conn))
            if not targets:
                return 0
            candidates = await repo.candidates(
                conn, created_before=oldest_due(settings, now), now=now,
                targets={link.actor_id for link in targets}, by_default=settings.by_default)
        sent = 0
        for post_id, choice in candidates:
            async with self.db.write() as conn:
                post = await posts_repo.find(conn, post_id)
                if post is None or not due(settings, post, choice, now) or (
                        await repo.received(conn, post_id)):
                    continue
                sent += await self._offer(conn, post, targets, now)
        if sent:
            log.info("forwarded needs: %d offers to linked groups", sent)
        return sent

    async def _offer(self, conn: AsyncConnection, post: Post, targets: list[Link],
                     now: datetime) -> int:
        group = self.identity.group
        already = await repo.forwarded_to(conn, post.id)
        note: dict[str, Any] | None = None
        sent = 0
        for link in targets:
            if link.actor_id in already:
                continue
            target = await actors_repo.find_by_id(conn, link.actor_id)
            inbox = target.delivery_inbox or target.inbox if target else None
            if target is None or not inbox:
                continue
            if note is None:
                note = await self.post_federation.note(conn, post)
            announce = forwarded_announce(self.urls.new_activity(), group.uri, target.uri,
                                          note, published=now)
            if not await repo.record(conn, post_id=post.id, group_actor_id=target.id,
                                     outgoing=True, activity_uri=announce["id"], now=now):
                continue  # another worker process offered it meanwhile
            # object_uri: the need's, so its Update and Delete reach this inbox too.
            await self.outbox.enqueue(conn, actor=group, activity=announce, inboxes=[inbox],
                                      object_uri=post.uri, public=False)
            sent += 1
        return sent

    # -- receiving --------------------------------------------------------------------------
    async def on_forwarded(self, conn: AsyncConnection, actor: Actor,
                           activity: dict[str, Any]) -> None:
        """``actor`` (a linked group) offered us one of its needs; the Announce already
        stored the need as a remote post (when it was one)."""
        if not activity.get("forwardedNeed") or actor.type is not ActorType.GROUP:
            return
        link = await links_repo.find(conn, actor.id)
        if link is None or link.state is not LinkState.ACTIVE or (
                Share.FORWARDED_NEEDS not in link.their_shares):
            log.info("forwarded need from %s ignored: no active link sharing them", actor.uri)
            return
        obj = activity.get("object")
        uri = id_of(obj.get("object") if isinstance(obj, dict) and isinstance(
            obj.get("object"), dict) else obj)
        if not uri or not same_origin(uri, actor.uri):
            return
        post = await posts_repo.find_by_uri(conn, uri)
        if post is None or post.local or post.kind is not Kind.NEED or post.state.closed:
            return
        now = self.clock()
        settings = read_settings(await posts_repo.settings(conn))
        visible = shown(settings, await repo.shown_since(conn, now - DAY))
        if await repo.record(conn, post_id=post.id, group_actor_id=actor.id, outgoing=False,
                             activity_uri=str(activity.get("id") or ""), shown=visible,
                             now=now):
            log.info("forwarded need %s from %s%s", uri, actor.uri,
                     "" if visible else " (over the daily cap: not shown)")

    async def on_taken_back(self, conn: AsyncConnection, actor: Actor, offer_uri: str
                            ) -> None:
        """``actor`` undid its offer (its asker opted out): not shown here any more."""
        if await repo.forget_received(conn, actor.id, offer_uri):
            log.info("forwarded need taken back by %s", actor.uri)

    async def from_linked_groups(self, limit: int = 50) -> list[Received]:
        """The forwarded needs shown to members now (open ones, from groups still linked)."""
        async with self.db.read() as conn:
            active = {link.actor_id for link in await links_repo.all_links(conn)
                      if link.state is LinkState.ACTIVE}
            return await repo.shown_received(conn, active, limit)

    async def origin(self, post_id: int) -> Received | None:
        async with self.db.read() as conn:
            return await repo.origin_of(conn, post_id)


def forwarded_announce(activity_id: str, group_uri: str, target_uri: str,
                       note: dict[str, Any], *, published: datetime) -> dict[str, Any]:
    """The offer of a need to one linked group (docs/federation.md, "Forwarded needs"): the
    group's ``Announce`` of the need's Note, to that group only, marked ``forwardedNeed``."""
    from fediaid.federation.proposals import CONTEXT

    doc = render.announce(activity_id, group_uri, note, to=[target_uri], cc=[],
                          published=published, audience=group_uri)
    doc["@context"] = CONTEXT
    doc["forwardedNeed"] = True
    return doc
