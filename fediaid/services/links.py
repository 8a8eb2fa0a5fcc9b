"""Links with other groups (issue 12, "Linking"; fediaid/domain/links.py for the states).

A link is a mutual follow between our Group actor and another Group actor that both groups'
coordinators approved. On the wire (docs/federation.md, "Links between groups"):

1. A proposes: A's group sends ``Follow`` (A -> B) with ``linkShares``.
2. B's server keeps the follow pending and shows the proposal to B's coordinators.
3. B accepts: ``Accept`` of A's Follow, and its own ``Follow`` (B -> A) with ``linkShares``.
4. A's server accepts B's link Follow by itself (A's coordinators approved by proposing) and
   the link is active on A; B's is active when A's ``Accept`` arrives.

Unlinking is ``Undo`` of our Follow and ``Reject`` of theirs (either side); the other side
answers with its own ``Undo``. Declining is ``Reject``. A paused link keeps the follows but
nothing goes over it as linked (``links_repo.active_*``). A domain the federation policy
blocks can never be linked: proposals to and from it are refused; a link whose domain is
blocked later carries nothing (the policy drops deliveries there and refuses its signed
fetches, and blocking removes the follows). Every coordinator action is in the audit log.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.actors import Actor, ActorType
from fediaid.domain.audit import AuditAction
from fediaid.domain.follows import FollowState
from fediaid.domain.links import (
    ALL_SHARES,
    LinkError,
    LinkEvent,
    LinkState,
    Share,
    next_state,
    parse_shares,
)
from fediaid.domain.roles import Permission
from fediaid.domain.users import User
from fediaid.errors import Conflict, Forbidden, Invalid, NotFound
from fediaid.federation import render
from fediaid.i18n import N_
from fediaid.services.audit import record
from fediaid.services.core import Core, Service
from fediaid.storage import actors as actors_repo
from fediaid.storage import follows as follows_repo
from fediaid.storage import forwarding as forwarding_repo
from fediaid.storage import links as links_repo
from fediaid.storage import outbox as outbox_repo
from fediaid.storage.links import Link

if TYPE_CHECKING:
    from fediaid.services.federation_policy import FederationPolicy
    from fediaid.services.follows import FollowService
    from fediaid.services.outbox import Outbox

log = logging.getLogger(__name__)

DEFAULT_SHARES = frozenset({Share.BLOCKLISTS})


class LinkService(Service):
    def __init__(self, core: Core, *, follows: FollowService, outbox: Outbox,
                 policy: FederationPolicy) -> None:
        super().__init__(core)
        self.follows = follows
        self.outbox = outbox
        self.policy = policy

    # -- reading ------------------------------------------------------------------------
    async def links(self) -> list[Link]:
        async with self.db.read() as conn:
            return await links_repo.all_links(conn)

    # -- coordinators ---------------------------------------------------------------------
    @staticmethod
    def _require(user: User | None) -> None:
        if user is not None and not user.may(Permission.DOMAINS):
            raise Forbidden(N_("Only coordinators can link the group with other groups."))

    async def known(self, handle_or_url: str) -> Actor:
        """A group we already know (its link's handle or actor URL), else looked up
        (WebFinger and a signed fetch, as a follow)."""
        text = handle_or_url.strip()
        name, _, domain = text.removeprefix("@").partition("@")
        async with self.db.read() as conn:
            known = (await actors_repo.find_by_uri(conn, text) if "://" in text
                     else await actors_repo.find_by_handle(conn, name, domain)
                     if name and domain else None)
        if known is not None and not known.local:
            return known
        return await self.follows.find_remote_actor(text)

    async def _target(self, handle_or_url: str) -> Actor:
        target = await self.known(handle_or_url)
        if target.local:
            raise Invalid(N_("That is this group."), field="handle")
        if target.type is not ActorType.GROUP:
            raise Invalid(N_("{name} is not a group: only groups can be linked.",
                             name=target.handle), field="handle")
        if not self.policy.may_exchange(target.uri):
            raise Forbidden(N_("{domain} is blocked by this group's federation policy: it "
                               "cannot be linked.", domain=target.domain))
        if target.inbox is None:
            raise Invalid(N_("{name} has no inbox.", name=target.handle), field="handle")
        return target

    async def propose(self, user: User | None, handle_or_url: str,
                      shares: frozenset[Share] = DEFAULT_SHARES) -> LinkState:
        """Propose a link (or accept theirs, if they proposed first)."""
        self._require(user)
        target = await self._target(handle_or_url)
        async with self.db.write() as conn:
            link = await links_repo.find(conn, target.id)
            if link is not None and link.state is LinkState.PROPOSED_BY_THEM:
                return await self._accept(conn, user, target, link, shares)
            state = self._next(link, LinkEvent.PROPOSE)
            await links_repo.save(conn, target.id, state, our_shares=shares)
            await self._send_follow(conn, target, shares)
            await record(conn, user, AuditAction.LINK_PROPOSED, target_kind="actor",
                         target_id=target.id,
                         summary=N_("proposed a link with {name}", name=target.handle))
        self.signals.delivery_wakeup.set()
        return state

    async def accept(self, user: User | None, handle_or_url: str,
                     shares: frozenset[Share] | None = None) -> LinkState:
        self._require(user)
        target = await self._target(handle_or_url)
        async with self.db.write() as conn:
            link = await links_repo.find(conn, target.id)
            if link is None or link.state is not LinkState.PROPOSED_BY_THEM:
                raise Conflict(N_("{name} has not proposed a link.", name=target.handle))
            state = await self._accept(conn, user, target, link,
                                       shares if shares is not None else link.their_shares
                                       & ALL_SHARES or DEFAULT_SHARES)
        self.signals.delivery_wakeup.set()
        return state

    async def _accept(self, conn: AsyncConnection, user: User | None, target: Actor,
                      link: Link, shares: frozenset[Share]) -> LinkState:
        group = self.identity.group
        theirs = await follows_repo.find(conn, target.id, group.id)
        if theirs is not None:
            if theirs.state is FollowState.PENDING:
                await follows_repo.set_state(conn, theirs.id, FollowState.ACCEPTED)
            await self._answer_follow(conn, target, theirs.uri, "Accept")
        state = self._next(link, LinkEvent.ACCEPT)
        await links_repo.save(conn, target.id, state, our_shares=shares)
        await self._send_follow(conn, target, shares)
        await record(conn, user, AuditAction.LINK_ACCEPTED, target_kind="actor",
                     target_id=target.id,
                     summary=N_("accepted the link with {name}", name=target.handle))
        return state

    async def pause(self, user: User | None, handle_or_url: str, *, resume: bool = False
                    ) -> LinkState:
        self._require(user)
        target = await self.known(handle_or_url)
        async with self.db.write() as conn:
            link = await links_repo.find(conn, target.id)
            state = self._next(link, LinkEvent.RESUME if resume else LinkEvent.PAUSE)
            if resume and not self.policy.may_exchange(target.uri):
                raise Forbidden(N_("{domain} is blocked by this group's federation policy: "
                                   "it cannot be linked.", domain=target.domain))
            await links_repo.save(conn, target.id, state)
            if not resume:
                await _stop_forwarding(conn, target)
            await record(conn, user,
                         AuditAction.LINK_RESUMED if resume else AuditAction.LINK_PAUSED,
                         target_kind="actor", target_id=target.id,
                         summary=N_("resumed the link with {name}", name=target.handle)
                         if resume else N_("paused the link with {name}", name=target.handle))
        return state

    async def end(self, user: User | None, handle_or_url: str) -> None:
        """Unlink (or decline, or withdraw a proposal): Undo our Follow, Reject theirs."""
        self._require(user)
        target = await self.known(handle_or_url)
        async with self.db.write() as conn:
            link = await links_repo.find(conn, target.id)
            if link is None or link.state is LinkState.ENDED:
                raise NotFound(N_("This group has no link with {name}.", name=target.handle))
            await self._end(conn, target, link)
            await record(conn, user, AuditAction.LINK_ENDED, target_kind="actor",
                         target_id=target.id,
                         summary=N_("ended the link with {name}", name=target.handle))
        self.signals.delivery_wakeup.set()

    # -- the wire ---------------------------------------------------------------------------
    @staticmethod
    def _next(link: Link | None, event: LinkEvent) -> LinkState:
        try:
            return next_state(link.state if link else None, event)
        except LinkError as exc:
            raise Conflict(exc.args[0] if exc.args else str(exc)) from None

    async def _send_follow(self, conn: AsyncConnection, target: Actor,
                           shares: frozenset[Share]) -> None:
        group = self.identity.group
        ours = await follows_repo.find(conn, group.id, target.id)
        if ours is None:
            uri = self.urls.new_activity()
            await follows_repo.create(conn, follower_id=group.id, followed_id=target.id,
                                      uri=uri, state=FollowState.PENDING)
        else:
            uri = ours.uri  # already following: the same Follow, now proposing a link
        await self.outbox.enqueue(
            conn, actor=group, object_uri=target.uri,
            activity=render.link_follow(uri, group.uri, target.uri, [s.value for s in shares]),
            inboxes=[target.delivery_inbox or target.inbox or ""])

    async def _answer_follow(self, conn: AsyncConnection, target: Actor, follow_uri: str,
                             kind: str) -> None:
        group = self.identity.group
        await self.outbox.enqueue(
            conn, actor=group, inboxes=[target.delivery_inbox or target.inbox or ""],
            activity=render.respond_to_follow(kind, self.urls.new_activity(), group.uri,
                                              render.follow(follow_uri, target.uri,
                                                            group.uri)))

    async def _end(self, conn: AsyncConnection, target: Actor, link: Link) -> None:
        group = self.identity.group
        await links_repo.save(conn, target.id, self._next(link, LinkEvent.END))
        await _stop_forwarding(conn, target)
        ours = await follows_repo.find(conn, group.id, target.id)
        if ours is not None:
            await follows_repo.remove(conn, ours.id)
            await self.outbox.enqueue(
                conn, actor=group, object_uri=target.uri,
                inboxes=[target.delivery_inbox or target.inbox or ""],
                activity=render.undo(self.urls.new_activity(), group.uri,
                                     render.follow(ours.uri, group.uri, target.uri)))
        theirs = await follows_repo.find(conn, target.id, group.id)
        if theirs is not None:
            await follows_repo.remove(conn, theirs.id)
            await self._answer_follow(conn, target, theirs.uri, "Reject")

    # -- received (called by services/inbox_activities in the inbox's transaction) -------------
    async def on_link_follow(self, conn: AsyncConnection, actor: Actor, follow_uri: str,
                             shares: list[str]) -> None:
        """``actor`` (a remote Group) sent our group a Follow with ``linkShares``."""
        group = self.identity.group
        if actor.type is not ActorType.GROUP or not self.policy.may_exchange(actor.uri):
            await self._answer_follow(conn, actor, follow_uri, "Reject")
            return
        theirs_shared = parse_shares(shares)
        link = await links_repo.find(conn, actor.id)
        theirs = await follows_repo.find(conn, actor.id, group.id)
        if link is not None and link.state in (LinkState.PROPOSED_BY_US, LinkState.ACTIVE,
                                                LinkState.PAUSED):
            # Our coordinators approved already: their Follow confirms theirs did too.
            if theirs is None:
                await follows_repo.create(conn, follower_id=actor.id, followed_id=group.id,
                                          uri=follow_uri, state=FollowState.ACCEPTED)
            elif theirs.state is not FollowState.ACCEPTED:
                await follows_repo.set_state(conn, theirs.id, FollowState.ACCEPTED)
            ours = await follows_repo.find(conn, group.id, actor.id)
            if ours is not None and ours.state is not FollowState.ACCEPTED:
                # They only send a link Follow once they accepted ours.
                await follows_repo.set_state(conn, ours.id, FollowState.ACCEPTED)
            await self._answer_follow(conn, actor, follow_uri, "Accept")
            await links_repo.save(conn, actor.id, self._next(link, LinkEvent.CONFIRMED),
                                  their_shares=theirs_shared)
            log.info("link confirmed", extra={"group": actor.uri})
            return
        if theirs is None:
            await follows_repo.create(conn, follower_id=actor.id, followed_id=group.id,
                                      uri=follow_uri, state=FollowState.PENDING)
        await links_repo.save(conn, actor.id, self._next(link, LinkEvent.RECEIVE),
                              their_shares=theirs_shared)
        log.info("link proposed to us", extra={"group": actor.uri})

    async def on_follow_answer(self, conn: AsyncConnection, actor: Actor, *, accepted: bool
                               ) -> None:
        """``actor`` accepted or rejected our group's follow (already applied to the
        follows table)."""
        link = await links_repo.find(conn, actor.id)
        if link is None or link.state is LinkState.ENDED:
            return
        if not accepted:
            await self._end(conn, actor, link)
            return
        group = self.identity.group
        theirs = await follows_repo.find(conn, actor.id, group.id)
        if link.state is LinkState.PROPOSED_BY_US and theirs is not None and (
                theirs.state is FollowState.ACCEPTED):
            await links_repo.save(conn, actor.id, LinkState.ACTIVE)

    async def on_undo_follow(self, conn: AsyncConnection, actor: Actor) -> None:
        """``actor`` undid its follow of our group (already removed): the link ends, and
        our own follow of it is undone too."""
        link = await links_repo.find(conn, actor.id)
        if link is not None and link.state is not LinkState.ENDED:
            await self._end(conn, actor, link)


async def _stop_forwarding(conn: AsyncConnection, target: Actor) -> None:
    """A link paused or ended: needs offered to that group and not delivered yet are not
    sent (services/forwarding.py); later ones are not offered (only active links are)."""
    inbox = target.delivery_inbox or target.inbox
    if inbox:
        ids = await forwarding_repo.undelivered_offers(conn, target.id, inbox)
        await outbox_repo.cancel_deliveries(conn, ids, "the link is paused or ended")
