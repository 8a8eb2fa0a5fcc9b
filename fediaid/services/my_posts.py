"""A member's own things: "My posts" (the offers and needs they created, also as a
neighbor or for one, with their answers), their exchanges, their notifications in words
and the unread count shown in every page's header.

Unread means newer than the member's notifications marker: the same reading position the
client API keeps (``markers``), so reading in an app counts here and the other way round.
Opening the notifications page moves it to the newest notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from fediaid.domain.ids import parse_id
from fediaid.domain.paging import Page
from fediaid.domain.posts import Post
from fediaid.domain.users import User
from fediaid.domain.visibility import can_view
from fediaid.services.core import Core, Service
from fediaid.storage import actors as actors_repo
from fediaid.storage import my_posts as repo
from fediaid.storage import posts as posts_repo
from fediaid.storage import responses as responses_repo
from fediaid.storage.client_misc import markers_of
from fediaid.storage.responses import Conversation

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fediaid.services.notifications import NotificationService
    from fediaid.services.posts import PostService
    from fediaid.services.responses import ResponseService

#: The badge counts up to this many ("99+" beyond).
BADGE_LIMIT = 100
MY_POSTS_LIMIT = 200


@dataclass(frozen=True)
class MyPost:
    post: Post
    answers: int
    unread: int  # unread answers


@dataclass(frozen=True)
class MyExchange:
    conversation: Conversation
    post: Post
    unread: int  # unread messages (and the acceptance, for the helper)


@dataclass(frozen=True)
class NotificationItem:
    id: int
    type: str
    from_uri: str
    created_at: datetime
    unread: bool
    post: Post | None = None  # the post it is about, when the reader may see it
    answer: bool = False  # an answer to one of the reader's posts
    conversation_id: int | None = None  # a message in one of the reader's exchanges


class MyPostsService(Service):
    def __init__(self, core: Core, *, notifications: NotificationService,
                 posts: PostService, responses: ResponseService) -> None:
        super().__init__(core)
        self.notifications = notifications
        self.posts = posts
        self.responses = responses

    @staticmethod
    async def _last_read(conn: AsyncConnection, user: User) -> int:
        marker = (await markers_of(conn, user.id, ["notifications"])).get("notifications")
        return (parse_id(marker.last_read_id) or 0) if marker else 0

    async def unread_count(self, user: User) -> int:
        """Unread notifications (at most ``BADGE_LIMIT``): the header's badge."""
        async with self.db.read() as conn:
            return await repo.unread_count(conn, user.id, await self._last_read(conn, user),
                                           limit=BADGE_LIMIT)

    async def _unread(self, conn: AsyncConnection, user: User) -> dict[tuple[str, str], int]:
        after = await self._last_read(conn, user)
        return {(u.conversation, u.in_reply_to_uri): u.count
                for u in await repo.unread_by_thread(conn, user.id, after)}

    async def posts_of(self, user: User) -> list[MyPost]:
        """The posts ``user`` created, newest first, with how many answers each has and how
        many of those are unread."""
        viewer = await self.posts.viewer_for_user(user)
        async with self.db.read() as conn:
            mine = [p for p in await repo.created_by(conn, user.id, limit=MY_POSTS_LIMIT)
                    if can_view(viewer, p)]
            counts = await repo.answer_counts(conn, [p.id for p in mine])
            unread = await self._unread(conn, user)
        return [MyPost(p, counts.get(p.id, 0), unread.get((p.uri, p.uri), 0)) for p in mine]

    async def exchanges(self, user: User) -> list[MyExchange]:
        """The user's exchanges (as the one who asked or offered, or the one who answered),
        newest first, with their unread messages."""
        convs = await self.responses.conversations(user)
        out = []
        async with self.db.read() as conn:
            unread = await self._unread(conn, user)
            for conv in convs:
                post = await posts_repo.find(conn, conv.post_id)
                if post is None:
                    continue
                response = await responses_repo.get(conn, conv.response_id)
                out.append(MyExchange(conv, post, unread.get((post.uri, response.uri), 0)))
        return out

    async def notifications_of(self, user: User, *, limit: int = 50
                               ) -> list[NotificationItem]:
        """The newest notifications the user may see, in terms of posts and exchanges."""
        rows = await self.notifications.page(user, Page(limit=limit))
        viewer = await self.posts.viewer_for_user(user)
        mine = {c.id for c in await self.responses.conversations(user)}
        out = []
        async with self.db.read() as conn:
            after = await self._last_read(conn, user)
            places = await repo.places(conn, [n.status_id for n in rows
                                              if n.status_id is not None])
            for n in rows:
                sender = await actors_repo.find_by_id(conn, n.from_actor_id)
                item = NotificationItem(n.id, n.type, sender.uri if sender else "",
                                        n.created_at, n.id > after)
                place = places.get(n.status_id) if n.status_id is not None else None
                if place is not None and place.conversation:
                    post = await posts_repo.find_by_uri(conn, place.conversation)
                    if post is not None and can_view(viewer, post):
                        conv_id = None
                        if place.in_reply_to_uri and place.in_reply_to_uri != post.uri:
                            response = await responses_repo.find_by_uri(
                                conn, place.in_reply_to_uri)
                            if response is not None:
                                conv_id = next(
                                    (c.id for c in await responses_repo.conversations_for_post(
                                        conn, post.id)
                                     if c.response_id == response.id and c.id in mine), None)
                        item = NotificationItem(
                            n.id, n.type, item.from_uri, n.created_at, item.unread, post=post,
                            answer=place.in_reply_to_uri == post.uri
                            and post.creator_user_id == user.id,
                            conversation_id=conv_id)
                out.append(item)
        return out

    async def newest(self, user: User) -> int:
        """The id of the user's newest notification (0 without any)."""
        async with self.db.read() as conn:
            return await repo.newest_id(conn, user.id)

    async def mark_read(self, user: User, up_to: int | None = None) -> None:
        """Everything up to ``up_to`` (by default the newest notification) is read: the
        notifications marker moves forward, never back. A page passes the newest id it
        had before listing, so what arrives meanwhile stays unread."""
        async with self.db.read() as conn:
            newest = await repo.newest_id(conn, user.id) if up_to is None else up_to
            after = await self._last_read(conn, user)
        if newest > after:
            await self.notifications.set_markers(user, {"notifications": str(newest)})
