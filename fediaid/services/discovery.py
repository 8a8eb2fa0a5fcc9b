"""What other servers and apps read to find us: WebFinger, NodeInfo, actor documents and
their collections, and public objects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from activitypub import nodeinfo, webfinger
from fediaid import __version__
from fediaid.domain.actors import Actor, ActorType
from fediaid.domain.posts import Post
from fediaid.errors import NotFound
from fediaid.federation import render
from fediaid.i18n import N_
from fediaid.services.core import Core, Service
from fediaid.services.outbox import local_actor_document
from fediaid.storage import actors as actors_repo
from fediaid.storage import follows as follows_repo
from fediaid.storage import objects as objects_repo
from fediaid.storage import outbox as outbox_repo
from fediaid.storage import users as users_repo

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fediaid.domain.visibility import Viewer
    from fediaid.services.federation_policy import FederationPolicy
    from fediaid.services.post_federation import PostFederation
    from fediaid.services.posts import PostService

REPOSITORY: str | None = None  # no public home yet; set when there is one


class DiscoveryService(Service):
    def __init__(self, core: Core, *, policy: FederationPolicy,
                 post_federation: PostFederation, posts: PostService) -> None:
        super().__init__(core)
        self.policy = policy
        self.post_federation = post_federation
        self.posts = posts

    async def local_actor(self, username: str, type_: ActorType | None = None) -> Actor:
        async with self.db.read() as conn:
            actor = await actors_repo.find_local(conn, username)
        if actor is None or actor.deleted or (type_ is not None and actor.type is not type_):
            raise NotFound(N_("No such account here."))
        return actor

    async def webfinger(self, resource: str) -> dict[str, Any]:
        """Resolve ``acct:user@domain`` or one of our actor/profile URLs (RFC 7033)."""
        resource = unquote(resource.strip())
        settings = self.settings
        username: str | None = None
        if resource.startswith("acct:") or ("@" in resource and "://" not in resource):
            try:
                user, host = webfinger.parse_handle(resource)
            except ValueError as exc:
                raise NotFound(N_("Unknown resource.")) from exc
            if host != settings.domain.lower():
                raise NotFound(N_("That account is not on this server."))
            username = user
        elif self.urls.is_local(resource):
            path = urlsplit(resource).path.rstrip("/")
            if path == "/actor":
                username = self.identity.instance.username
            else:
                for prefix in ("/groups/", "/users/", "/@"):
                    if path.startswith(prefix):
                        username = path[len(prefix):]
        if not username:
            raise NotFound(N_("Unknown resource."))
        if username == settings.domain:  # Mastodon asks for acct:domain@domain for the
            username = self.identity.instance.username  # instance actor
        actor = await self.local_actor(username.lower())
        return webfinger.build_jrd(
            subject=f"acct:{actor.username}@{settings.domain}",
            actor_url=actor.uri,
            profile_url=actor.url if actor.type is not ActorType.APPLICATION else None,
            aliases=[actor.uri] + ([actor.url] if actor.url and actor.url != actor.uri else []),
        )

    async def actor_document(self, username: str, type_: ActorType) -> dict[str, Any]:
        actor = await self.local_actor(username, type_)
        if actor.type is ActorType.GROUP:
            # The group's document names its shared blocklist and describes the group; the
            # same builder makes the Update its profile changes send.
            async with self.db.read() as conn:
                return await local_actor_document(conn, actor, self.settings)
        return render.actor_document(actor)

    async def instance_actor_document(self) -> dict[str, Any]:
        return render.actor_document(self.identity.instance)

    async def featured(self, username: str, type_: ActorType) -> dict[str, Any]:
        """The ``featured`` collection an actor document names (pinned posts: none here)."""
        actor = await self.local_actor(username, type_)
        return render.featured_collection(render.featured_url(actor.uri))

    async def collection(self, username: str, type_: ActorType, which: str,
                         page: int | None) -> dict[str, Any]:
        """followers / following / outbox as paged collections that Mastodon and Lemmy read.

        Followers lists only their count: who follows a mutual aid group is nobody else's
        business (the same as Mastodon's "hide your network"). It is a ``Collection`` with
        empty ``items`` (the shape Lemmy parses for a community) and an embedded, empty first
        page (Mastodon reads ``first``). Following (neighboring groups) is paged. The outbox
        lists the activities the public may see now (``can_view_activity``): the collection
        carries the newest inline (Lemmy reads a community's outbox ``orderedItems``, and
        only Announces) and links its pages through ``first`` (Mastodon).
        """
        actor = await self.local_actor(username, type_)
        uri = {"followers": actor.followers_url, "following": actor.following_url,
               "outbox": actor.outbox}[which]
        assert uri is not None
        if which == "followers":
            async with self.db.read() as conn:
                total = await follows_repo.count(conn, actor_id=actor.id, direction=which)
            return render.hidden_collection(uri, total, page)
        async with self.db.read() as conn:
            if which == "outbox":
                total = await outbox_repo.outbox_count(conn, actor_id=actor.id)
                if page is None:
                    doc = render.ordered_collection(uri, total)
                    doc.setdefault("first", f"{uri}?page=1")
                    doc["orderedItems"] = await self._outbox_items(
                        conn, actor.id, offset=0,
                        types=("Announce",) if actor.type is ActorType.GROUP else None)
                    return doc
            else:
                total = await follows_repo.count(conn, actor_id=actor.id, direction=which)
                if page is None:
                    return render.ordered_collection(uri, total)
            offset = (max(page, 1) - 1) * render.PAGE_SIZE
            if which == "outbox":
                items: list[Any] = await self._outbox_items(conn, actor.id, offset=offset)
            else:
                items = await follows_repo.page(conn, actor_id=actor.id, direction=which,
                                                limit=render.PAGE_SIZE, offset=offset)
        return render.ordered_collection_page(uri, max(page, 1), total, items)

    async def _outbox_items(self, conn: AsyncConnection, actor_id: int, *, offset: int,
                            types: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        from fediaid.domain.visibility import ANONYMOUS

        out = []
        for stored in await outbox_repo.outbox_page(conn, actor_id=actor_id,
                                                    limit=render.PAGE_SIZE, offset=offset,
                                                    types=types):
            doc = await self.shown_activity(conn, stored, ANONYMOUS)
            if doc is not None:
                doc.pop("@context", None)
                out.append(doc)
        return out

    async def public_activity(self, uri: str) -> dict[str, Any]:
        from fediaid.domain.visibility import ANONYMOUS

        async with self.db.read() as conn:
            stored = await outbox_repo.find_activity(conn, uri)
            doc = None if stored is None else await self.shown_activity(conn, stored,
                                                                        ANONYMOUS)
        if doc is None:
            raise NotFound(N_("No such activity, or it is not public."))
        return doc

    async def shown_activity(self, conn: AsyncConnection, stored: outbox_repo.StoredActivity,
                             viewer: Viewer) -> dict[str, Any] | None:
        """A stored activity as ``viewer`` may see it now, or None. It follows its object's
        current state (``visibility.can_view_activity``): gone or narrowed objects take
        their activities with them, and an embedded object is shown as it is now (an edit
        that removed a phone number removes it from the Create too)."""
        from fediaid.domain.visibility import PlainObject, can_view_activity
        from fediaid.storage import posts as posts_repo
        from fediaid.storage import statuses as statuses_repo

        about: Any = None
        post_of_status = None
        current: dict[str, Any] | None = None
        if stored.object_uri is not None:
            post = await posts_repo.find_by_uri(conn, stored.object_uri)
            status = None if post is not None else await statuses_repo.find_by_uri(
                conn, stored.object_uri)
            obj = None if post is not None else await objects_repo.find_by_uri(
                conn, stored.object_uri)
            if post is not None:
                about = post
            elif status is not None:
                about = status
                if status.post_id is not None:
                    post_of_status = await posts_repo.find(conn, status.post_id)
            elif obj is not None:
                about = PlainObject(public=obj.public)
        if not can_view_activity(viewer, addressed_publicly=stored.public,
                                 names_object=stored.object_uri is not None, about=about,
                                 post_of_status=post_of_status):
            return None
        if stored.object_uri is not None:
            if isinstance(about, Post) and about.local:
                current = await self.post_federation.note(conn, about)
            elif obj is not None and obj.local:
                current = dict(obj.payload)
        doc = dict(stored.payload)
        if current is not None:
            render.embed_current(doc, stored.object_uri, current)
        return doc

    async def fetch_signer(self, *, method: str, url: str, headers: Any) -> str | None:
        """Who signed a GET, if anyone (None when unsigned). A bad signature is refused
        rather than treated as anonymous."""
        import time

        from activitypub.errors import KeyResolutionError, SignatureError
        from activitypub.verify import verify_request
        from fediaid.errors import Unauthenticated

        if "signature" not in headers and "signature-input" not in headers:
            return None
        try:
            signer = await verify_request(method=method, url=url, headers=headers, body=None,
                                          resolve_key=self.core.keys.resolve, now=time.time())
        except (SignatureError, KeyResolutionError) as exc:
            raise Unauthenticated(exc.reason) from exc
        # A signature from a blocked domain is refused, never read as anonymous.
        self.policy.check_receive(signer.key_id, signer.owner)
        return signer.owner

    async def object_document(self, uri: str, signer: str | None) -> dict[str, Any]:
        """An object as ActivityPub JSON, for whoever may see it: offers and needs by their
        visibility (the requester's relationship to the group counts), other local objects
        only when public."""
        from fediaid.domain.visibility import can_view, federates
        from fediaid.storage import posts as posts_repo

        async with self.db.read() as conn:
            post = await posts_repo.find_by_uri(conn, uri)
            if post is not None:
                viewer = await self.posts.viewer_for_remote(signer)
                if not (post.local and federates(post) and can_view(viewer, post)):
                    raise NotFound(N_("No such object, or it is not shared with you."))
                note = await self.post_federation.note(conn, post)
                return render.in_context(note, self.post_federation.context)
        return await self.public_object(uri)

    async def post_page_for(self, uri: str) -> str | None:
        """The web page of a post (for browsers following an object link)."""
        from fediaid.storage import posts as posts_repo

        async with self.db.read() as conn:
            post = await posts_repo.find_by_uri(conn, uri)
        return f"/posts/{post.id}" if post is not None and post.local else None

    async def public_object(self, uri: str) -> dict[str, Any]:
        async with self.db.read() as conn:
            obj = await objects_repo.find_by_uri(conn, uri)
        if obj is None or not obj.local or not obj.public:
            raise NotFound(N_("No such object, or it is not public."))
        return render.in_context(obj.payload)

    async def nodeinfo(self, version: str) -> dict[str, Any]:
        if version not in nodeinfo.VERSIONS:
            raise NotFound(N_("Unknown NodeInfo version."))
        async with self.db.read() as conn:
            total = await users_repo.count(conn)
            month = await users_repo.active_since(conn, days=30)
            halfyear = await users_repo.active_since(conn, days=182)
            posts = await outbox_repo.outbox_count(conn, actor_id=self.identity.group.id)
            described = await local_actor_document(conn, self.identity.group, self.settings)
        settings = self.settings
        return nodeinfo.document(
            version,
            software_name="fediaid",
            software_version=__version__,
            repository=REPOSITORY,
            homepage=REPOSITORY,
            users_total=total,
            users_active_month=month,
            users_active_halfyear=halfyear,
            local_posts=posts,
            open_registrations=False,
            metadata={
                "nodeName": settings.group_name,
                "nodeDescription": self.identity.group.summary or "",
                "group": {
                    "name": settings.group_name,
                    "handle": f"@{settings.group_slug}@{settings.domain}",
                    "actor": self.identity.group.uri,
                },
                "area": settings.area,
                "languages": list(settings.languages),
                # How the group describes itself in its actor (docs/federation.md).
                **{key: described[key] for key in ("areaServed", "knowsLanguage", "telephone",
                                                   "hotlineHours", "howToJoin")
                   if key in described},
            },
        )



