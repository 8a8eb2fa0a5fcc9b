"""Applying one received activity (Follow, Undo, Accept, Reject, Update, Delete, Create,
Announce, Offer, Like, Flag, Block, AccountAlert), inside the inbox processor's transaction
and savepoint (services/inbox_processing.py decides batches, slices and savepoints).

``apply`` checks, in order: the federation policy now (a block added after storing), a
server that writes to us again after being unavailable, that the activity's id is on its
signer's server, the actor, a suspension; then the handler of the activity's type. Only an
object's own actor takes it back: Undo/Delete/Update act only on what the signer made.
Every handler is idempotent: applying the same activity twice changes nothing the second
time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from activitypub.vocab import (
    first_str,
    host_of,
    id_of,
    is_addressed_publicly,
    is_http_uri,
    same_origin,
    type_of,
)
from fediaid.domain.actors import Actor, ActorType
from fediaid.domain.follows import FollowState
from fediaid.errors import Invalid
from fediaid.federation import render
from fediaid.federation.inbound import RemoteNote, link_shares, parse_remote_note
from fediaid.federation.parse import parse_actor
from fediaid.services.core import Core, Service
from fediaid.services.federation_policy import refused_content
from fediaid.storage import actors as actors_repo
from fediaid.storage import domains as domains_repo
from fediaid.storage import follows as follows_repo
from fediaid.storage import notifications as notifications_repo
from fediaid.storage import objects as objects_repo
from fediaid.storage import outbox as outbox_repo
from fediaid.storage.inbox import InboxJob
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from fediaid.services.alerts import AlertService
    from fediaid.services.blocks import BlockService
    from fediaid.services.federation_policy import FederationPolicy
    from fediaid.services.forwarding import ForwardingService
    from fediaid.services.links import LinkService
    from fediaid.services.outbox import Outbox
    from fediaid.services.post_inbox import PostInbox
    from fediaid.services.remote_statuses import RemoteStatuses
    from fediaid.services.reports import ReportService

log = logging.getLogger(__name__)

OBJECT_TYPES = frozenset({"Note", "Article", "Page", "Question", "Proposal", "Event", "Image",
                          "Video", "Audio", "Document", "Offer", "Agreement"})


@dataclass
class Prepared:
    """A claimed activity ready to apply (services/inbox_processing.py prepares it)."""

    job: InboxJob
    activity: dict[str, Any]
    fetched: dict[str, dict[str, Any]] = field(default_factory=dict)
    dropped: str | None = None  # why the federation policy refuses it (then it is ignored)
    # A Create's embedded note, parsed once (also by the handler when it takes the long road).
    note: RemoteNote | None = None
    # The note may be stored with others (``InboxProcessor._plain_note``).
    plain: bool = False


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else None


def announced_object(obj: Any, announcer: str) -> dict[str, Any] | None:
    """The object an Announce shares, when it is embedded and comes from the announcer's own
    server (so the announcer's signature vouches for it): ``Announce(Note)`` or FEP-1b12's
    ``Announce(Create(Note))``. Anything else is fetched from its origin instead."""
    if isinstance(obj, dict) and type_of(obj) in ("Create", "Update"):
        obj = obj.get("object")
    if isinstance(obj, dict) and same_origin(id_of(obj) or "", announcer):
        return obj
    return None


class InboxActivities(Service):
    def __init__(self, core: Core, *,
                 blocks: BlockService, outbox: Outbox, policy: FederationPolicy,
                 post_inbox: PostInbox, remote_statuses: RemoteStatuses,
                 reports: ReportService, links: LinkService, alerts: AlertService,
                 forwarding: ForwardingService) -> None:
        super().__init__(core)
        self.alerts = alerts
        self.blocks = blocks
        self.forwarding = forwarding
        self.links = links
        self.outbox = outbox
        self.policy = policy
        self.post_inbox = post_inbox
        self.remote_statuses = remote_statuses
        self.reports = reports
        self.handlers = {
            "Follow": self._follow,
            "Undo": self._undo,
            "Accept": self._accept,
            "Reject": self._reject,
            "Update": self._update,
            "Delete": self._delete,
            "Create": self._create,
            "Announce": self._announce,
            "Offer": self._offer,
            "Like": self._like,
            "Flag": self._flag,
            "Block": self._block,
            "AccountAlert": self._account_alert,
        }

    def handles(self, type_: str | None) -> bool:
        return type_ in self.handlers

    def refused(self, actor_uri: str, activity: dict[str, Any]) -> str | None:
        """Why the federation policy refuses this activity now (its actor's domain, or the
        domain of the content it brings in), or None."""
        policy = self.policy
        if policy.rules.open:
            return None
        refused = actor_uri if not policy.may_exchange(actor_uri) else \
            refused_content(policy, activity)
        return f"refused by the federation policy: {refused}" if refused else None

    async def apply(self, conn: AsyncConnection, p: Prepared, unavailable: frozenset[str]
                    ) -> None:
        """Apply one activity (see the module docstring); ``unavailable``: the delivery
        domains marked unavailable."""
        dropped = p.dropped or self.refused(p.job.actor_uri, p.activity)
        if dropped:
            log.info("ignored %s %s: %s", type_of(p.activity), p.job.activity_uri, dropped)
            return
        domain = host_of(p.job.actor_uri)
        if domain in unavailable:
            # A server that writes to us is up again (Mastodon's track_inverse_success!).
            await domains_repo.record_success(conn, domain)
            released = await outbox_repo.release_domain(conn, domain)
            if released:
                self.signals.delivery_wakeup.set()
                log.info("domain %s is back: %d deliveries released", domain, released)
        handler = self.handlers.get(type_of(p.activity) or "")
        if handler is None:
            log.debug("ignored %s %s", type_of(p.activity), p.job.activity_uri)
            return
        if is_http_uri(p.job.activity_uri) and not same_origin(p.job.activity_uri,
                                                               p.job.actor_uri):
            # Boosts, likes, follows and answers are stored under their activity's id: one
            # server may not claim an id on another (the real activity would then be dropped
            # as a duplicate, and the impostor could Undo it).
            log.info("ignored %s %s sent by %s", type_of(p.activity), p.job.activity_uri,
                     p.job.actor_uri)
            return
        actor = await actors_repo.find_by_uri(conn, p.job.actor_uri)
        if actor is None:
            if type_of(p.activity) == "Delete":
                return
            raise Invalid(f"unknown actor {p.job.actor_uri}")
        if await self.reports.actor_suspended(conn, actor.uri):
            # Suspended by a coordinator after a report (fediaid/services/reports.py).
            log.info("ignored %s %s: its actor is suspended", type_of(p.activity),
                     p.job.activity_uri)
            return
        await handler(conn, actor, p)
    # -- handlers -----------------------------------------------------------------------
    async def _follow(self, conn: AsyncConnection, actor: Actor, p: Prepared) -> None:
        target_uri = id_of(p.activity.get("object"))
        target = await actors_repo.find_by_uri(conn, target_uri) if target_uri else None
        if target is None or not target.local or target.type is ActorType.APPLICATION:
            return
        follow_uri = p.job.activity_uri
        shares = link_shares(p.activity)
        if shares is not None and target.id == self.identity.group.id:
            # A group proposing (or confirming) a link (services/links.py).
            await self.links.on_link_follow(conn, actor, follow_uri, shares)
            return
        existing = await follows_repo.find(conn, actor.id, target.id)
        if existing is None and await self.blocks.between(conn, actor.id, target.id):
            # Not across a block (services/blocks.py): refused, as Mastodon does.
            reject = render.respond_to_follow(
                "Reject", self.urls.new_activity(), target.uri,
                render.follow(follow_uri, actor.uri, target.uri))
            await self.outbox.enqueue(conn, actor=target, activity=reject,
                          inboxes=[actor.delivery_inbox or ""])
            return
        if existing is None:
            # A silenced domain's accounts wait for a coordinator (as Mastodon's limit).
            state = (FollowState.PENDING if target.manually_approves_followers
                     or self.policy.is_silenced(actor.uri) else FollowState.ACCEPTED)
            await follows_repo.create(conn, follower_id=actor.id, followed_id=target.id,
                                      uri=follow_uri, state=state)
            await notifications_repo.add_for_actor(
                conn, actor_id=target.id, from_actor_id=actor.id,
                type_="follow" if state is FollowState.ACCEPTED else "follow_request")
        else:
            state = existing.state
        if state is FollowState.ACCEPTED:
            accept = render.respond_to_follow(
                "Accept", self.urls.new_activity(), target.uri,
                render.follow(follow_uri, actor.uri, target.uri),
            )
            await self.outbox.enqueue(conn, actor=target, activity=accept,
                          inboxes=[actor.delivery_inbox or ""])

    async def _find_follow_for(self, conn: AsyncConnection, obj: Any, *, follower_uri: str | None,
                               followed_uri: str | None) -> follows_repo.Follow | None:
        uri = id_of(obj)
        found = await follows_repo.find_by_uri(conn, uri) if uri else None
        if found is None and follower_uri and followed_uri:
            follower = await actors_repo.find_by_uri(conn, follower_uri)
            followed = await actors_repo.find_by_uri(conn, followed_uri)
            if follower and followed:
                found = await follows_repo.find(conn, follower.id, followed.id)
        return found

    async def _undo(self, conn: AsyncConnection, actor: Actor, p: Prepared) -> None:
        """Undo of the signer's own Follow, Announce or Like. What is undone is looked up by
        id and each store checks that the signer made it; an embedded activity that names
        another actor is ignored outright."""
        obj = p.activity.get("object")
        inner_type = type_of(obj)
        inner_id = id_of(obj)
        if isinstance(obj, dict) and obj.get("actor") is not None and (
                id_of(obj.get("actor")) != actor.uri):
            log.info("ignored Undo by %s of an activity by %s", actor.uri,
                     id_of(obj.get("actor")))
            return
        if inner_type == "AccountAlert":
            await self.alerts.on_undo(
                conn, actor, inner_id,
                id_of(obj.get("object")) if isinstance(obj, dict) else None)
            return
        if inner_type == "Block":
            await self.blocks.on_remote_undo_block(
                conn, actor, inner_id,
                id_of(obj.get("object")) if isinstance(obj, dict) else None)
            return
        if inner_type in (None, "Follow"):
            target = id_of(obj.get("object")) if isinstance(obj, dict) else None
            follow = await self._find_follow_for(conn, obj, follower_uri=actor.uri,
                                                 followed_uri=target)
            if follow is not None and follow.follower_id == actor.id:
                await follows_repo.remove(conn, follow.id)
                if follow.followed_id == self.identity.group.id:
                    await self.links.on_undo_follow(conn, actor)
                return
        if inner_id and inner_type in (None, "Announce"):
            await objects_repo.remove_share(conn, inner_id, actor_id=actor.id)
            # A linked group took back a need it offered (services/forwarding.py).
            await self.forwarding.on_taken_back(conn, actor, inner_id)
        if inner_id and inner_type in (None, "Announce", "Like"):
            await self.remote_statuses.on_remote_undo(conn, actor, inner_id)
        if inner_id and inner_type is None:
            await self.blocks.on_remote_undo_block(conn, actor, inner_id, None)

    async def _accept(self, conn: AsyncConnection, actor: Actor, p: Prepared) -> None:
        await self._answer(conn, actor, p, accepted=True)

    async def _reject(self, conn: AsyncConnection, actor: Actor, p: Prepared) -> None:
        await self._answer(conn, actor, p, accepted=False)

    async def _answer(self, conn: AsyncConnection, actor: Actor, p: Prepared, *, accepted: bool
                      ) -> None:
        obj = p.activity.get("object")
        if type_of(obj) == "Offer" or (type_of(obj) is None and p.activity.get("result")):
            await self.post_inbox.on_offer_answer(conn, actor, p.activity)
            return
        if type_of(obj) not in (None, "Follow"):
            return
        follower_uri = id_of(obj.get("actor")) if isinstance(obj, dict) else None
        follow = await self._find_follow_for(conn, obj, follower_uri=follower_uri,
                                             followed_uri=actor.uri)
        if follow is None or follow.followed_id != actor.id:
            # Not an answer to one of our follows: perhaps to an Offer we sent (by id).
            await self.post_inbox.on_offer_answer(conn, actor, p.activity)
            return
        if accepted:
            if follow.state is FollowState.PENDING:
                await follows_repo.set_state(conn, follow.id, FollowState.ACCEPTED)
        else:
            await follows_repo.remove(conn, follow.id)
        if follow.follower_id == self.identity.group.id:
            await self.links.on_follow_answer(conn, actor, accepted=accepted)

    async def _update(self, conn: AsyncConnection, actor: Actor, p: Prepared) -> None:
        obj = p.activity.get("object")
        if not isinstance(obj, dict):
            return
        if first_str(obj.get("type")) in ActorType._value2member_map_:
            data = parse_actor(obj)
            if data.uri != actor.uri:
                raise Invalid("an actor may only update itself")
            await actors_repo.upsert_remote(conn, data)
            self.core.keys.forget_owner(actor.uri)
            return
        existing = await objects_repo.find_by_uri(conn, id_of(obj) or "")
        if existing is not None and existing.attributed_to == actor.uri and not existing.local:
            await self._store_object(conn, actor, obj)

    async def _delete(self, conn: AsyncConnection, actor: Actor, p: Prepared) -> None:
        target = id_of(p.activity.get("object"))
        if not target:
            return
        if target == actor.uri:
            await actors_repo.delete_remote(conn, actor.uri)
            self.core.keys.forget_owner(actor.uri)
            return
        existing = await objects_repo.find_by_uri(conn, target)
        if existing is not None and not existing.local and (
            existing.attributed_to == actor.uri or existing.actor_id == actor.id
        ):
            await objects_repo.delete_by_uri(conn, target)
        await self.post_inbox.on_delete(conn, actor, target)
        await self.remote_statuses.on_remote_delete(conn, actor, target)

    async def _create(self, conn: AsyncConnection, actor: Actor, p: Prepared) -> None:
        obj = p.activity.get("object")
        note = p.note if isinstance(obj, dict) else None  # parsed while preparing
        if isinstance(obj, str):
            obj = p.fetched.get(obj)
        if not isinstance(obj, dict):
            raise Invalid("Create without a usable object")
        await self._store_object(conn, actor, obj, note=note)

    async def _announce(self, conn: AsyncConnection, actor: Actor, p: Prepared) -> None:
        obj = p.activity.get("object")
        target = id_of(obj)
        if not target:
            return
        await objects_repo.add_share(conn, uri=p.job.activity_uri, actor_id=actor.id,
                                     object_uri=target)
        await self._announce_object(conn, actor, p, obj, target)
        if p.activity.get("forwardedNeed"):
            # A linked group offers us one of its unmet needs (services/forwarding.py).
            await self.forwarding.on_forwarded(conn, actor, p.activity)
        # A boost shows in the client API once the boosted status is known here.
        inner_target = id_of(obj.get("object")) if type_of(obj) == "Create" and (
            isinstance(obj, dict)) else target
        await self.remote_statuses.on_remote_announce(conn, actor, p.job.activity_uri,
                                                  inner_target or target)

    async def _announce_object(self, conn: AsyncConnection, actor: Actor, p: Prepared,
                               obj: Any, target: str) -> None:
        shared = announced_object(obj, actor.uri)
        inner = obj.get("object") if isinstance(obj, dict) else None
        inner_id = id_of(inner) if inner is not None else None
        for candidate in (shared, p.fetched.get(target), p.fetched.get(inner_id or "")):
            if isinstance(candidate, dict):
                author_uri = id_of(candidate.get("attributedTo"))
                author = await actors_repo.find_by_uri(conn, author_uri or "")
                if author is not None:
                    await self._store_object(conn, author, candidate, announced_by=actor)
                    return

    async def _like(self, conn: AsyncConnection, actor: Actor, p: Prepared) -> None:
        target = id_of(p.activity.get("object"))
        if target:
            await self.remote_statuses.on_remote_like(conn, actor, p.job.activity_uri, target)

    async def _block(self, conn: AsyncConnection, actor: Actor, p: Prepared) -> None:
        """A remote account blocks one of ours (services/blocks.py)."""
        target = id_of(p.activity.get("object"))
        if target and is_http_uri(p.job.activity_uri):
            await self.blocks.on_remote_block(conn, actor, target, p.job.activity_uri)

    async def _flag(self, conn: AsyncConnection, actor: Actor, p: Prepared) -> None:
        """Another server reports one of our accounts or posts (fediaid/services/reports.py)."""
        await self.reports.receive_flag(conn, actor, p.activity, p.job.activity_uri)

    async def _account_alert(self, conn: AsyncConnection, actor: Actor, p: Prepared) -> None:
        """A linked group tells us of an account it suspended for harm (services/alerts.py:
        refused unless the link is active and their side shares account alerts)."""
        await self.alerts.receive(conn, actor, p.activity, p.job.activity_uri)

    async def _offer(self, conn: AsyncConnection, actor: Actor, p: Prepared) -> None:
        await self.post_inbox.on_offer(conn, actor, p.activity)

    async def _store_object(self, conn: AsyncConnection, actor: Actor, obj: dict[str, Any],
                            *, announced_by: Actor | None = None,
                            note: RemoteNote | None = None) -> None:
        """``note``: ``obj`` already parsed, if it was."""
        uri = id_of(obj)
        type_ = first_str(obj.get("type"))
        if not uri or not is_http_uri(uri) or type_ not in OBJECT_TYPES:
            raise Invalid("object without a usable id or type")
        author = id_of(obj.get("attributedTo"))
        if author != actor.uri or not same_origin(uri, actor.uri):
            raise Invalid("object is not by the activity's actor")
        # Parsed once (federation/inbound): services read the typed value, not the dict.
        if note is None:
            note = parse_remote_note(obj)
        await objects_repo.upsert_many(conn, [self.object_row(actor.id, obj, note)])
        if note is None:
            # An FEP-0837 Offer or Agreement as an object: kept (Update and Delete find it)
            # but not a status; answers arrive as Offer activities (PostInbox.on_offer).
            return
        await self.post_inbox.on_object(conn, actor, note, obj, announced_by=announced_by)
        await self.remote_statuses.on_remote_object(conn, actor, note)
    @staticmethod
    def object_row(actor_id: int, obj: dict[str, Any], note: RemoteNote | None
                    ) -> dict[str, Any]:
        """The ``objects`` row of a received object (validated by ``_store_object``, or by the
        inbox processor for a plain note)."""
        now = utcnow()
        return {
            "uri": id_of(obj), "type": first_str(obj.get("type")), "actor_id": actor_id,
            "attributed_to": id_of(obj.get("attributedTo")),
            "in_reply_to": id_of(obj.get("inReplyTo")), "audience": id_of(obj.get("audience")),
            "public": is_addressed_publicly(obj), "local": False,
            "content": note.content_html if note is not None else None,
            "payload": orjson.dumps(obj).decode(), "published": _parse_time(obj.get("published")),
            "created_at": now, "updated_at": now,
        }
