"""Remote documents parsed into domain values. Untrusted input: validate, never crash."""

from __future__ import annotations

from typing import Any

from activitypub.keys import load_public_key
from activitypub.vocab import first_str, host_of, hostname_of, id_of, is_http_uri, same_origin
from fediaid.domain.actors import ActorType, RemoteActorData
from fediaid.errors import Invalid
from fediaid.federation.sanitize import sanitize_html

MAX_TEXT = 5000


def _text(value: Any, limit: int = MAX_TEXT) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def _uri(value: Any, actor_id: str) -> str | None:
    """A URL property that must live on the actor's own server."""
    u = id_of(value)
    return u if u and is_http_uri(u) and hostname_of(u) == hostname_of(actor_id) else None


def parse_actor(doc: Any) -> RemoteActorData:
    """Validate a remote actor document. Raises Invalid with a reason."""
    if not isinstance(doc, dict):
        raise Invalid("actor document is not a JSON object")
    actor_id = doc.get("id")
    if not is_http_uri(actor_id):
        raise Invalid("actor has no valid id")
    assert isinstance(actor_id, str)
    type_ = ActorType.parse(first_str(doc.get("type")))
    if type_ is None:
        raise Invalid(f"{actor_id} is not an actor type we know")
    inbox = _uri(doc.get("inbox"), actor_id)
    if inbox is None:
        raise Invalid(f"{actor_id} has no inbox on its own server")
    endpoints = doc.get("endpoints") if isinstance(doc.get("endpoints"), dict) else {}
    shared = _uri(endpoints.get("sharedInbox"), actor_id) if endpoints else None
    key_id = pem = None
    pk = doc.get("publicKey")
    if isinstance(pk, list):
        pk = next((k for k in pk if isinstance(k, dict)), None)
    if isinstance(pk, dict):
        kid, owner, candidate = pk.get("id"), id_of(pk.get("owner")), pk.get("publicKeyPem")
        if (
            is_http_uri(kid)
            and isinstance(candidate, str)
            and (owner is None or owner == actor_id)
            and same_origin(str(kid), actor_id)
        ):
            try:
                load_public_key(candidate)
            except ValueError as exc:
                raise Invalid(f"{actor_id} publishes an unreadable key") from exc
            key_id, pem = str(kid), candidate
    username = _text(doc.get("preferredUsername"), 255)
    icon_url = _image_url(doc.get("icon"))
    header_url = _image_url(doc.get("image"))
    return RemoteActorData(
        uri=actor_id,
        type=type_,
        username=username,
        domain=host_of(actor_id),
        name=_text(doc.get("name"), 512),
        # Sanitized here, once, on arrival: stored and shown as it is (sanitize.py).
        summary=_summary(doc.get("summary")),
        inbox=inbox,
        shared_inbox=shared,
        outbox=_uri(doc.get("outbox"), actor_id),
        followers_url=_uri(doc.get("followers"), actor_id),
        following_url=_uri(doc.get("following"), actor_id),
        url=id_of(doc.get("url")) if is_http_uri(id_of(doc.get("url"))) else None,
        key_id=key_id,
        public_key_pem=pem,
        icon_url=icon_url if is_http_uri(icon_url) else None,
        header_url=header_url if is_http_uri(header_url) else None,
        manually_approves_followers=doc.get("manuallyApprovesFollowers") is True,
    )


def _summary(value: Any) -> str | None:
    """A profile's ``summary`` as Mastodon's allow-list keeps it; None when nothing is left."""
    text = _text(value)
    return (sanitize_html(text) or None) if text else None


def _image_url(image: Any) -> str | None:
    """The URL of an actor's ``icon`` or ``image`` (an Image object, a list, or a URL)."""
    if isinstance(image, list):
        image = image[0] if image else None
    if isinstance(image, dict):
        url = image.get("url")
        return first_str(url) if isinstance(url, str) else id_of(url)
    if isinstance(image, str):
        return image
    return None
