"""What other servers and apps read to find us: WebFinger, NodeInfo, actor documents and
their collections, and public objects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from activitypub import nodeinfo, webfinger
from fediaid import __version__
from fediaid.domain.actors import Actor, ActorType
from fediaid.errors import NotFound
from fediaid.federation import render
from fediaid.storage import actors as actors_repo
from fediaid.storage import follows as follows_repo
from fediaid.storage import objects as objects_repo
from fediaid.storage import outbox as outbox_repo
from fediaid.storage import users as users_repo

if TYPE_CHECKING:
    from fediaid.services.runtime import Runtime

REPOSITORY: str | None = None  # no public home yet; set when there is one


class DiscoveryService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def local_actor(self, username: str, type_: ActorType | None = None) -> Actor:
        async with self.rt.db.read() as conn:
            actor = await actors_repo.find_local(conn, username)
        if actor is None or (type_ is not None and actor.type is not type_):
            raise NotFound("No such account here.")
        return actor

    async def webfinger(self, resource: str) -> dict[str, Any]:
        """Resolve ``acct:user@domain`` or one of our actor/profile URLs (RFC 7033)."""
        resource = unquote(resource.strip())
        settings = self.rt.settings
        username: str | None = None
        if resource.startswith("acct:") or ("@" in resource and "://" not in resource):
            try:
                user, host = webfinger.parse_handle(resource)
            except ValueError as exc:
                raise NotFound("Unknown resource.") from exc
            if host != settings.domain.lower():
                raise NotFound("That account is not on this server.")
            username = user
        elif self.rt.urls.is_local(resource):
            path = urlsplit(resource).path.rstrip("/")
            if path == "/actor":
                username = self.rt.identity.instance.username
            else:
                for prefix in ("/groups/", "/users/", "/@"):
                    if path.startswith(prefix):
                        username = path[len(prefix):]
        if not username:
            raise NotFound("Unknown resource.")
        if username == settings.domain:  # Mastodon asks for acct:domain@domain for the
            username = self.rt.identity.instance.username  # instance actor
        actor = await self.local_actor(username.lower())
        return webfinger.build_jrd(
            subject=f"acct:{actor.username}@{settings.domain}",
            actor_url=actor.uri,
            profile_url=actor.url if actor.type is not ActorType.APPLICATION else None,
            aliases=[actor.uri] + ([actor.url] if actor.url and actor.url != actor.uri else []),
        )

    async def actor_document(self, username: str, type_: ActorType) -> dict[str, Any]:
        actor = await self.local_actor(username, type_)
        return render.actor_document(actor)

    async def instance_actor_document(self) -> dict[str, Any]:
        return render.actor_document(self.rt.identity.instance)

    async def featured(self, username: str, type_: ActorType) -> dict[str, Any]:
        """The ``featured`` collection an actor document names (pinned posts: none here)."""
        actor = await self.local_actor(username, type_)
        return render.featured_collection(render.featured_url(actor.uri))

    async def collection(self, username: str, type_: ActorType, which: str,
                         page: int | None) -> dict[str, Any]:
        """followers / following / outbox as a paged OrderedCollection.

        Followers lists only their count: who follows a mutual aid group is nobody else's
        business (the same as Mastodon's "hide your network"). Following (neighboring groups)
        and the outbox (public activities) are paged.
        """
        actor = await self.local_actor(username, type_)
        uri = {"followers": actor.followers_url, "following": actor.following_url,
               "outbox": actor.outbox}[which]
        assert uri is not None
        async with self.rt.db.read() as conn:
            if which == "outbox":
                total = await outbox_repo.outbox_count(conn, actor_id=actor.id)
            else:
                total = await follows_repo.count(conn, actor_id=actor.id, direction=which)
            if page is None or which == "followers":
                doc = render.ordered_collection(uri, total)
                if which == "followers":
                    doc.pop("first", None)
                    doc.pop("last", None)
                return doc
            offset = (max(page, 1) - 1) * render.PAGE_SIZE
            if which == "outbox":
                items: list[Any] = await outbox_repo.outbox_page(
                    conn, actor_id=actor.id, limit=render.PAGE_SIZE, offset=offset)
                for item in items:
                    item.pop("@context", None)
            else:
                items = await follows_repo.page(conn, actor_id=actor.id, direction=which,
                                                limit=render.PAGE_SIZE, offset=offset)
        return render.ordered_collection_page(uri, max(page, 1), total, items)

    async def public_activity(self, uri: str) -> dict[str, Any]:
        async with self.rt.db.read() as conn:
            doc = await outbox_repo.find_activity(conn, uri)
        if doc is None:
            raise NotFound("No such activity, or it is not public.")
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
                                          resolve_key=self.rt.keys.resolve, now=time.time())
        except (SignatureError, KeyResolutionError) as exc:
            raise Unauthenticated(exc.reason) from exc
        # A signature from a blocked domain is refused, never read as anonymous.
        self.rt.policy.check_receive(signer.key_id, signer.owner)
        return signer.owner

    async def object_document(self, uri: str, signer: str | None) -> dict[str, Any]:
        """An object as ActivityPub JSON, for whoever may see it: offers and needs by their
        visibility (the requester's relationship to the group counts), other local objects
        only when public."""
        from fediaid.domain.visibility import can_view, federates
        from fediaid.storage import posts as posts_repo

        async with self.rt.db.read() as conn:
            post = await posts_repo.find_by_uri(conn, uri)
            if post is not None:
                viewer = await self.rt.posts.viewer_for_remote(signer)
                if not (post.local and federates(post) and can_view(viewer, post)):
                    raise NotFound("No such object, or it is not shared with you.")
                note = await self.rt.post_federation.note(conn, post)
                return {"@context": self.rt.post_federation.context, **note}
        return await self.public_object(uri)

    async def post_page_for(self, uri: str) -> str | None:
        """The web page of a post (for browsers following an object link)."""
        from fediaid.storage import posts as posts_repo

        async with self.rt.db.read() as conn:
            post = await posts_repo.find_by_uri(conn, uri)
        return f"/posts/{post.id}" if post is not None and post.local else None

    async def public_object(self, uri: str) -> dict[str, Any]:
        async with self.rt.db.read() as conn:
            obj = await objects_repo.find_by_uri(conn, uri)
        if obj is None or not obj.local or not obj.public:
            raise NotFound("No such object, or it is not public.")
        doc = dict(obj.payload)
        doc.setdefault("@context", "https://www.w3.org/ns/activitystreams")
        return doc

    async def nodeinfo(self, version: str) -> dict[str, Any]:
        if version not in nodeinfo.VERSIONS:
            raise NotFound("Unknown NodeInfo version.")
        async with self.rt.db.read() as conn:
            total = await users_repo.count(conn)
            month = await users_repo.active_since(conn, days=30)
            halfyear = await users_repo.active_since(conn, days=182)
            posts = await outbox_repo.outbox_count(conn, actor_id=self.rt.identity.group.id)
        settings = self.rt.settings
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
                "nodeDescription": self.rt.identity.group.summary or "",
                "group": {
                    "name": settings.group_name,
                    "handle": f"@{settings.group_slug}@{settings.domain}",
                    "actor": self.rt.identity.group.uri,
                },
                "area": settings.area,
                "languages": list(settings.languages),
            },
        )
