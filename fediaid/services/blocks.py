"""Member blocks and mutes, and a member's own domain blocks, as Mastodon has them.

- **Block**: follows in both directions end (a remote account's server gets Undo(Follow)
  for ours and Reject(Follow) for theirs), and a remote account's server gets a ``Block``
  from the member's actor (Mastodon sends one; its server then refuses to show the member
  anything of theirs). Unblocking sends ``Undo(Block)``.
- **Mute**: only for the member (nothing federates), with or without notifications, for
  good or for ``duration`` seconds.
- **Domain block**: the member's own; hides that server's accounts from the member only
  (the group's policy is ``services/federation_policy.py``).
- **A remote ``Block``** of a member is stored: the remote account no longer sees the
  member's statuses or posts when it fetches them (``Viewer.blocked_by``), is not sent
  the member's direct statuses, and follows in both directions end.

The rule itself is one place: ``domain/visibility.py`` reads the sets this service loads
into every ``Viewer`` (``viewer_fields``); timelines also leave the accounts out in SQL
(``hidden_ids``, used by ``storage.statuses.without_accounts``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from fediaid.domain import federation as rule
from fediaid.domain.actors import Actor, ActorType
from fediaid.domain.follows import FollowState
from fediaid.domain.paging import Page
from fediaid.domain.posts import Post
from fediaid.domain.users import User
from fediaid.errors import Forbidden, Invalid, NotFound, Unprocessable
from fediaid.federation import render
from fediaid.i18n import N_
from fediaid.services.core import Core, Service
from fediaid.storage import actors as actors_repo
from fediaid.storage import blocks as repo
from fediaid.storage import follows as follows_repo
from fediaid.storage import users as users_repo
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fediaid.services.outbox import Outbox

log = logging.getLogger(__name__)

MAX_MUTE_SECONDS = 60 * 60 * 24 * 365 * 10


@dataclass(frozen=True)
class Flags:
    """What the Relationship entity says about blocks and mutes."""

    blocking: bool = False
    blocked_by: bool = False
    muting: bool = False
    muting_notifications: bool = False
    domain_blocking: bool = False
    mute_expires_at: datetime | None = None


class BlockService(Service):
    def __init__(self, core: Core, *, outbox: Outbox) -> None:
        super().__init__(core)
        self.outbox = outbox

    async def _actor_of(self, user: User) -> Actor:
        async with self.db.read() as conn:
            return await actors_repo.get_by_id(conn, user.actor_id)

    async def _account(self, actor_id: int) -> Actor:
        """An account a member may block or mute: any we know of but the instance actor
        (as the client API's accounts)."""
        async with self.db.read() as conn:
            actor = await actors_repo.find_by_id(conn, actor_id)
        if actor is None or actor.deleted or (actor.local
                                              and actor.type is ActorType.APPLICATION):
            raise NotFound(N_("Record not found"))
        return actor

    # -- what viewers carry --------------------------------------------------------------
    async def viewer_fields(self, conn: AsyncConnection, actor_id: int) -> dict[str, Any]:
        """The ``Viewer`` fields of a local account (loaded once per request)."""
        r = await repo.relations(conn, actor_id)
        return {"blocking": frozenset(r.blocking.values()),
                "blocked_by": frozenset(r.blocked_by.values()),
                "muting": frozenset(r.muting.values()),
                "muting_notifications": frozenset(r.muting_notifications.values()),
                "domain_blocking": r.domains}

    async def remote_blocked_by(self, conn: AsyncConnection, actor: Actor) -> frozenset[str]:
        """Members who block a remote actor or its server (what it may not fetch)."""
        return frozenset((await repo.blockers_of(conn, actor.id, actor.domain)).values())

    async def hidden_ids(self, conn: AsyncConnection, actor_id: int
                         ) -> tuple[frozenset[int], frozenset[str]]:
        """(account ids, domains) to leave out of a member's timelines in SQL."""
        r = await repo.relations(conn, actor_id)
        return r.hidden_ids, r.domains

    async def between(self, conn: AsyncConnection, a: int, b: int) -> bool:
        """A block either way between two accounts (a member's domain block of the other's
        server counts)."""
        if await repo.find_block(conn, a, b) or await repo.find_block(conn, b, a):
            return True
        for me, other in ((a, b), (b, a)):
            other_actor = await actors_repo.find_by_id(conn, other)
            if other_actor is not None and not other_actor.local and (
                    me in await repo.blockers_of(conn, other, other_actor.domain)):
                return True
        return False

    async def refuses_answer(self, conn: AsyncConnection, post: Post, actor_id: int) -> bool:
        """Whether ``actor_id`` may not answer ``post``: a block either way with the
        account that posted it (for an anonymous or proxy post, the member behind it, whom
        the refusal does not name)."""
        people: set[int] = set()
        author = await actors_repo.find_by_uri(conn, post.author_uri)
        if author is not None:
            people.add(author.id)
        if post.creator_user_id is not None:
            creator = await users_repo.get(conn, post.creator_user_id)
            people.add(creator.actor_id)
        for other in people:
            if other != actor_id and await self.between(conn, actor_id, other):
                return True
        return False

    async def check_follow(self, user: User, actor_id: int) -> None:
        """Following is not possible across a block (either way, or the member's domain
        block): Mastodon's "This action is not allowed"."""
        async with self.db.read() as conn:
            if await self.between(conn, user.actor_id, actor_id):
                raise Forbidden(N_("This action is not allowed"))

    # -- relationships -------------------------------------------------------------------
    async def flags(self, user: User, ids: Sequence[int]) -> dict[int, Flags]:
        async with self.db.read() as conn:
            r = await repo.relations(conn, user.actor_id)
            ends = await repo.mute_ends(conn, user.actor_id, [i for i in ids if i in r.muting])
            out: dict[int, Flags] = {}
            for i in ids:
                domain_blocking = False
                if r.domains:
                    actor = await actors_repo.find_by_id(conn, i)
                    domain_blocking = actor is not None and not actor.local and (
                        rule.matching_rule(r.domains, actor.domain) is not None)
                out[i] = Flags(blocking=i in r.blocking, blocked_by=i in r.blocked_by,
                               muting=i in r.muting,
                               muting_notifications=i in r.muting_notifications,
                               domain_blocking=domain_blocking,
                               mute_expires_at=ends.get(i))
        return out

    # -- blocking ------------------------------------------------------------------------
    async def _target(self, user: User, actor_id: int, what: str) -> tuple[Actor, Actor]:
        me = await self._actor_of(user)
        target = await self._account(actor_id)
        if target.id == me.id:
            raise Forbidden(N_("You cannot block yourself") if what == "block" else
                            N_("You cannot mute yourself"))
        return me, target

    async def block(self, user: User, actor_id: int) -> None:
        me, target = await self._target(user, actor_id, "block")
        if target.id == self.identity.group.id:
            raise Unprocessable(N_("The group itself cannot be blocked; mute it instead, or ask "
                                   "a coordinator to close your account."))
        async with self.db.write() as conn:
            uri = self.urls.new_activity()
            if not await repo.add_block(conn, me.id, target.id, uri):
                return  # blocked already
            await self._end_follows(conn, me, target)
            if not target.local and target.delivery_inbox:
                await self.outbox.enqueue(conn, actor=me,
                              activity=render.block(uri, me.uri, target.uri),
                              inboxes=[target.delivery_inbox], object_uri=target.uri)
        self.signals.stream_changed()
        log.info("block", extra={"actor": me.uri, "target": target.uri})

    async def _end_follows(self, conn: AsyncConnection, me: Actor, other: Actor) -> None:
        """End follows (and requests) both ways between a local ``me`` and ``other``,
        telling a remote ``other``'s server (Undo for ours, Reject for theirs)."""
        mine = await follows_repo.find(conn, me.id, other.id)
        if mine is not None:
            await follows_repo.remove(conn, mine.id)
            if not other.local and other.delivery_inbox:
                await self.outbox.enqueue(conn, actor=me, activity=render.undo(
                    self.urls.new_activity(), me.uri,
                    render.follow(mine.uri, me.uri, other.uri)),
                    inboxes=[other.delivery_inbox], object_uri=other.uri)
        theirs = await follows_repo.find(conn, other.id, me.id)
        if theirs is not None:
            await follows_repo.remove(conn, theirs.id)
            if not other.local and other.delivery_inbox:
                await self.outbox.enqueue(conn, actor=me, activity=render.respond_to_follow(
                    "Reject", self.urls.new_activity(), me.uri,
                    render.follow(theirs.uri, other.uri, me.uri)),
                    inboxes=[other.delivery_inbox])

    async def unblock(self, user: User, actor_id: int) -> None:
        me = await self._actor_of(user)
        target = await self._account(actor_id)
        async with self.db.write() as conn:
            uri = await repo.find_block(conn, me.id, target.id)
            if uri is None:
                return
            await repo.remove_block(conn, me.id, target.id)
            if not target.local and target.delivery_inbox:
                await self.outbox.enqueue(conn, actor=me, activity=render.undo(
                    self.urls.new_activity(), me.uri,
                    render.block(uri, me.uri, target.uri)),
                    inboxes=[target.delivery_inbox], object_uri=target.uri)
        self.signals.stream_changed()

    async def blocks(self, user: User, page: Page) -> list[tuple[int, int]]:
        async with self.db.read() as conn:
            return await repo.block_page(conn, user.actor_id, page)

    # -- muting ----------------------------------------------------------------------------
    async def mute(self, user: User, actor_id: int, *, notifications: bool = True,
                   duration: int = 0) -> None:
        """Mute (again: the new settings replace the old); ``duration`` seconds, 0 for
        good."""
        if duration < 0 or duration > MAX_MUTE_SECONDS:
            raise Invalid(N_("duration must be a number of seconds (0: until unmuted)"),
                          field="duration")
        me, target = await self._target(user, actor_id, "mute")
        ends = utcnow() + timedelta(seconds=duration) if duration else None
        async with self.db.write() as conn:
            await repo.set_mute(conn, me.id, target.id, notifications=notifications,
                                expires_at=ends)

    async def unmute(self, user: User, actor_id: int) -> None:
        target = await self._account(actor_id)
        async with self.db.write() as conn:
            await repo.remove_mute(conn, user.actor_id, target.id)

    async def mutes(self, user: User, page: Page) -> list[tuple[int, int, datetime | None]]:
        async with self.db.read() as conn:
            return await repo.mute_page(conn, user.actor_id, page)

    # -- a member's own domain blocks --------------------------------------------------------
    def _domain(self, domain: Any) -> str:
        if not isinstance(domain, str) or not domain.strip():
            raise Invalid(N_("domain is required"), field="domain")
        try:
            clean = rule.clean_domain(domain)
        except ValueError as exc:
            raise Invalid(str(exc), field="domain") from exc
        if rule.covers(clean, self.settings.domain) or rule.covers(
                self.settings.domain.lower(), clean):
            raise Unprocessable(N_("This is the group's own server: block the accounts you do "
                                   "not want to see instead."))
        return clean

    async def block_domain(self, user: User, domain: Any) -> None:
        """Hide a server's accounts from this member; follows with them end (Mastodon)."""
        clean = self._domain(domain)
        me = await self._actor_of(user)
        async with self.db.write() as conn:
            await repo.add_domain_block(conn, me.id, clean)
            for other_id in await repo.actors_on_domains(conn, frozenset({clean})):
                other = await actors_repo.find_by_id(conn, other_id)
                if other is not None:
                    await self._end_follows(conn, me, other)
        self.signals.stream_changed()

    async def unblock_domain(self, user: User, domain: Any) -> None:
        clean = self._domain(domain)
        async with self.db.write() as conn:
            await repo.remove_domain_block(conn, user.actor_id, clean)

    async def domain_blocks(self, user: User, page: Page) -> list[tuple[int, str]]:
        async with self.db.read() as conn:
            return await repo.domain_block_page(conn, user.actor_id, page)

    # -- from other servers (inbox processing, in its transaction) ---------------------------
    async def on_remote_block(self, conn: AsyncConnection, actor: Actor, target_uri: str,
                              activity_uri: str) -> None:
        """``actor`` (remote) blocks one of our accounts: stored; follows both ways end
        (nothing is sent back: their server ended its side already)."""
        target = await actors_repo.find_by_uri(conn, target_uri)
        if target is None or not target.local or target.type is ActorType.APPLICATION:
            return
        if not await repo.add_block(conn, actor.id, target.id, activity_uri):
            return
        for follower, followed in ((actor.id, target.id), (target.id, actor.id)):
            found = await follows_repo.find(conn, follower, followed)
            if found is not None and found.state in (FollowState.ACCEPTED,
                                                     FollowState.PENDING):
                await follows_repo.remove(conn, found.id)
        log.info("remote block", extra={"actor": actor.uri, "target": target.uri})

    async def on_remote_undo_block(self, conn: AsyncConnection, actor: Actor,
                                   inner_uri: str | None, target_uri: str | None) -> bool:
        """``Undo(Block)`` by its author: by the Block's id, or by its object."""
        if inner_uri and await repo.remove_block_by_uri(conn, inner_uri, actor_id=actor.id):
            return True
        if target_uri:
            target = await actors_repo.find_by_uri(conn, target_uri)
            if target is not None and target.local:
                return await repo.remove_block(conn, actor.id, target.id)
        return False

    async def not_blocked_inboxes(self, conn: AsyncConnection, author: Actor,
                                  recipients: Sequence[Actor]) -> list[Actor]:
        """The recipients of a direct status who may be sent it: not those in a block
        with ``author`` either way."""
        if not recipients:
            return []
        r = await repo.relations(conn, author.id)
        return [a for a in recipients
                if a.id not in r.blocking and a.id not in r.blocked_by
                and not (not a.local and r.domains
                         and rule.matching_rule(r.domains, a.domain) is not None)]
