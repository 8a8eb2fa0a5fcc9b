"""Signature algorithms: the public-key primitives behind both schemes.

Signing supports the two key types actors use (RSA, Ed25519).  Verification
supports the asymmetric algorithms of the RFC 9421 §3.3 registry that a
fediverse peer can use: ``rsa-v1_5-sha256``, ``rsa-pss-sha512``,
``ecdsa-p256-sha256`` and ``ed25519``.  ``hmac-sha256`` is deliberately not
supported (no shared secrets between servers).
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from activitypub.errors import InvalidSignature, UnsupportedAlgorithm
from activitypub.keys import PrivateKey, PublicKey

__all__ = [
    "RFC9421_ALGORITHMS",
    "VerificationKey",
    "algorithm_for_key",
    "sign_bytes",
    "verify_signature_bytes",
]

VerificationKey = PublicKey | ec.EllipticCurvePublicKey
"""Keys accepted for verification (EC keys only matter for RFC 9421 peers)."""

RFC9421_ALGORITHMS = frozenset(
    {"rsa-v1_5-sha256", "rsa-pss-sha512", "ecdsa-p256-sha256", "ed25519"}
)


def sign_bytes(private_key: PrivateKey, data: bytes) -> bytes:
    """Sign ``data``: RSASSA-PKCS1-v1_5 SHA-256 for RSA keys (draft-cavage ``rsa-sha256``,
    RFC 9421 §3.3.2 ``rsa-v1_5-sha256``), pure Ed25519 (RFC 8032, RFC 9421 §3.3.6) otherwise."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(data)
    raise TypeError("only RSA and Ed25519 private keys can sign")


def verify_signature_bytes(
    algorithm: str, key: VerificationKey, data: bytes, signature: bytes
) -> None:
    """Check ``signature`` over ``data`` with an RFC 9421 §3.3 algorithm.

    ``rsa-v1_5-sha256`` (§3.3.2), ``rsa-pss-sha512`` (§3.3.1: MGF1-SHA-512,
    64-byte salt), ``ecdsa-p256-sha256`` (§3.3.4: raw 64-byte ``r || s``) and
    ``ed25519`` (§3.3.6).  Raises ``InvalidSignature`` on a bad signature or a
    key of the wrong type, ``UnsupportedAlgorithm`` for any other algorithm.
    """
    try:
        if algorithm in ("rsa-v1_5-sha256", "rsa-pss-sha512"):
            if not isinstance(key, rsa.RSAPublicKey):
                raise InvalidSignature(f"{algorithm} needs an RSA key")
            if algorithm == "rsa-v1_5-sha256":
                key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            else:
                pss = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
                key.verify(signature, data, pss, hashes.SHA512())
        elif algorithm == "ecdsa-p256-sha256":
            if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(
                key.curve, ec.SECP256R1
            ):
                raise InvalidSignature("ecdsa-p256-sha256 needs a P-256 key")
            if len(signature) != 64:
                raise InvalidSignature("ecdsa-p256-sha256 signatures are 64 bytes")
            r = int.from_bytes(signature[:32], "big")
            s = int.from_bytes(signature[32:], "big")
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
        elif algorithm == "ed25519":
            if not isinstance(key, ed25519.Ed25519PublicKey):
                raise InvalidSignature("ed25519 needs an Ed25519 key")
            key.verify(signature, data)
        else:
            raise UnsupportedAlgorithm(f"unsupported signature algorithm {algorithm!r}")
    except (_CryptoInvalidSignature, ValueError):
        raise InvalidSignature() from None


def algorithm_for_key(key: VerificationKey) -> str:
    """Algorithm implied by a key's type when a signature does not name one.

    RSA means ``rsa-v1_5-sha256`` (what Mastodon signs with), Ed25519 means
    ``ed25519``, an EC key means ``ecdsa-p256-sha256``.
    """
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa-v1_5-sha256"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    return "ecdsa-p256-sha256"

