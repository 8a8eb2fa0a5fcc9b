"""Federation policy: may we exchange with a remote domain now? (pure; no I/O)

The one rule every path asks (docs/architecture.md, "Federation policy"): inbox acceptance,
remote fetches, signed GETs of our objects, delivery at enqueue and at send time, and public
timelines. ``fediaid.services.federation_policy`` keeps the current ``DomainRules`` in memory
and asks the functions here.

Matching a host against a rule (``matching_rule``):
- a rule without a port (``example.com``) covers the domain, every subdomain
  (``sub.example.com``) and any port on them;
- a rule with a port (``example.com:8443``, as the CLI writes for instances on loopback
  ports) covers that port only, on the domain and its subdomains;
- matching is on whole labels: ``badexample.com`` is not covered by ``example.com``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from fediaid.i18n import N_

_HOST = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?|\[[0-9a-f:.]+\]")


class Mode(enum.StrEnum):
    """What a domain rule does. ``SUSPEND`` is a block: nothing in, nothing out."""

    SUSPEND = "suspend"
    SILENCE = "silence"  # content shown only to those who follow its accounts


class Delivery(enum.StrEnum):
    """What to do with a delivery to an inbox on some domain."""

    SEND = "send"
    HOLD = "hold"  # unavailable: queued, not attempted, released when it answers again
    DROP = "drop"  # blocked, or not on the allow-list: never queued, cancelled if queued


def clean_domain(text: str) -> str:
    """A rule's domain as stored: lower-case ``host`` or ``host:port``, no scheme, path or
    trailing dot. Raises ValueError for anything else."""
    d = text.strip().lower()
    if not d or "/" in d or "@" in d or any(c.isspace() for c in d) or len(d) > 255:
        raise ValueError(N_("Give a domain name like spam.example, without https://"))
    host, port = host_key(d)
    bare = host if port is None else None
    if (not _HOST.fullmatch(host) or ".." in host
            or (bare is not None and d.rstrip(".") not in (host, ))):
        raise ValueError(N_("Give a domain name like spam.example, without https://"))
    return host if port is None else f"{host}:{port}"


def host_key(uri_or_host: str) -> tuple[str, int | None]:
    """(host name, port or None) of a URI or a ``host[:port]``; ("", None) if there is none.
    User info is ignored; the host is lower-cased and loses a trailing dot."""
    text = uri_or_host.strip()
    netloc = urlsplit(text).netloc if "://" in text else text.split("/", 1)[0]
    netloc = netloc.rsplit("@", 1)[-1].lower()
    if netloc.startswith("["):  # IPv6 literal
        end = netloc.find("]")
        host, rest = netloc[:end + 1], netloc[end + 1:]
        port_text = rest[1:] if rest.startswith(":") else ""
    elif netloc.count(":") == 1:
        host, port_text = netloc.split(":")
    elif ":" in netloc:
        return "", None  # not a host (urn:uuid:..., a bare IPv6 address)
    else:
        host, port_text = netloc, ""
    port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else None
    if port_text and port is None:
        return "", None  # not a host[:port] (mailto:x, host:abc)
    return host.rstrip("."), port


def _candidates(host: str, port: int | None) -> Iterable[str]:
    """The rule keys that could cover ``host[:port]``: the host and each parent domain,
    each with the port (if any) and without it."""
    if not host:
        return
    if host.startswith("["):
        parents = [host]
    else:
        labels = host.split(".")
        parents = [".".join(labels[i:]) for i in range(len(labels))]
    for name in parents:
        if port is not None:
            yield f"{name}:{port}"
        yield name


def matching_rule(rules: frozenset[str] | set[str], uri_or_host: str) -> str | None:
    """The rule in ``rules`` that covers the host of ``uri_or_host`` (None: none does).
    Costs one set lookup per label of the host, however many rules there are."""
    if not rules:
        return None
    host, port = host_key(uri_or_host)
    for key in _candidates(host, port):
        if key in rules:
            return key
    return None


def covers(rule: str, uri_or_host: str) -> bool:
    return matching_rule(frozenset({rule}), uri_or_host) is not None


def like_patterns(rule: str) -> tuple[list[str], list[str]]:
    """The same coverage for SQL, against a column holding ``host[:port]`` (actor and
    delivery domains): (exact values, LIKE patterns with ``\\`` as the escape character)."""
    esc = rule.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if ":" in rule and not rule.endswith("]"):
        return [rule], ["%." + esc]
    return [rule], ["%." + esc, esc + ":%", "%." + esc + ":%"]


@dataclass(frozen=True)
class DomainRules:
    """Everything the policy knows about remote domains at one moment."""

    suspended: frozenset[str] = frozenset()
    silenced: frozenset[str] = frozenset()
    allowed: frozenset[str] = frozenset()  # the allow-list (used in allow-list mode)
    allow_list_mode: bool = False  # only domains on the allow-list federate
    unavailable: frozenset[str] = frozenset()  # exact delivery domains (host[:port])
    # Secure mode (Mastodon's AUTHORIZED_FETCH): every ActivityPub GET must be signed, but
    # for the instance actor and a stripped actor document (api/activitypub/actors.py).
    secure_mode: bool = False

    @property
    def open(self) -> bool:
        """Nothing is refused: the usual case, which costs nothing to ask."""
        return not self.suspended and not self.allow_list_mode


def refusal(rules: DomainRules, uri_or_host: str) -> str | None:
    """Why we may not exchange with the host of ``uri_or_host`` at all (None: we may).
    The one test behind receiving, fetching, signed fetches of our objects and sending."""
    if rules.open:
        return None
    host, _ = host_key(uri_or_host)
    if not host:
        return "no host"
    if matching_rule(rules.suspended, uri_or_host) is not None:
        return "blocked"
    if rules.allow_list_mode and matching_rule(rules.allowed, uri_or_host) is None:
        return "not on the allow-list"
    return None


def may_exchange(rules: DomainRules, uri_or_host: str) -> bool:
    return refusal(rules, uri_or_host) is None


def may_receive(rules: DomainRules, uri_or_host: str) -> bool:
    return may_exchange(rules, uri_or_host)


def may_fetch(rules: DomainRules, uri_or_host: str) -> bool:
    return may_exchange(rules, uri_or_host)


def delivery(rules: DomainRules, inbox_url: str) -> Delivery:
    """Whether a delivery to ``inbox_url`` is queued (SEND), queued held (HOLD), or not at all
    (DROP). Unavailability is per exact delivery domain (``host[:port]``), as tracked."""
    if not may_exchange(rules, inbox_url):
        return Delivery.DROP
    if rules.unavailable and urlsplit(inbox_url).netloc.lower() in rules.unavailable:
        return Delivery.HOLD
    return Delivery.SEND


def is_silenced(rules: DomainRules, uri_or_host: str) -> bool:
    return matching_rule(rules.silenced, uri_or_host) is not None


def may_show(rules: DomainRules, author_uri_or_host: str, *, viewer_follows: bool) -> bool:
    """Whether content by an author on this host may be shown to a viewer: never from a
    refused domain; from a silenced one only to those who follow the author."""
    if not may_exchange(rules, author_uri_or_host):
        return False
    return viewer_follows or not is_silenced(rules, author_uri_or_host)


def hidden_from_public(rules: DomainRules) -> frozenset[str]:
    """Rules whose content public timelines leave out (silenced and suspended domains)."""
    return rules.silenced | rules.suspended
