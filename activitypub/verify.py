"""Verification of incoming HTTP signatures, with Mastodon's acceptance policy.

``parse_request_signature`` does everything but the cryptography: it detects
the scheme, parses the parameters, enforces the policy below, checks the body
digest, and pre-computes the bytes that were signed.  ``SignedRequest.verify``
then performs the public-key operation, and ``verify_request`` glues both to a
key resolver with one refresh for key rotation.

Policy (mirrors Mastodon's ``SignatureVerification`` concern, 4.x):

draft-cavage-http-signatures-12
    ``keyId`` and ``signature`` are required.  ``algorithm`` must be
    ``rsa-sha256`` or ``hs2019`` (absent means ``hs2019``).  ``headers``
    defaults to ``(created)`` for hs2019 and ``date`` otherwise;
    ``(created)``/``(expires)`` are only allowed with hs2019.  The signature
    must cover ``date`` or ``(created)``, ``host``, and ``(request-target)``
    or ``digest``; a GET must cover ``(request-target)``, a POST ``digest``.
    A covered ``digest`` (whatever the method) must hold a ``SHA-256=`` entry
    matching the body.  ``(request-target)`` is checked with and (for
    compatibility) without the query string.  Only the ``Signature`` header is
    read, not ``Authorization: Signature``.

    Stricter than Mastodon, against replay: ``host`` must be covered on every
    request (Mastodon asks it of GETs only), so that a request signed for
    another server cannot be replayed here.

RFC 9421
    Only the first signature of ``Signature-Input`` is considered; any other
    labels are ignored.  ``keyid`` and ``created`` are required; ``@method``
    and ``@target-uri`` must be covered, and a POST must cover
    ``content-digest`` holding a matching ``sha-256`` entry (RFC 9530).
    ``alg``, when present, must be one of ``rsa-v1_5-sha256``,
    ``rsa-pss-sha512``, ``ecdsa-p256-sha256`` or ``ed25519`` (RFC 9421 §3.3);
    otherwise the algorithm is inferred from the key type.

Only what is signed counts (both schemes)
    A draft-cavage ``Signature`` header carries ``algorithm``, ``created`` and
    ``expires`` *beside* the signature: an attacker holding a captured request
    can edit them freely.  So ``created`` is read only when ``(created)`` is
    covered and ``expires`` only when ``(expires)`` is covered.  A covered
    ``Date`` header is always checked, also when ``(created)`` is covered too.
    A covered ``Host`` header (both schemes) must name the server the request
    was addressed to: callers pass ``url`` built from their own configured
    origin, never from the request's ``Host``, and the covered ``Host`` must
    equal that URL's authority.  RFC 9421's ``@target-uri`` and ``@authority``
    are computed from that same ``url``.

Time window (both schemes)
    For each covered time (cavage ``(created)``, RFC 9421 ``created``, a
    covered ``Date``): expires = the covered ``expires`` parameter, else
    created + 5 minutes, and never later than created + 12 hours.  The
    signature is refused if created is more than one hour in the future or if
    now is more than one hour past expires.

A covered component that cannot be computed from the request (an absent
header, for instance) makes the signature ``MalformedSignature``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Literal

from cryptography.hazmat.primitives.asymmetric import ec

from activitypub.algorithms import (
    RFC9421_ALGORITHMS,
    VerificationKey,
    algorithm_for_key,
    verify_signature_bytes,
)
from activitypub.errors import (
    InsufficientCoverage,
    InvalidSignature,
    MalformedSignature,
    MissingSignature,
    SignatureExpired,
    UnsupportedAlgorithm,
)
from activitypub.keys import PublicKey
from activitypub.signatures import (
    Target,
    cavage_signing_string,
    check_content_digest,
    check_digest_header,
    normalize_headers,
    parse_cavage_signature_header,
    parse_target,
    signature_base,
)
from activitypub.structured_fields import (
    InnerList,
    Item,
    StructuredFieldError,
    Token,
    parse_dictionary,
    serialize_item,
)

__all__ = [
    "CAVAGE_ALGORITHMS",
    "RFC9421_ALGORITHMS",
    "KeyResolver",
    "ResolvedKey",
    "SignedRequest",
    "VerificationKey",
    "VerifiedSigner",
    "check_time_window",
    "parse_request_signature",
    "verify_request",
    "verify_signature_bytes",
]

CAVAGE_ALGORITHMS = frozenset({"rsa-sha256", "hs2019"})

CLOCK_SKEW = 3600.0
"""Tolerance, in seconds, on both ends of the window (Mastodon ``CLOCK_SKEW_MARGIN``)."""
DEFAULT_LIFETIME = 300.0
"""Lifetime of a signature without ``expires`` (Mastodon: 5 minutes)."""
MAX_LIFETIME = 12 * 3600.0
"""Longest accepted lifetime (Mastodon ``EXPIRATION_WINDOW_LIMIT``)."""


def check_time_window(created: float | None, expires: float | None, now: float) -> None:
    """Apply Mastodon's time window (see module docstring); raise ``SignatureExpired``.

    ``created`` of ``None`` (no way to date the signature) is ``MalformedSignature``.
    """
    if created is None:
        raise MalformedSignature("signature has no creation time")
    if created > now + CLOCK_SKEW:
        raise SignatureExpired("signature creation time is in the future")
    limit = created + MAX_LIFETIME
    effective = min(expires if expires is not None else created + DEFAULT_LIFETIME, limit)
    if now > effective + CLOCK_SKEW:
        raise SignatureExpired("signature has expired")


# --- parsed signature ----------------------------------------------------------------


@dataclass(frozen=True)
class SignedRequest:
    """A parsed signature that passed the policy, time and digest checks.

    It is *not yet* cryptographically verified: call ``verify`` with the
    signer's public key.  ``covered`` lists the covered headers/pseudo-headers
    (cavage) or component identifiers (RFC 9421; identifiers with parameters
    appear serialised, e.g. ``"@query-param";name="x"``).  ``algorithm`` is
    the declared one, ``None`` when RFC 9421 leaves it to the key type.
    """

    scheme: Literal["cavage", "rfc9421"]
    key_id: str
    algorithm: str | None
    covered: tuple[str, ...]
    created: float | None
    expires: float | None = None
    signature: bytes = field(default=b"", repr=False)
    signed_data: tuple[bytes, ...] = field(default=(), repr=False)
    """Candidate signed byte strings; the signature is valid if it matches any."""

    def verify(self, key: VerificationKey) -> None:
        """Verify the signature with ``key``; raise ``InvalidSignature`` on failure.

        cavage ``rsa-sha256`` and ``hs2019`` with an RSA key use RSASSA-PKCS1-v1_5
        SHA-256 (as Mastodon); ``hs2019`` with an Ed25519 key uses Ed25519.  A
        key whose type does not fit the algorithm raises ``InvalidSignature``.
        """
        if self.scheme == "cavage":
            if self.algorithm == "rsa-sha256":
                algorithm = "rsa-v1_5-sha256"
            elif self.algorithm == "hs2019" and not isinstance(key, ec.EllipticCurvePublicKey):
                algorithm = algorithm_for_key(key)
            else:
                raise InvalidSignature("key type does not fit the signature algorithm")
        else:
            algorithm = self.algorithm or algorithm_for_key(key)
        if not self.signed_data:
            raise InvalidSignature()
        for data in self.signed_data:
            try:
                verify_signature_bytes(algorithm, key, data, self.signature)
            except InvalidSignature as exc:
                failure = exc
                continue
            return
        raise failure


# --- draft-cavage --------------------------------------------------------------------


def _number(params: Mapping[str, str], name: str) -> float | None:
    if name not in params:
        return None
    try:
        return float(params[name])
    except ValueError:
        raise MalformedSignature(f"signature parameter {name} is not a number") from None


def _http_date(value: str) -> float:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        raise MalformedSignature("Date header is not a valid HTTP date") from None

def _covered_date(headers: Mapping[str, str]) -> float:
    if "date" not in headers:
        raise MalformedSignature("covered header 'date' is absent")
    return _http_date(headers["date"])


def _check_host(value: str, target: Target) -> None:
    """A covered ``Host`` must be the authority the request was addressed to (ours)."""
    host = value.strip().lower()
    default = {"http": ":80", "https": ":443"}.get(target.scheme)
    if default and host.endswith(default):
        host = host[: -len(default)]
    if host != target.authority:
        raise InvalidSignature("the signature was made for another host")


def _parse_cavage(
    method: str, url: str, headers: dict[str, str], body: bytes, now: float
) -> SignedRequest:
    params = parse_cavage_signature_header(headers["signature"])
    key_id, signature = params.get("keyId"), params.get("signature")
    if not key_id or not signature:
        raise MalformedSignature("keyId and signature are required")
    algorithm = params.get("algorithm", "hs2019").lower()
    if algorithm not in CAVAGE_ALGORITHMS:
        raise UnsupportedAlgorithm("only rsa-sha256 and hs2019 are supported")
    covered = tuple(
        params.get("headers", "(created)" if algorithm == "hs2019" else "date").lower().split()
    )
    if not covered:
        raise MalformedSignature("the headers parameter is empty")
    pseudo = {"(created)", "(expires)"} & set(covered)
    if pseudo and algorithm != "hs2019":
        raise MalformedSignature(f"{sorted(pseudo)[0]} is only allowed with hs2019")
    names = set(covered)
    if not names & {"date", "(created)"}:
        raise InsufficientCoverage("the signature must cover date or (created)")
    if not names & {"(request-target)", "digest"}:
        raise InsufficientCoverage("the signature must cover (request-target) or digest")
    if "host" not in names:
        raise InsufficientCoverage("the signature must cover host")
    if method == "GET" and "(request-target)" not in names:
        raise InsufficientCoverage("a GET signature must cover (request-target)")
    if method == "POST" and "digest" not in names:
        raise InsufficientCoverage("a POST signature must cover digest")
    # Only covered parameters count: an uncovered created/expires is the attacker's to edit.
    expires = _number(params, "expires") if "(expires)" in names else None
    created: float | None = None
    if "(created)" in names:
        created = _number(params, "created")
        check_time_window(created, expires, now)
    if "date" in names:
        dated = _covered_date(headers)
        check_time_window(dated, expires, now)
        created = dated if created is None else created
    if "digest" in names:
        check_digest_header(headers.get("digest"), body)

    target = parse_target(url)
    headers.setdefault("host", target.authority)
    _check_host(headers["host"], target)
    candidates = [target.request_target]
    if target.query is not None:
        candidates.append(target.path)  # Mastodon compatibility: signed without the query
    # (created)/(expires) lines carry the parameters exactly as sent (draft-cavage-12 §2.3).
    raw_created = params.get("created") if "(created)" in names else None
    raw_expires = params.get("expires") if "(expires)" in names else None
    signed = tuple(
        dict.fromkeys(
            cavage_signing_string(
                method=method,
                request_target=candidate,
                headers=headers,
                covered=covered,
                created=raw_created,
                expires=raw_expires,
            ).encode("utf-8")
            for candidate in candidates
        )
    )
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedSignature("signature is not valid base64") from None
    return SignedRequest(
        scheme="cavage",
        key_id=key_id,
        algorithm=algorithm,
        covered=covered,
        created=created,
        expires=expires,
        signature=raw_signature,
        signed_data=signed,
    )


# --- RFC 9421 ------------------------------------------------------------------------

def _int_param(components: InnerList, name: str, *, required: bool) -> int | None:
    value = components.params.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedSignature(f"the {name} signature parameter must be an integer")
    return value


def _parse_rfc9421(
    method: str, url: str, headers: dict[str, str], body: bytes, now: float
) -> SignedRequest:
    if "signature" not in headers:
        raise MalformedSignature("Signature-Input without a Signature header")
    try:
        inputs = parse_dictionary(headers["signature-input"])
        signatures = parse_dictionary(headers["signature"])
    except StructuredFieldError:
        raise MalformedSignature("Signature-Input or Signature is not a valid dictionary") from None
    if not inputs:
        raise MalformedSignature("Signature-Input is empty")
    label, components = next(iter(inputs.items()))  # first signature only; others ignored
    sig_member = signatures.get(label)
    if not isinstance(components, InnerList):
        raise MalformedSignature("Signature-Input member is not an inner list")
    if not isinstance(sig_member, Item) or not isinstance(sig_member.value, bytes):
        raise MalformedSignature(f"no byte-sequence signature for label {label!r}")
    key_id = components.params.get("keyid")
    if not isinstance(key_id, str) or isinstance(key_id, Token) or not key_id:
        raise MalformedSignature("the keyid signature parameter is required")
    created = _int_param(components, "created", required=True)
    expires = _int_param(components, "expires", required=False)
    alg = components.params.get("alg")
    if alg is not None and (not isinstance(alg, str) or alg not in RFC9421_ALGORITHMS):
        raise UnsupportedAlgorithm(f"unsupported signature algorithm {alg!r}")
    names: list[str] = []
    for item in components.items:
        if not isinstance(item.value, str) or isinstance(item.value, Token):
            raise MalformedSignature("component identifiers must be strings")
        names.append(serialize_item(item) if item.params else item.value)
    if "@method" not in names or "@target-uri" not in names:
        raise InsufficientCoverage("the signature must cover @method and @target-uri")
    if method == "POST" and "content-digest" not in names:
        raise InsufficientCoverage("a POST signature must cover content-digest")
    check_time_window(
        float(created) if created is not None else None,
        float(expires) if expires is not None else None,
        now,
    )
    if "date" in names:
        check_time_window(_covered_date(headers),
                          float(expires) if expires is not None else None, now)
    if "host" in names:
        _check_host(headers.get("host", ""), parse_target(url))
    if "content-digest" in names:
        check_content_digest(headers.get("content-digest"), body)
    base = signature_base(components=components, headers=headers, method=method, url=url)
    return SignedRequest(
        scheme="rfc9421",
        key_id=key_id,
        algorithm=alg,
        covered=tuple(names),
        created=float(created) if created is not None else None,
        expires=float(expires) if expires is not None else None,
        signature=sig_member.value,
        signed_data=(base.encode("utf-8"),),
    )


def parse_request_signature(
    *, method: str, url: str, headers: Mapping[str, str], body: bytes | None, now: float
) -> SignedRequest:
    """Parse and policy-check the signature of an incoming request (no crypto).

    ``url`` is the absolute URL the client addressed; ``headers`` may use any
    case.  A ``Signature-Input`` header selects RFC 9421, else ``Signature``
    selects draft-cavage, else ``MissingSignature``.  Raises the
    ``SignatureError`` subclass describing the first violated rule.
    """
    normalised = normalize_headers(headers)
    method = method.upper()
    try:
        parse_target(url)
    except ValueError:
        raise MalformedSignature("the request URL is not absolute") from None
    payload = body if body is not None else b""
    if "signature-input" in normalised:
        return _parse_rfc9421(method, url, normalised, payload, now)
    if "signature" in normalised:
        return _parse_cavage(method, url, normalised, payload, now)
    raise MissingSignature()


# --- full verification ---------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedKey:
    """A public key obtained for a ``keyId``, and the actor that owns it."""

    key_id: str
    owner: str
    public_key: PublicKey


KeyResolver = Callable[[str, bool], Awaitable[ResolvedKey]]
"""``(key_id, refresh) -> ResolvedKey``; ``refresh=True`` must bypass caches.
Raises ``KeyResolutionError`` when no key can be obtained."""


@dataclass(frozen=True)
class VerifiedSigner:
    """The outcome of a successful ``verify_request``."""

    key_id: str
    owner: str
    scheme: str


async def verify_request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    resolve_key: KeyResolver,
    now: float,
) -> VerifiedSigner:
    """Fully verify an incoming request's signature.

    Parses it (``parse_request_signature``), resolves the key with
    ``refresh=False`` and verifies; on ``InvalidSignature`` the key is resolved
    once more with ``refresh=True`` (the actor may have rotated its key, as
    Mastodon does) and verified again.  ``KeyResolutionError`` from the
    resolver propagates unchanged.
    """
    signed = parse_request_signature(method=method, url=url, headers=headers, body=body, now=now)
    resolved = await resolve_key(signed.key_id, False)
    try:
        signed.verify(resolved.public_key)
    except InvalidSignature:
        resolved = await resolve_key(signed.key_id, True)
        signed.verify(resolved.public_key)
    return VerifiedSigner(key_id=signed.key_id, owner=resolved.owner, scheme=signed.scheme)
