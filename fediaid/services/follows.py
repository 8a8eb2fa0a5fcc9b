"""Following between the group and other actors (neighboring groups, Mastodon accounts)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from activitypub.errors import FetchError
from activitypub.vocab import is_http_uri
from fediaid.domain.actors import Actor
from fediaid.domain.audit import AuditAction
from fediaid.domain.follows import FollowState, can_transition
from fediaid.domain.roles import Permission
from fediaid.domain.users import User
from fediaid.errors import Conflict, Forbidden, Invalid, NotFound, Unavailable
from fediaid.federation import render
from fediaid.federation.parse import parse_actor
from fediaid.i18n import N_
from fediaid.services.audit import record
from fediaid.services.core import Core, Service
from fediaid.storage import actors as actors_repo
from fediaid.storage import follows as follows_repo

if TYPE_CHECKING:
    from fediaid.services.outbox import Outbox

log = logging.getLogger(__name__)


class FollowService(Service):
    def __init__(self, core: Core, *, outbox: Outbox) -> None:
        super().__init__(core)
        self.outbox = outbox

    async def find_remote_actor(self, handle_or_url: str, *, refresh: bool = False) -> Actor:
        """Look up a remote actor by ``@name@host`` or actor URL, fetching it if needed."""
        target = handle_or_url.strip()
        if not is_http_uri(target):
            try:
                target = await (await self.core.remote()).webfinger(target)
            except ValueError as exc:
                raise Invalid(str(exc), field="handle") from exc
            except FetchError as exc:
                raise Unavailable(N_("Could not find {name}: {problem}", name=handle_or_url,
                                     problem=exc.reason)) from exc
        if self.urls.is_local(target):
            async with self.db.read() as conn:
                return await actors_repo.get_by_uri(conn, target)
        if not refresh:
            async with self.db.read() as conn:
                known = await actors_repo.find_by_uri(conn, target)
            if known is not None:
                return known
        try:
            doc = await (await self.core.remote()).fetch(target)
        except FetchError as exc:
            raise Unavailable(N_("Could not fetch {name}: {problem}", name=target,
                                 problem=exc.reason)) from exc
        data = parse_actor(doc)
        return await self.core.keys.store_actor(data)

    async def follow(self, follower: Actor, handle_or_url: str) -> FollowState:
        """``follower`` (a local actor) follows a remote actor: a pending follow and a Follow
        activity, written together."""
        target = await self.find_remote_actor(handle_or_url)
        if target.local:
            raise Invalid(N_("Following local accounts is not supported yet."), field="handle")
        if target.inbox is None:
            raise Invalid(N_("{name} has no inbox.", name=target.handle), field="handle")
        async with self.db.write() as conn:
            existing = await follows_repo.find(conn, follower.id, target.id)
            if existing is not None:
                return existing.state
            uri = self.urls.new_activity()
            await follows_repo.create(conn, follower_id=follower.id, followed_id=target.id,
                                      uri=uri, state=FollowState.PENDING)
            await self.outbox.enqueue(conn, actor=follower,
                          activity=render.follow(uri, follower.uri, target.uri),
                          inboxes=[target.delivery_inbox or target.inbox], object_uri=target.uri)
        log.info("follow sent", extra={"follower": follower.uri, "target": target.uri})
        return FollowState.PENDING

    async def unfollow(self, follower: Actor, handle_or_url: str) -> None:
        target = await self.find_remote_actor(handle_or_url)
        async with self.db.write() as conn:
            existing = await follows_repo.find(conn, follower.id, target.id)
            if existing is None:
                raise NotFound(N_("{follower} does not follow {name}.",
                                  follower=follower.handle, name=target.handle))
            await follows_repo.remove(conn, existing.id)
            activity = render.undo(self.urls.new_activity(), follower.uri,
                                   render.follow(existing.uri, follower.uri, target.uri))
            await self.outbox.enqueue(conn, actor=follower, activity=activity,
                          inboxes=[target.delivery_inbox or ""], object_uri=target.uri)

    async def decide_follower(self, followed: Actor, follower_uri: str, *, accept: bool,
                              by: User | None = None) -> None:
        """A coordinator (``by``; None: the server operator) accepts or rejects a follow
        request that waits for approval; in the audit log."""
        if by is not None and not by.may(Permission.APPROVE):
            raise Forbidden(N_("Only coordinators can answer follow requests."))
        async with self.db.write() as conn:
            follower = await actors_repo.get_by_uri(conn, follower_uri)
            existing = await follows_repo.find(conn, follower.id, followed.id)
            if existing is None or existing.state is not FollowState.PENDING:
                raise Conflict(N_("There is no follow request from that account."))
            new = FollowState.ACCEPTED if accept else None
            assert can_transition(existing.state, new)
            if accept:
                await follows_repo.set_state(conn, existing.id, FollowState.ACCEPTED)
            else:
                await follows_repo.remove(conn, existing.id)
            reply = render.respond_to_follow(
                "Accept" if accept else "Reject", self.urls.new_activity(), followed.uri,
                render.follow(existing.uri, follower.uri, followed.uri),
            )
            await self.outbox.enqueue(conn, actor=followed, activity=reply,
                          inboxes=[follower.delivery_inbox or ""])
            await record(conn, by, AuditAction.FOLLOW_ACCEPTED if accept
                         else AuditAction.FOLLOW_DECLINED, target_kind="actor",
                         target_id=follower.id,
                         summary=N_("accepted the follow request of {name}",
                                    name=follower.handle) if accept else
                         N_("declined the follow request of {name}", name=follower.handle))

    async def list(self, actor: Actor, direction: str, *,
                   state: FollowState = FollowState.ACCEPTED) -> list[str]:
        async with self.db.read() as conn:
            return await follows_repo.page(conn, actor_id=actor.id, direction=direction,
                                           limit=1000, offset=0, state=state)
