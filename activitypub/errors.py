"""Exception tree of the ActivityPub protocol library.

Every exception carries a ``reason``: a short, human-readable sentence that is
safe to send back to a remote peer (for instance in the body of a ``401``
answer).  Reasons never contain key material, signatures, request bodies or
other secrets; at most they name a header, an algorithm or a key id, all of
which the peer sent itself.

The tree is shaped for the callers' ``except`` clauses:

* ``SignatureError`` and its subclasses: the request's signature is missing or
  unacceptable -- answer ``401 Unauthorized``.
* ``KeyResolutionError``: the signer's key could not be fetched -- the signature
  could not be checked at all (typically also ``401``, possibly retried later).
* ``FetchError``: outgoing requests made by client code failed.
"""

from __future__ import annotations

__all__ = [
    "ActivityPubError",
    "DigestMismatch",
    "FetchError",
    "InsufficientCoverage",
    "InvalidSignature",
    "KeyResolutionError",
    "MalformedSignature",
    "MissingSignature",
    "ResponseTooLarge",
    "SignatureError",
    "SignatureExpired",
    "UnsafeAddress",
    "UnsupportedAlgorithm",
]


class ActivityPubError(Exception):
    """Root of every error raised by the ``activitypub`` package.

    ``reason`` is safe to show to a remote peer; ``str(exc)`` returns it.
    """

    default_reason = "ActivityPub protocol error"

    def __init__(self, reason: str | None = None) -> None:
        self.reason: str = reason if reason else self.default_reason
        super().__init__(self.reason)

    def __str__(self) -> str:
        return self.reason


class SignatureError(ActivityPubError):
    """The request's HTTP signature is absent or unacceptable (answer ``401``)."""

    default_reason = "invalid HTTP signature"


class MissingSignature(SignatureError):
    """Neither a ``Signature`` nor a ``Signature-Input`` header is present."""

    default_reason = "request is not signed"


class MalformedSignature(SignatureError):
    """A signature header cannot be parsed, or a required parameter is missing.

    Also raised when a covered component cannot be computed from the request
    (for example a covered header that is absent).
    """

    default_reason = "malformed signature header"


class UnsupportedAlgorithm(SignatureError):
    """The signature names an algorithm this library does not accept."""

    default_reason = "unsupported signature algorithm"


class SignatureExpired(SignatureError):
    """The signature's creation/expiry time is outside the accepted window."""

    default_reason = "signature is outside the accepted time window"


class InsufficientCoverage(SignatureError):
    """The signature does not cover a component that the policy requires."""

    default_reason = "signature does not cover the required components"


class DigestMismatch(SignatureError):
    """``Digest``/``Content-Digest`` is missing, not SHA-256, or does not match the body."""

    default_reason = "body digest is missing or does not match"


class InvalidSignature(SignatureError):
    """The cryptographic check failed (wrong key, tampered message or signature)."""

    default_reason = "signature verification failed"


class KeyResolutionError(ActivityPubError):
    """The signer's public key could not be obtained (network error, 404, no key...)."""

    default_reason = "could not obtain the signing key"


class FetchError(ActivityPubError):
    """An outgoing HTTP request made on behalf of client code failed."""

    default_reason = "remote fetch failed"


class UnsafeAddress(FetchError):
    """The target resolves to a private, loopback or otherwise refused address."""

    default_reason = "refused to connect to a non-public address"


class ResponseTooLarge(FetchError):
    """The remote answer exceeded the configured size limit."""

    default_reason = "remote response is too large"
