"""Pure HTTP-signature helpers: digests, signing strings, signature bases, signing.

Two schemes are implemented, both as Mastodon speaks them:

* draft-cavage-http-signatures-12 (the historical ActivityPub scheme):
  ``Signature: keyId="...",algorithm="...",headers="...",signature="..."``
  over a signing string of ``name: value`` lines (§2.3).
* RFC 9421 HTTP Message Signatures: ``Signature-Input`` / ``Signature``
  dictionaries over a signature base (§2.5, built in
  ``activitypub.signature_base`` and re-exported here).

Nothing here reads a clock or holds a key: the time (``now``, unix seconds)
and the private key are always arguments.  Verification lives in
``activitypub.verify`` and reuses the same signing-string/base builders, so a
signer and a verifier in this package cannot disagree about canonicalisation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from email.utils import formatdate

from cryptography.hazmat.primitives.asymmetric import rsa

from activitypub.algorithms import sign_bytes
from activitypub.errors import DigestMismatch, MalformedSignature
from activitypub.keys import PrivateKey
from activitypub.signature_base import (
    Target,
    component_value,
    normalize_headers,
    parse_target,
    signature_base,
)
from activitypub.structured_fields import (
    InnerList,
    Item,
    Parameters,
    StructuredFieldError,
    parse_dictionary,
    serialize_bare_item,
    serialize_dictionary,
)

__all__ = [
    "Target",
    "cavage_signing_string",
    "check_content_digest",
    "check_digest_header",
    "component_value",
    "content_digest_header",
    "digest_header",
    "http_date",
    "normalize_headers",
    "parse_cavage_signature_header",
    "parse_target",
    "sign_cavage",
    "sign_rfc9421",
    "signature_base",
]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


# A fan-out signs many requests with the same body within the same second: the last
# formatted second and the last body's digest are kept (one each, swapped whole, so the
# signing threads can share them).
_last_date: tuple[int, str] = (-1, "")
_last_digest: tuple[bytes, str] = (b"", "")


def http_date(now: float) -> str:
    """Format ``now`` as an IMF-fixdate (RFC 7231 §7.1.1.1): ``Tue, 20 Apr 2021 02:07:55 GMT``."""
    global _last_date
    second = int(now)
    # Away from the end of a second, where formatting may round up to the next one.
    if now >= 0 and now - second < 0.999:
        cached = _last_date
        if cached[0] == second:
            return cached[1]
        value = formatdate(second, usegmt=True)
        _last_date = (second, value)
        return value
    return formatdate(now, usegmt=True)


def digest_header(body: bytes) -> str:
    """``Digest`` header value for ``body`` (RFC 3230 / draft-cavage): ``SHA-256=<base64>``."""
    global _last_digest
    cached = _last_digest
    if cached[1] and cached[0] == body:
        return cached[1]
    value = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
    _last_digest = (body, value)
    return value


def content_digest_header(body: bytes) -> str:
    """``Content-Digest`` header value for ``body`` (RFC 9530 §2): ``sha-256=:<base64>:``."""
    return serialize_dictionary({"sha-256": Item(hashlib.sha256(body).digest())})


def check_digest_header(value: str | None, body: bytes) -> None:
    """Mastodon: a covered ``Digest`` must offer SHA-256 (any case) matching the body."""
    if value is None:
        raise DigestMismatch("Digest header is missing")
    offered = None
    for part in value.split(","):
        name, _, encoded = part.strip().partition("=")
        if name.strip().lower() == "sha-256":
            offered = encoded.strip()
            break
    if offered is None:
        raise DigestMismatch("only SHA-256 is supported in the Digest header")
    try:
        digest = base64.b64decode(offered, validate=True)
    except (binascii.Error, ValueError):
        raise DigestMismatch("Digest header is not valid base64") from None
    if not hmac.compare_digest(digest, hashlib.sha256(body).digest()):
        raise DigestMismatch("Digest header does not match the body")


def check_content_digest(value: str | None, body: bytes) -> None:
    """RFC 9530 §2: ``Content-Digest`` must carry a ``sha-256`` byte sequence matching the body."""
    if value is None:
        raise DigestMismatch("Content-Digest header is missing")
    try:
        member = parse_dictionary(value).get("sha-256")
    except StructuredFieldError:
        raise DigestMismatch("Content-Digest header is malformed") from None
    if member is None:
        raise DigestMismatch("only sha-256 is supported in the Content-Digest header")
    if not isinstance(member, Item) or not isinstance(member.value, bytes):
        raise DigestMismatch("Content-Digest sha-256 value is not a byte sequence")
    if not hmac.compare_digest(member.value, hashlib.sha256(body).digest()):
        raise DigestMismatch("Content-Digest header does not match the body")


# --- draft-cavage-http-signatures-12 -------------------------------------------------


def cavage_signing_string(
    *,
    method: str,
    request_target: str,
    headers: Mapping[str, str],
    covered: Sequence[str],
    created: int | str | None = None,
    expires: int | str | None = None,
) -> str:
    """Build the draft-cavage-12 §2.3 signing string.

    ``headers`` must already be normalised (``normalize_headers``).  Each
    covered name yields one ``name: value`` line joined by ``\\n``;
    ``(request-target)`` is ``<lower-case method> <request_target>``,
    ``(created)``/``(expires)`` are the signature parameters as sent.  A covered header
    absent from ``headers`` raises ``MalformedSignature``.
    """
    lines = []
    for name in covered:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {request_target}")
        elif name in ("(created)", "(expires)"):
            value = created if name == "(created)" else expires
            if value is None:
                raise MalformedSignature(f"{name} is covered but its parameter is missing")
            lines.append(f"{name}: {value}")
        elif name in headers:
            lines.append(f"{name}: {headers[name]}")
        else:
            raise MalformedSignature(f"covered header {name!r} is absent")
    return "\n".join(lines)


def parse_cavage_signature_header(value: str) -> dict[str, str]:
    """Parse a draft-cavage-12 §4.1 ``Signature`` header: ``k="v",k2=v2,...``.

    Values may be quoted (no escapes, as in the draft) or bare (``created``,
    ``expires``).  Raises ``MalformedSignature`` on syntax errors and on a
    repeated or empty parameter name.
    """
    params: dict[str, str] = {}
    pos, length = 0, len(value)
    while pos < length:
        while pos < length and value[pos] in " \t,":
            pos += 1
        if pos >= length:
            break
        eq = value.find("=", pos)
        if eq < 0:
            raise MalformedSignature("signature parameter without a value")
        key = value[pos:eq].strip()
        pos = eq + 1
        while pos < length and value[pos] in " \t":
            pos += 1
        if pos < length and value[pos] == '"':
            end = value.find('"', pos + 1)
            if end < 0:
                raise MalformedSignature("unterminated quoted signature parameter")
            item, pos = value[pos + 1 : end], end + 1
        else:
            end = value.find(",", pos)
            end = length if end < 0 else end
            item, pos = value[pos:end].strip(), end
        if not key or key in params:
            raise MalformedSignature("empty or repeated signature parameter")
        params[key] = item
        while pos < length and value[pos] in " \t":
            pos += 1
        if pos < length and value[pos] != ",":
            raise MalformedSignature("signature parameters must be separated by commas")
    return params


def _body_for(method: str, body: bytes | None) -> bytes | None:
    # A POST/PUT/PATCH without a body is signed as an empty body so that its
    # digest is still covered (Mastodon requires ``digest`` on every POST).
    if body is None and method.upper() in _BODY_METHODS:
        return b""
    return body


def sign_cavage(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    key_id: str,
    private_key: PrivateKey,
    now: float,
) -> dict[str, str]:
    """Sign a request the way Mastodon does with draft-cavage-12.

    Returns the headers to add to the request: ``Host`` (URL authority, with a
    non-default port), ``Date`` (``http_date(now)``), ``Digest`` when there is a
    body (always for POST/PUT/PATCH), and ``Signature``.  Covered headers are
    ``(request-target) host date`` without a body and
    ``(request-target) host date digest content-type`` with one
    (``content-type`` only when the caller's ``headers`` contain it).  The
    algorithm is ``rsa-sha256`` for RSA keys and ``hs2019`` for Ed25519 keys.
    """
    if '"' in key_id:
        raise ValueError("keyId must not contain a double quote")
    target = parse_target(url)
    body = _body_for(method, body)
    added = {"Host": target.authority, "Date": http_date(now)}
    covered = ["(request-target)", "host", "date"]
    if body is not None:
        added["Digest"] = digest_header(body)
        covered.append("digest")
    # Both parts are normalised, so their union is too (``added`` wins, as before).
    merged = {**normalize_headers(headers), **normalize_headers(added)}
    if body is not None and "content-type" in merged:
        covered.append("content-type")
    signing_string = cavage_signing_string(
        method=method, request_target=target.request_target, headers=merged, covered=covered
    )
    signature = sign_bytes(private_key, signing_string.encode("utf-8"))
    algorithm = "rsa-sha256" if isinstance(private_key, rsa.RSAPrivateKey) else "hs2019"
    added["Signature"] = (
        f'keyId="{key_id}",algorithm="{algorithm}",headers="{" ".join(covered)}",'
        f'signature="{base64.b64encode(signature).decode("ascii")}"'
    )
    return added


# --- RFC 9421 ------------------------------------------------------------------------


def sign_rfc9421(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    key_id: str,
    private_key: PrivateKey,
    now: float,
    label: str = "sig1",
    nonce: str | None = None,
) -> dict[str, str]:
    """Sign a request with RFC 9421 the way Mastodon expects it.

    Returns ``Signature-Input``, ``Signature`` and, when there is a body
    (always for POST/PUT/PATCH), ``Content-Digest`` (RFC 9530, sha-256).
    Covered components are ``("@method" "@target-uri" "content-digest")`` with
    a body and ``("@method" "@target-uri")`` without.  Parameters are
    ``created`` (``int(now)``), ``keyid``, ``alg`` (``rsa-v1_5-sha256`` for
    RSA, ``ed25519`` for Ed25519, RFC 9421 §3.3) and ``nonce`` if given.
    """
    method = method.upper()
    body = _body_for(method, body)
    added: dict[str, str] = {}
    covered = ["@method", "@target-uri"]
    if body is not None:
        added["Content-Digest"] = content_digest_header(body)
        covered.append("content-digest")
    alg = "rsa-v1_5-sha256" if isinstance(private_key, rsa.RSAPrivateKey) else "ed25519"
    params: Parameters = {"created": int(now), "keyid": key_id, "alg": alg}
    if nonce is not None:
        params["nonce"] = nonce
    components = InnerList([Item(name) for name in covered], params)
    merged = {**normalize_headers(headers), **normalize_headers(added)}
    base = signature_base(components=components, headers=merged, method=method, url=url)
    signature = sign_bytes(private_key, base.encode("utf-8"))
    added["Signature-Input"] = serialize_dictionary({label: components})
    added["Signature"] = f"{label}={serialize_bare_item(signature)}"
    return added
