"""Answering posts ("I can help" / "I'd like this"), accepting and declining answers, and
the private conversation that an acceptance opens.

Protections for one-time helpers (the study's Venmo problem):
- a helper may cap how many answers they take on per week;
- once an exchange is closed, the other side can no longer write to the helper unless the
  helper reopens contact (by writing, or explicitly);
- contact details are never part of a profile or post: people share them in the
  conversation, if and when they choose.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fediaid.domain.actors import Actor
from fediaid.domain.posts import (
    MESSAGE_MAX,
    Kind,
    Post,
    ResponseState,
    clean_text,
    parse_quantity,
    response_transition,
)
from fediaid.domain.rate_limits import ANSWERS_ACCOUNT
from fediaid.domain.users import User
from fediaid.domain.visibility import can_view
from fediaid.errors import Conflict, Forbidden, Invalid, NotFound
from fediaid.i18n import N_
from fediaid.services.core import Core, Service
from fediaid.storage import actors as actors_repo
from fediaid.storage import posts as posts_repo
from fediaid.storage import responses as responses_repo
from fediaid.storage import users as users_repo
from fediaid.storage.responses import Conversation, Message, Response
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fediaid.services.blocks import BlockService
    from fediaid.services.notifications import NotificationService
    from fediaid.services.post_federation import PostFederation
    from fediaid.services.posts import PostService
    from fediaid.services.rate_limits import RateLimiter

WEEK = timedelta(days=7)


class ResponseService(Service):
    def __init__(self, core: Core, *,
                 blocks: BlockService, limits: RateLimiter,
                 notifications: NotificationService, post_federation: PostFederation,
                 posts: PostService) -> None:
        super().__init__(core)
        self.blocks = blocks
        self.limits = limits
        self.notifications = notifications
        self.post_federation = post_federation
        self.posts = posts

    async def _user_actor(self, conn: AsyncConnection, user: User) -> Actor:
        return await actors_repo.get_by_id(conn, user.actor_id)

    async def respond(self, user: User, post_id: int, message: Any = "",
                      quantity: Any = None) -> Response:
        """Answer a post as ``user``."""
        text = clean_text(message, field="message", max_len=MESSAGE_MAX)
        qty = parse_quantity(quantity)
        await self.limits.enforce(
            ANSWERS_ACCOUNT, str(user.id),
            "You have answered many posts in the last hour. Please wait a little before "
            "answering more.")
        async with self.db.write() as conn:
            actor = await self._user_actor(conn, user)
            post = await posts_repo.find(conn, post_id)
            viewer = self.posts.viewer_for(user, actor)
            if post is None or not can_view(viewer, post):
                raise NotFound(N_("No such post, or it is not shared with you."))
            if post.held:
                raise Conflict(N_("This post is waiting for a coordinator's approval."))
            if not post.is_open:
                raise Conflict(N_("This post is closed."))
            if self.posts.can_manage(user, post) or post.author_uri == actor.uri:
                raise Invalid(N_("You cannot answer your own post."), field="post")
            if await self.blocks.refuses_answer(conn, post, actor.id):
                # A block either way (services/blocks.py); the words do not say which.
                raise Forbidden(N_("You cannot answer this post."))
            if qty is not None and post.quantity is not None and qty > post.quantity:
                most = " ".join((str(post.quantity), post.unit))
                raise Invalid(N_("At most {amount}.", amount=most), field="quantity")
            if await responses_repo.existing(conn, post.id, actor.id):
                raise Conflict(N_("You have already answered this post."))
            if post.kind is Kind.NEED:
                await self._check_cap(conn, user, actor)
            response = await responses_repo.insert(
                conn, uri=self.urls.new_object(), post_id=post.id,
                responder_actor_id=actor.id, responder_user_id=user.id, message=text,
                quantity=qty, state=ResponseState.PENDING.value)
            await self.post_federation.responded(conn, post, response, actor)
            await self.notifications.responded(conn, post, response)
        return response

    async def _check_cap(self, conn: AsyncConnection, user: User, actor: Actor) -> None:
        cap = await users_repo.weekly_cap(conn, user.id)
        if cap is None:
            return
        taken = await responses_repo.count_since(conn, actor.id, utcnow() - WEEK)
        taken += await responses_repo.accepted_on_offers_since(conn, actor.id, utcnow() - WEEK)
        if taken >= cap:
            raise Conflict(N_("You set a limit of {cap} a week, and you have reached it. "
                              "Thank you! You can change the limit in your settings.", cap=cap))

    async def set_weekly_cap(self, user: User, cap: Any) -> None:
        if cap in (None, ""):
            value = None
        else:
            try:
                value = int(cap)
            except (TypeError, ValueError) as exc:
                raise Invalid(N_("The limit must be a whole number."), field="cap") from exc
            if not 0 < value <= 100:
                raise Invalid(N_("The limit must be between 1 and 100."), field="cap")
        async with self.db.write() as conn:
            await users_repo.set_weekly_cap(conn, user.id, value)

    async def for_post(self, user: User, post_id: int) -> list[Response]:
        """Every answer to a post: for whoever manages it."""
        async with self.db.read() as conn:
            post = await posts_repo.find(conn, post_id)
            if post is None or not self.posts.can_manage(user, post):
                raise NotFound(N_("No such post of yours."))
            return await responses_repo.for_post(conn, post_id)

    async def mine(self, user: User, response_id: int) -> Response:
        async with self.db.read() as conn:
            resp = await responses_repo.get(conn, response_id)
            post = await posts_repo.get(conn, resp.post_id)
        if resp.responder_user_id != user.id and not self.posts.can_manage(user, post):
            raise NotFound(N_("No such response."))
        return resp

    async def _managed_response(self, conn: AsyncConnection, user: User, response_id: int
                                ) -> tuple[Response, Post]:
        resp = await responses_repo.get(conn, response_id)
        post = await posts_repo.get(conn, resp.post_id)
        if not self.posts.can_manage(user, post):
            raise NotFound(N_("No such response to a post of yours."))
        return resp, post

    async def accept(self, user: User, response_id: int, quantity: Any = None) -> Conversation:
        """Accept an answer (all of it, or part: ``quantity``): opens a private conversation
        between exactly the two people (for anonymous and proxy posts, the group speaks for
        the asker)."""
        qty = parse_quantity(quantity)
        async with self.db.write() as conn:
            resp, post = await self._managed_response(conn, user, response_id)
            if not post.is_open:
                raise Conflict(N_("This post is closed."))
            response_transition(resp.state, ResponseState.ACCEPTED)
            if qty is not None and resp.quantity is not None and qty > resp.quantity:
                raise Invalid(N_("They offered {amount}; accept at most that.",
                                 amount=resp.quantity),
                              field="quantity")
            if post.kind is Kind.OFFER:
                await self._check_cap(conn, user, await self._user_actor(conn, user))
            await responses_repo.set_state(conn, resp.id, ResponseState.ACCEPTED,
                                           quantity=qty, agreement_uri=self.urls.new_object())
            author = await actors_repo.get_by_uri(conn, post.author_uri)
            helper, other = ((resp.responder_actor_id, author.id) if post.kind is Kind.NEED
                             else (author.id, resp.responder_actor_id))
            conv = await responses_repo.open_conversation(
                conn, post_id=post.id, response_id=resp.id, helper_actor_id=helper,
                other_actor_id=other)
            await self.posts.set_promised(conn, post, True)
            accepted = await responses_repo.get(conn, resp.id)
            await self.post_federation.answered(conn, post, accepted, accepted=True)
            await self.notifications.answered(conn, post, accepted, accepted=True)
        return conv

    async def decline(self, user: User, response_id: int, note: Any = None) -> None:
        text = clean_text(note, field="note", max_len=500) or None
        async with self.db.write() as conn:
            resp, post = await self._managed_response(conn, user, response_id)
            response_transition(resp.state, ResponseState.DECLINED)
            await responses_repo.set_state(conn, resp.id, ResponseState.DECLINED, note=text)
            declined = await responses_repo.get(conn, resp.id)
            await self.post_federation.answered(conn, post, declined, accepted=False)
            await self.notifications.answered(conn, post, declined, accepted=False)

    async def withdraw(self, user: User, response_id: int) -> None:
        """The person who answered takes it back."""
        async with self.db.write() as conn:
            resp = await responses_repo.get(conn, response_id)
            if resp.responder_user_id != user.id:
                raise NotFound(N_("No such response of yours."))
            response_transition(resp.state, ResponseState.WITHDRAWN)
            await responses_repo.set_state(conn, resp.id, ResponseState.WITHDRAWN)
            post = await posts_repo.get(conn, resp.post_id)
            still = [r for r in await responses_repo.for_post(conn, post.id)
                     if r.state is ResponseState.ACCEPTED]
            await self.posts.set_promised(conn, post, bool(still))

    # -- conversations ------------------------------------------------------------------
    async def _side(self, conn: AsyncConnection, user: User, conv: Conversation
                    ) -> tuple[int, Post]:
        """The actor id ``user`` speaks as in this conversation, or NotFound."""
        post = await posts_repo.get(conn, conv.post_id)
        if user.actor_id in (conv.helper_actor_id, conv.other_actor_id):
            return user.actor_id, post
        group_id = self.identity.group.id
        if group_id in (conv.helper_actor_id, conv.other_actor_id) and self.posts.can_manage(
                user, post):
            return group_id, post
        raise NotFound(N_("No such conversation."))

    async def messages(self, user: User, conversation_id: int) -> tuple[Conversation,
                                                                        list[Message]]:
        async with self.db.read() as conn:
            conv = await responses_repo.get_conversation(conn, conversation_id)
            await self._side(conn, user, conv)
            return conv, await responses_repo.messages_in(conn, conversation_id)

    async def send(self, user: User, conversation_id: int, body: Any) -> Message:
        text = clean_text(body, field="body", max_len=MESSAGE_MAX, required=True)
        async with self.db.write() as conn:
            conv = await responses_repo.get_conversation(conn, conversation_id)
            side, post = await self._side(conn, user, conv)
            closed = conv.closed_at is not None and (
                conv.reopened_at is None or conv.reopened_at < conv.closed_at)
            if closed:
                if side != conv.helper_actor_id:
                    raise Forbidden(N_("This exchange is closed. The helper can reopen contact "
                                       "if they want to."))
                await responses_repo.reopen(conn, conv.id)
            message = await responses_repo.add_message(
                conn, uri=self.urls.new_object(), conversation_id=conv.id,
                sender_actor_id=side, body=text)
            await self.post_federation.message_sent(conn, post, conv, message)
            await self.notifications.exchange_message(conn, post, conv, message)
        return message

    async def reopen(self, user: User, conversation_id: int) -> None:
        async with self.db.write() as conn:
            conv = await responses_repo.get_conversation(conn, conversation_id)
            side, _ = await self._side(conn, user, conv)
            if side != conv.helper_actor_id:
                raise Forbidden(N_("Only the helper can reopen contact."))
            await responses_repo.reopen(conn, conv.id)

    async def conversations(self, user: User) -> list[Conversation]:
        """The user's conversations, including those where the group speaks for them (their
        anonymous posts; proxy posts for coordinators)."""
        group_id = self.identity.group.id
        async with self.db.read() as conn:
            mine = await responses_repo.conversations_of(conn, user.actor_id)
            for conv in await responses_repo.conversations_of(conn, group_id):
                post = await posts_repo.find(conn, conv.post_id)
                if post is not None and self.posts.can_manage(user, post):
                    mine.append(conv)
        return sorted({c.id: c for c in mine}.values(), key=lambda c: -c.id)

    async def my_response(self, user: User, post_id: int) -> Response | None:
        """The user's current (pending or accepted) answer to a post, if any."""
        async with self.db.read() as conn:
            return await responses_repo.existing(conn, post_id, user.actor_id)

    async def weekly_cap(self, user: User) -> int | None:
        async with self.db.read() as conn:
            return await users_repo.weekly_cap(conn, user.id)
