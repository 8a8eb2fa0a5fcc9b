"""Key generation and loading for HTTP signatures.

ActivityPub actors publish their key as ``publicKey.publicKeyPem`` (an RSA key
in SubjectPublicKeyInfo PEM, sometimes PKCS#1 ``RSA PUBLIC KEY``) and, since
FEP-521a, optionally as ``assertionMethod[].publicKeyMultibase`` (an Ed25519
key encoded as Multikey: ``z`` + base58btc of ``0xed 0x01`` + 32 key bytes).

All loaders raise ``ValueError`` on anything they cannot turn into a supported
key, so callers have a single exception to translate.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm as _CryptoUnsupported
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

__all__ = [
    "KeyPair",
    "PrivateKey",
    "PublicKey",
    "ed25519_to_multibase",
    "generate_rsa_keypair",
    "load_multibase_ed25519",
    "load_private_key",
    "load_public_key",
    "public_key_pem",
]

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey

_ED25519_MULTICODEC = b"\xed\x01"
_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58_ALPHABET)}


@dataclass(frozen=True)
class KeyPair:
    """A freshly generated key pair, both halves PEM-encoded.

    ``private_pem`` is unencrypted PKCS#8 (``BEGIN PRIVATE KEY``); store it as
    a secret.  ``public_pem`` is SubjectPublicKeyInfo (``BEGIN PUBLIC KEY``),
    the form Mastodon publishes in ``publicKeyPem``.
    """

    private_pem: str
    public_pem: str


def generate_rsa_keypair(bits: int = 2048) -> KeyPair:
    """Generate an RSA key pair (public exponent 65537) of ``bits`` bits.

    2048 bits is what Mastodon generates for every actor; smaller sizes are
    refused (``ValueError``) because peers reject them.
    """
    if bits < 2048:
        raise ValueError("RSA keys shorter than 2048 bits are not accepted by peers")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return KeyPair(private_pem=private_pem, public_pem=public_key_pem(key))


def public_key_pem(key: PrivateKey | PublicKey) -> str:
    """SubjectPublicKeyInfo PEM of ``key`` (or of the public half of a private key)."""
    public: PublicKey
    if isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        public = key.public_key()
    else:
        public = key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_private_key(pem: str) -> PrivateKey:
    """Load an unencrypted PEM private key (PKCS#8 or PKCS#1 ``RSA PRIVATE KEY``).

    Only RSA and Ed25519 keys are supported; anything else, including garbage
    and encrypted keys, raises ``ValueError``.
    """
    try:
        key = serialization.load_pem_private_key(pem.strip().encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError, _CryptoUnsupported) as exc:
        raise ValueError("not a usable unencrypted PEM private key") from exc
    if isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        return key
    raise ValueError("only RSA and Ed25519 private keys are supported")


def load_public_key(pem: str) -> PublicKey:
    """Load a PEM public key as published in an actor's ``publicKeyPem``.

    Accepts SubjectPublicKeyInfo (``BEGIN PUBLIC KEY``) holding an RSA or
    Ed25519 key, and PKCS#1 (``BEGIN RSA PUBLIC KEY``).  Raises ``ValueError``
    for anything else.
    """
    try:
        key = serialization.load_pem_public_key(pem.strip().encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError, _CryptoUnsupported) as exc:
        raise ValueError("not a usable PEM public key") from exc
    if isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        return key
    raise ValueError("only RSA and Ed25519 public keys are supported")


def _b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        try:
            number = number * 58 + _B58_INDEX[char]
        except KeyError:
            raise ValueError("invalid base58btc character") from None
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    leading_zeros = len(text) - len(text.lstrip("1"))
    return b"\x00" * leading_zeros + body


def _b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rem = divmod(number, 58)
        out.append(_B58_ALPHABET[rem])
    leading_zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * leading_zeros + "".join(reversed(out))


def load_multibase_ed25519(value: str) -> ed25519.Ed25519PublicKey:
    """Decode a FEP-521a / Multikey ``publicKeyMultibase`` Ed25519 key.

    The value must be ``z`` (multibase base58btc) followed by the base58btc
    encoding of the multicodec prefix ``0xed 0x01`` and the 32 raw key bytes
    (such values start with ``z6Mk``).  Raises ``ValueError`` otherwise.
    """
    if not value.startswith("z"):
        raise ValueError("only base58btc ('z') multibase keys are supported")
    raw = _b58decode(value[1:])
    if len(raw) != 34 or raw[:2] != _ED25519_MULTICODEC:
        raise ValueError("not an Ed25519 multikey (expected 0xed01 + 32 bytes)")
    return ed25519.Ed25519PublicKey.from_public_bytes(raw[2:])


def ed25519_to_multibase(key: ed25519.Ed25519PublicKey) -> str:
    """Encode an Ed25519 public key as a FEP-521a ``publicKeyMultibase`` value."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "z" + _b58encode(_ED25519_MULTICODEC + raw)
