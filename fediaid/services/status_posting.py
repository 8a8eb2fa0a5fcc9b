"""Posting from an app: notes, offers and needs (``#need`` / ``#offer``), answers and
exchange messages written as replies, editing and deleting one's own statuses. Every change
and its federation side effects happen in one write transaction."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from fediaid.domain.actors import Actor
from fediaid.domain.rate_limits import POSTING_PAUSED, POSTS_ACCOUNT
from fediaid.domain.statuses import (
    Level,
    Status,
    StatusChange,
    StatusDraft,
    from_mastodon,
    hashtags,
    mentions,
)
from fediaid.domain.users import User
from fediaid.errors import FediaidError, Forbidden, NotFound, Unprocessable
from fediaid.federation import render
from fediaid.services.core import Core, Service
from fediaid.services.retention import forget_object
from fediaid.storage import actors as actors_repo
from fediaid.storage import follows as follows_repo
from fediaid.storage import links as links_repo
from fediaid.storage import media as media_repo
from fediaid.storage import notifications as notifications_repo
from fediaid.storage import objects as objects_repo
from fediaid.storage import outbox as outbox_repo
from fediaid.storage import reports as reports_repo
from fediaid.storage import responses as responses_repo
from fediaid.storage import statuses as repo
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fediaid.services.blocks import BlockService
    from fediaid.services.follows import FollowService
    from fediaid.services.media import MediaService
    from fediaid.services.outbox import Outbox
    from fediaid.services.posts import PostService
    from fediaid.services.rate_limits import RateLimiter
    from fediaid.services.responses import ResponseService
    from fediaid.services.status_reading import StatusReading

log = logging.getLogger(__name__)

log = logging.getLogger(__name__)

MAX_CHARS = 5000
MAX_MEDIA = 4
IDEMPOTENCY_WINDOW = timedelta(hours=24)
_KIND_TAGS = {"need": "need", "offer": "offer"}
_CONTENT_MENTION = re.compile(r"(?<![\w@/])@([a-zA-Z0-9_.-]{1,64})(?:@([a-zA-Z0-9.-]+(?::\d+)?))?")
_CONTENT_TAG = re.compile(r"(?<![\w&/#])#(\w{1,100})", re.UNICODE)


class StatusPosting(Service):
    def __init__(self, core: Core, *, reading: StatusReading, posts: PostService,
                 responses: ResponseService, follows: FollowService, media: MediaService,
                 limits: RateLimiter, blocks: BlockService, outbox: Outbox) -> None:
        super().__init__(core)
        self.reading = reading
        self.posts = posts
        self.responses = responses
        self.follows = follows
        self.media = media
        self.limits = limits
        self.blocks = blocks
        self.outbox = outbox

    # -- posting from an app -----------------------------------------------------------------
    async def create(self, user: User, draft: StatusDraft, *,
                     idempotency_key: str | None = None) -> int:
        """Post a status; returns its id. ``#need`` or ``#offer`` makes it an offer or need
        of the group (the same rules as the web pages); anything else is a note."""
        if idempotency_key:
            key = idempotency_key[:128]
            async with self.db.read() as conn:
                earlier = await repo.idempotent_status(conn, user.id, key,
                                                       utcnow() - IDEMPOTENCY_WINDOW)
            if earlier is not None:
                return earlier
        if draft.poll:
            raise Unprocessable("Polls are not supported on this server")
        if draft.scheduled:
            raise Unprocessable("Scheduled statuses are not supported on this server")
        text = draft.text.replace("\r\n", "\n").strip()
        media_ids = list(draft.media_ids)
        if not text and not media_ids:
            raise Unprocessable("Validation failed: Text can't be blank")
        if len(text) > MAX_CHARS:
            raise Unprocessable(f"Validation failed: Text character limit of {MAX_CHARS} "
                                "exceeded")
        if len(media_ids) > MAX_MEDIA:
            raise Unprocessable("Validation failed: Media attachments exceed the limit of 4")
        spoiler = draft.spoiler_text.strip()[:500]
        sensitive = draft.sensitive or bool(spoiler)
        language = draft.language
        policy = await self.posts.policy()
        default = Level(policy.default_visibility.value)
        level, listed = from_mastodon(draft.visibility, default=default)
        if level in (Level.PUBLIC, Level.NETWORK):
            async with self.db.read() as conn:
                if await reports_repo.is_limited(conn, user.id):
                    level = Level.MEMBERS  # limited by a coordinator (services/reports.py)
        viewer = await self.reading.viewer(user)
        parent: Status | None = None
        if draft.in_reply_to_id is not None:
            parent = await self.reading.get(viewer, draft.in_reply_to_id)
        if parent is not None:
            exchange = await self._exchange_for(user, parent)
            if exchange is not None:
                return await self._remember(user, idempotency_key,
                                            await self._exchange_reply(user, exchange, text))
            await self._keep_asker_anonymous(user, parent)
        tags = hashtags(text)
        kind = next((_KIND_TAGS[t] for t in tags if t in _KIND_TAGS), None)
        named = mentions(text)
        recipients = await self._resolve_mentions(named)
        if kind is not None and parent is None:
            status_id = await self._create_post(user, kind, text, level, recipients)
        elif parent is not None and parent.post_id is not None and (
                parent.account_id != user.actor_id):
            status_id = await self._answer_post(user, parent, text)
        else:
            status_id = await self._create_note(
                user, text=text, level=level, listed=listed, parent=parent,
                recipients=recipients, tags=tags, spoiler=spoiler, sensitive=sensitive,
                language=language, media_ids=media_ids)
        return await self._remember(user, idempotency_key, status_id)

    async def _remember(self, user: User, idempotency_key: str | None, status_id: int) -> int:
        if idempotency_key:
            async with self.db.write() as conn:
                await repo.remember_idempotency(conn, user.id, idempotency_key[:128], status_id)
        return status_id

    async def _exchange_for(self, user: User, parent: Status) -> int | None:
        """The accepted exchange (conversation id) a reply to ``parent`` belongs to, when
        ``user`` is one of its two sides (for anonymous and proxy posts: speaking as the
        group)."""
        if parent.level is not Level.DIRECT:
            return None
        group_id = self.identity.group.id
        async with self.db.read() as conn:
            post = await self.reading.thread_post(conn, parent)
            if post is None:
                return None
            for conv in await responses_repo.conversations_for_post(conn, post.id):
                sides = (conv.helper_actor_id, conv.other_actor_id)
                if user.actor_id in sides:
                    me = user.actor_id
                elif group_id in sides and self.posts.can_manage(user, post):
                    me = group_id
                else:
                    continue
                other_id = sides[1] if sides[0] == me else sides[0]
                other = await actors_repo.find_by_id(conn, other_id)
                if other is not None and (parent.account_id == other.id
                                          or other.uri in parent.recipients):
                    return conv.id
        return None

    async def _exchange_reply(self, user: User, conversation_id: int, text: str) -> int:
        """A reply from an app inside an accepted exchange is a message of that exchange
        (the web page shows it too; an anonymous asker still speaks as the group)."""
        message = await self.responses.send(user, conversation_id, text)
        async with self.db.read() as conn:
            status = await repo.find_by_uri(conn, message.uri)
        if status is None:
            raise Unprocessable("Your message was sent, but it cannot be shown as a status.")
        return status.id

    async def _resolve_mentions(self, named: list[tuple[str, str | None]]) -> list[Actor]:
        """Local and remote accounts for ``@name`` / ``@name@host``; unknown names are left
        as plain text (as Mastodon does)."""
        out: list[Actor] = []
        domain = self.settings.domain.lower()
        for name, host in named[:20]:
            if host is None or host.lower() == domain:
                async with self.db.read() as conn:
                    actor = await actors_repo.find_local(conn, name.lower())
                if actor is not None:
                    out.append(actor)
                continue
            try:
                out.append(await self.follows.find_remote_actor(f"{name}@{host}"))
            except FediaidError:
                log.info("mention of %s@%s not resolved", name, host)
        return list({a.id: a for a in out}.values())

    async def _create_post(self, user: User, kind: str, text: str, level: Level,
                           recipients: list[Actor]) -> int:
        """An app status with #need / #offer: an offer or need of the group."""
        body = _CONTENT_TAG.sub(lambda m: "" if m.group(1).lower() in _KIND_TAGS
                                else m.group(0), text)
        body = re.sub(r"[ \t]{2,}", " ", body).strip()
        lines = [ln.strip() for ln in body.split("\n") if ln.strip()]
        if not lines:
            raise Unprocessable(f"Say what the {kind} is, not just #{kind}.")
        policy = await self.posts.policy()
        # A hashtag naming a category chooses it; else it is suggested from the words
        # (fediaid/domain/categories.py; PostService.create, as for the web form).
        category = next((t for t in hashtags(text) if t in policy.categories), "")
        # The title is the first sentence without trailing hashtags ("... #food"); the rest
        # is the description (the category's hashtag is shown as the category already).
        first = re.sub(r"(?:\s*#\w+)+\s*$", "", lines[0]).strip() or lines[0]
        sentence = re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0]
        title = sentence if len(sentence) <= 120 else sentence[:117].rstrip() + "..."
        rest = "\n".join([first[len(sentence):].strip(), *lines[1:]]).strip()
        if category:
            rest = re.sub(rf"(?<![\w&/#])#{re.escape(category)}\b", "", rest,
                          flags=re.IGNORECASE)
        description = "\n".join(ln.strip() for ln in rest.split("\n") if ln.strip())
        if len(sentence) > 120:
            description = (sentence + "\n" + description).strip()
        data: dict[str, Any] = {"kind": kind, "title": title, "description": description,
                                "category": category or None, "visibility": level.value
                                if level is not Level.FOLLOWERS else "network"}
        if level is Level.DIRECT:
            data["recipients"] = [a.uri for a in recipients]
        from fediaid.services.posts import NeedsConfirmation

        try:
            post = await self.posts.create(user, data)
        except NeedsConfirmation as exc:
            raise Unprocessable(
                " ".join(w.message for w in exc.warnings)
                + " Remove it and share it privately once someone answers, or post to members "
                "only (visibility \"local\").") from exc
        async with self.db.read() as conn:
            sid = await repo.id_for_post(conn, post.id)
        assert sid is not None
        return sid

    async def _keep_asker_anonymous(self, user: User, parent: Status) -> None:
        """Someone who posted anonymously (or through a coordinator) must not reply in that
        post's thread from their own account: the helper would learn who asked."""
        if await self.reading.is_hidden_asker(user, parent):
            raise Unprocessable("This is about a post you made anonymously. Answer from the "
                                "post's page on the group's site, so you stay anonymous.")

    async def _answer_post(self, user: User, parent: Status, text: str) -> int:
        """A reply from an app to someone's offer or need is an answer ("I can help" /
        "I'd like this"), as a reply from Mastodon is: it goes privately to the author."""
        assert parent.post_id is not None
        response = await self.responses.respond(user, parent.post_id, message=text)
        async with self.db.read() as conn:
            status = await repo.find_by_uri(conn, response.uri)
        if status is None:
            raise Unprocessable("Your answer was sent, but it cannot be shown as a status.")
        return status.id

    async def _create_note(self, user: User, *, text: str, level: Level, listed: bool,
                           parent: Status | None, recipients: list[Actor], tags: list[str],
                           spoiler: str, sensitive: bool, language: str | None,
                           media_ids: list[int]) -> int:
        if level is Level.DIRECT and not recipients:
            raise Unprocessable("A direct message needs at least one @mention of someone "
                                "who can receive it.")
        await self.limits.enforce(POSTS_ACCOUNT, str(user.id), POSTING_PAUSED)
        group = self.identity.group
        now = utcnow()
        uri = self.urls.new_object()
        content = self._html(text, recipients)
        async with self.db.write() as conn:
            author = await actors_repo.get_by_id(conn, user.actor_id)
            conversation = (parent.conversation or parent.uri) if parent else uri
            sid = await repo.insert(
                conn, uri=uri, account_id=author.id, level=level, listed=listed, local=True,
                content=content, text=text, created_at=now, user_id=user.id,
                in_reply_to_id=parent.id if parent else None,
                in_reply_to_uri=parent.uri if parent else None,
                in_reply_to_account_id=parent.account_id if parent else None,
                conversation=conversation, spoiler_text=spoiler, sensitive=sensitive,
                language=language, url=uri, recipient_ids=[a.id for a in recipients],
                tags=tags)
            assert sid is not None
            if media_ids:
                await self.media.attach(conn, user_id=user.id, media_ids=media_ids,
                                           status_id=sid)
            for actor in recipients:
                await notifications_repo.add_for_actor(conn, actor_id=actor.id,
                                                       type_="mention",
                                                       from_actor_id=author.id, status_id=sid)
            if parent is not None and parent.local:
                mentioned = {a.id for a in recipients}
                if parent.account_id not in mentioned:
                    await notifications_repo.add_for_actor(
                        conn, actor_id=parent.account_id, type_="mention",
                        from_actor_id=author.id, status_id=sid)
            if level is not Level.MEMBERS:
                status = await repo.find(conn, sid)
                assert status is not None
                note = await self._note(conn, status, author, recipients)
                await objects_repo.upsert(
                    conn, uri=uri, type_="Note", actor_id=author.id, attributed_to=author.uri,
                    in_reply_to=status.in_reply_to_uri, audience=None,
                    public=level is Level.PUBLIC, local=True, content=content, payload=note,
                    published=now)
                create = render.create_of(self.urls.new_activity(), author.uri, note)
                inboxes = await self._audience(conn, status, author, recipients, group)
                await self.outbox.enqueue(conn, actor=author, activity=create, inboxes=inboxes,
                              object_uri=uri, public=level is Level.PUBLIC)
        self.signals.stream_changed()
        return sid

    def _html(self, text: str, recipients: list[Actor]) -> str:
        """What someone typed as HTML: paragraphs, line breaks, linked mentions and tags."""
        by_name: dict[str, Actor] = {}
        for a in recipients:
            if a.username:
                by_name[a.username.lower()] = a
                by_name[f"{a.username}@{a.domain}".lower()] = a
        base = self.settings.base_url

        def line(raw: str) -> str:
            out, pos = [], 0
            for m in re.finditer(f"{_CONTENT_MENTION.pattern}|{_CONTENT_TAG.pattern}", raw):
                out.append(html.escape(raw[pos:m.start()]))
                token = m.group(0)
                if token.startswith("@"):
                    key = (m.group(1) + (f"@{m.group(2)}" if m.group(2) else "")).lower()
                    actor = by_name.get(key)
                    if actor is not None:
                        href = html.escape(actor.url or actor.uri)
                        out.append(f'<span class="h-card"><a href="{href}" class="u-url '
                                   f'mention">@<span>{html.escape(actor.username or "")}'
                                   f"</span></a></span>")
                    else:
                        out.append(html.escape(token))
                else:
                    tag = m.group(3)
                    out.append(f'<a href="{base}/tags/{html.escape(tag.lower())}" '
                               f'class="mention hashtag" rel="tag">#<span>'
                               f"{html.escape(tag)}</span></a>")
                pos = m.end()
            out.append(html.escape(raw[pos:]))
            return "".join(out)

        paragraphs = [p for p in text.split("\n\n") if p.strip()]
        return "".join("<p>" + "<br>".join(line(ln) for ln in p.split("\n")) + "</p>"
                       for p in paragraphs)

    async def _note(self, conn: AsyncConnection, status: Status, author: Actor,
                    recipients: Sequence[Actor], *, updated: datetime | None = None
                    ) -> dict[str, Any]:
        attachments = [
            render.document(url=self.media.url(m.file_name), media_type=m.content_type,
                            description=m.description, width=m.width, height=m.height,
                            blurhash=m.blurhash, focus=m.focus)
            for m in await media_repo.for_statuses(conn, [status.id]) if m.file_name]
        return render.status_note(
            status, author=author, recipients=recipients,
            group_followers=self.identity.group.followers_url or "",
            tags=(await repo.tags_of(conn, [status.id])).get(status.id, []),
            tag_base_url=f"{self.settings.base_url}/tags/", attachments=attachments,
            updated=updated)

    async def _audience(self, conn: AsyncConnection, status: Status, author: Actor,
                        recipients: Sequence[Actor], group: Actor) -> list[str]:
        # Nobody in a block with the author is sent it (services/blocks.py).
        recipients = await self.blocks.not_blocked_inboxes(conn, author, recipients)
        inboxes = [a.delivery_inbox for a in recipients if not a.local and a.delivery_inbox]
        if status.level is Level.PUBLIC:
            inboxes += await follows_repo.follower_inboxes(conn, author.id)
        if status.level is Level.NETWORK:
            # The group's network: linked groups' servers only (domain/visibility.py).
            inboxes += await links_repo.active_inboxes(conn)
        if status.in_reply_to_account_id is not None:
            parent_author = await actors_repo.find_by_id(conn, status.in_reply_to_account_id)
            if parent_author is not None and not parent_author.local and (
                    status.level is not Level.DIRECT
                    or parent_author.id in {a.id for a in recipients}) and not (
                    await self.blocks.between(conn, author.id, parent_author.id)):
                inboxes.append(parent_author.delivery_inbox or "")
        return list(dict.fromkeys(i for i in inboxes if i))

    async def delete(self, user: User, status_id: int) -> Status:
        """Delete one's own status (an offer or need is withdrawn and deleted through the
        posts' rules). Returns what was deleted, for "delete and redraft"."""
        viewer = await self.reading.viewer(user)
        status = await self.reading.get(viewer, status_id)
        if status.reblog_of_id is not None:
            raise NotFound("Record not found")
        if status.post_id is not None:
            await self.posts.delete_now(user, status.post_id)
            self.signals.status_deleted(status.id)
            return status
        if status.user_id != user.id:
            raise Forbidden("This action is not allowed")
        async with self.db.write() as conn:
            author = await actors_repo.get_by_id(conn, status.account_id)
            received = await outbox_repo.inboxes_for_object(conn, status.uri)
            await forget_object(conn, status.uri)  # its Create/Updates and their deliveries
            await objects_repo.delete_by_uri(conn, status.uri)
            await repo.delete_status(conn, status.id)
            if received:
                delete = render.delete_of(self.urls.new_activity(), author.uri, status.uri)
                await self.outbox.enqueue(conn, actor=author, activity=delete, inboxes=received)
        self.signals.status_deleted(status.id)
        return status

    async def edit(self, user: User, status_id: int, change: StatusChange) -> None:
        """Edit one's own note's text, content warning or sensitivity (offers and needs are
        edited on their page, where their structured fields live)."""
        status = await self.reading.source(user, status_id)
        if status.post_id is not None:
            raise Unprocessable("Edit offers and needs on their page, where their details "
                                "live.")
        text = (change.text if change.text is not None else status.text or "")
        text = text.replace("\r\n", "\n").strip()
        if not text:
            raise Unprocessable("Validation failed: Text can't be blank")
        if len(text) > MAX_CHARS:
            raise Unprocessable(f"Validation failed: Text character limit of {MAX_CHARS} "
                                "exceeded")
        spoiler = (change.spoiler_text if change.spoiler_text is not None
                   else status.spoiler_text or "").strip()[:500]
        sensitive = change.sensitive or bool(spoiler)
        recipients = await self._resolve_mentions(mentions(text))
        now = utcnow()
        async with self.db.write() as conn:
            author = await actors_repo.get_by_id(conn, status.account_id)
            await repo.update_content(conn, status.id, content=self._html(text, recipients),
                                      text=text, spoiler_text=spoiler, sensitive=sensitive,
                                      edited_at=now)
            # People newly @mentioned may read it from now on (they are sent the Update).
            await repo.add_recipients(conn, status.id, [a.id for a in recipients])
            if status.level is Level.MEMBERS:
                self.signals.status_updated(status_id)
                return
            fresh = await repo.find(conn, status.id)
            assert fresh is not None
            note = await self._note(conn, fresh, author, recipients, updated=now)
            await objects_repo.upsert(
                conn, uri=fresh.uri, type_="Note", actor_id=author.id,
                attributed_to=author.uri, in_reply_to=fresh.in_reply_to_uri, audience=None,
                public=fresh.level is Level.PUBLIC, local=True, content=fresh.content,
                payload=note, published=fresh.created_at)
            inboxes = await self._audience(conn, fresh, author, recipients,
                                           self.identity.group)
            inboxes += await outbox_repo.inboxes_for_object(conn, fresh.uri)
            update = render.update_of(self.urls.new_activity(), author.uri, note)
            await self.outbox.enqueue(conn, actor=author, activity=update,
                          inboxes=list(dict.fromkeys(inboxes)), object_uri=fresh.uri,
                          public=fresh.level is Level.PUBLIC)
        self.signals.status_updated(status_id)
