"""The client API's statuses: posting from an app, reading, timelines, threads, favourites,
boosts and bookmarks, and statuses arriving from other servers.

Every read goes through ``visible`` (which asks ``visibility.can_view_status``); timelines
fetch candidate ids from storage and keep fetching until a page of visible ones is full.
Every change and its federation side effects happen in one write transaction.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import replace as dc_replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from activitypub.vocab import AS_CONTEXT, PUBLIC, id_of, ids_of, is_public
from fediaid.domain.actors import Actor
from fediaid.domain.paging import Page
from fediaid.domain.posts import Post, Visibility
from fediaid.domain.rate_limits import POSTING_PAUSED, POSTS_ACCOUNT
from fediaid.domain.statuses import Level, Status, from_mastodon, hashtags, mentions
from fediaid.domain.users import User
from fediaid.domain.visibility import Viewer, can_view_status, shown_in_lists
from fediaid.errors import FediaidError, Forbidden, Invalid, NotFound, Unprocessable
from fediaid.federation import proposals
from fediaid.federation.proposals_parse import parse_datetime
from fediaid.services.outbox import enqueue
from fediaid.services.retention import forget_object
from fediaid.storage import actors as actors_repo
from fediaid.storage import follows as follows_repo
from fediaid.storage import media as media_repo
from fediaid.storage import notifications as notifications_repo
from fediaid.storage import objects as objects_repo
from fediaid.storage import outbox as outbox_repo
from fediaid.storage import posts as posts_repo
from fediaid.storage import responses as responses_repo
from fediaid.storage import statuses as repo
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fediaid.services.runtime import Runtime

log = logging.getLogger(__name__)

MAX_CHARS = 5000
MAX_MEDIA = 4
IDEMPOTENCY_WINDOW = timedelta(hours=24)
_KIND_TAGS = {"need": "need", "offer": "offer"}
_CONTENT_MENTION = re.compile(r"(?<![\w@/])@([a-zA-Z0-9_.-]{1,64})(?:@([a-zA-Z0-9.-]+(?::\d+)?))?")
_CONTENT_TAG = re.compile(r"(?<![\w&/#])#(\w{1,100})", re.UNICODE)


@dataclass(frozen=True)
class Bundle:
    shown: list[Status]  # the visible ones, in the order asked
    boosted: dict[int, Status]  # originals of boosts among them
    actors: dict[int, Actor]
    mentioned: dict[int, list[int]]
    post_html: dict[int, str]  # offers and needs: their content as Mastodon shows it
    post_urls: dict[int, str]
    counts: dict[int, dict[str, int]]
    marks: dict[str, set[int]]
    tags: dict[int, list[str]]
    media: dict[int, list[dict[str, Any]]]


def _fmt_time(dt: Any) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class StatusService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    # -- who is looking --------------------------------------------------------------------
    async def viewer(self, user: User | None) -> Viewer:
        if user is None:
            return Viewer()
        async with self.rt.db.read() as conn:
            actor = await actors_repo.get_by_id(conn, user.actor_id)
            following = await repo.following_uris(conn, actor.id)
            relations = await self.rt.blocks.viewer_fields(conn, actor.id)
        return Viewer(actor_uri=actor.uri, user_id=user.id, coordinator=user.is_coordinator,
                      following=frozenset(following), **relations)

    # -- reading ---------------------------------------------------------------------------
    async def visible(self, viewer: Viewer, ids: Sequence[int]) -> list[Status]:
        async with self.rt.db.read() as conn:
            return await self._visible(conn, viewer, ids)

    async def in_lists(self, viewer: Viewer, ids: Sequence[int]) -> list[Status]:
        """The statuses among ``ids`` that belong in the viewer's lists (timelines,
        streams): visible, and not by an account it blocked or muted
        (``visibility.shown_in_lists``)."""
        async with self.rt.db.read() as conn:
            return await self._visible(conn, viewer, ids, lists=True)

    async def _visible(self, conn: AsyncConnection, viewer: Viewer, ids: Sequence[int],
                       *, lists: bool = False) -> list[Status]:
        found = await repo.load(conn, list(dict.fromkeys(ids)))
        boosted_ids = [s.reblog_of_id for s in found.values() if s.reblog_of_id is not None]
        boosted = await repo.load(conn, [i for i in boosted_ids if i not in found])
        everything = {**found, **boosted}
        posts: dict[int, Post] = {}
        for s in everything.values():
            if s.post_id is not None and s.post_id not in posts:
                post = await posts_repo.find(conn, s.post_id)
                if post is not None:
                    posts[s.post_id] = post
        out = []
        for sid in ids:
            s = found.get(sid)
            if s is None:
                continue
            b = everything.get(s.reblog_of_id) if s.reblog_of_id is not None else None
            if can_view_status(viewer, s, post=posts.get(s.post_id or -1), boosted=b,
                               boosted_post=posts.get(b.post_id or -1) if b else None) and (
                    not lists or shown_in_lists(viewer, s, boosted=b)):
                out.append(s)
        return out

    async def get(self, viewer: Viewer, status_id: int) -> Status:
        found = await self.visible(viewer, [status_id])
        if not found:
            raise NotFound("Record not found")
        return found[0]

    async def _collect(self, viewer: Viewer, page: Page,
                       fetch: Callable[[AsyncConnection, Page], Awaitable[list[int]]]
                       ) -> list[int]:
        """A page of visible ids, newest first: fetch candidates and filter until full."""
        out: list[int] = []
        cursor = page
        async with self.rt.db.read() as conn:
            for _ in range(20):
                want = page.limit - len(out)
                batch = await fetch(conn, Page(cursor.max_id, cursor.since_id, cursor.min_id,
                                               max(want * 2, 10)))
                if not batch:
                    break
                seen = {s.id for s in await self._visible(conn, viewer, batch, lists=True)}
                out += [i for i in batch if i in seen][:want]
                if len(out) >= page.limit or len(batch) < max(want * 2, 10):
                    break
                if page.min_id is not None:
                    cursor = Page(None, cursor.since_id, max(batch), page.limit)
                else:
                    cursor = Page(min(batch), cursor.since_id, None, page.limit)
        return repo.newest_first(out)

    async def account_status_ids(self, viewer: Viewer, actor_id: int, page: Page, *,
                                 exclude_replies: bool = False, exclude_reblogs: bool = False,
                                 only_media: bool = False, tagged: str | None = None
                                 ) -> list[int]:
        async with self.rt.db.read() as conn:
            account = await actors_repo.find_by_id(conn, actor_id)
        if account is not None and account.uri in viewer.muting:
            # A muted account's own page still shows its statuses (as in Mastodon).
            viewer = dc_replace(viewer, muting=viewer.muting - {account.uri})
        hidden = hidden_of(viewer)

        async def fetch(conn: AsyncConnection, p: Page) -> list[int]:
            return await repo.account_ids(conn, p, actor_id, exclude_replies=exclude_replies,
                                          exclude_reblogs=exclude_reblogs, tagged=tagged,
                                          only_media=only_media, hidden=hidden)
        return await self._collect(viewer, page, fetch)

    async def home_ids(self, user: User, page: Page) -> list[int]:
        viewer = await self.viewer(user)
        async with self.rt.db.read() as conn:
            followed = await repo.following_ids(conn, user.actor_id)
        followed.append(self.rt.identity.group.id)

        hidden = hidden_of(viewer)

        async def fetch(conn: AsyncConnection, p: Page) -> list[int]:
            return await repo.home_ids(conn, p, account_ids=followed, me=user.actor_id,
                                       include_local_posts=True, hidden=hidden)
        return await self._collect(viewer, page, fetch)

    async def public_ids(self, viewer: Viewer, page: Page, *, local: bool | None,
                         only_media: bool = False, tag: str | None = None,
                         any_tags: Sequence[str] = ()) -> list[int]:
        hidden = hidden_of(viewer)

        async def fetch(conn: AsyncConnection, p: Page) -> list[int]:
            return await repo.public_ids(conn, p, local=local, tag=tag, any_tags=any_tags,
                                         only_media=only_media,
                                         hidden_domains=self.rt.policy.hidden_from_public(),
                                         hidden=hidden)
        return await self._collect(viewer, page, fetch)

    async def search_text(self, user: User, q: str, page: Page) -> list[int]:
        """Statuses ``user`` may see whose text has every word of ``q`` (newest first):
        "crib", "rides tuesday". Words shorter than 2 characters are ignored."""
        words = [w for w in re.split(r"\s+", q.strip().lower()) if len(w) >= 2][:8]
        if not words:
            return []
        viewer = await self.viewer(user)
        hidden = hidden_of(viewer)

        async def fetch(conn: AsyncConnection, p: Page) -> list[int]:
            return await repo.text_ids(conn, p, words, hidden=hidden)
        return await self._collect(viewer, page, fetch)

    async def context(self, viewer: Viewer, status_id: int) -> tuple[list[int], list[int]]:
        """(ancestors oldest first, descendants in thread order) that the viewer may see."""
        status = await self.get(viewer, status_id)
        ancestors: list[int] = []
        async with self.rt.db.read() as conn:
            parent = status.in_reply_to_id
            while parent is not None and len(ancestors) < 40:
                p = await repo.find(conn, parent)
                if p is None:
                    break
                ancestors.append(p.id)
                parent = p.in_reply_to_id
            descendants: list[int] = []
            frontier = [status.id]
            while frontier and len(descendants) < 200:
                children = sorted(await repo.replies_to(conn, frontier))
                descendants += children
                frontier = children
            visible_anc = {s.id for s in await self._visible(conn, viewer, ancestors,
                                                             lists=True)}
            visible_desc = {s.id for s in await self._visible(conn, viewer, descendants,
                                                              lists=True)}
        return ([i for i in reversed(ancestors) if i in visible_anc],
                [i for i in descendants if i in visible_desc])

    async def bundle(self, user: User | None, ids: Sequence[int]) -> Bundle:
        """Everything needed to show ``ids`` (those ``user`` may see) as Mastodon statuses,
        loaded in a few queries."""
        viewer = await self.viewer(user)
        async with self.rt.db.read() as conn:
            shown = await self._visible(conn, viewer, ids)
            boosted = await repo.load(conn, [s.reblog_of_id for s in shown
                                             if s.reblog_of_id is not None])
            every = {s.id: s for s in shown} | boosted
            all_ids = list(every)
            actor_ids = {s.account_id for s in every.values()}
            mentioned = await repo.mentioned_actor_ids(conn, all_ids)
            for lst in mentioned.values():
                actor_ids.update(lst)
            actors = {}
            for aid in actor_ids:
                found = await actors_repo.find_by_id(conn, aid)
                if found is not None:
                    actors[aid] = found
            post_html: dict[int, str] = {}
            post_urls: dict[int, str] = {}
            base = self.rt.settings.base_url
            for s in every.values():
                if s.post_id is not None:
                    post = await posts_repo.find(conn, s.post_id)
                    if post is not None:
                        # Only the content is used here; members-only posts have no
                        # federation addressing, so render them as the network sees them.
                        shown_as = post if post.visibility is not Visibility.MEMBERS else (
                            dc_replace(post, visibility=Visibility.NETWORK))
                        note = await self.rt.post_federation.note(conn, shown_as)
                        post_html[s.id] = str(note.get("content") or "")
                        post_urls[s.id] = f"{base}/posts/{post.id}" if post.local else (
                            str(note.get("url") or post.uri))
            counts = await repo.counts(conn, all_ids)
            marks = (await repo.marks(conn, all_ids, actor_id=user.actor_id, user_id=user.id)
                     if user is not None else
                     {"favourited": set(), "reblogged": set(), "bookmarked": set()})
            tags = await repo.tags_of(conn, all_ids)
        media = await self.rt.media.entities_for(all_ids)
        return Bundle(shown=shown, boosted=boosted, actors=actors, mentioned=mentioned,
                      post_html=post_html, post_urls=post_urls, counts=counts, marks=marks,
                      tags=tags, media=media)

    # -- posting from an app -----------------------------------------------------------------
    async def create(self, user: User, data: Mapping[str, Any], *,
                     idempotency_key: str | None = None) -> int:
        """Post a status; returns its id. ``#need`` or ``#offer`` makes it an offer or need
        of the group (the same rules as the web pages); anything else is a note."""
        if idempotency_key:
            key = idempotency_key[:128]
            async with self.rt.db.read() as conn:
                earlier = await repo.idempotent_status(conn, user.id, key,
                                                       utcnow() - IDEMPOTENCY_WINDOW)
            if earlier is not None:
                return earlier
        if data.get("poll") or any(str(k).startswith("poll[") for k in data):
            raise Unprocessable("Polls are not supported on this server")
        if data.get("scheduled_at"):
            raise Unprocessable("Scheduled statuses are not supported on this server")
        raw = data.get("status")
        if raw is not None and not isinstance(raw, str):
            raise Invalid("status must be text", field="status")
        text = (raw or "").replace("\r\n", "\n").strip()
        media_ids = _ids(data.get("media_ids"), "media_ids")
        if not text and not media_ids:
            raise Unprocessable("Validation failed: Text can't be blank")
        if len(text) > MAX_CHARS:
            raise Unprocessable(f"Validation failed: Text character limit of {MAX_CHARS} "
                                "exceeded")
        if len(media_ids) > MAX_MEDIA:
            raise Unprocessable("Validation failed: Media attachments exceed the limit of 4")
        spoiler = str(data.get("spoiler_text") or "").strip()[:500]
        sensitive = _flag(data.get("sensitive")) or bool(spoiler)
        language = str(data.get("language") or "")[:16] or None
        policy = await self.rt.posts.policy()
        default = Level(policy.default_visibility.value)
        level, listed = from_mastodon(_opt_str(data.get("visibility")), default=default)
        if level in (Level.PUBLIC, Level.NETWORK):
            async with self.rt.db.read() as conn:
                if await self.rt.reports.is_limited(conn, user):
                    level = Level.MEMBERS  # limited by a coordinator (services/reports.py)
        viewer = await self.viewer(user)
        parent: Status | None = None
        reply_to = data.get("in_reply_to_id")
        if reply_to not in (None, ""):
            parent = await self.get(viewer, _id(reply_to, "in_reply_to_id"))
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
            async with self.rt.db.write() as conn:
                await repo.remember_idempotency(conn, user.id, idempotency_key[:128], status_id)
        return status_id

    async def _exchange_for(self, user: User, parent: Status) -> int | None:
        """The accepted exchange (conversation id) a reply to ``parent`` belongs to, when
        ``user`` is one of its two sides (for anonymous and proxy posts: speaking as the
        group)."""
        if parent.level is not Level.DIRECT:
            return None
        group_id = self.rt.identity.group.id
        async with self.rt.db.read() as conn:
            post = await self._thread_post(conn, parent)
            if post is None:
                return None
            for conv in await responses_repo.conversations_for_post(conn, post.id):
                sides = (conv.helper_actor_id, conv.other_actor_id)
                if user.actor_id in sides:
                    me = user.actor_id
                elif group_id in sides and self.rt.posts.can_manage(user, post):
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
        message = await self.rt.responses.send(user, conversation_id, text)
        async with self.rt.db.read() as conn:
            status = await repo.find_by_uri(conn, message.uri)
        if status is None:
            raise Unprocessable("Your message was sent, but it cannot be shown as a status.")
        return status.id

    async def _resolve_mentions(self, named: list[tuple[str, str | None]]) -> list[Actor]:
        """Local and remote accounts for ``@name`` / ``@name@host``; unknown names are left
        as plain text (as Mastodon does)."""
        out: list[Actor] = []
        domain = self.rt.settings.domain.lower()
        for name, host in named[:20]:
            if host is None or host.lower() == domain:
                async with self.rt.db.read() as conn:
                    actor = await actors_repo.find_local(conn, name.lower())
                if actor is not None:
                    out.append(actor)
                continue
            try:
                out.append(await self.rt.follows.find_remote_actor(f"{name}@{host}"))
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
        policy = await self.rt.posts.policy()
        category = next((t for t in hashtags(text) if t in policy.categories), "other")
        # The title is the first sentence without trailing hashtags ("... #food"); the rest
        # is the description (the category's hashtag is shown as the category already).
        first = re.sub(r"(?:\s*#\w+)+\s*$", "", lines[0]).strip() or lines[0]
        sentence = re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0]
        title = sentence if len(sentence) <= 120 else sentence[:117].rstrip() + "..."
        rest = "\n".join([first[len(sentence):].strip(), *lines[1:]]).strip()
        if category != "other":
            rest = re.sub(rf"(?<![\w&/#])#{re.escape(category)}\b", "", rest,
                          flags=re.IGNORECASE)
        description = "\n".join(ln.strip() for ln in rest.split("\n") if ln.strip())
        if len(sentence) > 120:
            description = (sentence + "\n" + description).strip()
        data: dict[str, Any] = {"kind": kind, "title": title, "description": description,
                                "category": category, "visibility": level.value
                                if level is not Level.FOLLOWERS else "network"}
        if level is Level.DIRECT:
            data["recipients"] = [a.uri for a in recipients]
        from fediaid.services.posts import NeedsConfirmation

        try:
            post = await self.rt.posts.create(user, data)
        except NeedsConfirmation as exc:
            raise Unprocessable(
                " ".join(w.message for w in exc.warnings)
                + " Remove it and share it privately once someone answers, or post to members "
                "only (visibility \"local\").") from exc
        async with self.rt.db.read() as conn:
            sid = await repo.id_for_post(conn, post.id)
        assert sid is not None
        return sid

    async def _thread_post(self, conn: AsyncConnection, status: Status) -> Post | None:
        """The offer or need a status's thread hangs from: its own post, the post named by
        its conversation, or the first post up its chain of replies (a reply from Mastodon
        carries its own conversation id, so the chain is walked too)."""
        current: Status | None = status
        for _ in range(40):
            if current is None:
                return None
            if current.post_id is not None:
                return await posts_repo.find(conn, current.post_id)
            if current.conversation:
                found = await posts_repo.find_by_uri(conn, current.conversation)
                if found is not None:
                    return found
            if current.in_reply_to_id is not None:
                current = await repo.find(conn, current.in_reply_to_id)
            elif current.in_reply_to_uri:
                found = await posts_repo.find_by_uri(conn, current.in_reply_to_uri)
                if found is not None:
                    return found
                current = await repo.find_by_uri(conn, current.in_reply_to_uri)
            else:
                return None
        return None

    async def _asker_of_thread(self, user: User, status: Status) -> bool:
        """Is ``user`` the hidden asker behind the anonymous or proxy post of this thread?"""
        async with self.rt.db.read() as conn:
            post = await self._thread_post(conn, status)
        return post is not None and (post.anonymous or post.proxy) and (
            post.creator_user_id == user.id)

    async def _keep_asker_anonymous(self, user: User, parent: Status) -> None:
        """Someone who posted anonymously (or through a coordinator) must not reply in that
        post's thread from their own account: the helper would learn who asked."""
        if await self._asker_of_thread(user, parent):
            raise Unprocessable("This is about a post you made anonymously. Answer from the "
                                "post's page on the group's site, so you stay anonymous.")

    async def _answer_post(self, user: User, parent: Status, text: str) -> int:
        """A reply from an app to someone's offer or need is an answer ("I can help" /
        "I'd like this"), as a reply from Mastodon is: it goes privately to the author."""
        assert parent.post_id is not None
        response = await self.rt.responses.respond(user, parent.post_id, message=text)
        async with self.rt.db.read() as conn:
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
        await self.rt.limits.enforce(POSTS_ACCOUNT, str(user.id), POSTING_PAUSED)
        group = self.rt.identity.group
        now = utcnow()
        uri = self.rt.urls.new_object()
        content = self._html(text, recipients)
        async with self.rt.db.write() as conn:
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
                await self.rt.media.attach(conn, user_id=user.id, media_ids=media_ids,
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
                create = {"@context": AS_CONTEXT, "id": self.rt.urls.new_activity(),
                          "type": "Create", "actor": author.uri, "published": note["published"],
                          "to": note["to"], "cc": note["cc"], "object": note}
                inboxes = await self._audience(conn, status, author, recipients, group)
                await enqueue(conn, self.rt, actor=author, activity=create, inboxes=inboxes,
                              object_uri=uri, public=level is Level.PUBLIC)
        self.rt.streaming_notify()
        return sid

    def _html(self, text: str, recipients: list[Actor]) -> str:
        """What someone typed as HTML: paragraphs, line breaks, linked mentions and tags."""
        by_name: dict[str, Actor] = {}
        for a in recipients:
            if a.username:
                by_name[a.username.lower()] = a
                by_name[f"{a.username}@{a.domain}".lower()] = a
        base = self.rt.settings.base_url

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
                    recipients: Sequence[Actor]) -> dict[str, Any]:
        group = self.rt.identity.group
        mention_uris = [a.uri for a in recipients]
        followers = author.followers_url or ""
        if status.level is Level.PUBLIC and status.listed:
            to, cc = [PUBLIC], [followers, *mention_uris]
        elif status.level is Level.PUBLIC:
            to, cc = [followers], [PUBLIC, *mention_uris]
        elif status.level is Level.NETWORK:
            # The group's network only: not the author's own followers (who may be outside
            # it; visibility.can_view_status would not show it to them either).
            to, cc = [group.followers_url or ""], mention_uris
        else:
            to, cc = mention_uris, []
        tag: list[dict[str, Any]] = [
            {"type": "Mention", "href": a.uri,
             "name": f"@{a.username}@{a.domain}" if a.username else a.uri}
            for a in recipients]
        base = self.rt.settings.base_url
        for t in (await repo.tags_of(conn, [status.id])).get(status.id, []):
            tag.append({"type": "Hashtag", "href": f"{base}/tags/{t}", "name": f"#{t}"})
        note: dict[str, Any] = {
            "id": status.uri, "type": "Note", "attributedTo": author.uri,
            "content": status.content, "published": _fmt_time(status.created_at),
            "to": [a for a in to if a], "cc": [a for a in cc if a], "tag": tag,
            "url": status.url or status.uri, "sensitive": status.sensitive,
            "context": status.conversation, "conversation": status.conversation,
            "inReplyTo": status.in_reply_to_uri,
        }
        if status.spoiler_text:
            note["summary"] = status.spoiler_text
        if status.language:
            note["contentMap"] = {status.language: status.content}
        attachments = [
            {"type": "Document", "mediaType": m.content_type,
             "url": self.rt.media.url(m.file_name), "name": m.description or "",
             "width": m.width, "height": m.height, "blurhash": m.blurhash,
             **({"focalPoint": list(m.focus)} if m.focus else {})}
            for m in await media_repo.for_statuses(conn, [status.id]) if m.file_name]
        if attachments:
            note["attachment"] = attachments
        return note

    async def _audience(self, conn: AsyncConnection, status: Status, author: Actor,
                        recipients: Sequence[Actor], group: Actor) -> list[str]:
        # Nobody in a block with the author is sent it (services/blocks.py).
        recipients = await self.rt.blocks.not_blocked_inboxes(conn, author, recipients)
        inboxes = [a.delivery_inbox for a in recipients if not a.local and a.delivery_inbox]
        if status.level is Level.PUBLIC:
            inboxes += await follows_repo.follower_inboxes(conn, author.id)
        if status.level is Level.NETWORK:
            inboxes += await follows_repo.follower_inboxes(conn, group.id)
        if status.in_reply_to_account_id is not None:
            parent_author = await actors_repo.find_by_id(conn, status.in_reply_to_account_id)
            if parent_author is not None and not parent_author.local and (
                    status.level is not Level.DIRECT
                    or parent_author.id in {a.id for a in recipients}) and not (
                    await self.rt.blocks.between(conn, author.id, parent_author.id)):
                inboxes.append(parent_author.delivery_inbox or "")
        return list(dict.fromkeys(i for i in inboxes if i))

    async def delete(self, user: User, status_id: int) -> Status:
        """Delete one's own status (an offer or need is withdrawn and deleted through the
        posts' rules). Returns what was deleted, for "delete and redraft"."""
        viewer = await self.viewer(user)
        status = await self.get(viewer, status_id)
        if status.reblog_of_id is not None:
            raise NotFound("Record not found")
        if status.post_id is not None:
            await self.rt.posts.delete_now(user, status.post_id)
            self.rt.streaming_deleted(status.id)
            return status
        if status.user_id != user.id:
            raise Forbidden("This action is not allowed")
        async with self.rt.db.write() as conn:
            author = await actors_repo.get_by_id(conn, status.account_id)
            received = await outbox_repo.inboxes_for_object(conn, status.uri)
            await forget_object(conn, status.uri)  # its Create/Updates and their deliveries
            await objects_repo.delete_by_uri(conn, status.uri)
            await repo.delete_status(conn, status.id)
            if received:
                delete = {"@context": AS_CONTEXT, "id": self.rt.urls.new_activity(),
                          "type": "Delete", "actor": author.uri, "to": [PUBLIC],
                          "object": {"id": status.uri, "type": "Tombstone"}}
                await enqueue(conn, self.rt, actor=author, activity=delete, inboxes=received)
        self.rt.streaming_deleted(status.id)
        return status

    # -- favourites, boosts, bookmarks -------------------------------------------------------
    async def _check_reaction(self, user: User, target: Status, what: str) -> None:
        """Reactions name who reacted: the hidden asker of an anonymous post must not react
        in its thread, and nothing held for approval is reacted to (it would federate)."""
        if await self._asker_of_thread(user, target):
            raise Unprocessable(f"This is about a post you made anonymously; {what} it would "
                                "show who asked.")
        if target.post_id is not None:
            async with self.rt.db.read() as conn:
                post = await posts_repo.find(conn, target.post_id)
            if post is not None and post.held:
                raise Unprocessable("This post is waiting for a coordinator's approval.")

    async def favourite(self, user: User, status_id: int, *, on: bool) -> None:
        viewer = await self.viewer(user)
        status = await self.get(viewer, status_id)
        target = await self._original(status)
        if on:
            await self._check_reaction(user, target, "favouriting")
        async with self.rt.db.write() as conn:
            me = await actors_repo.get_by_id(conn, user.actor_id)
            author = await actors_repo.get_by_id(conn, target.account_id)
            if on:
                like_uri = self.rt.urls.new_activity()
                if not await repo.add_favourite(conn, actor_id=me.id, status_id=target.id,
                                                uri=like_uri):
                    return
                await notifications_repo.add_for_actor(conn, actor_id=author.id,
                                                       type_="favourite", from_actor_id=me.id,
                                                       status_id=target.id)
                if not author.local and author.delivery_inbox:
                    like = {"@context": AS_CONTEXT, "id": like_uri, "type": "Like",
                            "actor": me.uri, "object": target.uri}
                    await enqueue(conn, self.rt, actor=me, activity=like,
                                  inboxes=[author.delivery_inbox])
                return
            like_uri = await repo.find_favourite(conn, actor_id=me.id, status_id=target.id)
            if like_uri is None:
                return
            await repo.remove_favourite(conn, actor_id=me.id, status_id=target.id)
            if not author.local and author.delivery_inbox:
                undo = {"@context": AS_CONTEXT, "id": self.rt.urls.new_activity(),
                        "type": "Undo", "actor": me.uri,
                        "object": {"id": like_uri, "type": "Like", "actor": me.uri,
                                   "object": target.uri}}
                await enqueue(conn, self.rt, actor=me, activity=undo,
                              inboxes=[author.delivery_inbox])

    async def _original(self, status: Status) -> Status:
        if status.reblog_of_id is None:
            return status
        async with self.rt.db.read() as conn:
            found = await repo.find(conn, status.reblog_of_id)
        if found is None:
            raise NotFound("Record not found")
        return found

    async def reblog(self, user: User, status_id: int, *, on: bool) -> int | None:
        """Boost (returns the boost's status id) or undo a boost."""
        viewer = await self.viewer(user)
        target = await self._original(await self.get(viewer, status_id))
        if on and target.level is not Level.PUBLIC:
            raise Unprocessable("Validation failed: Reblog of status is not allowed "
                                "(only public statuses can be boosted)")
        if on:
            await self._check_reaction(user, target, "boosting")
        async with self.rt.db.write() as conn:
            me = await actors_repo.get_by_id(conn, user.actor_id)
            existing = await repo.reblog_of(conn, me.id, target.id)
            author = await actors_repo.get_by_id(conn, target.account_id)
            if on:
                if existing is not None:
                    return existing.id
                uri = self.rt.urls.new_activity()
                sid = await repo.insert(conn, uri=uri, account_id=me.id, level=Level.PUBLIC,
                                        listed=True, local=True, content="", user_id=user.id,
                                        reblog_of_id=target.id)
                assert sid is not None
                await notifications_repo.add_for_actor(conn, actor_id=author.id,
                                                       type_="reblog", from_actor_id=me.id,
                                                       status_id=target.id)
                announce = {"@context": AS_CONTEXT, "id": uri, "type": "Announce",
                            "actor": me.uri, "published": _fmt_time(utcnow()),
                            "to": [PUBLIC], "cc": [author.uri, me.followers_url or ""],
                            "object": target.uri}
                announce["cc"] = [c for c in announce["cc"] if c]
                inboxes = await follows_repo.follower_inboxes(conn, me.id)
                if not author.local and author.delivery_inbox:
                    inboxes.append(author.delivery_inbox)
                await enqueue(conn, self.rt, actor=me, activity=announce,
                              inboxes=list(dict.fromkeys(inboxes)), object_uri=target.uri,
                              public=True)
                self.rt.streaming_notify()
                return sid
            if existing is None:
                return None
            await repo.delete_status(conn, existing.id)
            received = await outbox_repo.inboxes_for_activity(conn, existing.uri)
            await outbox_repo.forget_activity(conn, existing.uri)  # the boost is undone
            if received:
                undo = {"@context": AS_CONTEXT, "id": self.rt.urls.new_activity(),
                        "type": "Undo", "actor": me.uri, "to": [PUBLIC],
                        "object": {"id": existing.uri, "type": "Announce", "actor": me.uri,
                                   "object": target.uri}}
                await enqueue(conn, self.rt, actor=me, activity=undo, inboxes=received)
        self.rt.streaming_deleted(existing.id)
        return None

    async def bookmark(self, user: User, status_id: int, *, on: bool) -> None:
        viewer = await self.viewer(user)
        target = await self._original(await self.get(viewer, status_id))
        async with self.rt.db.write() as conn:
            if on:
                await repo.add_bookmark(conn, user_id=user.id, status_id=target.id)
            else:
                await repo.remove_bookmark(conn, user_id=user.id, status_id=target.id)

    async def favourited_by(self, viewer: Viewer, status_id: int, page: Page
                            ) -> list[tuple[int, int]]:
        await self.get(viewer, status_id)
        async with self.rt.db.read() as conn:
            return await repo.favourited_by(conn, status_id, page)

    async def reblogged_by(self, viewer: Viewer, status_id: int, page: Page
                           ) -> list[tuple[int, int]]:
        await self.get(viewer, status_id)
        async with self.rt.db.read() as conn:
            return await repo.reblogged_by(conn, status_id, page)

    async def my_favourites(self, user: User, page: Page) -> list[tuple[int, int]]:
        """(favourite id, status id) of one's favourites that one may still see."""
        return await self._marked(user, page, repo.favourites_of, user.actor_id)

    async def my_bookmarks(self, user: User, page: Page) -> list[tuple[int, int]]:
        return await self._marked(user, page, repo.bookmarks_of, user.id)

    async def _marked(self, user: User, page: Page,
                      fetch: Callable[[AsyncConnection, int, Page],
                                      Awaitable[list[tuple[int, int]]]],
                      owner: int) -> list[tuple[int, int]]:
        viewer = await self.viewer(user)
        async with self.rt.db.read() as conn:
            rows = await fetch(conn, owner, page)
            seen = {s.id for s in await self._visible(conn, viewer, [s for _, s in rows])}
        rows = [r for r in rows if r[1] in seen]
        return sorted(rows, reverse=True)

    async def history(self, viewer: Viewer, status_id: int) -> tuple[Status, list[Any]]:
        """A visible status and its earlier versions (oldest first; each has content,
        spoiler_text, sensitive and created_at)."""
        status = await self.get(viewer, status_id)
        async with self.rt.db.read() as conn:
            return status, await repo.earlier_versions(conn, status.id)

    async def source(self, user: User, status_id: int) -> Status:
        status = await self.get(await self.viewer(user), status_id)
        if status.user_id != user.id:
            raise NotFound("Record not found")
        return status

    async def edit(self, user: User, status_id: int, data: Mapping[str, Any]) -> None:
        """Edit one's own note's text, content warning or sensitivity (offers and needs are
        edited on their page, where their structured fields live)."""
        status = await self.source(user, status_id)
        if status.post_id is not None:
            raise Unprocessable("Edit offers and needs on their page, where their details "
                                "live.")
        raw = data.get("status")
        text = (raw if isinstance(raw, str) else status.text or "").replace("\r\n", "\n")
        text = text.strip()
        if not text:
            raise Unprocessable("Validation failed: Text can't be blank")
        if len(text) > MAX_CHARS:
            raise Unprocessable(f"Validation failed: Text character limit of {MAX_CHARS} "
                                "exceeded")
        spoiler = str(data.get("spoiler_text", status.spoiler_text) or "").strip()[:500]
        sensitive = _flag(data.get("sensitive")) or bool(spoiler)
        recipients = await self._resolve_mentions(mentions(text))
        now = utcnow()
        async with self.rt.db.write() as conn:
            author = await actors_repo.get_by_id(conn, status.account_id)
            await repo.update_content(conn, status.id, content=self._html(text, recipients),
                                      text=text, spoiler_text=spoiler, sensitive=sensitive,
                                      edited_at=now)
            # People newly @mentioned may read it from now on (they are sent the Update).
            await repo.add_recipients(conn, status.id, [a.id for a in recipients])
            if status.level is Level.MEMBERS:
                self.rt.streaming_updated(status_id)
                return
            fresh = await repo.find(conn, status.id)
            assert fresh is not None
            note = await self._note(conn, fresh, author, recipients)
            note["updated"] = _fmt_time(now)
            await objects_repo.upsert(
                conn, uri=fresh.uri, type_="Note", actor_id=author.id,
                attributed_to=author.uri, in_reply_to=fresh.in_reply_to_uri, audience=None,
                public=fresh.level is Level.PUBLIC, local=True, content=fresh.content,
                payload=note, published=fresh.created_at)
            inboxes = await self._audience(conn, fresh, author, recipients,
                                           self.rt.identity.group)
            inboxes += await outbox_repo.inboxes_for_object(conn, fresh.uri)
            update = {"@context": AS_CONTEXT, "id": self.rt.urls.new_activity(),
                      "type": "Update", "actor": author.uri, "to": note["to"],
                      "cc": note["cc"], "object": note}
            await enqueue(conn, self.rt, actor=author, activity=update,
                          inboxes=list(dict.fromkeys(inboxes)), object_uri=fresh.uri,
                          public=fresh.level is Level.PUBLIC)
        self.rt.streaming_updated(status_id)

    # -- arriving from other servers (called by inbox processing, in its transaction) --------
    async def on_remote_object(self, conn: AsyncConnection, actor: Actor,
                               obj: dict[str, Any]) -> int | None:
        """A Note (or Article, Page, Question) from ``actor`` becomes a status. Offers and
        needs that became posts already have theirs."""
        uri = id_of(obj)
        if not uri:
            return None
        existing = await repo.find_by_uri(conn, uri)
        if existing is not None:
            content = proposals.sanitize_html(str(obj.get("content") or ""))
            changed = (content != existing.content
                       or str(obj.get("summary") or "") != existing.spoiler_text)
            if existing.post_id is None and existing.account_id == actor.id and changed:
                # Only a real change is an edit (a re-delivered Create is not).
                await repo.update_content(
                    conn, existing.id, content=content, text=None,
                    spoiler_text=str(obj.get("summary") or ""),
                    sensitive=bool(obj.get("sensitive")), edited_at=utcnow())
            return existing.id
        to = ids_of(obj.get("to"))
        cc = ids_of(obj.get("cc"))
        if any(is_public(a) for a in to):
            level, listed = Level.PUBLIC, True
        elif any(is_public(a) for a in cc):
            level, listed = Level.PUBLIC, False
        elif actor.followers_url and actor.followers_url in (to + cc):
            level, listed = Level.FOLLOWERS, True
        else:
            level, listed = Level.DIRECT, True
        addressed = set(to + cc) | set(proposals.mentions(obj))
        recipients: list[Actor] = []
        for a_uri in list(addressed)[:100]:
            if self.rt.urls.is_local(a_uri):
                local = await actors_repo.find_by_uri(conn, a_uri)
                if local is not None:
                    recipients.append(local)
        parent_uri = id_of(obj.get("inReplyTo"))
        parent = await repo.find_by_uri(conn, parent_uri) if parent_uri else None
        # A reply joins its parent's thread (for a reply to an offer or need: the post's
        # URI, which is how answers and private threads are found and deleted with it).
        conversation = ((parent.conversation or parent.uri) if parent else None) or (
            id_of(obj.get("context")) or id_of(obj.get("conversation")) or uri)
        published = parse_datetime(obj.get("published"))
        content = proposals.sanitize_html(str(obj.get("content") or ""))
        name = obj.get("name")
        if not content and isinstance(name, str):
            content = "<p>" + html.escape(name[:500]) + "</p>"
        url = obj.get("url")
        url_str = url if isinstance(url, str) else id_of(url) if isinstance(url, dict) else None
        sid = await repo.insert(
            conn, uri=uri, account_id=actor.id, level=level, listed=listed, local=False,
            content=content, created_at=min(published or utcnow(), utcnow()),
            in_reply_to_id=parent.id if parent else None, in_reply_to_uri=parent_uri,
            in_reply_to_account_id=parent.account_id if parent else None,
            conversation=conversation, spoiler_text=str(obj.get("summary") or ""),
            sensitive=bool(obj.get("sensitive")),
            language=_language(obj), url=url_str if url_str and url_str.startswith("http")
            else None, recipient_ids=[a.id for a in recipients],
            tags=proposals.hashtags(obj))
        if sid is None:
            return None
        attachments = obj.get("attachment")
        if isinstance(attachments, dict):
            attachments = [attachments]
        if isinstance(attachments, list) and attachments:
            await self.rt.media.add_remote(conn, account_id=actor.id, status_id=sid,
                                           attachments=[a for a in attachments[:4]
                                                        if isinstance(a, dict)])
        notified: set[int] = set()
        for local in recipients:
            await notifications_repo.add_for_actor(conn, actor_id=local.id, type_="mention",
                                                   from_actor_id=actor.id, status_id=sid)
            notified.add(local.id)
        if parent is not None and parent.local and parent.account_id not in notified:
            await notifications_repo.add_for_actor(conn, actor_id=parent.account_id,
                                                   type_="mention", from_actor_id=actor.id,
                                                   status_id=sid)
        self.rt.streaming_notify()
        return sid

    async def on_remote_announce(self, conn: AsyncConnection, actor: Actor, activity_uri: str,
                                 object_uri: str) -> None:
        target = await repo.find_by_uri(conn, object_uri)
        if target is None or target.reblog_of_id is not None or target.level is not Level.PUBLIC:
            return  # only public statuses can be boosted (by anyone, from anywhere)
        if await repo.reblog_of(conn, actor.id, target.id) is not None:
            return  # the same boost in its other form (FEP-1b12 and Mastodon's)
        sid = await repo.insert(conn, uri=activity_uri, account_id=actor.id,
                                level=Level.PUBLIC, listed=True, local=False, content="",
                                reblog_of_id=target.id)
        if sid is not None:
            await notifications_repo.add_for_actor(conn, actor_id=target.account_id,
                                                   type_="reblog", from_actor_id=actor.id,
                                                   status_id=target.id)
            self.rt.streaming_notify()

    async def on_remote_like(self, conn: AsyncConnection, actor: Actor, activity_uri: str,
                             object_uri: str) -> None:
        target = await repo.find_by_uri(conn, object_uri)
        if target is None or target.reblog_of_id is not None or not target.local:
            return
        if target.level is not Level.PUBLIC and actor.uri not in target.recipients:
            return  # a Like of something the sender was never shown
        if await repo.add_favourite(conn, actor_id=actor.id, status_id=target.id,
                                    uri=activity_uri):
            await notifications_repo.add_for_actor(conn, actor_id=target.account_id,
                                                   type_="favourite", from_actor_id=actor.id,
                                                   status_id=target.id)

    async def on_remote_undo(self, conn: AsyncConnection, actor: Actor, inner_uri: str) -> None:
        """Undo of a Like or Announce by ``actor`` (only its own)."""
        await repo.remove_favourite_by_uri(conn, inner_uri, actor_id=actor.id)
        existing = await repo.find_by_uri(conn, inner_uri)
        if existing is not None and existing.account_id == actor.id and (
                existing.reblog_of_id is not None):
            await repo.delete_status(conn, existing.id)
            self.rt.streaming_deleted(existing.id)

    async def on_remote_delete(self, conn: AsyncConnection, actor: Actor, uri: str) -> None:
        existing = await repo.find_by_uri(conn, uri)
        if existing is not None and existing.account_id == actor.id and not existing.local:
            await repo.delete_status(conn, existing.id)
            self.rt.streaming_deleted(existing.id)


def hidden_of(viewer: Viewer) -> repo.Hidden:
    """What the viewer's timelines leave out in SQL (its blocks, mutes, domain blocks)."""
    return repo.Hidden(accounts=viewer.blocking | viewer.blocked_by | viewer.muting,
                       domains=viewer.domain_blocking)


def _language(obj: Mapping[str, Any]) -> str | None:
    cmap = obj.get("contentMap")
    if isinstance(cmap, dict) and cmap:
        key = next(iter(cmap))
        if isinstance(key, str) and re.fullmatch(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?", key):
            return key
    return None


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = value[-1] if value else None
    return None if value is None else str(value)


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "on", "yes")


def _id(value: Any, name: str) -> int:
    try:
        n = int(str(value))
    except ValueError:
        raise Invalid(f"{name} must be an id", field=name) from None
    if n <= 0 or n > 2**63 - 1:
        raise Invalid(f"{name} must be an id", field=name)
    return n


def _ids(value: Any, name: str) -> list[int]:
    if value in (None, "", []):
        return []
    values = value if isinstance(value, list) else [value]
    return list(dict.fromkeys(_id(v, name) for v in values))

