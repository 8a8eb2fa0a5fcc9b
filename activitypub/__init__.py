"""A small ActivityPub protocol library: HTTP signatures (draft-cavage and RFC 9421),
keys, WebFinger, NodeInfo, safe fetching and the delivery retry policy.

It depends only on the standard library, ``httpx`` (over aiohttp, through ``httpx-aiohttp``),
``http-sf`` and ``cryptography``, takes clocks, keys,
resolvers and clients as arguments, and imports nothing of fediaid's (import-linter checks
that). The names below are its public interface; ``tests/activitypub/test_public_api.py``
pins them.
"""

from typing import TYPE_CHECKING, Any

from activitypub.addresses import is_public_address
from activitypub.delivery import Decision, Outcome, backoff_delay, decide, parse_retry_after
from activitypub.errors import (
    ActivityPubError,
    DigestMismatch,
    FetchError,
    InsufficientCoverage,
    InvalidSignature,
    KeyResolutionError,
    MalformedSignature,
    MissingSignature,
    ResponseTooLarge,
    SignatureError,
    SignatureExpired,
    UnsafeAddress,
    UnsupportedAlgorithm,
)
from activitypub.keys import (
    KeyPair,
    PrivateKey,
    PublicKey,
    generate_rsa_keypair,
    load_private_key,
    load_public_key,
)
from activitypub.signatures import (
    content_digest_header,
    digest_header,
    http_date,
    sign_cavage,
    sign_rfc9421,
)
from activitypub.verify import (
    KeyResolver,
    ResolvedKey,
    SignedRequest,
    VerifiedSigner,
    parse_request_signature,
    verify_request,
)

__all__ = [
    "ActivityPubError",
    "ClientPolicy",
    "Decision",
    "DigestMismatch",
    "FetchError",
    "HttpSignatureAuth",
    "InsufficientCoverage",
    "InvalidSignature",
    "KeyPair",
    "KeyResolutionError",
    "KeyResolver",
    "MalformedSignature",
    "MissingSignature",
    "Outcome",
    "PrivateKey",
    "PublicKey",
    "ResolvedKey",
    "ResponseTooLarge",
    "SignatureError",
    "SignatureExpired",
    "SignedRequest",
    "UnsafeAddress",
    "UnsupportedAlgorithm",
    "VerifiedSigner",
    "backoff_delay",
    "content_digest_header",
    "decide",
    "digest_header",
    "fetch_document",
    "generate_rsa_keypair",
    "http_date",
    "is_public_address",
    "load_private_key",
    "load_public_key",
    "make_client",
    "parse_request_signature",
    "parse_retry_after",
    "sign_cavage",
    "sign_rfc9421",
    "verify_request",
]

if TYPE_CHECKING:
    from activitypub.auth import HttpSignatureAuth
    from activitypub.client import fetch_document
    from activitypub.net import ClientPolicy, make_client

# The HTTP-client parts (httpx, aiohttp) load on first use: a server that only signs and
# verifies never pays their import time and memory.
_LAZY = {"HttpSignatureAuth": "activitypub.auth", "fetch_document": "activitypub.client",
         "ClientPolicy": "activitypub.net", "make_client": "activitypub.net"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'activitypub' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
