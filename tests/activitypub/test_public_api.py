"""The library's public names are a contract: changing them is a deliberate act."""

import activitypub


def test_public_names_are_pinned() -> None:
    assert sorted(activitypub.__all__) == sorted([
        "ActivityPubError", "ClientPolicy", "Decision", "DigestMismatch", "FetchError",
        "HttpSignatureAuth",
        "InsufficientCoverage", "InvalidSignature", "KeyPair", "KeyResolutionError",
        "KeyResolver", "MalformedSignature", "MissingSignature", "Outcome", "PrivateKey",
        "PublicKey", "ResolvedKey", "ResponseTooLarge", "SignatureError", "SignatureExpired",
        "SignedRequest", "UnsafeAddress", "UnsupportedAlgorithm", "VerifiedSigner",
        "backoff_delay", "content_digest_header", "decide", "digest_header", "fetch_document",
        "generate_rsa_keypair", "http_date", "is_public_address", "load_private_key",
        "load_public_key", "parse_request_signature", "parse_retry_after", "make_client",
        "sign_cavage", "sign_rfc9421", "verify_request",
    ])
    for name in activitypub.__all__:
        assert getattr(activitypub, name) is not None
