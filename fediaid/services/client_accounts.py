"""Accounts as Mastodon apps use them: look-ups, follows between members and anyone (local
or remote, federated), follow requests of locked accounts, relationships, search (with
WebFinger resolution) and profile changes.

Privacy decisions (docs/mastodon-api.md):
- Who follows whom is shown only to the account itself and to coordinators; everyone else
  gets an empty list (the group's ActivityPub followers collection shows only its size, for
  the same reason). Counts stay visible, as in ActivityPub.
- Hashtag search lists only tags of statuses the asker may see (``rt.status_reading.visible``), so
  a tag in a direct message never leaks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from activitypub.vocab import is_http_uri
from fediaid.domain.actors import Actor, ActorType
from fediaid.domain.follows import FollowState, can_transition
from fediaid.domain.paging import Page
from fediaid.domain.users import User
from fediaid.errors import FediaidError, Forbidden, Invalid, NotFound, Unprocessable
from fediaid.services.core import Core, Service
from fediaid.storage import actors as actors_repo
from fediaid.storage import follows as follows_repo
from fediaid.storage import notifications as notifications_repo
from fediaid.storage import relationships as repo
from fediaid.storage import statuses as statuses_repo

if TYPE_CHECKING:
    from fediaid.services.federation_policy import FederationPolicy
    from fediaid.services.follows import FollowService
    from fediaid.services.media import MediaService
    from fediaid.services.outbox import Outbox
    from fediaid.services.status_reading import StatusReading

log = logging.getLogger(__name__)

MAX_DISPLAY_NAME = 30  # Mastodon's limits
MAX_NOTE = 500


@dataclass(frozen=True)
class Pair:
    """The follows between the asker and another account, in both directions (None: no
    follow; PENDING: a request waiting for an answer)."""

    outgoing: FollowState | None = None  # the asker follows (or asked to follow) them
    incoming: FollowState | None = None  # they follow (or asked to follow) the asker


def parse_acct(acct: str) -> tuple[str, str | None]:
    """``name``, ``@name``, ``name@host`` or ``@name@host`` -> (name, host or None)."""
    text = acct.strip().removeprefix("acct:").removeprefix("@")
    name, _, host = text.partition("@")
    if not name or "@" in host or any(c.isspace() for c in text):
        raise Invalid("Not an account address (expected name or name@host).", field="acct")
    return name, host.lower() or None


class ClientAccounts(Service):
    def __init__(self, core: Core, *,
                 follows: FollowService, media: MediaService, outbox: Outbox,
                 policy: FederationPolicy, status_reading: StatusReading) -> None:
        super().__init__(core)
        self.follows = follows
        self.media = media
        self.outbox = outbox
        self.policy = policy
        self.status_reading = status_reading

    # -- finding accounts ----------------------------------------------------------------
    async def get(self, actor_id: int) -> Actor:
        """Any account we know of, except the instance's own service actor."""
        async with self.db.read() as conn:
            actor = await actors_repo.find_by_id(conn, actor_id)
        if actor is None or actor.deleted or (actor.local
                                              and actor.type is ActorType.APPLICATION):
            raise NotFound("Record not found")
        return actor

    async def actors(self, ids: Sequence[int]) -> list[Actor]:
        """The accounts among ``ids``, in order (unknown ones left out)."""
        out = []
        async with self.db.read() as conn:
            for actor_id in ids:
                actor = await actors_repo.find_by_id(conn, actor_id)
                if actor is not None and not actor.deleted:
                    out.append(actor)
        return out

    async def follow_request_count(self, user: User) -> int:
        async with self.db.read() as conn:
            return await repo.pending_count(conn, user.actor_id)

    async def actor_of(self, user: User) -> Actor:
        async with self.db.read() as conn:
            return await actors_repo.get_by_id(conn, user.actor_id)

    async def lookup(self, acct: str) -> Actor:
        """An account by address, from what we already know (no network, as Mastodon's
        ``/api/v1/accounts/lookup``)."""
        found = await self._known(acct)
        if found is None:
            raise NotFound("Record not found")
        return found

    async def _known(self, acct: str) -> Actor | None:
        name, host = parse_acct(acct)
        async with self.db.read() as conn:
            if host is None or host == self.settings.domain.lower():
                actor = await actors_repo.find_local(conn, name.lower())
            else:
                actor = await actors_repo.find_by_handle(conn, name, host)
        if actor is None or actor.deleted or (actor.local
                                              and actor.type is ActorType.APPLICATION):
            return None
        return actor

    async def _by_url(self, url: str, *, resolve: bool) -> Actor | None:
        async with self.db.read() as conn:
            actor = await actors_repo.find_by_uri(conn, url)
        if actor is None and resolve and not self.urls.is_local(url):
            try:
                actor = await self.follows.find_remote_actor(url)
            except (FediaidError, ValueError, KeyError, TypeError) as exc:
                log.info("could not resolve %s: %s", url, exc)
                return None
        if actor is None or actor.type is ActorType.APPLICATION:
            return None
        return actor

    async def search(self, user: User | None, q: str, *, resolve: bool, following: bool,
                     limit: int, offset: int) -> list[int]:
        """Account ids matching ``q``: an address (``name@host``, resolved through
        WebFinger when ``resolve`` and not known yet), an actor URL, or part of a name."""
        q = q.strip()
        if not q:
            return []
        exact: Actor | None = None
        if is_http_uri(q):
            exact = await self._by_url(q, resolve=resolve)
            if exact is None:
                return []
        elif "@" in q.lstrip("@"):
            try:
                exact = await self._known(q)
                local = (parse_acct(q)[1] or "") == self.settings.domain.lower()
                if exact is None and resolve and not local:
                    exact = await self.follows.find_remote_actor(q)
            except (FediaidError, ValueError) as exc:
                log.info("could not resolve %s: %s", q, getattr(exc, "public", exc))
                return []
            if exact is None or exact.type is ActorType.APPLICATION:
                return []
        only: set[int] | None = None
        if following:
            if user is None:
                return []
            async with self.db.read() as conn:
                only = await repo.following_ids(conn, user.actor_id)
        if exact is not None:
            if (only is not None and exact.id not in only) or offset > 0:
                return []
            return [exact.id]
        async with self.db.read() as conn:
            return await repo.search_actors(conn, q.lstrip("@"), limit=limit, offset=offset,
                                            only_ids=sorted(only) if only is not None else None)

    async def search_tags(self, user: User | None, q: str, *, limit: int) -> list[str]:
        """Hashtags starting with ``q`` that appear on statuses the asker may see."""
        prefix = q.strip().lstrip("#").lower()
        if not prefix or not prefix.replace("_", "a").isalnum():
            return []
        async with self.db.read() as conn:
            rows = await repo.tagged_statuses(conn, prefix, limit=500)
        viewer = await self.status_reading.viewer(user)
        visible = {s.id for s in await self.status_reading.visible(
            viewer, list(dict.fromkeys(sid for _, sid in rows)))}
        tags = list(dict.fromkeys(tag for tag, sid in rows if sid in visible))
        tags.sort(key=lambda t: (t != prefix, len(t), t))
        return tags[:limit]

    async def search_status(self, q: str) -> list[int]:
        """The status we hold at URL ``q`` (its id or its page): candidates only, the
        caller shows them through ``status_entities`` (visibility)."""
        q = q.strip()
        if not is_http_uri(q):
            return []
        async with self.db.read() as conn:
            found = await statuses_repo.find_by_uri(conn, q)
            if found is None:
                found_id = await repo.status_id_by_url(conn, q)
                return [found_id] if found_id is not None else []
        return [found.id]

    # -- relationships ---------------------------------------------------------------------
    async def relationships(self, user: User, ids: Sequence[int]) -> list[tuple[int, Pair]]:
        """(account id, follow states) for the known accounts among ``ids``, in order
        (unknown ids are left out, as Mastodon does)."""
        wanted = list(dict.fromkeys(ids))
        async with self.db.read() as conn:
            known = await repo.existing_ids(conn, wanted)
            pairs = await repo.pairs(conn, user.actor_id, [i for i in wanted if i in known])
        return [(i, Pair(*pairs[i])) for i in wanted if i in known]

    async def relationship(self, user: User, actor_id: int) -> Pair:
        async with self.db.read() as conn:
            return Pair(*(await repo.pairs(conn, user.actor_id, [actor_id]))[actor_id])

    # -- following -------------------------------------------------------------------------
    async def follow(self, user: User, actor_id: int) -> Pair:
        """Follow an account. Local: at once (a request when the account is locked), with a
        ``follow`` or ``follow_request`` notification in the same transaction. Remote: a
        pending follow and a signed Follow from the member's own actor, accepted when their
        server answers. Following again changes nothing."""
        me = await self.actor_of(user)
        target = await self.get(actor_id)
        if target.id == me.id:
            raise Forbidden("You cannot follow yourself")
        if not target.local:
            if not self.policy.may_exchange(target.uri):
                raise Forbidden("This server is blocked here")
            await self.follows.follow(me, target.uri)
            return await self.relationship(user, actor_id)
        async with self.db.write() as conn:
            existing = await follows_repo.find(conn, me.id, target.id)
            if existing is None:
                state = (FollowState.PENDING if target.manually_approves_followers
                         else FollowState.ACCEPTED)
                await follows_repo.create(conn, follower_id=me.id, followed_id=target.id,
                                          uri=self.urls.new_activity(), state=state)
                await notifications_repo.add_for_actor(
                    conn, actor_id=target.id, from_actor_id=me.id,
                    type_="follow" if state is FollowState.ACCEPTED else "follow_request")
        return await self.relationship(user, actor_id)

    async def unfollow(self, user: User, actor_id: int) -> Pair:
        """Stop following (or withdraw a request); an Undo(Follow) goes to a remote
        account's server. Not following is not an error."""
        me = await self.actor_of(user)
        target = await self.get(actor_id)
        async with self.db.read() as conn:
            existing = await follows_repo.find(conn, me.id, target.id)
        if existing is not None:
            if target.local:
                async with self.db.write() as conn:
                    await follows_repo.remove(conn, existing.id)
            else:
                try:
                    await self.follows.unfollow(me, target.uri)
                except NotFound:
                    pass  # gone in the meantime: the outcome asked for
        return await self.relationship(user, actor_id)

    async def follow_list(self, user: User | None, actor_id: int, page: Page, *,
                          direction: str) -> list[tuple[int, int]]:
        """(follow id, account id) of an account's followers or follows, newest first:
        only for the account itself and coordinators, else empty (see the module doc)."""
        target = await self.get(actor_id)
        if user is None or not (user.is_coordinator or user.actor_id == target.id):
            return []
        async with self.db.read() as conn:
            return await repo.follow_page(conn, target.id, page, direction=direction)

    async def follow_requests(self, user: User, page: Page) -> list[tuple[int, int]]:
        """(follow id, account id) of the requests waiting for this (locked) account."""
        async with self.db.read() as conn:
            return await repo.follow_page(conn, user.actor_id, page, direction="followers",
                                          state=FollowState.PENDING)

    async def decide_request(self, user: User, actor_id: int, *, accept: bool) -> Pair:
        """Authorize or reject a follow request: the follow is accepted or removed and the
        follower's server gets Accept or Reject (from this account's own actor)."""
        me = await self.actor_of(user)
        follower = await self.get(actor_id)
        async with self.db.read() as conn:
            existing = await follows_repo.find(conn, follower.id, me.id)
        if existing is None or existing.state is not FollowState.PENDING:
            raise NotFound("Record not found")
        assert can_transition(existing.state, FollowState.ACCEPTED if accept else None)
        await self.follows.decide_follower(me, follower.uri, accept=accept)
        return await self.relationship(user, actor_id)

    # -- the profile -----------------------------------------------------------------------
    async def update_profile(self, user: User, *, display_name: str | None = None,
                             note: str | None = None, locked: bool | None = None,
                             avatar: bytes | None = None, header: bytes | None = None
                             ) -> Actor:
        """Change display name, note (plain text, as Mastodon's ``source.note``), the
        locked flag, avatar or header (image files: cleaned, scaled down and stored by
        ``rt.media.store_profile_image``), and send Update(Person) to the servers of its
        remote followers and follows. Nothing changes when a value breaks a rule."""
        if display_name is not None:
            display_name = display_name.strip()
            if len(display_name) > MAX_DISPLAY_NAME:
                raise Unprocessable("Validation failed: Display name is too long (maximum is "
                                    f"{MAX_DISPLAY_NAME} characters)", field="display_name")
        if note is not None:
            note = note.strip()
            if len(note) > MAX_NOTE:
                raise Unprocessable("Validation failed: Note is too long (maximum is "
                                    f"{MAX_NOTE} characters)", field="note")
        me = await self.actor_of(user)
        if display_name == "":
            display_name = me.username or ""
        changes = {k: v for k, v in (("name", display_name), ("summary", note),
                                     ("locked", locked)) if v is not None}
        images: dict[str, str | None] = {}
        try:
            # Every image is checked (and stored) before anything changes.
            for column, data in (("icon_url", avatar), ("header_url", header)):
                if data is not None:
                    kind = "avatar" if column == "icon_url" else "header"
                    images[column] = await self.media.store_profile_image(kind, data)
            if not changes and not images:
                return me
            before, updated = await self._save(me, name=display_name, summary=note,
                                               locked=locked, images=images)
        except BaseException:
            for url in images.values():
                self.media.remove_profile_image(url)
            raise
        self._forget_images(before, images)
        return updated

    async def remove_profile_image(self, user: User, kind: str) -> Actor:
        """Back to the default ``avatar`` or ``header`` (Mastodon 4.2's
        ``DELETE /api/v1/profile/avatar|header``): the stored file is deleted and the
        change federates like any other. Without one set, nothing happens."""
        column = {"avatar": "icon_url", "header": "header_url"}[kind]
        me = await self.actor_of(user)
        if getattr(me, column) is None:
            return me
        images: dict[str, str | None] = {column: None}
        before, updated = await self._save(me, images=images)
        self._forget_images(before, images)
        return updated

    def _forget_images(self, before: Actor, images: dict[str, str | None]) -> None:
        """Delete the files of the profile images that were just replaced or removed."""
        for column in images:
            self.media.remove_profile_image(getattr(before, column))

    async def _save(self, me: Actor, *, name: str | None = None, summary: str | None = None,
                    locked: bool | None = None, images: dict[str, str | None]
                    ) -> tuple[Actor, Actor]:
        """Apply the changes and queue Update(Person), in one transaction; the actor as it
        was just before (whose replaced images the caller deletes) and after."""
        async with self.db.write() as conn:
            before = await actors_repo.get_by_id(conn, me.id)
            await repo.update_profile(conn, me.id, name=name, summary=summary, locked=locked,
                                      images=images)
            updated = await actors_repo.get_by_id(conn, me.id)
            await self.outbox.actor_updated(conn, updated)
        return before, updated



