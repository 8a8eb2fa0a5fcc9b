"""Web Push on the wire: the instance's VAPID key, and a push message encrypted for one
subscription with the headers that go with it. No HTTP here: the push service sends the
result through the one outgoing HTTP client (``Core.transport()``).

Two formats, chosen per subscription as Mastodon 4.4+ does (``subscription[standard]``):

- **standard** (RFC 8030 + RFC 8291 + RFC 8292): the body is ``aes128gcm`` (RFC 8188; the
  sender's ephemeral public key travels in the body's header), signed with
  ``Authorization: vapid t=<JWT>, k=<server key>``.
- **legacy** (Mastodon's default, and what apps written before 4.4 expect): draft 4 of
  RFC 8291 and draft 1 of RFC 8292: ``Content-Encoding: aesgcm`` with ``Encryption:
  salt=...``, ``Crypto-Key: dh=<ephemeral key>;p256ecdsa=<server key>`` and
  ``Authorization: WebPush <JWT>``. Mastodon.py's ``push_subscription_decrypt_push`` reads
  only this format (and its ``push_subscription_set`` never sends ``standard``).

Libraries, not crypto of our own: ``http_ece`` (the reference implementation of RFC 8188's
content encoding, by its author; pywebpush encrypts through it) does the ECDH, HKDF and
AES-GCM; ``py_vapid`` (Mozilla's web-push-libs, as pywebpush) makes and signs the ES256
JWT and writes both header forms. pywebpush itself is not used: it sends with ``requests``,
synchronously, and what it adds over these two is that sending.

Both libraries load on the first push (``import`` inside the functions), not with the server.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

#: How long a push service keeps a message for an offline device (Mastodon: 48 hours).
TTL_SECONDS = 48 * 3600
#: The lifetime of a VAPID JWT (RFC 8292 section 2: at most 24 hours).
JWT_SECONDS = 12 * 3600


def b64decode_any(value: str) -> bytes | None:
    """Base64 in either alphabet (standard or URL-safe), padded or not: apps send both
    (Mastodon.py the standard one, browsers the URL-safe one without padding). None when
    it is not base64."""
    text = value.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def b64url(raw: bytes, *, pad: bool = False) -> str:
    text = base64.urlsafe_b64encode(raw).decode()
    return text if pad else text.rstrip("=")


def valid_p256dh(raw: bytes) -> bool:
    """A P-256 public key as an uncompressed point (65 bytes, 0x04 first) that is on the
    curve (RFC 8291 section 3.1)."""
    if len(raw) != 65 or raw[0] != 4:
        return False
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        return False
    return True


def new_vapid_key() -> str:
    """A new VAPID key pair (ECDSA P-256), as the private key's PKCS#8 PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@lru_cache(maxsize=4)
def _public_point(private_pem: str) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key: Any = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return bytes(key.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint))


def server_key(private_pem: str) -> str:
    """The public key apps see (``server_key``, ``vapid_key``): the uncompressed point in
    URL-safe base64 with padding, as Mastodon shows its VAPID key."""
    return b64url(_public_point(private_pem), pad=True)


@lru_cache(maxsize=4)
def _vapid(private_pem: str, standard: bool) -> Any:
    from cryptography.hazmat.primitives import serialization
    from py_vapid import Vapid01, Vapid02  # type: ignore[import-untyped]

    cls = Vapid02 if standard else Vapid01
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    # "no-strict": the subject is our base URL, which is plain http on development
    # instances (py_vapid's strict check wants mailto: or https:).
    return cls(private_key=key, conf={"no-strict": True})


@dataclass(frozen=True)
class PushMessage:
    body: bytes
    headers: dict[str, str]


def encrypt(payload: bytes, *, endpoint: str, p256dh: bytes, auth: bytes, standard: bool,
            vapid_pem: str, subject: str, now: float | None = None) -> PushMessage:
    """``payload`` encrypted for one subscription, with every header a push service needs
    (RFC 8030 ``TTL`` and ``Urgency``; VAPID; the content encoding's own headers)."""
    import http_ece  # type: ignore[import-untyped]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ephemeral = ec.generate_private_key(ec.SECP256R1())
    parts = urlsplit(endpoint)
    claims = {"aud": f"{parts.scheme}://{parts.netloc}", "sub": subject,
              "exp": int((now if now is not None else time.time()) + JWT_SECONDS)}
    headers = {"TTL": str(TTL_SECONDS), "Urgency": "normal",
               "Content-Type": "application/octet-stream"}
    if standard:
        body = http_ece.encrypt(payload, private_key=ephemeral, dh=p256dh, auth_secret=auth,
                                version="aes128gcm")
        headers["Content-Encoding"] = "aes128gcm"
        headers.update(_vapid(vapid_pem, True).sign(claims))
    else:
        salt = os.urandom(16)
        dh = b64url(ephemeral.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))
        body = http_ece.encrypt(payload, salt=salt, private_key=ephemeral, dh=p256dh,
                                auth_secret=auth, keyid=dh, version="aesgcm")
        headers["Content-Encoding"] = "aesgcm"
        headers["Encryption"] = f"salt={b64url(salt)}"
        headers.update(_vapid(vapid_pem, False).sign(claims, crypto_key=f"dh={dh}"))
    return PushMessage(bytes(body), headers)
