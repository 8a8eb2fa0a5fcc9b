"""Offers and needs rendered as ActivityPub JSON (PROTOCOL.md sections 1, 2 and 3.7).

Pure: no I/O. A post travels as a ``Note`` that Mastodon shows as an ordinary status and that
FEP-0837 peers (fediaid, Mitra) read through the Valueflows properties it also carries
(``purpose``, ``publishes``...). Nothing here fetches a JSON-LD context: peers match on the
compact keys, and ``CONTEXT`` is what the caller puts on the outer activity.

Hashtags: ``#need`` / ``#offer`` and one for the category. Category hashtags are the slug in
CamelCase with the dashes removed (``rent-bills`` -> ``#RentBills``): Mastodon matches tags
case-insensitively, and CamelCase is what screen readers can read word by word. Links point
to ``{tag_base_url}{lower-case name}``. The catch-all category ``other`` gets no hashtag.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from activitypub.vocab import AS_CONTEXT, PUBLIC, id_of, is_http_uri
from fediaid.domain.posts import DEFAULT_CATEGORIES, Kind, Post, Urgency, Visibility
from fediaid.federation.render import iso

VF_NAMESPACE = "https://w3id.org/valueflows/ont/vf#"  # newest FEP-0837 text
OM2_NAMESPACE = "http://www.ontology-of-units-of-measure.org/resource/om-2/"

# The FEP-0837 context (PROTOCOL.md 1.4) plus the Mastodon terms a status uses. The caller puts
# it on the outer activity (Create/Update/Announce) or uses it as is on Offer/Accept/Reject.
CONTEXT: list[Any] = [
    AS_CONTEXT,
    {
        "Hashtag": "as:Hashtag",
        "sensitive": "as:sensitive",
        "om2": OM2_NAMESPACE,
        "vf": VF_NAMESPACE,
        "Proposal": "vf:Proposal",
        "Intent": "vf:Intent",
        "Agreement": "vf:Agreement",
        "Commitment": "vf:Commitment",
        "action": "vf:action",
        "purpose": "vf:purpose",
        "unitBased": "vf:unitBased",
        "publishes": "vf:publishes",
        "reciprocal": "vf:reciprocal",
        "provider": "vf:provider",
        "receiver": "vf:receiver",
        "stipulates": "vf:stipulates",
        "stipulatesReciprocal": "vf:stipulatesReciprocal",
        "satisfies": "vf:satisfies",
        "resourceConformsTo": "vf:resourceConformsTo",
        "resourceQuantity": "vf:resourceQuantity",
        "availableQuantity": "vf:availableQuantity",
        "hasUnit": "om2:hasUnit",
        "hasNumericalValue": "om2:hasNumericalValue",
        # fediaid's own terms (docs/federation.md, "Forwarded needs"): how a closed offer or
        # need ended, and the marker of a need offered to a linked group.
        "fediaid": "https://fediaid.org/ns#",
        "closedAs": "fediaid:closedAs",
        "forwardedNeed": "fediaid:forwardedNeed",
    },
]

ACTION_DELIVER_SERVICE = "deliverService"
ACTION_TRANSFER = "transfer"
UNIT_ONE = "one"

# Categories that are a service someone does (Valueflows deliverService); every other
# category is a thing handed over (transfer).
SERVICE_CATEGORIES = frozenset({
    "transport", "childcare", "elder-care", "emotional-support", "skills", "translation",
    "tech-help", "pet-care",
})

DEFAULT_CATEGORY_SLUGS: tuple[str, ...] = tuple(slug for slug, _label in DEFAULT_CATEGORIES)

KIND_HASHTAGS: Mapping[Kind, str] = {Kind.NEED: "need", Kind.OFFER: "offer"}
KIND_LABELS: Mapping[Kind, str] = {Kind.NEED: "Need", Kind.OFFER: "Offer"}

# What Mastodon's sanitizer keeps (PROTOCOL.md 3.7); render_post uses only the first line.
RENDER_TAGS = frozenset({"p", "br", "a", "strong", "em", "span"})


def intent_id(proposal_uri: str) -> str:
    return f"{proposal_uri}#primary"


def category_hashtag(slug: str) -> str | None:
    """``rent-bills`` -> ``RentBills``; None for ``other`` and for slugs with nothing left."""
    if slug == "other":
        return None
    name = "".join(part[:1].upper() + part[1:] for part in slug.split("-") if part)
    name = "".join(ch for ch in name if ch.isalnum())
    return name or None


def hashtag_key(name: str) -> str:
    """How a hashtag is compared: lower case, alphanumerics only (``#Rent_Bills`` = rentbills)."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def action_for(category: str) -> str:
    return ACTION_DELIVER_SERVICE if category in SERVICE_CATEGORIES else ACTION_TRANSFER


def number(value: Decimal) -> str:
    """A quantity as FEP-0837 ``hasNumericalValue`` text: plain digits, never ``1E+1``."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def quantity_json(quantity: Decimal | None, unit: str | None) -> dict[str, Any]:
    """``resourceQuantity``; the amount is left out when unknown (newest FEP text allows it)."""
    out: dict[str, Any] = {"hasUnit": unit or UNIT_ONE}
    if quantity is not None:
        out["hasNumericalValue"] = number(quantity)
    return out


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def iso_utc(dt: datetime) -> str:
    """``iso`` after converting to UTC (``iso`` itself only formats)."""
    return iso(_utc(dt))


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def human_date(dt: datetime) -> str:
    """``Tue 3 Dec 2026, 18:00`` in UTC; locale-independent."""
    u = _utc(dt)
    return f"{_DAYS[u.weekday()]} {u.day} {_MONTHS[u.month - 1]} {u.year}, {u:%H:%M}"


def human_window(starts_at: datetime | None, ends_at: datetime | None) -> str | None:
    if starts_at and ends_at:
        s, e = _utc(starts_at), _utc(ends_at)
        if s.date() == e.date():
            return f"{human_date(s)} to {e:%H:%M} UTC"
        return f"{human_date(s)} to {human_date(e)} UTC"
    if starts_at:
        return f"from {human_date(starts_at)} UTC"
    if ends_at:
        return f"until {human_date(ends_at)} UTC"
    return None


def human_quantity(quantity: Decimal | None, unit: str) -> str | None:
    if quantity is None:
        return None
    if not unit or unit == UNIT_ONE:
        return number(quantity)
    return f"{number(quantity)} {unit}"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def paragraphs(text: str) -> str:
    """Plain text as HTML paragraphs: blank lines split paragraphs, single newlines are <br>."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [_esc(line.strip()) for line in block.strip().split("\n")]
        if any(lines):
            out.append("<p>" + "<br>".join(lines) + "</p>")
    return "".join(out)


def hashtag_link(name: str, tag_base_url: str) -> str:
    href = _esc(tag_base_url + name.lower())
    return f'<a href="{href}" class="mention hashtag" rel="tag">#<span>{_esc(name)}</span></a>'


def hashtag_tag(name: str, tag_base_url: str) -> dict[str, Any]:
    return {"type": "Hashtag", "href": tag_base_url + name.lower(), "name": f"#{name}"}


def _handle_link(group_handle: str, group_uri: str) -> str:
    user = group_handle.lstrip("@").split("@", 1)[0]
    return (f'<span class="h-card"><a href="{_esc(group_uri)}" class="u-url mention">'
            f"@<span>{_esc(user)}</span></a></span>")


@dataclass(frozen=True)
class Addressing:
    """Who a post goes to, computed from its visibility."""

    to: list[str]
    cc: list[str]


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def addressing(post: Post, *, group_uri: str, group_followers: str,
               author_followers: str | None) -> Addressing:
    """public: as:Public + the group's followers and the group (and the author's followers when
    the author is a member with a followers collection); network: the group's followers
    collection (delivered only to linked groups: services/post_federation);
    direct: the named recipients only. Members-only posts never leave: ValueError."""
    if post.visibility is Visibility.PUBLIC:
        cc = [group_followers, group_uri]
        if author_followers:
            cc.append(author_followers)
        return Addressing(to=[PUBLIC], cc=_unique(cc))
    if post.visibility is Visibility.NETWORK:
        return Addressing(to=[group_followers], cc=[group_uri])
    if post.visibility is Visibility.DIRECT:
        return Addressing(to=_unique(list(post.recipients)), cc=[])
    raise ValueError("members-only posts are never federated")


def post_hashtags(post: Post) -> list[str]:
    names = [KIND_HASHTAGS[post.kind]]
    cat = category_hashtag(post.category)
    if cat and hashtag_key(cat) not in {hashtag_key(n) for n in names}:
        names.append(cat)
    return names


def render_content(post: Post, *, group_uri: str, group_handle: str, category_label: str,
                   area_label: str | None, tag_base_url: str, reply_hint: str) -> str:
    """The status text Mastodon shows; only tags its sanitizer keeps (PROTOCOL.md 3.7)."""
    parts = [f"<p><strong>{KIND_LABELS[post.kind]}:</strong> {_esc(post.title)}</p>"]
    if post.description.strip():
        parts.append(paragraphs(post.description))
    details = [f"Category: {_esc(category_label)}"]
    qty = human_quantity(post.quantity, post.unit)
    if qty:
        details.append(f"Quantity: {_esc(qty)}")
    area = area_label or post.area
    if area:
        details.append(f"Area: {_esc(area)}")
    window = human_window(post.starts_at, post.ends_at)
    if window:
        details.append(f"When: {_esc(window)}")
    if post.urgency is Urgency.URGENT:
        details.append("<strong>Urgent</strong>")
    parts.append("<p>" + " · ".join(details) + "</p>")
    if reply_hint.strip():
        hint = _esc(reply_hint.strip())
        if group_handle and _esc(group_handle) in hint:
            hint = hint.replace(_esc(group_handle), _handle_link(group_handle, group_uri), 1)
        parts.append(f"<p>{hint}</p>")
    links = " ".join(hashtag_link(n, tag_base_url) for n in post_hashtags(post))
    parts.append(f"<p>{links}</p>")
    return "".join(parts)


def render_post(post: Post, *, author_uri: str, group_uri: str, group_handle: str,
                addressing: Addressing, category_label: str, area_label: str | None,
                tag_base_url: str, category_base_url: str, reply_hint: str,
                mention_names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An offer or need as a ``Note`` with FEP-0837 properties (no ``@context``: see CONTEXT).

    ``category_base_url`` + slug is the ``resourceConformsTo`` URI. ``mention_names`` maps
    recipient URIs to ``@user@host`` for the Mention tags of direct posts (optional: Mastodon
    resolves mentions by ``href``)."""
    tags: list[dict[str, Any]] = [hashtag_tag(n, tag_base_url) for n in post_hashtags(post)]
    if post.visibility is Visibility.DIRECT:
        for uri in _unique(list(post.recipients)):
            mention: dict[str, Any] = {"type": "Mention", "href": uri}
            if mention_names and mention_names.get(uri):
                mention["name"] = mention_names[uri]
            tags.append(mention)
    intent: dict[str, Any] = {
        "id": intent_id(post.uri),
        "type": "Intent",
        "action": action_for(post.category),
        "resourceConformsTo": category_base_url + post.category,
        "resourceQuantity": quantity_json(post.quantity, post.unit),
        # Oldest FEP-0837 revision: provider (offers) / receiver (requests) = attributedTo.
        ("provider" if post.kind is Kind.OFFER else "receiver"): author_uri,
    }
    note: dict[str, Any] = {
        "id": post.uri,
        "type": "Note",
        "attributedTo": author_uri,
        "audience": group_uri,
        "to": list(addressing.to),
        "cc": list(addressing.cc),
        "published": iso_utc(post.created_at),
        "url": post.uri,
        "name": post.title,
        "summary": None,
        "sensitive": False,
        "content": render_content(post, group_uri=group_uri, group_handle=group_handle,
                                  category_label=category_label, area_label=area_label,
                                  tag_base_url=tag_base_url, reply_hint=reply_hint),
        "tag": tags,
        "purpose": post.kind.purpose,
        "publishes": intent,
    }
    if post.updated_at > post.created_at:
        note["updated"] = iso_utc(post.updated_at)
    area = area_label or post.area
    if post.area and area:
        note["location"] = {"type": "Place", "name": area}
    if post.starts_at:
        note["startTime"] = iso_utc(post.starts_at)
    if post.ends_at:
        note["endTime"] = iso_utc(post.ends_at)
    return note


def render_tombstone(uri: str, *, deleted: datetime | None = None) -> dict[str, Any]:
    """What a deleted offer/need becomes (the object of a Delete, or a 410 body)."""
    out: dict[str, Any] = {"id": uri, "type": "Tombstone", "formerType": "Note"}
    if deleted is not None:
        out["deleted"] = iso_utc(deleted)
    return out


# FEP-0837 answering ---------------------------------------------------------------------------


def _commitment(satisfies: str, quantity: Decimal | None, unit: str | None,
                commitment_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if commitment_id:
        out["id"] = commitment_id
    out.update({"type": "Commitment", "satisfies": satisfies,
                "resourceQuantity": quantity_json(quantity, unit)})
    return out


def render_offer(*, offer_id: str, actor_uri: str, post_uri: str, post_author_uri: str,
                 quantity: Decimal | None, unit: str, message: str) -> dict[str, Any]:
    """"I can help": ``Offer(Agreement)`` (newest FEP-0837) to the post's author. It also
    carries ``inReplyTo`` so peers on the oldest revision find the proposal."""
    return {
        "@context": CONTEXT,
        "id": offer_id,
        "type": "Offer",
        "actor": actor_uri,
        "object": {"type": "Agreement",
                   "stipulates": _commitment(intent_id(post_uri), quantity, unit)},
        "content": paragraphs(message),
        "inReplyTo": post_uri,
        "to": [post_author_uri],
    }


def render_offer_reference(*, offer_id: str, actor_uri: str, post_uri: str,
                           quantity: Decimal | None, unit: str) -> dict[str, Any]:
    """The remote neighbor's Offer as an Accept or Reject embeds it (receivers match on its
    id; the rest restates what was offered)."""
    return {"id": offer_id, "type": "Offer", "actor": actor_uri,
            "object": {"type": "Agreement",
                       "stipulates": _commitment(intent_id(post_uri), quantity, unit)}}


def render_accept_offer(*, accept_id: str, actor_uri: str, offer: Mapping[str, Any],
                        agreement_id: str) -> dict[str, Any]:
    """``Accept(Offer)`` with the finalized Agreement as ``result``; the commitment repeats the
    offer's intent and quantity (any of the three revisions). ValueError if ``offer`` is not a
    readable FEP-0837 Offer."""
    # Imported here: proposals_parse imports this module's vocabulary.
    from fediaid.federation.proposals_parse import parse_offer

    parsed = parse_offer(offer)
    if parsed is None:
        raise ValueError("not a FEP-0837 offer")
    agreement = {
        "id": agreement_id,
        "type": "Agreement",
        "stipulates": _commitment(intent_id(parsed.post_uri), parsed.quantity, parsed.unit,
                                  f"{agreement_id}#primary"),
    }
    return {"@context": CONTEXT, "id": accept_id, "type": "Accept", "actor": actor_uri,
            "object": parsed.id, "result": agreement, "to": [parsed.actor_uri]}


def render_reject_offer(*, reject_id: str, actor_uri: str, offer: Mapping[str, Any],
                        reason: str | None) -> dict[str, Any]:
    """``Reject(Offer)``; ``content`` carries the reason when there is one. ValueError if the
    offer has no usable id/actor."""
    offer_id, offer_actor = id_of(offer), id_of(offer.get("actor"))
    if not (is_http_uri(offer_id) and is_http_uri(offer_actor)):
        raise ValueError("offer has no id or actor")
    out: dict[str, Any] = {"@context": CONTEXT, "id": reject_id, "type": "Reject",
                           "actor": actor_uri, "object": offer_id, "to": [offer_actor]}
    if reason and reason.strip():
        out["content"] = paragraphs(reason)
    return out


def render_confirmation(*, id: str, actor_uri: str, agreement_id: str, post_uri: str,
                        to: list[str], published: datetime | None = None) -> dict[str, Any]:
    """The receipt of FEP-0837 "Confirmations": a ``Document`` whose ``context`` is the
    agreement; the caller wraps it in ``Create``. ``inReplyTo`` names the offer/need."""
    out: dict[str, Any] = {
        "id": id,
        "type": "Document",
        "name": "Receipt",
        "attributedTo": actor_uri,
        "context": agreement_id,
        "inReplyTo": post_uri,
        "to": list(to),
    }
    if published is not None:
        out["published"] = iso_utc(published)
    return out
