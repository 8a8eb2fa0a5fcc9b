"""Mastodon's RFC 9421 policy, the time window, verify_request, keys and errors."""

import asyncio
import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from activitypub.algorithms import sign_bytes
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
    ed25519_to_multibase,
    generate_rsa_keypair,
    load_multibase_ed25519,
    load_private_key,
    load_public_key,
    public_key_pem,
)
from activitypub.signatures import content_digest_header, sign_cavage, sign_rfc9421, signature_base
from activitypub.structured_fields import (
    InnerList,
    Item,
    Parameters,
    serialize_dictionary,
    serialize_inner_list,
)
from activitypub.verify import (
    ResolvedKey,
    VerifiedSigner,
    check_time_window,
    parse_request_signature,
    verify_request,
)

NOW = 1_700_000_000.0
KEY_ID = "https://social.example/users/alice#main-key"
OWNER = "https://social.example/users/alice"
INBOX = "https://remote.example/users/bob/inbox"
BODY = b'{"type":"Like","object":"https://remote.example/notes/1"}'

ED_KEY = ed25519.Ed25519PrivateKey.generate()
OTHER_ED_KEY = ed25519.Ed25519PrivateKey.generate()
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _sign(method="POST", url=INBOX, body=BODY, key=ED_KEY, now=NOW):
    return sign_rfc9421(
        method=method, url=url, headers={}, body=body, key_id=KEY_ID, private_key=key, now=now
    )


def _parse(headers, method="POST", url=INBOX, body=BODY, now=NOW):
    return parse_request_signature(method=method, url=url, headers=headers, body=body, now=now)


def _custom(
    covered,
    params: Parameters,
    *,
    method="POST",
    url=INBOX,
    body=BODY,
    key=ED_KEY,
    label="sig1",
    extra_headers=None,
):
    """Sign an arbitrary RFC 9421 signature, to build requests the policy must refuse."""
    headers = {"Content-Digest": content_digest_header(body), **(extra_headers or {})}
    components = InnerList([Item(name) for name in covered], params)
    base = signature_base(components=components, headers=headers, method=method, url=url)
    signature = base64.b64encode(sign_bytes(key, base.encode())).decode()
    return {
        **headers,
        "Signature-Input": serialize_dictionary({label: components}),
        "Signature": f"{label}=:{signature}:",
    }


POST_COVERED = ("@method", "@target-uri", "content-digest")


# --- RFC 9421 policy ---------------------------------------------------------------------


def test_minimal_mastodon_signature_is_accepted():
    signed = _parse(_custom(POST_COVERED, {"created": int(NOW), "keyid": KEY_ID}))
    assert signed.algorithm is None  # inferred from the key at verify time
    assert signed.covered == POST_COVERED
    signed.verify(ED_KEY.public_key())


def test_without_created_is_malformed():
    with pytest.raises(MalformedSignature):
        _parse(_custom(POST_COVERED, {"keyid": KEY_ID}))


def test_without_keyid_is_malformed():
    with pytest.raises(MalformedSignature):
        _parse(_custom(POST_COVERED, {"created": int(NOW)}))


@pytest.mark.parametrize(
    "covered",
    [("@method", "content-digest"), ("@target-uri", "content-digest")],
    ids=["no-target-uri", "no-method"],
)
def test_must_cover_method_and_target_uri(covered):
    with pytest.raises(InsufficientCoverage):
        _parse(_custom(covered, {"created": int(NOW), "keyid": KEY_ID}))


def test_post_must_cover_content_digest():
    with pytest.raises(InsufficientCoverage):
        _parse(_custom(("@method", "@target-uri"), {"created": int(NOW), "keyid": KEY_ID}))


def test_get_need_not_cover_content_digest():
    headers = _sign(method="GET", body=None)
    _parse(headers, method="GET", body=None).verify(ED_KEY.public_key())


def test_tampered_body_is_a_digest_mismatch():
    with pytest.raises(DigestMismatch):
        _parse(_sign(), body=BODY + b" ")


def test_content_digest_must_offer_sha256():
    sha512_only = "sha-512=:" + base64.b64encode(b"\x00" * 64).decode() + ":"
    headers = {**_sign(), "Content-Digest": sha512_only}
    with pytest.raises(DigestMismatch):
        _parse(headers)
    headers = {k: v for k, v in _sign().items() if k != "Content-Digest"}
    with pytest.raises(DigestMismatch):
        _parse(headers)
    headers = {**_sign(), "Content-Digest": "sha-256=not-a-byte-sequence"}
    with pytest.raises(DigestMismatch):
        _parse(headers)


def test_content_digest_with_several_algorithms_is_accepted():
    digest = content_digest_header(BODY) + ", sha-512=:" + base64.b64encode(b"x").decode() + ":"
    params: Parameters = {"created": int(NOW), "keyid": KEY_ID}
    headers = _custom(POST_COVERED, params, extra_headers={"Content-Digest": digest})
    _parse(headers).verify(ED_KEY.public_key())


@pytest.mark.parametrize("alg", ["hmac-sha256", "rsa-sha256", "ecdsa-p384-sha384", "nonsense"])
def test_unsupported_alg(alg):
    with pytest.raises(UnsupportedAlgorithm):
        _parse(_custom(POST_COVERED, {"created": int(NOW), "keyid": KEY_ID, "alg": alg}))


def test_explicit_alg_must_fit_the_key():
    params: Parameters = {"created": int(NOW), "keyid": KEY_ID, "alg": "rsa-v1_5-sha256"}
    headers = _custom(POST_COVERED, params)
    with pytest.raises(InvalidSignature):
        _parse(headers).verify(ED_KEY.public_key())


def test_rsa_key_without_alg_means_rsa_v1_5_sha256():
    headers = _custom(POST_COVERED, {"created": int(NOW), "keyid": KEY_ID}, key=RSA_KEY)
    _parse(headers).verify(RSA_KEY.public_key())


def test_rsa_pss_sha512_with_explicit_alg():
    components = InnerList(
        [Item(n) for n in POST_COVERED],
        {"created": int(NOW), "keyid": KEY_ID, "alg": "rsa-pss-sha512"},
    )
    headers = {"Content-Digest": content_digest_header(BODY)}
    base = signature_base(components=components, headers=headers, method="POST", url=INBOX)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
    raw = RSA_KEY.sign(base.encode(), pss, hashes.SHA512())
    headers["Signature-Input"] = "sig1=" + serialize_inner_list(components)
    headers["Signature"] = "sig1=:" + base64.b64encode(raw).decode() + ":"
    signed = _parse(headers)
    assert signed.algorithm == "rsa-pss-sha512"
    signed.verify(RSA_KEY.public_key())


def test_ecdsa_p256_request():
    key = ec.generate_private_key(ec.SECP256R1())
    components = InnerList(
        [Item(n) for n in POST_COVERED],
        {"created": int(NOW), "keyid": KEY_ID, "alg": "ecdsa-p256-sha256"},
    )
    headers = {"Content-Digest": content_digest_header(BODY)}
    base = signature_base(components=components, headers=headers, method="POST", url=INBOX)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(key.sign(base.encode(), ec.ECDSA(hashes.SHA256())))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    headers["Signature-Input"] = "sig1=" + serialize_inner_list(components)
    headers["Signature"] = "sig1=:" + base64.b64encode(raw).decode() + ":"
    _parse(headers).verify(key.public_key())


def test_only_the_first_signature_is_considered():
    headers = _sign()
    label_and_rest = headers["Signature-Input"]
    headers["Signature-Input"] = label_and_rest + ', other=("@method");created=1;keyid="x"'
    headers["Signature"] += ", other=:AAAA:"
    _parse(headers).verify(ED_KEY.public_key())
    # A garbage first signature is not rescued by a good second one.
    headers = _sign()
    headers["Signature-Input"] = 'first=("@method");created=1;keyid="x", ' + headers[
        "Signature-Input"
    ]
    headers["Signature"] = "first=:AAAA:, " + headers["Signature"]
    with pytest.raises(InsufficientCoverage):
        _parse(headers)


@pytest.mark.parametrize(
    "change",
    [
        {"Signature": "other=:AAAA:"},  # no signature under the label
        {"Signature": 'sig1="text"'},  # not a byte sequence
        {"Signature-Input": "sig1=:AAAA:"},  # not an inner list
        {"Signature-Input": "sig1=(@method)"},  # not a structured field
        {"Signature-Input": ""},  # empty
    ],
)
def test_malformed_rfc9421_headers(change):
    with pytest.raises(MalformedSignature):
        _parse({**_sign(), **change})


def test_signature_input_without_signature_is_malformed():
    headers = {k: v for k, v in _sign().items() if k != "Signature"}
    with pytest.raises(MalformedSignature):
        _parse(headers)


def test_signature_input_selects_rfc9421_over_cavage():
    cavage = sign_cavage(
        method="POST", url=INBOX, headers={}, body=BODY, key_id="cavage-key",
        private_key=ED_KEY, now=NOW,
    )
    headers = {**cavage, **_sign()}
    assert _parse(headers).scheme == "rfc9421"
    assert _parse(cavage).scheme == "cavage"


def test_missing_signature_and_relative_url():
    with pytest.raises(MissingSignature):
        _parse({"Content-Type": "application/json"})
    with pytest.raises(MalformedSignature):
        _parse(_sign(), url="/users/bob/inbox")


def test_tampered_rfc9421_signature_and_target():
    headers = _sign()
    with pytest.raises(InvalidSignature):
        _parse(headers, url=INBOX + "?x=1").verify(ED_KEY.public_key())
    with pytest.raises(InvalidSignature):
        _parse(headers).verify(OTHER_ED_KEY.public_key())


def test_rfc9421_time_window():
    with pytest.raises(SignatureExpired):
        _parse(_sign(now=NOW - 70 * 60))
    with pytest.raises(SignatureExpired):
        _parse(_sign(now=NOW + 2 * 3600))
    _parse(_sign(now=NOW - 60 * 60)).verify(ED_KEY.public_key())
    expired = _custom(
        POST_COVERED, {"created": int(NOW) - 7200, "keyid": KEY_ID, "expires": int(NOW) - 3700}
    )
    with pytest.raises(SignatureExpired):
        _parse(expired)


# --- time window ---------------------------------------------------------------------------


def test_time_window_rules():
    # default lifetime 5 minutes plus 1 hour of skew
    check_time_window(NOW, None, NOW + 300 + 3600)
    with pytest.raises(SignatureExpired):
        check_time_window(NOW, None, NOW + 300 + 3601)
    # created up to one hour in the future
    check_time_window(NOW + 3600, None, NOW)
    with pytest.raises(SignatureExpired):
        check_time_window(NOW + 3601, None, NOW)
    # explicit expires is honoured...
    check_time_window(NOW, NOW + 7200, NOW + 7200 + 3600)
    with pytest.raises(SignatureExpired):
        check_time_window(NOW, NOW + 60, NOW + 60 + 3601)
    # ...but capped at created + 12 hours
    check_time_window(NOW, NOW + 86400, NOW + 12 * 3600 + 3600)
    with pytest.raises(SignatureExpired):
        check_time_window(NOW, NOW + 86400, NOW + 12 * 3600 + 3601)
    with pytest.raises(MalformedSignature):
        check_time_window(None, None, NOW)


# --- verify_request ------------------------------------------------------------------------


class Resolver:
    """Records calls; answers from a list of keys (one per call) or raises."""

    def __init__(self, *keys, error=None):
        self.keys = list(keys)
        self.error = error
        self.calls = []

    async def __call__(self, key_id, refresh):
        self.calls.append((key_id, refresh))
        if self.error is not None:
            raise self.error
        return ResolvedKey(key_id=key_id, owner=OWNER, public_key=self.keys.pop(0))


def _verify(headers, resolver, body=BODY):
    return asyncio.run(
        verify_request(
            method="POST", url=INBOX, headers=headers, body=body, resolve_key=resolver, now=NOW
        )
    )


@pytest.mark.parametrize("scheme", ["cavage", "rfc9421"])
def test_verify_request_with_a_cached_key(scheme):
    sign = sign_cavage if scheme == "cavage" else sign_rfc9421
    headers = sign(
        method="POST", url=INBOX, headers={}, body=BODY, key_id=KEY_ID, private_key=ED_KEY, now=NOW
    )
    resolver = Resolver(ED_KEY.public_key())
    assert _verify(headers, resolver) == VerifiedSigner(key_id=KEY_ID, owner=OWNER, scheme=scheme)
    assert resolver.calls == [(KEY_ID, False)]


def test_verify_request_refreshes_a_rotated_key():
    resolver = Resolver(OTHER_ED_KEY.public_key(), ED_KEY.public_key())
    signer = _verify(_sign(), resolver)
    assert signer.owner == OWNER
    assert resolver.calls == [(KEY_ID, False), (KEY_ID, True)]


def test_verify_request_fails_after_one_refresh():
    resolver = Resolver(OTHER_ED_KEY.public_key(), OTHER_ED_KEY.public_key())
    with pytest.raises(InvalidSignature):
        _verify(_sign(), resolver)
    assert resolver.calls == [(KEY_ID, False), (KEY_ID, True)]


def test_verify_request_propagates_key_resolution_errors():
    resolver = Resolver(error=KeyResolutionError("actor answered 410"))
    with pytest.raises(KeyResolutionError) as info:
        _verify(_sign(), resolver)
    assert info.value.reason == "actor answered 410"
    assert resolver.calls == [(KEY_ID, False)]


def test_verify_request_checks_policy_before_fetching_keys():
    resolver = Resolver(ED_KEY.public_key())
    with pytest.raises(DigestMismatch):
        _verify(_sign(), resolver, body=b"{}")
    assert resolver.calls == []


# --- keys and errors -----------------------------------------------------------------------


def test_generated_keypair_loads_back():
    pair = generate_rsa_keypair()
    assert pair.private_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert pair.public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    private = load_private_key(pair.private_pem)
    assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 2048
    assert public_key_pem(load_public_key(pair.public_pem)) == pair.public_pem
    assert public_key_pem(private) == pair.public_pem
    with pytest.raises(ValueError):
        generate_rsa_keypair(1024)


@pytest.mark.parametrize(
    "pem",
    ["", "garbage", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "ключ"],
)
def test_loaders_raise_value_error_on_garbage(pem):
    with pytest.raises(ValueError):
        load_public_key(pem)
    with pytest.raises(ValueError):
        load_private_key(pem)


def test_loaders_refuse_unsupported_key_types():
    from cryptography.hazmat.primitives import serialization

    key = ec.generate_private_key(ec.SECP256R1())
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with pytest.raises(ValueError):
        load_private_key(private_pem)
    with pytest.raises(ValueError):
        load_public_key(public_pem)


def test_multibase_ed25519_round_trip():
    public = ED_KEY.public_key()
    value = ed25519_to_multibase(public)
    assert value.startswith("z6Mk")  # every Ed25519 multikey starts like this
    assert load_multibase_ed25519(value).public_bytes_raw() == public.public_bytes_raw()
    raw_zero = ed25519.Ed25519PublicKey.from_public_bytes(b"\x00" * 32)
    assert load_multibase_ed25519(ed25519_to_multibase(raw_zero)).public_bytes_raw() == b"\x00" * 32


@pytest.mark.parametrize(
    "value", ["", "6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", "z0OIl", "z6Mk", "zQ3s"]
)
def test_multibase_rejects_non_ed25519_values(value):
    with pytest.raises(ValueError):
        load_multibase_ed25519(value)


def test_error_tree_and_reasons():
    for cls in (
        MissingSignature,
        MalformedSignature,
        UnsupportedAlgorithm,
        SignatureExpired,
        InsufficientCoverage,
        DigestMismatch,
        InvalidSignature,
    ):
        assert issubclass(cls, SignatureError)
        assert cls().reason  # a default reason exists
    assert issubclass(SignatureError, ActivityPubError)
    assert not issubclass(KeyResolutionError, SignatureError)
    assert issubclass(UnsafeAddress, FetchError) and issubclass(ResponseTooLarge, FetchError)
    error = SignatureError("human reason")
    assert error.reason == "human reason" == str(error)
