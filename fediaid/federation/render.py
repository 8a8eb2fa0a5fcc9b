"""Our domain objects rendered as ActivityPub JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from activitypub.vocab import ACTOR_CONTEXT, AS_CONTEXT, PUBLIC
from fediaid.domain.actors import Actor, ActorType
from fediaid.federation.urls import DEFAULT_AVATAR_PATH, featured_url

PAGE_SIZE = 20


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def actor_document(actor: Actor, *, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every field Mastodon's actor serializer emits that applies to us (PROTOCOL.md 3.1)."""
    assert actor.local and actor.username
    doc: dict[str, Any] = {
        "@context": ACTOR_CONTEXT,
        "id": actor.uri,
        "type": actor.type.value,
        "preferredUsername": actor.username,
        "name": actor.name or actor.username,
        "summary": actor.summary or "",
        "url": actor.url,
        "inbox": actor.inbox,
        "outbox": actor.outbox,
        "followers": actor.followers_url,
        "following": actor.following_url,
        "endpoints": {"sharedInbox": actor.shared_inbox},
        # The group never says true, even while its follows wait for a coordinator: Lemmy
        # reads a Group that approves followers as a private community and then hides all
        # its posts from everyone but accepted followers. The held Follow stays pending on
        # Lemmy and Mastodon alike until the coordinator's Accept (README, approve-follows).
        "manuallyApprovesFollowers": (actor.manually_approves_followers
                                      and actor.type is not ActorType.GROUP),
        "discoverable": actor.discoverable,
        "indexable": actor.indexable,
        "published": iso(actor.created_at),
        "publicKey": {
            "id": actor.key_id,
            "owner": actor.uri,
            "publicKeyPem": actor.public_key_pem,
        },
        "tag": [],
        "attachment": [],
    }
    if actor.type is not ActorType.APPLICATION:  # the instance actor is no account
        # Pinned posts: none can be pinned here, so an empty collection (it exists).
        doc["featured"] = featured_url(actor.uri)
        # The avatar the client API shows: the default image when none is set.
        doc["icon"] = _image(actor.icon_url or _origin(actor.uri) + DEFAULT_AVATAR_PATH)
    # The header only when one is set, as Mastodon's actor serializer gives it.
    if actor.header_url:
        doc["image"] = _image(actor.header_url)
    if metadata:
        doc.update(metadata)
    return doc


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def featured_collection(uri: str) -> dict[str, Any]:
    """An actor's pinned posts: always empty (pinning is not a feature here)."""
    return {"@context": AS_CONTEXT, "id": uri, "type": "OrderedCollection", "totalItems": 0,
            "orderedItems": []}


_IMAGE_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png",
                "gif": "image/gif", "webp": "image/webp"}


def _image(url: str) -> dict[str, Any]:
    """An ``Image`` object; ``mediaType`` when the file name says it (ours always do)."""
    doc: dict[str, Any] = {"type": "Image", "url": url}
    media_type = _IMAGE_TYPES.get(url.rpartition("/")[2].rpartition(".")[2].lower())
    if media_type:
        doc["mediaType"] = media_type
    return doc


def ordered_collection(uri: str, total: int) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": AS_CONTEXT,
        "id": uri,
        "type": "OrderedCollection",
        "totalItems": total,
    }
    if total:
        doc["first"] = f"{uri}?page=1"
        doc["last"] = f"{uri}?page={max(1, -(-total // PAGE_SIZE))}"
    return doc


def ordered_collection_page(uri: str, page: int, total: int, items: list[Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": AS_CONTEXT,
        "id": f"{uri}?page={page}",
        "type": "OrderedCollectionPage",
        "partOf": uri,
        "totalItems": total,
        "orderedItems": items,
    }
    if page * PAGE_SIZE < total:
        doc["next"] = f"{uri}?page={page + 1}"
    if page > 1:
        doc["prev"] = f"{uri}?page={page - 1}"
    return doc


def follow(activity_id: str, actor: str, target: str) -> dict[str, Any]:
    return {"@context": AS_CONTEXT, "id": activity_id, "type": "Follow", "actor": actor,
            "object": target}


def respond_to_follow(kind: str, activity_id: str, actor: str, follow_activity: dict[str, Any]
                      ) -> dict[str, Any]:
    """``Accept`` or ``Reject`` embedding the Follow (Mastodon matches on the embedded id)."""
    inner = {k: v for k, v in follow_activity.items() if k != "@context"}
    return {"@context": AS_CONTEXT, "id": activity_id, "type": kind, "actor": actor,
            "object": inner, "to": [inner.get("actor")]}


def undo(activity_id: str, actor: str, inner: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in inner.items() if k != "@context"}
    return {"@context": AS_CONTEXT, "id": activity_id, "type": "Undo", "actor": actor,
            "object": body}


def note(*, uri: str, actor: Actor, content: str, published: datetime, public: bool
         ) -> dict[str, Any]:
    to = [PUBLIC] if public else [actor.followers_url]
    cc = [actor.followers_url] if public else []
    return {
        "id": uri,
        "type": "Note",
        "attributedTo": actor.uri,
        "content": content,
        "published": iso(published),
        "to": to,
        "cc": cc,
        "url": uri,
    }


def create(activity_id: str, actor: Actor, obj: dict[str, Any]) -> dict[str, Any]:
    return {"@context": AS_CONTEXT, "id": activity_id, "type": "Create", "actor": actor.uri,
            "published": obj.get("published"), "to": obj.get("to", []),
            "cc": obj.get("cc", []), "object": obj}


def delete(activity_id: str, actor: Actor, object_uri: str, *, public: bool) -> dict[str, Any]:
    to = [PUBLIC] if public else [actor.followers_url]
    return {"@context": AS_CONTEXT, "id": activity_id, "type": "Delete", "actor": actor.uri,
            "to": to, "object": {"id": object_uri, "type": "Tombstone"}}
