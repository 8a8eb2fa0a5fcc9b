"""Offers and needs on the wire: what each change sends, and to whom. Everything is written
in the caller's transaction, like every other federation side effect.

- A member's post: ``Create(Note)`` from the member, to the member's followers and the
  group's followers' servers (a ``network`` post: only to the servers of linked groups,
  services/links.py); the group then shares it in both forms peers need:
  ``Announce(Create(Note))`` (FEP-1b12) and ``Announce(Note)`` (what Mastodon shows).
- An anonymous or proxy post: ``Create(Note)`` from the group itself.
- Direct posts go to the named people only.
- Edits and closing: ``Update(Note)`` to the same audience; deletion (retention, or narrowing
  to members-only): ``Delete`` to every inbox that received anything about the post.
- Members-only posts and held posts never leave the instance (``visibility.federates``).
- Answers across servers: FEP-0837 ``Offer``/``Accept``/``Reject`` with fediaid and other
  FEP-0837 peers, direct-message Notes with Mastodon accounts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from activitypub.vocab import PUBLIC
from fediaid.domain.actors import Actor
from fediaid.domain.posts import Post, Visibility
from fediaid.domain.visibility import federates
from fediaid.federation import proposals, render
from fediaid.services.core import Core, Service
from fediaid.services.retention import forget_object
from fediaid.storage import actors as actors_repo
from fediaid.storage import follows as follows_repo
from fediaid.storage import links as links_repo
from fediaid.storage import objects as objects_repo
from fediaid.storage import outbox as outbox_repo
from fediaid.storage import posts as posts_repo
from fediaid.storage.responses import Conversation, Message, Response
from fediaid.storage.tables import activities, deliveries
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fediaid.services.blocks import BlockService
    from fediaid.services.outbox import Outbox

CONTEXT = proposals.CONTEXT  # ActivityStreams + the FEP-0837 terms


class PostFederation(Service):
    context = CONTEXT

    def __init__(self, core: Core, *, blocks: BlockService, outbox: Outbox) -> None:
        super().__init__(core)
        self.blocks = blocks
        self.outbox = outbox

    # -- rendering ------------------------------------------------------------------------
    async def note(self, conn: AsyncConnection, post: Post) -> dict[str, Any]:
        """The post as a Note (also served to signed fetches that may see it)."""
        author = await actors_repo.get_by_uri(conn, post.author_uri)
        labels = dict(await posts_repo.category_list(conn, active_only=False))
        areas = dict(await posts_repo.area_list(conn))
        return self._note(post, author, labels, areas)

    async def notes(self, conn: AsyncConnection, posts: Sequence[Post], *,
                    known: Mapping[str, Actor] | None = None) -> dict[int, dict[str, Any]]:
        """Several posts as Notes, by post id, in two queries whatever their number (a
        page of statuses): the authors (those not in ``known``, actors by URI the caller
        has read already), and the category and area labels once."""
        if not posts:
            return {}
        known = known or {}
        authors = {p.author_uri: known[p.author_uri] for p in posts if p.author_uri in known}
        authors |= await actors_repo.by_uris(conn, [p.author_uri for p in posts
                                                    if p.author_uri not in authors])
        labels, areas = await posts_repo.labels(conn)
        return {p.id: self._note(p, authors[p.author_uri], labels, areas) for p in posts
                if p.author_uri in authors}

    def _note(self, post: Post, author: Actor, labels: dict[str, str],
              areas: dict[str, str]) -> dict[str, Any]:
        group = self.identity.group
        base = self.settings.base_url
        handle = f"@{group.username}@{self.settings.domain}"
        address = proposals.addressing(
            post, group_uri=group.uri, group_followers=group.followers_url or "",
            author_followers=author.followers_url if author.id != group.id else None)
        verb = "Reply to this post to help" if post.kind.value == "need" else (
            "Reply to this post if you would like it")
        note = proposals.render_post(
            post, author_uri=author.uri, group_uri=group.uri, group_handle=handle,
            addressing=address, category_label=labels.get(post.category, post.category),
            area_label=areas.get(post.area or "", None), tag_base_url=f"{base}/tags/",
            category_base_url=f"{base}/categories/",
            reply_hint=f"{verb}, or write to {handle}.")
        if post.state.closed:
            closed = post.state.value.replace("_", " ")
            note["content"] = f"<p><strong>Closed: {closed}.</strong></p>" + note["content"]
            # Read by fediaid peers, which close their copy (docs/federation.md).
            note["closedAs"] = post.state.value
        return note

    # -- audiences ------------------------------------------------------------------------
    async def _audience_inboxes(self, conn: AsyncConnection, post: Post, author: Actor
                                ) -> list[str]:
        if post.visibility is Visibility.DIRECT:
            out = []
            for uri in post.recipients:
                actor = await actors_repo.find_by_uri(conn, uri)
                if actor is not None and not actor.local and actor.delivery_inbox and not (
                        await self.blocks.between(conn, author.id, actor.id)):
                    out.append(actor.delivery_inbox)  # not across a block (services/blocks)
            return out
        group = self.identity.group
        if post.visibility is Visibility.NETWORK:
            # The group's network: the servers of the groups it is linked with, never its
            # plain followers (fediaid/domain/visibility.py).
            return await links_repo.active_inboxes(conn)
        inboxes = await follows_repo.follower_inboxes(conn, group.id)
        if author.id != group.id and post.visibility is Visibility.PUBLIC:
            # Only public posts go to the author's own followers: a network post is for the
            # group's network, and its addressing names only the group's followers.
            inboxes += await follows_repo.follower_inboxes(conn, author.id)
        return list(dict.fromkeys(inboxes))

    async def _received(self, conn: AsyncConnection, post: Post) -> list[str]:
        """Every inbox we queued anything about this post for."""
        rows = await conn.execute(
            select(deliveries.c.inbox_url).join(activities,
                                                activities.c.id == deliveries.c.activity_id)
            .where(activities.c.object_uri == post.uri).distinct())
        return [r[0] for r in rows]

    # -- lifecycle ------------------------------------------------------------------------
    async def created(self, conn: AsyncConnection, post: Post) -> None:
        if not federates(post):
            return
        author = await actors_repo.get_by_uri(conn, post.author_uri)
        note = await self.note(conn, post)
        public = post.visibility is Visibility.PUBLIC
        create = render.create_of(self.urls.new_activity(), author.uri, note,
                                  context=CONTEXT)
        inboxes = await self._audience_inboxes(conn, post, author)
        await self.outbox.enqueue(conn, actor=author, activity=create, inboxes=inboxes,
                      object_uri=post.uri, public=public)
        group = self.identity.group
        if author.id != group.id and post.visibility is not Visibility.DIRECT:
            await self._announce(conn, post, embedded=create)

    async def _announce(self, conn: AsyncConnection, post: Post, *,
                        embedded: dict[str, Any] | None) -> None:
        """The group shares a post with its followers: Announce(Create(Note)) for FEP-1b12
        peers when we have the Create, and Announce(Note) for Mastodon."""
        group = self.identity.group
        public = post.visibility is Visibility.PUBLIC
        to = [PUBLIC] if public else [group.followers_url]
        cc = [group.followers_url] if public else []
        inboxes = (await follows_repo.follower_inboxes(conn, group.id) if public
                   else await links_repo.active_inboxes(conn))
        objects: list[Any] = [post.uri]
        if embedded is not None:
            objects.insert(0, embedded)
        for obj in objects:
            announce = render.announce(self.urls.new_activity(), group.uri, obj, to=to,
                                       cc=cc, published=utcnow(), audience=group.uri)
            await self.outbox.enqueue(conn, actor=group, activity=announce, inboxes=inboxes,
                          object_uri=post.uri, public=public)

    async def offers_taken_back(self, conn: AsyncConnection, post: Post) -> None:
        """The asker opted a need out after it was offered to linked groups
        (services/forwarding.py): ``Undo`` of each offer (the group's ``Announce``), to the
        group it went to; their members no longer see it "From linked groups"."""
        from fediaid.storage import forwarding as forwarding_repo

        group = self.identity.group
        for actor_id, offer_uri in await forwarding_repo.take_back(conn, post.id):
            target = await actors_repo.find_by_id(conn, actor_id)
            inbox = (target.delivery_inbox or target.inbox) if target else None
            if target is None or not inbox:
                continue
            undo = render.undo_of(self.urls.new_activity(), group.uri, "Announce", offer_uri,
                                  post.uri, to=[target.uri])
            await self.outbox.enqueue(conn, actor=group, activity=undo, inboxes=[inbox],
                                      object_uri=post.uri)

    async def shared_by_group(self, conn: AsyncConnection, post: Post) -> None:
        """A remote account's post that mentioned the group, now accepted: the group boosts
        it for its followers."""
        if post.visibility in (Visibility.PUBLIC, Visibility.NETWORK):
            await self._announce(conn, post, embedded=None)

    async def unshared_by_group(self, conn: AsyncConnection, post: Post) -> None:
        await outbox_repo.cancel_for_object(conn, post.uri)

    async def updated(self, conn: AsyncConnection, post: Post, *, previous: Post) -> None:
        if post.visibility is not Visibility.PUBLIC or post.held:
            # Narrowed: what was published about it is no longer for everyone.
            await outbox_repo.restrict_object(conn, post.uri)
        if not post.local or not federates(post):
            return
        author = await actors_repo.get_by_uri(conn, post.author_uri)
        note = await self.note(conn, post)
        update = render.update_of(self.urls.new_activity(), author.uri, note,
                                  context=CONTEXT)
        inboxes = await self._audience_inboxes(conn, post, author)
        inboxes += await self._received(conn, post)
        await self.outbox.enqueue(conn, actor=author, activity=update,
                      inboxes=list(dict.fromkeys(inboxes)), object_uri=post.uri,
                      public=post.visibility is Visibility.PUBLIC)

    async def deleted(self, conn: AsyncConnection, post: Post, *, gone: bool = True) -> None:
        """Take the post back from everyone who received it, and keep nothing derived from
        it: its stored activities (with their deliveries) and received copies go
        (``retention.forget_object``); the Delete names no object, so it stays until
        delivered. ``gone`` False: the post stays here (narrowed to members-only)."""
        received = await self._received(conn, post) if post.local else []
        await forget_object(conn, post.uri, gone=gone)
        if not received:
            return
        author = await actors_repo.get_by_uri(conn, post.author_uri)
        delete = render.wrap("Delete", self.urls.new_activity(), author.uri,
                             proposals.render_tombstone(post.uri), to=[PUBLIC])
        await self.outbox.enqueue(conn, actor=author, activity=delete, inboxes=received,
                      object_uri=None, public=False)

    # -- answers and messages -------------------------------------------------------------
    async def _dm(self, conn: AsyncConnection, sender: Actor, recipient: Actor, text: str, *,
                  in_reply_to: str | None = None, uri: str | None = None) -> None:
        """A direct Note with a Mention, so Mastodon notifies the recipient."""
        note = render.direct_note(
            uri=uri or self.urls.new_object(), sender_uri=sender.uri,
            recipient_uri=recipient.uri,
            recipient_name=(f"@{recipient.username}@{recipient.domain}"
                            if recipient.username else ""),
            recipient_url=recipient.url or recipient.uri, text=text, published=utcnow(),
            in_reply_to=in_reply_to)
        create = render.create_of(self.urls.new_activity(), sender.uri, note)
        await self.outbox.enqueue(conn, actor=sender, activity=create,
                      inboxes=[recipient.delivery_inbox or ""], object_uri=note["id"])

    async def _structured(self, conn: AsyncConnection, uri: str) -> bool:
        obj = await objects_repo.find_by_uri(conn, uri)
        return obj is not None and "publishes" in obj.payload

    async def responded(self, conn: AsyncConnection, post: Post, response: Response,
                        responder: Actor) -> None:
        """A local member answered a remote post: an FEP-0837 Offer to its author, and for a
        post from Mastodon a direct reply its author will see."""
        if post.local:
            return
        author = await actors_repo.get_by_uri(conn, post.author_uri)
        offer = proposals.render_offer(
            offer_id=response.uri, actor_uri=responder.uri, post_uri=post.uri,
            post_author_uri=author.uri, quantity=response.quantity, unit=post.unit,
            message=response.message)
        await self.outbox.enqueue(conn, actor=responder, activity=offer,
                      inboxes=[author.delivery_inbox or ""], object_uri=post.uri)
        if not await self._structured(conn, post.uri):
            verb = "I can help" if post.kind.value == "need" else "I'd like this"
            await self._dm(conn, responder, author, response.message or verb,
                           in_reply_to=post.uri)

    async def answered(self, conn: AsyncConnection, post: Post, response: Response, *,
                       accepted: bool) -> None:
        """The author accepted or declined a remote neighbor's answer."""
        responder = await actors_repo.get_by_id(conn, response.responder_actor_id)
        if responder.local:
            return
        author = await actors_repo.get_by_uri(conn, post.author_uri)
        via_note = await objects_repo.find_by_uri(conn, response.uri) is not None
        if not via_note:
            offer = proposals.render_offer_reference(
                offer_id=response.uri, actor_uri=responder.uri, post_uri=post.uri,
                quantity=response.quantity, unit=post.unit)
            if accepted:
                activity = proposals.render_accept_offer(
                    accept_id=self.urls.new_activity(), actor_uri=author.uri, offer=offer,
                    agreement_id=response.agreement_uri or self.urls.new_object())
            else:
                activity = proposals.render_reject_offer(
                    reject_id=self.urls.new_activity(), actor_uri=author.uri, offer=offer,
                    reason=response.note)
            await self.outbox.enqueue(conn, actor=author, activity=activity,
                          inboxes=[responder.delivery_inbox or ""])
            return
        if accepted:
            text = (f"Thank you! Your answer to \u201c{post.title}\u201d was accepted. "
                    "Reply to this message to arrange it; share contact details only if "
                    "you want to.")
        else:
            text = response.note or (f"Thank you for answering \u201c{post.title}\u201d. "
                                     "It is covered now.")
        await self._dm(conn, author, responder, text, in_reply_to=response.uri)

    async def completed(self, conn: AsyncConnection, post: Post, done: list[Response]) -> None:
        """FEP-0837 confirmation: the exchange happened. A receipt that references the
        Agreement goes to each remote neighbor whose offer was accepted."""
        if not post.local:
            return
        author = await actors_repo.get_by_uri(conn, post.author_uri)
        for response in done:
            responder = await actors_repo.get_by_id(conn, response.responder_actor_id)
            if responder.local or not response.agreement_uri:
                continue
            if await objects_repo.find_by_uri(conn, response.uri) is not None:
                continue  # answered from Mastodon: nothing there reads receipts
            receipt = proposals.render_confirmation(
                id=self.urls.new_object(), actor_uri=author.uri,
                agreement_id=response.agreement_uri, post_uri=post.uri, to=[responder.uri],
                published=utcnow())
            create = render.wrap("Create", self.urls.new_activity(), author.uri, receipt,
                                 context=CONTEXT, to=[responder.uri])
            await self.outbox.enqueue(conn, actor=author, activity=create,
                          inboxes=[responder.delivery_inbox or ""], object_uri=post.uri)

    async def message_sent(self, conn: AsyncConnection, post: Post, conv: Conversation,
                           message: Message) -> None:
        other_id = (conv.other_actor_id if message.sender_actor_id == conv.helper_actor_id
                    else conv.helper_actor_id)
        other = await actors_repo.get_by_id(conn, other_id)
        if other.local:
            return
        sender = await actors_repo.get_by_id(conn, message.sender_actor_id)
        await self._dm(conn, sender, other, message.body, uri=message.uri)
