"""ActivityStreams 2.0 vocabulary: constants, media types and tolerant parse helpers.

Remote JSON is untrusted and varies between servers: properties may be a string, an object
with an ``id``, or a list of either. These helpers normalise without ever fetching anything
(we never fetch JSON-LD contexts).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
_PUBLIC_ALIASES = frozenset({PUBLIC, "as:Public", "Public"})

ACTIVITY_JSON = "application/activity+json"
LD_JSON_PROFILE = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
JRD_JSON = "application/jrd+json"

ACTOR_TYPES = frozenset({"Person", "Group", "Application", "Service", "Organization"})

# Mastodon's extensions, as its serializer declares them (PROTOCOL.md section 3.1).
ACTOR_CONTEXT: list[Any] = [
    AS_CONTEXT,
    SECURITY_CONTEXT,
    {
        "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
        "toot": "http://joinmastodon.org/ns#",
        "featured": {"@id": "toot:featured", "@type": "@id"},
        "discoverable": "toot:discoverable",
        "indexable": "toot:indexable",
        "schema": "http://schema.org#",
        "PropertyValue": "schema:PropertyValue",
        "value": "schema:value",
    },
]


def _media_type(value: str) -> tuple[str, dict[str, str]]:
    parts = [p.strip() for p in value.split(";")]
    params: dict[str, str] = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            params[k.strip().lower()] = v.strip().strip('"')
    return parts[0].lower(), params


def is_activitypub_media_type(content_type: str | None, *, strict: bool = False) -> bool:
    """True for ``application/activity+json`` and ``application/ld+json`` (with the
    ActivityStreams profile when ``strict``; Mastodon's rule for fetched documents). Outside
    strict mode plain ``application/json`` is accepted too, for inbox POSTs from lenient
    senders."""
    if not content_type:
        return False
    mt, params = _media_type(content_type)
    if mt == ACTIVITY_JSON:
        return True
    if mt == "application/ld+json":
        return not strict or params.get("profile", "").startswith(AS_CONTEXT)
    return not strict and mt == "application/json"


def accepts_activitypub(accept: str | None) -> bool:
    """Content negotiation: does this ``Accept`` header ask for ActivityPub JSON rather than
    HTML? A browser's ``text/html`` wins unless an AP type is listed with a higher q."""
    if not accept:
        return False
    best_ap = best_html = -1.0
    for item in accept.split(","):
        mt, params = _media_type(item)
        try:
            q = float(params.get("q", "1"))
        except ValueError:
            q = 0.0
        if mt in (ACTIVITY_JSON, "application/ld+json") or (
            mt == "application/json" and best_html < 0
        ):
            best_ap = max(best_ap, q)
        elif mt in ("text/html", "application/xhtml+xml"):
            best_html = max(best_html, q)
    return best_ap > 0 and best_ap >= best_html


def is_public(addressee: str) -> bool:
    return addressee in _PUBLIC_ALIASES


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def id_of(value: Any) -> str | None:
    """The id of a property that is a URI string or an object with ``id``."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, Mapping):
        ident = value.get("id")
        return ident if isinstance(ident, str) and ident else None
    return None


def ids_of(value: Any) -> list[str]:
    return [i for i in (id_of(v) for v in as_list(value)) if i]


def first_str(value: Any) -> str | None:
    for v in as_list(value):
        if isinstance(v, str) and v:
            return v
    return None


def type_of(obj: Any) -> str | None:
    """The first type name of an object (``type`` may be a list)."""
    if not isinstance(obj, Mapping):
        return None
    return first_str(obj.get("type"))


def audience(activity: Mapping[str, Any]) -> list[str]:
    """Every addressee in ``to``, ``cc``, ``bto``, ``bcc`` and ``audience``."""
    out: list[str] = []
    for key in ("to", "cc", "bto", "bcc", "audience"):
        out.extend(ids_of(activity.get(key)))
    return out


def is_addressed_publicly(activity: Mapping[str, Any]) -> bool:
    return any(is_public(a) for a in audience(activity))


def _split(uri: str) -> SplitResult | None:
    """``urlsplit`` that answers None instead of raising on hostile input ("http://[x").
    URIs of ordinary length are remembered (the same actor and object URIs are checked
    again and again while a batch of activities is applied)."""
    if len(uri) <= 2048:
        return _split_cached(uri)
    return _split_uncached(uri)


def _split_uncached(uri: str) -> SplitResult | None:
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - validates the port; raises ValueError when malformed
    except ValueError:
        return None
    return parts


_split_cached = functools.lru_cache(maxsize=4096)(_split_uncached)


def host_of(uri: str) -> str:
    """Lower-cased host[:port] of a URI ('' if it has none or is malformed)."""
    parts = _split(uri)
    return parts.netloc.lower().rsplit("@", 1)[-1] if parts else ""


def hostname_of(uri: str) -> str:
    parts = _split(uri)
    return ((parts.hostname if parts else None) or "").lower()


def same_origin(a: str, b: str) -> bool:
    sa, sb = _split(a), _split(b)
    if sa is None or sb is None:
        return False
    return (sa.scheme, sa.netloc.lower()) == (sb.scheme, sb.netloc.lower())


def is_http_uri(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 2048:
        return False
    parts = _split(value)
    return parts is not None and parts.scheme in ("http", "https") and bool(parts.netloc)


def strip_strings(values: Iterable[Any]) -> list[str]:
    return [v for v in values if isinstance(v, str)]
