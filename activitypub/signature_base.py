"""RFC 9421 signature base (§2.5) and the message model it is computed from.

Shared by signing (``activitypub.signatures``) and verification
(``activitypub.verify``) so that both always canonicalise identically.

A request is described by its method, its absolute target URL and its
headers; a response by its status code and headers.  Header names are
case-insensitive (normalised to lower case); repeated header lines are
expected to be combined with ``", "`` already (RFC 9110 §5.3), which is also
what RFC 9421 §2.1 prescribes for the component value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote_plus, urlsplit

from activitypub.errors import MalformedSignature
from activitypub.structured_fields import (
    InnerList,
    Item,
    Parameters,
    StructuredFieldError,
    Token,
    parse_dictionary,
    serialize_inner_list,
    serialize_item,
)

__all__ = [
    "Target",
    "component_value",
    "normalize_headers",
    "parse_target",
    "signature_base",
]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-case header names and trim values (RFC 9421 §2.1, draft-cavage §2.3).

    Keys differing only in case are combined in iteration order with ``", "``,
    the same way repeated header lines are combined.
    """
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.strip().lower()
        text = str(value)
        if "\n" in text or "\r" in text:
            # obs-fold (RFC 9110 §5.5): a line break plus whitespace becomes one SP.
            clean = " ".join(part.strip() for part in text.splitlines()).strip()
        else:
            clean = text.strip()
        out[key] = f"{out[key]}, {clean}" if key in out else clean
    return out


@dataclass(frozen=True)
class Target:
    """The parts of an absolute request URL that signatures cover.

    ``authority`` is lower-cased, without userinfo, and keeps the port only
    when it is not the scheme's default (RFC 9421 §2.2.3).  ``path`` is at
    least ``/``; ``query`` is ``None`` when the URL has no ``?`` at all.
    """

    scheme: str
    authority: str
    path: str
    query: str | None

    @property
    def target_uri(self) -> str:
        """Normalised absolute URI, the ``@target-uri`` value (RFC 9421 §2.2.2)."""
        return f"{self.scheme}://{self.authority}{self.request_target}"

    @property
    def request_target(self) -> str:
        """Origin-form target: path plus ``?query`` when there is a ``?``."""
        return self.path if self.query is None else f"{self.path}?{self.query}"


@lru_cache(maxsize=1024)
def parse_target(url: str) -> Target:
    """Split an absolute ``http(s)`` URL into a ``Target``; ``ValueError`` if it is not one.
    Cached: an inbox is addressed by the same few URLs over and over."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname
    if not scheme or not host:
        raise ValueError("an absolute URL is required")
    port = parts.port  # raises ValueError on a bad port
    authority = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        authority = f"{authority}:{port}"
    before_fragment = url.split("#", 1)[0]
    query = parts.query if "?" in before_fragment else None
    return Target(scheme, authority, parts.path or "/", query)


_REQUEST_DERIVED = frozenset(
    {"@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query",
     "@query-param"}
)


def _query_param(target: Target, name: str) -> str:
    """RFC 9421 §2.2.8: parse as form-urlencoded, re-encode name and value with
    percent-encoding, and match on the encoded name.  A parameter that is
    absent or repeated cannot be covered."""
    matches = []
    for pair in (target.query or "").split("&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition("=")
        if quote(unquote_plus(raw_name), safe="") == name:
            matches.append(quote(unquote_plus(raw_value), safe=""))
    if len(matches) != 1:
        raise MalformedSignature(f"query parameter {name!r} must occur exactly once")
    return matches[0]


def _derived_value(
    name: str, params: Parameters, target: Target | None, method: str | None, status: int | None
) -> str:
    if name == "@status":
        if status is None:
            raise MalformedSignature("@status can only be covered in a response")
        return f"{status:03d}"
    if name not in _REQUEST_DERIVED:
        raise MalformedSignature(f"unknown derived component {name!r}")
    if target is None or method is None:
        raise MalformedSignature(f"{name} can only be covered in a request")
    if name == "@method":
        return method
    if name == "@target-uri":
        return target.target_uri
    if name == "@authority":
        return target.authority
    if name == "@scheme":
        return target.scheme
    if name == "@request-target":
        return target.request_target
    if name == "@path":
        return target.path
    if name == "@query":
        return "?" + (target.query or "")
    param_name = params.get("name")
    if not isinstance(param_name, str) or isinstance(param_name, Token):
        raise MalformedSignature("@query-param needs a string name parameter")
    return _query_param(target, param_name)


def _field_value(name: str, params: Parameters, headers: Mapping[str, str]) -> str:
    if name != name.lower():
        raise MalformedSignature(f"component name {name!r} must be lower-case")
    if name not in headers:
        raise MalformedSignature(f"covered header {name!r} is absent")
    value = headers[name]
    if "key" in params:
        key = params["key"]
        try:
            member = parse_dictionary(value).get(str(key)) if isinstance(key, str) else None
        except StructuredFieldError:
            raise MalformedSignature(f"header {name!r} is not a structured dictionary") from None
        if member is None:
            raise MalformedSignature(f"dictionary member {key!r} of {name!r} is absent")
        return serialize_item(member) if isinstance(member, Item) else serialize_inner_list(member)
    return value


def component_value(
    identifier: Item,
    *,
    headers: Mapping[str, str],
    method: str | None = None,
    target: Target | None = None,
    status: int | None = None,
) -> str:
    """Value of one covered component (RFC 9421 §2.1 fields, §2.2 derived components).

    Supported identifier parameters are ``name`` (for ``@query-param``) and
    ``key`` (a member of a Dictionary field); ``sf``, ``bs``, ``req`` and
    ``tr`` are refused with ``MalformedSignature``, as is any component that
    cannot be derived from the message.
    """
    name = identifier.value
    if not isinstance(name, str) or isinstance(name, Token):
        raise MalformedSignature("component identifiers must be strings")
    allowed = {"name"} if name == "@query-param" else (set() if name.startswith("@") else {"key"})
    unsupported = set(identifier.params) - allowed
    if unsupported:
        raise MalformedSignature(f"unsupported component parameter {sorted(unsupported)[0]!r}")
    if name.startswith("@"):
        value = _derived_value(name, identifier.params, target, method, status)
    else:
        value = _field_value(name, identifier.params, headers)
    if "\n" in value or "\r" in value:
        raise MalformedSignature(f"component {name!r} contains a line break")
    return value


def signature_base(
    *,
    components: InnerList,
    headers: Mapping[str, str],
    method: str | None = None,
    url: str | None = None,
    status: int | None = None,
) -> str:
    """Build the RFC 9421 §2.5 signature base.

    ``components`` is the signature's Inner List: its items are the covered
    component identifiers, its parameters the signature parameters.  One
    ``"<identifier>": <value>`` line is produced per item, followed by the
    ``"@signature-params": <serialised inner list>`` line, joined by ``\\n``
    with no trailing newline.  For a request pass ``method`` and the absolute
    ``url``; for a response pass ``status``.  ``headers`` may use any case.
    Raises ``MalformedSignature`` if a component is repeated or cannot be
    derived.
    """
    normalised = normalize_headers(headers)
    try:
        target = parse_target(url) if url is not None else None
    except ValueError:
        raise MalformedSignature("the request URL is not absolute") from None
    lines = []
    seen: set[str] = set()
    for identifier in components.items:
        try:
            label = serialize_item(identifier)
        except StructuredFieldError:
            raise MalformedSignature("invalid component identifier") from None
        if label in seen:
            raise MalformedSignature(f"component {label} is covered twice")
        seen.add(label)
        value = component_value(
            identifier, headers=normalised, method=method, target=target, status=status
        )
        lines.append(f"{label}: {value}")
    lines.append(f'"@signature-params": {serialize_inner_list(components)}')
    return "\n".join(lines)

