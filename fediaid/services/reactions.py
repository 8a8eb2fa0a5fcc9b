"""Favourites, boosts and bookmarks from an app, federated as Like, Announce and Undo."""

from __future__ import annotations

from typing import TYPE_CHECKING

from activitypub.vocab import PUBLIC
from fediaid.domain.statuses import Level, Status
from fediaid.domain.users import User
from fediaid.errors import Unprocessable
from fediaid.federation import render
from fediaid.services.core import Core, Service
from fediaid.storage import actors as actors_repo
from fediaid.storage import follows as follows_repo
from fediaid.storage import notifications as notifications_repo
from fediaid.storage import outbox as outbox_repo
from fediaid.storage import posts as posts_repo
from fediaid.storage import statuses as repo
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from fediaid.services.outbox import Outbox
    from fediaid.services.status_reading import StatusReading


class Reactions(Service):
    def __init__(self, core: Core, *, reading: StatusReading, outbox: Outbox) -> None:
        super().__init__(core)
        self.reading = reading
        self.outbox = outbox

    # -- favourites, boosts, bookmarks -------------------------------------------------------
    async def _check_reaction(self, user: User, target: Status, what: str) -> None:
        """Reactions name who reacted: the hidden asker of an anonymous post must not react
        in its thread, and nothing held for approval is reacted to (it would federate)."""
        if await self.reading.is_hidden_asker(user, target):
            raise Unprocessable(f"This is about a post you made anonymously; {what} it would "
                                "show who asked.")
        if target.post_id is not None:
            async with self.db.read() as conn:
                post = await posts_repo.find(conn, target.post_id)
            if post is not None and post.held:
                raise Unprocessable("This post is waiting for a coordinator's approval.")

    async def favourite(self, user: User, status_id: int, *, on: bool) -> None:
        viewer = await self.reading.viewer(user)
        status = await self.reading.get(viewer, status_id)
        target = await self.reading.original(status)
        if on:
            await self._check_reaction(user, target, "favouriting")
        async with self.db.write() as conn:
            me = await actors_repo.get_by_id(conn, user.actor_id)
            author = await actors_repo.get_by_id(conn, target.account_id)
            if on:
                like_uri = self.urls.new_activity()
                if not await repo.add_favourite(conn, actor_id=me.id, status_id=target.id,
                                                uri=like_uri):
                    return
                await notifications_repo.add_for_actor(conn, actor_id=author.id,
                                                       type_="favourite", from_actor_id=me.id,
                                                       status_id=target.id)
                if not author.local and author.delivery_inbox:
                    like = render.like(like_uri, me.uri, target.uri)
                    await self.outbox.enqueue(conn, actor=me, activity=like,
                                  inboxes=[author.delivery_inbox])
                return
            like_uri = await repo.find_favourite(conn, actor_id=me.id, status_id=target.id)
            if like_uri is None:
                return
            await repo.remove_favourite(conn, actor_id=me.id, status_id=target.id)
            if not author.local and author.delivery_inbox:
                undo = render.undo_of(self.urls.new_activity(), me.uri, "Like", like_uri,
                                      target.uri)
                await self.outbox.enqueue(conn, actor=me, activity=undo,
                              inboxes=[author.delivery_inbox])

    async def reblog(self, user: User, status_id: int, *, on: bool) -> int | None:
        """Boost (returns the boost's status id) or undo a boost."""
        viewer = await self.reading.viewer(user)
        target = await self.reading.original(await self.reading.get(viewer, status_id))
        if on and target.level is not Level.PUBLIC:
            raise Unprocessable("Validation failed: Reblog of status is not allowed "
                                "(only public statuses can be boosted)")
        if on:
            await self._check_reaction(user, target, "boosting")
        async with self.db.write() as conn:
            me = await actors_repo.get_by_id(conn, user.actor_id)
            existing = await repo.reblog_of(conn, me.id, target.id)
            author = await actors_repo.get_by_id(conn, target.account_id)
            if on:
                if existing is not None:
                    return existing.id
                uri = self.urls.new_activity()
                sid = await repo.insert(conn, uri=uri, account_id=me.id, level=Level.PUBLIC,
                                        listed=True, local=True, content="", user_id=user.id,
                                        reblog_of_id=target.id)
                assert sid is not None
                await notifications_repo.add_for_actor(conn, actor_id=author.id,
                                                       type_="reblog", from_actor_id=me.id,
                                                       status_id=target.id)
                announce = render.announce(
                    uri, me.uri, target.uri, to=[PUBLIC], published=utcnow(),
                    cc=[c for c in (author.uri, me.followers_url) if c])
                inboxes = await follows_repo.follower_inboxes(conn, me.id)
                if not author.local and author.delivery_inbox:
                    inboxes.append(author.delivery_inbox)
                await self.outbox.enqueue(conn, actor=me, activity=announce,
                              inboxes=list(dict.fromkeys(inboxes)), object_uri=target.uri,
                              public=True)
                self.signals.stream_changed()
                return sid
            if existing is None:
                return None
            await repo.delete_status(conn, existing.id)
            received = await outbox_repo.inboxes_for_activity(conn, existing.uri)
            await outbox_repo.forget_activity(conn, existing.uri)  # the boost is undone
            if received:
                undo = render.undo_of(self.urls.new_activity(), me.uri, "Announce",
                                      existing.uri, target.uri, to=[PUBLIC])
                await self.outbox.enqueue(conn, actor=me, activity=undo, inboxes=received)
        self.signals.status_deleted(existing.id)
        return None

    async def bookmark(self, user: User, status_id: int, *, on: bool) -> None:
        viewer = await self.reading.viewer(user)
        target = await self.reading.original(await self.reading.get(viewer, status_id))
        async with self.db.write() as conn:
            if on:
                await repo.add_bookmark(conn, user_id=user.id, status_id=target.id)
            else:
                await repo.remove_bookmark(conn, user_id=user.id, status_id=target.id)
