"""Offers and needs arriving from other servers, applied inside the inbox processor's
transaction (services/inbox_processing.py calls these after the generic object handling).

- A Note/Proposal that is an offer or need (FEP-0837, or #need/#offer hashtags) from an
  actor the group follows, or announced by one, is stored as a remote post.
- A top-level post by a remote account that mentions the group and carries #need or #offer
  becomes a post of the group: accepted at once when the account follows the group, held for
  a coordinator otherwise (group setting); the group then shares (announces) it.
- A reply to one of our posts (Mastodon) or an FEP-0837 ``Offer`` is a response.
- ``Accept``/``Reject`` of an ``Offer`` we sent settles our member's response.
- A direct Note between the two sides of an accepted exchange is a conversation message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from activitypub.vocab import PUBLIC, is_public
from fediaid.domain.actors import Actor
from fediaid.domain.follows import FollowState
from fediaid.domain.picture import Deletion
from fediaid.domain.posts import (
    DESCRIPTION_MAX,
    MESSAGE_MAX,
    TITLE_MAX,
    GroupPolicy,
    Kind,
    Post,
    ResponseState,
    State,
    Urgency,
    Visibility,
)
from fediaid.federation import proposals
from fediaid.services import post_records
from fediaid.services.core import Core, Service
from fediaid.services.retention import keep_counts
from fediaid.storage import actors as actors_repo
from fediaid.storage import follows as follows_repo
from fediaid.storage import links as links_repo
from fediaid.storage import posts as posts_repo
from fediaid.storage import responses as responses_repo
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fediaid.federation.inbound import RemoteNote
    from fediaid.services.blocks import BlockService
    from fediaid.services.notifications import NotificationService
    from fediaid.services.post_federation import PostFederation
    from fediaid.services.posts import PostService
    from fediaid.services.remote_statuses import RemoteStatuses

log = logging.getLogger(__name__)


def message_text(note: RemoteNote) -> str:
    """The text of a direct message without the leading "@name@server" mentions that
    Mastodon (and we) put in front of it."""
    text = note.text.strip()
    while True:
        m = re.match(r"@[\w.-]+(?:@[\w.:-]+)?\s*", text)
        if not m:
            return text
        text = text[m.end():]


def _visibility(to: tuple[str, ...], cc: tuple[str, ...]) -> Visibility:
    everyone = to + cc
    if any(is_public(a) for a in everyone):
        return Visibility.PUBLIC
    if any(a.endswith("/followers") for a in everyone):
        return Visibility.NETWORK
    return Visibility.DIRECT


class PostInbox(Service):
    def __init__(self, core: Core, *,
                 blocks: BlockService, notifications: NotificationService,
                 post_federation: PostFederation, posts: PostService,
                 remote_statuses: RemoteStatuses) -> None:
        super().__init__(core)
        self.blocks = blocks
        self.notifications = notifications
        self.post_federation = post_federation
        self.posts = posts
        self.remote_statuses = remote_statuses

    async def _follows_group(self, conn: AsyncConnection, actor: Actor) -> bool:
        f = await follows_repo.find(conn, actor.id, self.identity.group.id)
        return f is not None and f.state is FollowState.ACCEPTED

    async def _group_follows(self, conn: AsyncConnection, actor: Actor) -> bool:
        f = await follows_repo.find(conn, self.identity.group.id, actor.id)
        return f is not None and f.state is FollowState.ACCEPTED

    async def on_object(self, conn: AsyncConnection, actor: Actor, note: RemoteNote,
                        obj: Mapping[str, Any], *, announced_by: Actor | None = None) -> None:
        """Called for every note stored from ``actor`` (its author): ``note`` is the parsed
        object (``federation/inbound``); ``obj`` is handed only to the FEP-0837 parser
        (``federation/proposals_parse``), which reads an offer or need from it."""
        if note.in_reply_to:
            await self._reply(conn, actor, note, note.in_reply_to)
            return
        policy = await self.posts._policy(conn)
        parsed = proposals.parse_proposal(obj, categories=policy.categories)
        if parsed is None:
            await self._maybe_message(conn, actor, note)
            return
        group = self.identity.group
        mentioned = group.uri in note.mentions or group.uri in (parsed.to + parsed.cc)
        via_group = mentioned and announced_by is None and not actor.local
        followed = await self._group_follows(conn, actor) or (
            announced_by is not None and await self._group_follows(conn, announced_by))
        visibility = _visibility(parsed.to, parsed.cc)
        now = utcnow()
        values = {
            "kind": parsed.kind.value,
            "title": parsed.title[:TITLE_MAX],
            "description": proposals.html_to_text(parsed.description_html)[:DESCRIPTION_MAX],
            "category": parsed.category or "other",
            "quantity": parsed.quantity, "unit": parsed.unit[:32], "area": parsed.area,
            "starts_at": parsed.starts_at, "ends_at": parsed.ends_at,
            "urgency": Urgency.NORMAL.value, "visibility": visibility.value,
        }
        if not (via_group or followed):
            # An offer or need from someone we have no relationship with is not ours; but
            # its author's Update of one we keep (announced to us by their group, or
            # offered as a forwarded need) is: its words change, and it may close. Only
            # the author itself: ``_store_object`` refused any object not by the signer
            # or not on the signer's server, and the copy's author is compared here.
            kept = await posts_repo.find_by_uri(conn, parsed.uri)
            if kept is not None and not kept.local and kept.author_uri == actor.uri:
                await post_records.update_post(conn, kept.id, values)
                await self._closed_there(conn, kept, obj.get("closedAs"), policy)
            return
        recipients: tuple[str, ...] = ()
        if visibility is Visibility.DIRECT:
            if via_group:
                return  # a private message to the group is not a public request
            recipients = tuple(a for a in parsed.to + parsed.cc if a != PUBLIC)
        held = via_group and policy.hold_nonmember_posts and not await self._follows_group(
            conn, actor)
        existing = await posts_repo.find_by_uri(conn, parsed.uri)
        if existing is not None:
            if existing.author_uri == actor.uri and not existing.local:
                await post_records.update_post(conn, existing.id, values)
                await self._closed_there(conn, existing, obj.get("closedAs"), policy)
            return
        post_id = await post_records.insert_post(conn, {
            **values, "uri": parsed.uri, "state": State.OPEN.value, "local": False,
            "author_actor_id": actor.id, "creator_user_id": None, "anonymous": False,
            "proxy": False, "held": held, "via_group": via_group,
            "expires_at": max(parsed.ends_at or now, now) + timedelta(days=1)
            if parsed.ends_at else now + policy.expiry,
        }, recipients)
        if via_group and not held:
            post = await posts_repo.get(conn, post_id)
            await self.post_federation.shared_by_group(conn, post)
        log.info("remote %s %s stored%s", parsed.kind.value, parsed.uri,
                 " (held for approval)" if held else "")

    @staticmethod
    async def _closed_there(conn: AsyncConnection, post: Post, closed_as: Any,
                            policy: GroupPolicy) -> None:
        """A fediaid peer's ``Update`` of a closed offer or need (``closedAs``: how it
        ended): our copy closes too, and goes after our retention window (a forwarded need
        closes everywhere it was forwarded: services/forwarding.py)."""
        state = State._value2member_map_.get(closed_as) if isinstance(closed_as, str) else None
        if not isinstance(state, State) or not state.closed or post.state.closed:
            return
        now = utcnow()
        await post_records.update_post(conn, post.id, {
            "state": state.value, "closed_at": now, "delete_after": now + policy.retention})
        await responses_repo.close_conversations(conn, post.id)

    async def on_delete(self, conn: AsyncConnection, actor: Actor, uri: str) -> None:
        post = await posts_repo.find_by_uri(conn, uri)
        if post is not None and not post.local and post.author_uri == actor.uri:
            if post.via_group and not post.held:
                await self.post_federation.unshared_by_group(conn, post)
            # Its author took it back: counted on only if met or expired (kept_outcome).
            await keep_counts(conn, post, Deletion.AUTHOR)
            await post_records.remove_post(conn, post.id)
            return
        response = await responses_repo.find_by_uri(conn, uri)
        if response is not None and response.responder_uri == actor.uri:
            await responses_repo.set_state(conn, response.id, ResponseState.WITHDRAWN)

    async def _reply(self, conn: AsyncConnection, actor: Actor, note: RemoteNote,
                     parent: str) -> None:
        post = await posts_repo.find_by_uri(conn, parent)
        if post is not None and post.local and not await responses_repo.existing(
                conn, post.id, actor.id):
            # The reply is a client-API status first, so the answer's mention points at it.
            await self.remote_statuses.on_remote_object(conn, actor, note)
            await self._response(conn, actor, post_uri=post.uri, response_uri=note.uri,
                                 message=message_text(note), quantity=None)
            return
        await self._maybe_message(conn, actor, note)

    async def on_offer(self, conn: AsyncConnection, actor: Actor, activity: dict[str, Any]
                       ) -> None:
        offer = proposals.parse_offer(activity)
        if offer is None or offer.actor_uri != actor.uri:
            return
        await self._response(conn, actor, post_uri=offer.post_uri, response_uri=offer.id,
                             message=offer.message, quantity=offer.quantity)

    async def _response(self, conn: AsyncConnection, actor: Actor, *, post_uri: str,
                        response_uri: str, message: str, quantity: Any) -> None:
        post = await posts_repo.find_by_uri(conn, post_uri.split("#", 1)[0])
        if post is None or not post.local or not post.is_open or post.held:
            return
        if await responses_repo.find_by_uri(conn, response_uri) is not None:
            return
        if await responses_repo.existing(conn, post.id, actor.id):
            return
        from fediaid.domain.visibility import Viewer, can_view

        viewer = Viewer(actor_uri=actor.uri,
                        in_network=actor.domain in await links_repo.active_domains(conn))
        if not can_view(viewer, post) or await self.blocks.refuses_answer(
                conn, post, actor.id):
            return
        if quantity is not None and post.quantity is not None and quantity > post.quantity:
            quantity = post.quantity
        response = await responses_repo.insert(
            conn, uri=response_uri, post_id=post.id, responder_actor_id=actor.id,
            responder_user_id=None, message=message[:MESSAGE_MAX], quantity=quantity,
            state=ResponseState.PENDING.value)
        await self.notifications.responded(conn, post, response)
        log.info("remote response %s to %s", response_uri, post.uri)

    async def on_offer_answer(self, conn: AsyncConnection, actor: Actor,
                              activity: dict[str, Any]) -> None:
        answer = proposals.parse_offer_answer(activity)
        if answer is None:
            return
        response = await responses_repo.find_by_uri(conn, answer.offer_id)
        if response is None or response.state is not ResponseState.PENDING:
            return
        post = await posts_repo.find(conn, response.post_id)
        if post is None or post.local or post.author_uri != actor.uri:
            return
        if answer.accepted:
            await responses_repo.set_state(conn, response.id, ResponseState.ACCEPTED,
                                           agreement_uri=answer.agreement_id)
            helper, other = ((response.responder_actor_id, actor.id) if post.kind is Kind.NEED
                             else (actor.id, response.responder_actor_id))
            await responses_repo.open_conversation(
                conn, post_id=post.id, response_id=response.id, helper_actor_id=helper,
                other_actor_id=other)
        else:
            await responses_repo.set_state(conn, response.id, ResponseState.DECLINED,
                                           note=(answer.reason or "")[:500] or None)
        await self.notifications.answered(
            conn, post, await responses_repo.get(conn, response.id), accepted=answer.accepted,
            uri=str(activity.get("id") or "") or None)

    async def _maybe_message(self, conn: AsyncConnection, actor: Actor, note: RemoteNote
                             ) -> None:
        """A direct note from one side of an accepted exchange to the other."""
        addressed = set(note.to + note.cc)
        if any(is_public(a) for a in addressed):
            return
        for conv in await responses_repo.conversations_of(conn, actor.id):
            other_id = (conv.other_actor_id if conv.helper_actor_id == actor.id
                        else conv.helper_actor_id)
            other = await actors_repo.find_by_id(conn, other_id)
            if other is None or not other.local or other.uri not in addressed:
                continue
            closed = conv.closed_at is not None and (
                conv.reopened_at is None or conv.reopened_at < conv.closed_at)
            if closed and actor.id != conv.helper_actor_id:
                log.info("message from %s to a closed exchange dropped", actor.uri)
                return
            if closed:
                await responses_repo.reopen(conn, conv.id)
            message = await responses_repo.add_message(
                conn, uri=note.uri, conversation_id=conv.id, sender_actor_id=actor.id,
                body=message_text(note)[:MESSAGE_MAX])
            # The status for the client API (created here before the inbox's generic path,
            # so the real asker behind an anonymous post can see it too).
            await self.remote_statuses.on_remote_object(conn, actor, note)
            post = await posts_repo.get(conn, conv.post_id)
            await self.notifications.exchange_message(conn, post, conv, message)
            return
