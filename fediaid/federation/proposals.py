"""Offers and needs as ActivityPub objects: the pure translation layer.

Rendering (ours -> JSON) lives in ``proposals_render``, parsing (untrusted JSON -> ours) in
``proposals_parse``; this module is the one to import. No I/O, no database, no JSON-LD
context fetching. Remote HTML is made safe by ``sanitize`` (nh3): ``sanitize_html`` and
``html_to_text`` are re-exported here. See PROTOCOL.md sections 1 (FEP-0837), 2 (FEP-1b12)
and 3.7 (Mastodon).
"""

from __future__ import annotations

from fediaid.federation.proposals_parse import (
    RemoteAgreementAnswer,
    RemoteOffer,
    RemoteProposal,
    embedded_object,
    hashtags,
    mentions,
    parse_offer,
    parse_offer_answer,
    parse_proposal,
)
from fediaid.federation.proposals_render import (
    CONTEXT,
    SERVICE_CATEGORIES,
    Addressing,
    addressing,
    category_hashtag,
    render_accept_offer,
    render_confirmation,
    render_offer,
    render_offer_reference,
    render_post,
    render_reject_offer,
    render_tombstone,
)
from fediaid.federation.sanitize import html_to_text, sanitize_html

__all__ = [
    "CONTEXT",
    "SERVICE_CATEGORIES",
    "Addressing",
    "RemoteAgreementAnswer",
    "RemoteOffer",
    "RemoteProposal",
    "addressing",
    "category_hashtag",
    "embedded_object",
    "hashtags",
    "html_to_text",
    "mentions",
    "parse_offer",
    "parse_offer_answer",
    "parse_proposal",
    "render_accept_offer",
    "render_confirmation",
    "render_offer",
    "render_offer_reference",
    "render_post",
    "render_reject_offer",
    "render_tombstone",
    "sanitize_html",
]
