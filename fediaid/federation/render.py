"""Our domain objects rendered as ActivityPub JSON."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from activitypub.vocab import ACTOR_CONTEXT, AS_CONTEXT, PUBLIC
from fediaid.domain.actors import Actor, ActorType
from fediaid.domain.statuses import Level, Status
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
        "summary": plain_to_html(actor.summary or ""),
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


def plain_to_html(text: str) -> str:
    """A local actor's summary (stored as the plain text its owner typed) as the HTML that
    ActivityPub's ``summary`` carries: escaped, paragraphs on blank lines, ``<br>`` on single
    line breaks."""
    import html

    paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join("<p>" + html.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs)


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


# --- activities (every activity we emit is shaped here; services pass ids and values) -----


def _bare(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != "@context"}


def wrap(kind: str, activity_id: str, actor_uri: str, obj: Any, *,
         context: Any = AS_CONTEXT, to: list[str] | None = None, cc: list[str] | None = None,
         published: str | None = None, audience: str | None = None) -> dict[str, Any]:
    """An activity ``kind`` by ``actor_uri`` about ``obj`` (an id, or an object whose own
    ``@context`` is dropped). Addressing and ``published`` are given only when set."""
    doc: dict[str, Any] = {"@context": context, "id": activity_id, "type": kind,
                           "actor": actor_uri}
    if audience is not None:
        doc["audience"] = audience
    if published is not None:
        doc["published"] = published
    if to is not None:
        doc["to"] = to
    if cc is not None:
        doc["cc"] = cc
    doc["object"] = _bare(obj) if isinstance(obj, dict) else obj
    return doc


def create_of(activity_id: str, actor_uri: str, obj: dict[str, Any], *,
              context: Any = AS_CONTEXT) -> dict[str, Any]:
    """``Create`` addressed as its object is."""
    return wrap("Create", activity_id, actor_uri, obj, context=context,
                published=obj.get("published"), to=obj.get("to", []), cc=obj.get("cc", []))


def update_of(activity_id: str, actor_uri: str, obj: dict[str, Any], *,
              context: Any = AS_CONTEXT) -> dict[str, Any]:
    """``Update`` addressed as its object is."""
    return wrap("Update", activity_id, actor_uri, obj, context=context,
                to=obj.get("to", []), cc=obj.get("cc", []))


def tombstone(uri: str) -> dict[str, Any]:
    return {"id": uri, "type": "Tombstone"}


def delete_of(activity_id: str, actor_uri: str, object_uri: str, *,
              to: list[str] | None = None) -> dict[str, Any]:
    """``Delete`` of an object, which is named by its id alone (a Tombstone)."""
    return wrap("Delete", activity_id, actor_uri, tombstone(object_uri),
                to=to if to is not None else [PUBLIC])


def delete_actor(activity_id: str, actor_uri: str) -> dict[str, Any]:
    """``Delete`` of a deleted account, by the account itself (Mastodon's
    ``DeleteActorSerializer``: the object is the actor's id; receivers remove the account
    and everything of it)."""
    return wrap("Delete", activity_id, actor_uri, actor_uri, to=[PUBLIC])


def actor_tombstone(uri: str, *, former_type: str, deleted: datetime) -> dict[str, Any]:
    """What a deleted account's URI answers (with 410 Gone)."""
    return {"@context": AS_CONTEXT, "id": uri, "type": "Tombstone",
            "formerType": former_type, "deleted": iso(deleted)}


def announce(activity_id: str, actor_uri: str, obj: Any, *, to: list[str], cc: list[str],
             published: datetime, audience: str | None = None) -> dict[str, Any]:
    return wrap("Announce", activity_id, actor_uri, obj, audience=audience,
                published=iso(published), to=to, cc=cc)


def like(activity_id: str, actor_uri: str, object_uri: str, *,
         to: list[str] | None = None) -> dict[str, Any]:
    return wrap("Like", activity_id, actor_uri, object_uri, to=to)


def block(activity_id: str, actor_uri: str, target_uri: str) -> dict[str, Any]:
    """A member's ``Block`` of a remote account, sent to its server (Mastodon's shape: no
    addressing; ``Undo`` of it with ``undo``)."""
    return wrap("Block", activity_id, actor_uri, target_uri)


def flag(activity_id: str, actor_uri: str, objects: list[str], comment: str | None
         ) -> dict[str, Any]:
    """A report forwarded to the reported account's server, from the instance actor (the
    reporter is never named)."""
    doc = wrap("Flag", activity_id, actor_uri, objects)
    doc["content"] = comment or ""
    return doc


def update_actor(activity_id: str, actor: Actor, *, document: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """``Update`` of a local actor with its whole document (as Mastodon sends profile
    changes; ``document`` when the caller built it whole), addressed to the public."""
    return wrap("Update", activity_id, actor.uri, document or actor_document(actor),
                context=ACTOR_CONTEXT, to=[PUBLIC])


def direct_note(*, uri: str, sender_uri: str, recipient_uri: str, recipient_name: str,
                recipient_url: str, text: str, published: datetime,
                in_reply_to: str | None = None) -> dict[str, Any]:
    """A direct Note with a Mention, so Mastodon notifies the recipient; ``text`` is plain
    (paragraphs split on blank lines, escaped here)."""
    import html

    mention = (f'<span class="h-card"><a href="{html.escape(recipient_url)}"'
               f' class="u-url mention">{html.escape(recipient_name)}</a></span> '
               if recipient_name else "")
    body = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip())
    note = {"id": uri, "type": "Note", "attributedTo": sender_uri, "to": [recipient_uri],
            "cc": [], "published": iso(published),
            "content": f"<p>{mention}</p>{body}" if mention else body,
            "tag": [{"type": "Mention", "href": recipient_uri, "name": recipient_name}]}
    if in_reply_to:
        note["inReplyTo"] = in_reply_to
    return note


def hidden_collection(uri: str, total: int, page: int | None) -> dict[str, Any]:
    """A collection that shows its size, not its members: a ``Collection`` with empty
    ``items`` (what Lemmy parses) whose first page is embedded and empty (Mastodon reads
    ``first``; its own hidden collections have one too)."""
    first: dict[str, Any] = {"id": f"{uri}?page=1", "type": "CollectionPage", "partOf": uri,
                             "totalItems": total, "items": []}
    if page is not None:
        return {"@context": AS_CONTEXT, **first, "id": f"{uri}?page={page}"}
    return {"@context": AS_CONTEXT, "id": uri, "type": "Collection",
            "totalItems": total, "items": [], "first": first}


def status_note(status: Status, *, author: Actor, recipients: Sequence[Actor],
                group_followers: str, tags: Sequence[str], tag_base_url: str,
                attachments: Sequence[dict[str, Any]], updated: datetime | None = None
                ) -> dict[str, Any]:
    """A member's note (a client-API status) as a Note, addressed by its level: public
    (listed or not) to everyone, network addressed to the group's followers collection but
    delivered to linked groups only (docs/federation.md, "Links between groups"), direct
    to the people it mentions."""
    mention_uris = [a.uri for a in recipients]
    followers = author.followers_url or ""
    if status.level is Level.PUBLIC and status.listed:
        to, cc = [PUBLIC], [followers, *mention_uris]
    elif status.level is Level.PUBLIC:
        to, cc = [followers], [PUBLIC, *mention_uris]
    elif status.level is Level.NETWORK:
        to, cc = [group_followers], mention_uris
    else:
        to, cc = mention_uris, []
    tag: list[dict[str, Any]] = [
        {"type": "Mention", "href": a.uri,
         "name": f"@{a.username}@{a.domain}" if a.username else a.uri}
        for a in recipients]
    tag += [{"type": "Hashtag", "href": f"{tag_base_url}{t}", "name": f"#{t}"} for t in tags]
    note: dict[str, Any] = {
        "id": status.uri, "type": "Note", "attributedTo": author.uri,
        "content": status.content, "published": iso(status.created_at),
        "to": [a for a in to if a], "cc": [a for a in cc if a], "tag": tag,
        "url": status.url or status.uri, "sensitive": status.sensitive,
        "context": status.conversation, "conversation": status.conversation,
        "inReplyTo": status.in_reply_to_uri,
    }
    if status.spoiler_text:
        note["summary"] = status.spoiler_text
    if status.language:
        note["contentMap"] = {status.language: status.content}
    if attachments:
        note["attachment"] = list(attachments)
    if updated is not None:
        note["updated"] = iso(updated)
    return note


def document(*, url: str, media_type: str, description: str | None, width: int | None,
             height: int | None, blurhash: str | None,
             focus: tuple[float, float] | None) -> dict[str, Any]:
    """An attached image as Mastodon sends it."""
    return {"type": "Document", "mediaType": media_type, "url": url, "name": description or "",
            "width": width, "height": height, "blurhash": blurhash,
            **({"focalPoint": list(focus)} if focus else {})}


def undo_of(activity_id: str, actor_uri: str, inner_type: str, inner_id: str, object_uri: str,
            *, to: list[str] | None = None) -> dict[str, Any]:
    """``Undo`` of one's own Like or Announce, naming it by id (and what it was about)."""
    return wrap("Undo", activity_id, actor_uri,
                {"id": inner_id, "type": inner_type, "actor": actor_uri, "object": object_uri},
                to=to)


def in_context(doc: dict[str, Any], context: Any = AS_CONTEXT) -> dict[str, Any]:
    """A stored or rendered object served on its own: with an ``@context`` (its own kept)."""
    return {"@context": doc.get("@context", context), **_bare(doc)}


def with_blocklist(doc: dict[str, Any], namespace: str, url: str) -> dict[str, Any]:
    """The group's actor document naming where linked groups fetch its shared blocklist
    (docs/federation.md, "Shared blocklists")."""
    out = dict(doc)
    out["@context"] = [*doc["@context"], {
        "fediaid": namespace, "blocklist": {"@id": "fediaid:blocklist", "@type": "@id"}}]
    out["blocklist"] = url
    return out


def with_self_description(doc: dict[str, Any], namespace: str, *,
                          fields: Sequence[tuple[str, str]], hotline: str, hotline_hours: str,
                          how_to_join: str, areas: Sequence[str], languages: Sequence[str]
                          ) -> dict[str, Any]:
    """The group's actor document describing the group for the network and for people
    (docs/federation.md, "How a group describes itself"): ``fields`` as Mastodon's profile
    fields (``PropertyValue`` attachments, name and plain value: the value is escaped here),
    schema.org's ``areaServed`` (neighborhood or postal-area names, never coordinates),
    ``knowsLanguage`` (language codes) and ``telephone`` (the hotline, international form),
    and fediaid's ``hotlineHours`` and ``howToJoin`` (plain text). Empty values are left
    out."""
    out = dict(doc)
    out["@context"] = [*doc["@context"], {
        "areaServed": "schema:areaServed", "knowsLanguage": "schema:knowsLanguage",
        "telephone": "schema:telephone", "fediaid": namespace,
        "hotlineHours": "fediaid:hotlineHours", "howToJoin": "fediaid:howToJoin"}]
    out["attachment"] = [
        *doc.get("attachment", []),
        *({"type": "PropertyValue", "name": name, "value": html.escape(value, quote=False)}
          for name, value in fields if value)]
    extra: dict[str, Any] = {"areaServed": list(areas), "knowsLanguage": list(languages),
                             "telephone": hotline, "hotlineHours": hotline_hours,
                             "howToJoin": how_to_join}
    out.update({k: v for k, v in extra.items() if v})
    return out


def embed_current(doc: dict[str, Any], object_uri: str | None, current: dict[str, Any]
                  ) -> None:
    """Replace the embedded copy of ``object_uri`` (in a Create/Update, or in the Create an
    Announce embeds) with ``current``, in place."""
    inner = doc.get("object")
    if not isinstance(inner, dict):
        return
    if inner.get("id") == object_uri:
        doc["object"] = _bare(current)
    elif isinstance(inner.get("object"), dict):
        inner = dict(inner)
        embed_current(inner, object_uri, current)
        doc["object"] = inner


# -- links between groups (docs/federation.md, "Links between groups") ----------------------
LINK_NAMESPACE = "https://fediaid.org/ns#"


def link_follow(activity_id: str, actor: str, target: str, shares: list[str]
                ) -> dict[str, Any]:
    """A Group's ``Follow`` of another Group that proposes (or confirms) a link: a plain
    Follow, with ``linkShares`` (possibly empty) marking it and saying what the group
    shares over the link. Software that does not know the term sees a Follow."""
    doc = follow(activity_id, actor, target)
    doc["@context"] = [AS_CONTEXT, {
        "fediaid": LINK_NAMESPACE,
        "linkShares": {"@id": "fediaid:linkShares", "@container": "@set"}}]
    doc["linkShares"] = sorted(shares)
    return doc


def with_directory(doc: dict[str, Any], namespace: str, url: str) -> dict[str, Any]:
    """The group's actor document naming its directory entry (``/directory.json``,
    docs/federation.md, "The directory")."""
    out = dict(doc)
    out["@context"] = [*doc["@context"], {
        "fediaid": namespace, "directory": {"@id": "fediaid:directory", "@type": "@id"}}]
    out["directory"] = url
    return out


def directory_entry(*, url: str, namespace: str, actor: Actor, handle: str,
                    profile_url: str | None, areas: Sequence[str], languages: Sequence[str],
                    telephone: str, hotline_hours: str, how_to_join: str,
                    open_needs: int | str, links: Sequence[str], updated: datetime
                    ) -> dict[str, Any]:
    """This group's directory entry (``GET /directory.json``): how the group describes
    itself, its open public needs (a count, or "fewer than 5") and the actor URIs of the
    groups it links with (active links): docs/federation.md, "The directory"."""
    return {
        "@context": [AS_CONTEXT, {
            "schema": "http://schema.org#", "fediaid": namespace,
            "GroupDirectoryEntry": "fediaid:GroupDirectoryEntry",
            "areaServed": "schema:areaServed", "knowsLanguage": "schema:knowsLanguage",
            "telephone": "schema:telephone", "hotlineHours": "fediaid:hotlineHours",
            "howToJoin": "fediaid:howToJoin", "openNeeds": "fediaid:openNeeds",
            "links": {"@id": "fediaid:links", "@type": "@id", "@container": "@set"}}],
        "id": url, "type": "GroupDirectoryEntry", "attributedTo": actor.uri,
        "name": actor.name or actor.username or "", "preferredUsername": handle,
        "url": profile_url or actor.uri, "areaServed": list(areas),
        "knowsLanguage": list(languages), "telephone": telephone,
        "hotlineHours": hotline_hours, "howToJoin": how_to_join, "openNeeds": open_needs,
        "links": list(links), "updated": iso(updated)}


ALERT_CONTEXT = [AS_CONTEXT, {"fediaid": LINK_NAMESPACE,
                              "AccountAlert": "fediaid:AccountAlert",
                              "harm": "fediaid:harm", "handle": "fediaid:handle"}]


def account_alert(activity_id: str, actor: str, to: list[str], *, account_uri: str,
                  handle: str, harm: str, reason: str, published: datetime
                  ) -> dict[str, Any]:
    """An alert to linked groups about an account this group suspended for harm
    (docs/federation.md, "Account alerts"): the account's id and handle, the category and
    the words the group chose to share; nothing else about the person. A type of our own:
    software that does not know it ignores the activity."""
    doc = wrap("AccountAlert", activity_id, actor, account_uri, context=ALERT_CONTEXT, to=to,
               published=iso(published))
    doc["handle"] = handle
    doc["harm"] = harm
    if reason:
        doc["content"] = reason
    return doc


def undo_account_alert(activity_id: str, actor: str, to: list[str], *, alert_id: str,
                       account_uri: str) -> dict[str, Any]:
    """Taking an alert back: ``Undo`` of it, by id (and the account it named)."""
    return wrap("Undo", activity_id, actor,
                {"id": alert_id, "type": "AccountAlert", "actor": actor,
                 "object": account_uri}, context=ALERT_CONTEXT, to=to)


def with_needs_picture(doc: dict[str, Any], namespace: str, url: str) -> dict[str, Any]:
    """The group's actor document naming its needs picture for linked groups
    (``/picture.json``, docs/federation.md, "The needs picture over links")."""
    out = dict(doc)
    out["@context"] = [*doc["@context"], {
        "fediaid": namespace, "needsPicture": {"@id": "fediaid:needsPicture", "@type": "@id"}}]
    out["needsPicture"] = url
    return out


def needs_picture_document(*, url: str, namespace: str, actor: Actor, updated: datetime,
                           body: dict[str, Any]) -> dict[str, Any]:
    """This group's needs picture as linked groups fetch it (``GET /picture.json``): counts
    by category, place and month, open needs; numbers of 5 or more, else "fewer than 5" or
    "hidden" (docs/federation.md, "The needs picture over links")."""
    return {
        "@context": [AS_CONTEXT, {
            "fediaid": namespace, "NeedsPicture": "fediaid:NeedsPicture",
            "since": "fediaid:since", "hideBelow": "fediaid:hideBelow",
            "needs": "fediaid:needs", "offers": "fediaid:offers",
            "categories": "fediaid:categories", "areas": "fediaid:areas",
            "months": "fediaid:months", "openNeeds": "fediaid:openNeeds",
            "waiting": "fediaid:waiting", "openByCategory": "fediaid:openByCategory",
            "key": "fediaid:key"}],
        "id": url, "type": "NeedsPicture", "attributedTo": actor.uri,
        "name": actor.name or actor.username or "", "updated": iso(updated), **body}
