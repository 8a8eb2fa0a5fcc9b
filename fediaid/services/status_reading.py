"""Reading statuses for the client API: who is looking (the viewer), what they may see,
timelines, threads, and everything needed to show a page of statuses.

Every read goes through ``visible`` (which asks ``visibility.can_view_status``); timelines
fetch candidate ids from storage and keep fetching until a page of visible ones is full.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from dataclasses import replace as dc_replace
from typing import TYPE_CHECKING, Any

from fediaid.domain.actors import Actor
from fediaid.domain.paging import Page
from fediaid.domain.posts import Post, Visibility
from fediaid.domain.statuses import Status
from fediaid.domain.users import User
from fediaid.domain.visibility import Viewer, can_view_status, shown_in_lists
from fediaid.errors import NotFound
from fediaid.services.core import Core, Service
from fediaid.storage import actors as actors_repo
from fediaid.storage import posts as posts_repo
from fediaid.storage import statuses as repo

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fediaid.services.blocks import BlockService
    from fediaid.services.federation_policy import FederationPolicy
    from fediaid.services.media import MediaService
    from fediaid.services.post_federation import PostFederation


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


class PageIds(list[int]):
    """A timeline's page of ids, newest first, carrying the statuses (and their offers and
    needs) read to choose it, so that ``bundle`` in the same request does not read them
    again (it still decides again what the viewer may see)."""

    def __init__(self, ids: Sequence[int], statuses: dict[int, Status],
                 posts: dict[int, Post]) -> None:
        super().__init__(ids)
        self.statuses = statuses
        self.posts = posts


class StatusReading(Service):
    def __init__(self, core: Core, *, policy: FederationPolicy, blocks: BlockService,
                 post_federation: PostFederation, media: MediaService) -> None:
        super().__init__(core)
        self.policy = policy
        self.blocks = blocks
        self.post_federation = post_federation
        self.media = media


    # -- who is looking --------------------------------------------------------------------
    async def viewer(self, user: User | None) -> Viewer:
        if user is None:
            return Viewer()
        async with self.db.read() as conn:
            actor = await actors_repo.get_by_id(conn, user.actor_id)
            following = await repo.following(conn, actor.id)
            relations = await self.blocks.viewer_fields(conn, actor.id)
        return Viewer(actor_uri=actor.uri, user_id=user.id, coordinator=user.is_coordinator,
                      following=frozenset(following.values()),
                      following_ids=frozenset(following), **relations)

    # -- reading ---------------------------------------------------------------------------
    async def visible(self, viewer: Viewer, ids: Sequence[int]) -> list[Status]:
        async with self.db.read() as conn:
            return await self._visible(conn, viewer, ids)

    async def in_lists(self, viewer: Viewer, ids: Sequence[int]) -> list[Status]:
        """The statuses among ``ids`` that belong in the viewer's lists (timelines,
        streams): visible, and not by an account it blocked or muted
        (``visibility.shown_in_lists``)."""
        async with self.db.read() as conn:
            return await self._visible(conn, viewer, ids, lists=True)

    async def _visible(self, conn: AsyncConnection, viewer: Viewer, ids: Sequence[int],
                       *, lists: bool = False) -> list[Status]:
        return (await self._visible_loaded(conn, viewer, ids, lists=lists))[0]

    async def _visible_loaded(self, conn: AsyncConnection, viewer: Viewer, ids: Sequence[int],
                              *, lists: bool = False
                              ) -> tuple[list[Status], dict[int, Status], dict[int, Post]]:
        """The visible statuses among ``ids``, with what was loaded to decide: every status
        read (the asked and the originals of boosts) and their offers and needs. ``ids``
        may be a ``PageIds``: what it carries is not read again."""
        known = ids.statuses if isinstance(ids, PageIds) else {}
        known_posts = ids.posts if isinstance(ids, PageIds) else {}
        wanted = list(dict.fromkeys(ids))
        found = {i: known[i] for i in wanted if i in known}
        found |= await repo.load(conn, [i for i in wanted if i not in known])
        boosted_ids = [s.reblog_of_id for s in found.values() if s.reblog_of_id is not None]
        boosted = {i: known[i] for i in boosted_ids if i not in found and i in known}
        boosted |= await repo.load(conn, [i for i in boosted_ids
                                          if i not in found and i not in boosted])
        everything = {**found, **boosted}
        post_ids = {s.post_id for s in everything.values() if s.post_id is not None}
        posts = {i: known_posts[i] for i in post_ids if i in known_posts}
        posts |= await posts_repo.load_many(conn, [i for i in post_ids if i not in posts])
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
        return out, everything, posts

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
        loaded: dict[int, Status] = {}
        loaded_posts: dict[int, Post] = {}
        cursor = page
        async with self.db.read() as conn:
            for _ in range(20):
                want = page.limit - len(out)
                batch = await fetch(conn, Page(cursor.max_id, cursor.since_id, cursor.min_id,
                                               max(want * 2, 10)))
                if not batch:
                    break
                visible, everything, posts = await self._visible_loaded(conn, viewer, batch,
                                                                        lists=True)
                seen = {s.id for s in visible}
                out += [i for i in batch if i in seen][:want]
                loaded |= everything
                loaded_posts |= posts
                if len(out) >= page.limit or len(batch) < max(want * 2, 10):
                    break
                if page.min_id is not None:
                    cursor = Page(None, cursor.since_id, max(batch), page.limit)
                else:
                    cursor = Page(min(batch), cursor.since_id, None, page.limit)
        return PageIds(repo.newest_first(out), loaded, loaded_posts)

    async def account_status_ids(self, viewer: Viewer, actor_id: int, page: Page, *,
                                 exclude_replies: bool = False, exclude_reblogs: bool = False,
                                 only_media: bool = False, tagged: str | None = None,
                                 account: Actor | None = None) -> list[int]:
        """``account``: the actor ``actor_id``, when the caller has read it already."""
        if account is None or account.id != actor_id:
            async with self.db.read() as conn:
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

    async def home_ids(self, user: User, page: Page, *, viewer: Viewer | None = None
                       ) -> list[int]:
        """``viewer``: ``user``'s, when the caller has it already (its follows are the
        accounts whose statuses the home timeline shows, with the group's)."""
        viewer = viewer if viewer is not None else await self.viewer(user)
        followed = sorted(viewer.following_ids | {self.identity.group.id})
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
                                         hidden_domains=self.policy.hidden_from_public(),
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
        async with self.db.read() as conn:
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

    async def bundle(self, user: User | None, ids: Sequence[int], *,
                     viewer: Viewer | None = None) -> Bundle:
        """Everything needed to show ``ids`` (those ``user`` may see) as Mastodon statuses,
        loaded in a bounded number of queries, however many statuses and accounts
        (``tests/api/test_timeline_batches.py``). ``viewer``: ``user``'s, when the caller
        has it already."""
        viewer = viewer if viewer is not None else await self.viewer(user)
        async with self.db.read() as conn:
            shown, loaded, loaded_posts = await self._visible_loaded(conn, viewer, ids)
            boosted = {s.reblog_of_id: loaded[s.reblog_of_id] for s in shown
                       if s.reblog_of_id is not None and s.reblog_of_id in loaded}
            every = {s.id: s for s in shown} | boosted
            all_ids = list(every)
            actor_ids = {s.account_id for s in every.values()}
            mentioned = {sid: list(s.mentioned_ids) for sid, s in every.items()
                         if s.mentioned_ids}
            for lst in mentioned.values():
                actor_ids.update(lst)
            actors = await actors_repo.load_many(conn, actor_ids)
            post_html: dict[int, str] = {}
            post_urls: dict[int, str] = {}
            base = self.settings.base_url
            posts = {s.post_id: loaded_posts[s.post_id] for s in every.values()
                     if s.post_id is not None and s.post_id in loaded_posts}
            # Only the content is used here; members-only posts have no federation
            # addressing, so render them as the network sees them.
            notes = await self.post_federation.notes(conn, [
                p if p.visibility is not Visibility.MEMBERS
                else dc_replace(p, visibility=Visibility.NETWORK) for p in posts.values()],
                known={a.uri: a for a in actors.values()})
            for s in every.values():
                post = posts.get(s.post_id) if s.post_id is not None else None
                note = notes.get(post.id) if post is not None else None
                if post is not None and note is not None:
                    post_html[s.id] = str(note.get("content") or "")
                    post_urls[s.id] = f"{base}/posts/{post.id}" if post.local else (
                        str(note.get("url") or post.uri))
            counts = await repo.counts(conn, all_ids)
            marks = (await repo.marks(conn, all_ids, actor_id=user.actor_id, user_id=user.id)
                     if user is not None else
                     {"favourited": set(), "reblogged": set(), "bookmarked": set()})
            tags = await repo.tags_of(conn, all_ids)
            media = await self.media.entities_for(all_ids, conn=conn)
        return Bundle(shown=shown, boosted=boosted, actors=actors, mentioned=mentioned,
                      post_html=post_html, post_urls=post_urls, counts=counts, marks=marks,
                      tags=tags, media=media)

    async def favourited_by(self, viewer: Viewer, status_id: int, page: Page
                            ) -> list[tuple[int, int]]:
        await self.get(viewer, status_id)
        async with self.db.read() as conn:
            return await repo.favourited_by(conn, status_id, page)

    async def reblogged_by(self, viewer: Viewer, status_id: int, page: Page
                           ) -> list[tuple[int, int]]:
        await self.get(viewer, status_id)
        async with self.db.read() as conn:
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
        async with self.db.read() as conn:
            rows = await fetch(conn, owner, page)
            seen = {s.id for s in await self._visible(conn, viewer, [s for _, s in rows])}
        rows = [r for r in rows if r[1] in seen]
        return sorted(rows, reverse=True)

    async def history(self, viewer: Viewer, status_id: int) -> tuple[Status, list[Any]]:
        """A visible status and its earlier versions (oldest first; each has content,
        spoiler_text, sensitive and created_at)."""
        status = await self.get(viewer, status_id)
        async with self.db.read() as conn:
            return status, await repo.earlier_versions(conn, status.id)

    async def thread_post(self, conn: AsyncConnection, status: Status) -> Post | None:
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

    async def is_hidden_asker(self, user: User, status: Status) -> bool:
        """Is ``user`` the hidden asker behind the anonymous or proxy post of this thread?"""
        async with self.db.read() as conn:
            post = await self.thread_post(conn, status)
        return post is not None and (post.anonymous or post.proxy) and (
            post.creator_user_id == user.id)

    async def original(self, status: Status) -> Status:
        """The boosted status of a boost; the status itself otherwise."""
        if status.reblog_of_id is None:
            return status
        async with self.db.read() as conn:
            found = await repo.find(conn, status.reblog_of_id)
        if found is None:
            raise NotFound("Record not found")
        return found

    async def source(self, user: User, status_id: int) -> Status:
        status = await self.get(await self.viewer(user), status_id)
        if status.user_id != user.id:
            raise NotFound("Record not found")
        return status


def hidden_of(viewer: Viewer) -> repo.Hidden:
    """What the viewer's timelines leave out in SQL (its blocks, mutes, domain blocks)."""
    return repo.Hidden(accounts=viewer.blocking | viewer.blocked_by | viewer.muting,
                       domains=viewer.domain_blocking)
