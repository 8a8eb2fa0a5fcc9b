"""RFC 9421 primitives against the Appendix B vectors, structured fields, and signing.

The Appendix B.2 requests carry a sha-512 ``Content-Digest`` and are not
checked against Mastodon's policy here: these tests exercise the primitives
(``signature_base``, ``verify_signature_bytes``) only.  The policy is tested
in test_verify.py with requests signed by ``sign_rfc9421``.
"""

import base64
import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from activitypub.algorithms import sign_bytes, verify_signature_bytes
from activitypub.errors import InvalidSignature, MalformedSignature, UnsupportedAlgorithm
from activitypub.keys import load_private_key, load_public_key
from activitypub.signatures import (
    content_digest_header,
    parse_target,
    sign_rfc9421,
    signature_base,
)
from activitypub.structured_fields import (
    InnerList,
    Item,
    StructuredFieldError,
    Token,
    parse_dictionary,
    parse_item,
    parse_list,
    serialize_dictionary,
    serialize_item,
)
from activitypub.verify import parse_request_signature
from tests.activitypub.vectors_rfc9421 import (
    B21_BASE,
    B21_INPUT,
    B21_SIGNATURE,
    B22_BASE,
    B22_INPUT,
    B22_SIGNATURE,
    B23_BASE,
    B23_INPUT,
    B23_SIGNATURE,
    B24_BASE,
    B24_INPUT,
    B24_SIGNATURE,
    B25_BASE,
    B25_INPUT,
    B25_SIGNATURE,
    B26_BASE,
    B26_INPUT,
    B26_SIGNATURE,
    PROXY_HEADERS,
    PROXY_INPUT,
    PROXY_SIGNATURE,
    PROXY_URL,
    REQUEST_BODY,
    REQUEST_DIGEST,
    REQUEST_HEADERS,
    REQUEST_METHOD,
    REQUEST_URL,
    RESPONSE_BODY,
    RESPONSE_DIGEST,
    RESPONSE_HEADERS,
    RESPONSE_STATUS,
    TEST_KEY_ECC_P256_PRIVATE,
    TEST_KEY_ECC_P256_PUBLIC,
    TEST_KEY_ED25519_PRIVATE,
    TEST_KEY_ED25519_PUBLIC,
    TEST_KEY_RSA_PRIVATE,
    TEST_KEY_RSA_PSS_PRIVATE,
    TEST_KEY_RSA_PSS_PUBLIC,
    TEST_KEY_RSA_PUBLIC,
    TEST_SHARED_SECRET,
)


def _components(signature_input):
    ((_, components),) = parse_dictionary(signature_input).items()
    assert isinstance(components, InnerList)
    return components


def _signature(signature_header):
    ((_, item),) = parse_dictionary(signature_header).items()
    assert isinstance(item, Item) and isinstance(item.value, bytes)
    return item.value


def _request_base(signature_input, headers=REQUEST_HEADERS, url=REQUEST_URL):
    return signature_base(
        components=_components(signature_input), headers=headers, method=REQUEST_METHOD, url=url
    )


RSA_PSS_PUBLIC = load_public_key(TEST_KEY_RSA_PSS_PUBLIC)
ECC_PUBLIC = serialization.load_pem_public_key(TEST_KEY_ECC_P256_PUBLIC.encode())
ED_PRIVATE = load_private_key(TEST_KEY_ED25519_PRIVATE)
RSA_PRIVATE = load_private_key(TEST_KEY_RSA_PRIVATE)


# --- Appendix B.1 keys -------------------------------------------------------------------


def _public_numbers_equal(a, b):
    return a.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == b.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_appendix_b1_key_pairs_match():
    rsa_public = load_public_key(TEST_KEY_RSA_PUBLIC)  # PKCS#1 "RSA PUBLIC KEY"
    assert isinstance(rsa_public, rsa.RSAPublicKey) and isinstance(RSA_PRIVATE, rsa.RSAPrivateKey)
    assert _public_numbers_equal(RSA_PRIVATE.public_key(), rsa_public)
    pss_private = serialization.load_pem_private_key(TEST_KEY_RSA_PSS_PRIVATE.encode(), None)
    assert _public_numbers_equal(pss_private.public_key(), RSA_PSS_PUBLIC)
    ecc_private = serialization.load_pem_private_key(TEST_KEY_ECC_P256_PRIVATE.encode(), None)
    assert isinstance(ECC_PUBLIC, ec.EllipticCurvePublicKey)
    assert _public_numbers_equal(ecc_private.public_key(), ECC_PUBLIC)
    assert isinstance(ED_PRIVATE, ed25519.Ed25519PrivateKey)
    assert _public_numbers_equal(ED_PRIVATE.public_key(), load_public_key(TEST_KEY_ED25519_PUBLIC))


def test_appendix_b2_digests_match_bodies():
    for digest, body in ((REQUEST_DIGEST, REQUEST_BODY), (RESPONSE_DIGEST, RESPONSE_BODY)):
        assert parse_dictionary(digest)["sha-512"] == Item(hashlib.sha512(body).digest())


# --- Appendix B.2 signature bases --------------------------------------------------------


@pytest.mark.parametrize(
    ("signature_input", "expected"),
    [
        (B21_INPUT, B21_BASE),
        (B22_INPUT, B22_BASE),
        (B23_INPUT, B23_BASE),
        (B25_INPUT, B25_BASE),
        (B26_INPUT, B26_BASE),
    ],
    ids=["B.2.1-minimal", "B.2.2-selective", "B.2.3-full", "B.2.5-hmac", "B.2.6-ed25519"],
)
def test_request_signature_base_is_byte_exact(signature_input, expected):
    assert _request_base(signature_input).encode() == expected.encode()


def test_response_signature_base_is_byte_exact():
    base = signature_base(
        components=_components(B24_INPUT), headers=RESPONSE_HEADERS, status=RESPONSE_STATUS
    )
    assert base.encode() == B24_BASE.encode()


def test_signature_base_ignores_header_name_case():
    lower = {k.lower(): v for k, v in REQUEST_HEADERS.items()}
    assert _request_base(B23_INPUT, headers=lower) == B23_BASE


# --- Appendix B.2 signatures -------------------------------------------------------------


@pytest.mark.parametrize(
    ("signature_input", "signature"),
    [(B21_INPUT, B21_SIGNATURE), (B22_INPUT, B22_SIGNATURE), (B23_INPUT, B23_SIGNATURE)],
    ids=["B.2.1", "B.2.2", "B.2.3"],
)
def test_rsa_pss_sha512_vectors_verify(signature_input, signature):
    base = _request_base(signature_input).encode()
    verify_signature_bytes("rsa-pss-sha512", RSA_PSS_PUBLIC, base, _signature(signature))
    with pytest.raises(InvalidSignature):
        verify_signature_bytes("rsa-pss-sha512", RSA_PSS_PUBLIC, base + b" ", _signature(signature))
    with pytest.raises(InvalidSignature):  # PSS is not PKCS#1 v1.5
        verify_signature_bytes("rsa-v1_5-sha256", RSA_PSS_PUBLIC, base, _signature(signature))


def test_b24_ecdsa_p256_response_signature_verifies():
    base = B24_BASE.encode()
    verify_signature_bytes("ecdsa-p256-sha256", ECC_PUBLIC, base, _signature(B24_SIGNATURE))
    with pytest.raises(InvalidSignature):
        verify_signature_bytes(
            "ecdsa-p256-sha256", ECC_PUBLIC, base.replace(b"200", b"201"), _signature(B24_SIGNATURE)
        )
    with pytest.raises(InvalidSignature):  # not a raw 64-byte r||s
        verify_signature_bytes(
            "ecdsa-p256-sha256", ECC_PUBLIC, base, _signature(B24_SIGNATURE)[:63]
        )


def test_b25_hmac_base_matches_published_mac():
    """hmac-sha256 is not accepted by the verifier; this only checks the base (stdlib HMAC)."""
    secret = base64.b64decode(TEST_SHARED_SECRET)
    mac = hmac.new(secret, _request_base(B25_INPUT).encode(), hashlib.sha256).digest()
    assert mac == _signature(B25_SIGNATURE)
    with pytest.raises(UnsupportedAlgorithm):
        verify_signature_bytes("hmac-sha256", RSA_PSS_PUBLIC, b"", mac)


def test_b26_ed25519_verifies_and_is_reproduced_exactly():
    base = _request_base(B26_INPUT).encode()
    verify_signature_bytes("ed25519", ED_PRIVATE.public_key(), base, _signature(B26_SIGNATURE))
    assert sign_bytes(ED_PRIVATE, base) == _signature(B26_SIGNATURE)
    with pytest.raises(InvalidSignature):
        verify_signature_bytes(
            "ed25519",
            ED_PRIVATE.public_key(),
            base.replace(b"POST", b"PUT"),
            _signature(B26_SIGNATURE),
        )


def test_section_4_3_proxy_rsa_v1_5_sha256_verifies_and_is_reproduced():
    """RFC 9421 §4.3: a proxy's rsa-v1_5-sha256 signature with test-key-rsa."""
    base = _request_base(PROXY_INPUT, headers=PROXY_HEADERS, url=PROXY_URL).encode()
    assert base.startswith(b'"@method": POST\n"@authority": origin.host.internal.example\n')
    verify_signature_bytes(
        "rsa-v1_5-sha256", load_public_key(TEST_KEY_RSA_PUBLIC), base, _signature(PROXY_SIGNATURE)
    )
    assert sign_bytes(RSA_PRIVATE, base) == _signature(PROXY_SIGNATURE)


@pytest.mark.parametrize(
    ("algorithm", "key"),
    [
        ("rsa-v1_5-sha256", ED_PRIVATE.public_key()),
        ("rsa-pss-sha512", ECC_PUBLIC),
        ("ecdsa-p256-sha256", RSA_PSS_PUBLIC),
        ("ed25519", RSA_PSS_PUBLIC),
    ],
)
def test_key_type_must_fit_algorithm(algorithm, key):
    with pytest.raises(InvalidSignature):
        verify_signature_bytes(algorithm, key, b"data", b"\x00" * 64)


# --- derived components ------------------------------------------------------------------


def _value(identifier, url="https://www.example.com/path?param=value", method="GET", **headers):
    components = InnerList([parse_item(identifier)], {})
    base = signature_base(components=components, headers=headers, method=method, url=url)
    return base.split("\n", 1)[0].split(": ", 1)[1]


def test_derived_components_rfc9421_section_2_2():
    url = "https://www.example.com/path?param=value"
    assert _value('"@method"', method="POST") == "POST"
    assert _value('"@target-uri"', url) == "https://www.example.com/path?param=value"
    assert _value('"@authority"', "https://WWW.Example.com:443/") == "www.example.com"
    assert _value('"@authority"', "http://www.example.com:8080/") == "www.example.com:8080"
    assert _value('"@scheme"', "HTTP://www.example.com/") == "http"
    assert _value('"@request-target"', url) == "/path?param=value"
    assert _value('"@path"', "https://www.example.com") == "/"
    assert _value('"@query"', "https://www.example.com/path?queryString") == "?queryString"
    assert _value('"@query"', "https://www.example.com/path") == "?"


def test_query_param_encoding_rfc9421_section_2_2_8():
    url = (
        "https://example.com/parameters?var=this%20is%20a%20big%0Amultiline%20value"
        "&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something&empty="
    )
    assert _value('"@query-param";name="var"', url) == "this%20is%20a%20big%0Amultiline%20value"
    assert _value('"@query-param";name="bar"', url) == "with%20plus%20whitespace"
    assert _value('"@query-param";name="fa%C3%A7ade%22%3A%20"', url) == "something"
    assert _value('"@query-param";name="empty"', url) == ""


@pytest.mark.parametrize(
    "identifier",
    [
        '"@query-param";name="missing"',
        '"@query-param";name="a"',  # repeated parameter
        '"@status"',  # response-only
        '"@nonsense"',
        '"x-missing"',
        '"Content-Type"',  # identifiers are lower-case
        '"content-type";bs',  # unsupported parameter
        "content-type",  # a token, not a string
    ],
)
def test_underivable_components_are_refused(identifier):
    with pytest.raises(MalformedSignature):
        _value(identifier, "https://example.com/?a=1&a=2", **{"content-type": "text/plain"})


def test_dictionary_member_with_key_parameter():
    headers = {"Example-Dict": " a=1,    b=2;x=1;y=2,   c=(a   b   c), d"}
    assert _value('"example-dict";key="a"', **headers) == "1"
    assert _value('"example-dict";key="b"', **headers) == "2;x=1;y=2"
    assert _value('"example-dict";key="c"', **headers) == "(a b c)"
    assert _value('"example-dict";key="d"', **headers) == "?1"


def test_repeated_header_values_are_combined():
    assert _value('"cache-control"', **{"Cache-Control": "max-age=60,   must-revalidate "}) == (
        "max-age=60,   must-revalidate"
    )


def test_component_covered_twice_is_refused():
    components = _components('s=("@method" "@method");created=1')
    with pytest.raises(MalformedSignature):
        signature_base(components=components, headers={}, method="GET", url="https://a.example/")


def test_parse_target_rejects_relative_urls():
    with pytest.raises(ValueError):
        parse_target("/inbox")
    assert parse_target("https://user:pw@a.example/x#frag").target_uri == "https://a.example/x"


# --- structured fields (RFC 8941) ----------------------------------------------------------


def test_structured_field_round_trips():
    for text in (B21_INPUT, B22_INPUT, B23_INPUT, PROXY_INPUT, "a=?0, b, c;foo=bar"):
        assert serialize_dictionary(parse_dictionary(text)) == text


def test_structured_field_bare_item_types():
    parsed = parse_dictionary('i=-42, d=3.140, s="say \\"hi\\"\\\\", t=foo/bar:baz, b=:AQID:, f=?0')
    assert parsed["i"] == Item(-42)
    assert parsed["d"] == Item(3.14)
    assert parsed["s"] == Item('say "hi"\\')
    assert parsed["t"].value == "foo/bar:baz" and isinstance(parsed["t"].value, Token)
    assert parsed["b"] == Item(b"\x01\x02\x03")
    assert parsed["f"] == Item(False)
    assert serialize_item(parsed["s"]) == '"say \\"hi\\"\\\\"'
    assert serialize_item(parsed["d"]) == "3.14"
    assert parse_list("(a b);q=1, c") == [
        InnerList([Item(Token("a")), Item(Token("b"))], {"q": 1}),
        Item(Token("c")),
    ]


@pytest.mark.parametrize(
    "text",
    ["a=1,", "A=1", 'a="unterminated', 'a="bad\\escape"', "a=(1 2", "a=:not base64!:", "a=?2",
     "a=1 b=2", "a=1234567890123456", "a=1.2345"],
)
def test_structured_field_parse_errors(text):
    with pytest.raises(StructuredFieldError):
        parse_dictionary(text)


# --- sign_rfc9421 --------------------------------------------------------------------------

NOW = 1_700_000_000.0
KEY_ID = "https://social.example/users/alice#main-key"
INBOX = "https://remote.example/users/bob/inbox"
JSON_BODY = b'{"type":"Follow"}'


def test_sign_rfc9421_post_headers_like_mastodon_expects():
    headers = sign_rfc9421(
        method="POST",
        url=INBOX,
        headers={"Content-Type": "application/activity+json"},
        body=JSON_BODY,
        key_id=KEY_ID,
        private_key=RSA_PRIVATE,
        now=NOW,
    )
    assert headers["Content-Digest"] == content_digest_header(JSON_BODY)
    assert headers["Signature-Input"] == (
        'sig1=("@method" "@target-uri" "content-digest");created=1700000000'
        f';keyid="{KEY_ID}";alg="rsa-v1_5-sha256"'
    )
    expected_base = (
        '"@method": POST\n'
        f'"@target-uri": {INBOX}\n'
        f'"content-digest": {content_digest_header(JSON_BODY)}\n'
        '"@signature-params": ("@method" "@target-uri" "content-digest");created=1700000000'
        f';keyid="{KEY_ID}";alg="rsa-v1_5-sha256"'
    )
    assert _signature(headers["Signature"]) == sign_bytes(RSA_PRIVATE, expected_base.encode())


def test_sign_rfc9421_get_ed25519_with_label_and_nonce():
    headers = sign_rfc9421(
        method="get",
        url="https://remote.example/users/bob",
        headers={},
        body=None,
        key_id=KEY_ID,
        private_key=ED_PRIVATE,
        now=NOW,
        label="fedi",
        nonce="n0nce",
    )
    assert "Content-Digest" not in headers
    assert headers["Signature-Input"] == (
        f'fedi=("@method" "@target-uri");created=1700000000;keyid="{KEY_ID}";alg="ed25519"'
        ';nonce="n0nce"'
    )
    assert headers["Signature"].startswith("fedi=:")


@pytest.mark.parametrize("key", [RSA_PRIVATE, ED_PRIVATE], ids=["rsa", "ed25519"])
@pytest.mark.parametrize(
    ("method", "url", "body"),
    [("GET", "https://remote.example/users/bob?page=1", None), ("POST", INBOX, JSON_BODY)],
    ids=["get", "post"],
)
def test_round_trip(key, method, url, body):
    headers = sign_rfc9421(
        method=method, url=url, headers={}, body=body, key_id=KEY_ID, private_key=key, now=NOW
    )
    signed = parse_request_signature(
        method=method, url=url, headers=headers, body=body, now=NOW + 5
    )
    assert (signed.scheme, signed.key_id, signed.created) == ("rfc9421", KEY_ID, NOW)
    signed.verify(key.public_key())
