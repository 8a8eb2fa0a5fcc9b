"""draft-cavage-http-signatures-12: appendix vectors, signing, and Mastodon's policy.

Two kinds of tests use the draft's appendix C vectors:

* the *crypto path* (``test_appendix_*_crypto``): the printed signing strings are
  rebuilt with ``cavage_signing_string`` and the printed signatures verified
  with the test public key -- no policy involved;
* the *policy path* (``test_appendix_*_policy``): the same requests through
  ``parse_request_signature``, which applies Mastodon's rules; the Default and
  Basic tests are (correctly) refused there, the All Headers test passes.
"""

import base64
import re

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from activitypub.algorithms import sign_bytes, verify_signature_bytes
from activitypub.errors import (
    DigestMismatch,
    InsufficientCoverage,
    InvalidSignature,
    MalformedSignature,
    MissingSignature,
    SignatureExpired,
    UnsupportedAlgorithm,
)
from activitypub.keys import load_private_key, load_public_key
from activitypub.signatures import (
    cavage_signing_string,
    content_digest_header,
    digest_header,
    http_date,
    normalize_headers,
    sign_cavage,
)
from activitypub.verify import parse_request_signature

# --- draft-cavage-http-signatures-12, Appendix C ----------------------------------------
# The "Test" key (the draft calls it 2048-bit; it is a 1024-bit RSA key).
CAVAGE_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCFENGw33yGihy92pDjZQhl0C3
6rPJj+CvfSC8+q28hxA161QFNUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6
Z4UMR7EOcpfdUE9Hf3m/hs+FUR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJw
oYi+1hqp1fIekaxsyQIDAQAB
-----END PUBLIC KEY-----
"""
CAVAGE_URL = "http://example.com/foo?param=value&pet=dog"
CAVAGE_HEADERS = {
    "Host": "example.com",
    "Date": "Sun, 05 Jan 2014 21:31:40 GMT",
    "Content-Type": "application/json",
    "Digest": "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=",
    "Content-Length": "18",
}
CAVAGE_BODY = b'{"hello": "world"}'
CAVAGE_NOW = 1388957500.0  # the request's Date

DEFAULT_SIGNATURE = (
    'keyId="Test",algorithm="rsa-sha256",signature="SjWJWbWN7i0wzBvtPl8rbASWz5xQW6mcJmn+ibttBqtifLN7'
    "Sazz6m79cNfwwb8DMJ5cou1s7uEGKKCs+FLEEaDV5lp7q25WqS+lavg7T8hc0GppauB6hbgEKTwblDHYGEtbGmtdHgVCk9"
    'SuS13F0hZ8FD0k/5OxEPXe5WozsbM="'
)
BASIC_SIGNATURE = (
    'keyId="Test",algorithm="rsa-sha256",headers="(request-target) host date", '
    'signature="qdx+H7PHHD'
    "Zgy4y/Ahn9Tny9V3GP6YgBPyUXMmoxWtLbHpUnXS2mg2+SbrQDMCJypxBLSPQR2aAjn7ndmw2iicw3HMbe8VfEdKFYRqzic"
    '+efkb3nndiv/x1xSHDJWeSWkx3ButlYSuBskLu6kd9Fswtemr3lgdDEmn04swr2Os0="'
)
ALL_HEADERS_SIGNATURE = (
    'keyId="Test",algorithm="rsa-sha256",headers="(request-target) host date content-type digest '
    'content-length",signature="vSdrb+dS3EceC9bcwHSo4MlyKS59iFIrhgYkz8+oVLEEzmYZZvRs8rgOp+63LEM3v+M'
    "FHB32NfpB2bEKBIvB1q52LaEUHFv120V01IL+TAD48XaERZFukWgHoBTLMhYS2Gb51gWxpeIq8knRmPnYePbF5MOkR0Zkl"
    'y4zKH7s1dE="'
)
BASIC_STRING = (
    "(request-target): post /foo?param=value&pet=dog\nhost: example.com\n"
    "date: Sun, 05 Jan 2014 21:31:40 GMT"
)
ALL_HEADERS_STRING = (
    BASIC_STRING + "\ncontent-type: application/json\n"
    "digest: SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=\ncontent-length: 18"
)

# Signing keys for our own requests: the RFC 9421 test keys are fast to load.
RSA_PRIVATE_PEM = """-----BEGIN RSA PRIVATE KEY-----
MIIEqAIBAAKCAQEAhAKYdtoeoy8zcAcR874L8cnZxKzAGwd7v36APp7Pv6Q2jdsP
BRrwWEBnez6d0UDKDwGbc6nxfEXAy5mbhgajzrw3MOEt8uA5txSKobBpKDeBLOsd
JKFqMGmXCQvEG7YemcxDTRPxAleIAgYYRjTSd/QBwVW9OwNFhekro3RtlinV0a75
jfZgkne/YiktSvLG34lw2zqXBDTC5NHROUqGTlML4PlNZS5Ri2U4aCNx2rUPRcKI
lE0PuKxI4T+HIaFpv8+rdV6eUgOrB2xeI1dSFFn/nnv5OoZJEIB+VmuKn3DCUcCZ
SFlQPSXSfBDiUGhwOw76WuSSsf1D4b/vLoJ10wIDAQABAoIBAG/JZuSWdoVHbi56
vjgCgkjg3lkO1KrO3nrdm6nrgA9P9qaPjxuKoWaKO1cBQlE1pSWp/cKncYgD5WxE
CpAnRUXG2pG4zdkzCYzAh1i+c34L6oZoHsirK6oNcEnHveydfzJL5934egm6p8DW
+m1RQ70yUt4uRc0YSor+q1LGJvGQHReF0WmJBZHrhz5e63Pq7lE0gIwuBqL8SMaA
yRXtK+JGxZpImTq+NHvEWWCu09SCq0r838ceQI55SvzmTkwqtC+8AT2zFviMZkKR
Qo6SPsrqItxZWRty2izawTF0Bf5S2VAx7O+6t3wBsQ1sLptoSgX3QblELY5asI0J
YFz7LJECgYkAsqeUJmqXE3LP8tYoIjMIAKiTm9o6psPlc8CrLI9CH0UbuaA2JCOM
cCNq8SyYbTqgnWlB9ZfcAm/cFpA8tYci9m5vYK8HNxQr+8FS3Qo8N9RJ8d0U5Csw
DzMYfRghAfUGwmlWj5hp1pQzAuhwbOXFtxKHVsMPhz1IBtF9Y8jvgqgYHLbmyiu1
mwJ5AL0pYF0G7x81prlARURwHo0Yf52kEw1dxpx+JXER7hQRWQki5/NsUEtv+8RT
qn2m6qte5DXLyn83b1qRscSdnCCwKtKWUug5q2ZbwVOCJCtmRwmnP131lWRYfj67
B/xJ1ZA6X3GEf4sNReNAtaucPEelgR2nsN0gKQKBiGoqHWbK1qYvBxX2X3kbPDkv
9C+celgZd2PW7aGYLCHq7nPbmfDV0yHcWjOhXZ8jRMjmANVR/eLQ2EfsRLdW69bn
f3ZD7JS1fwGnO3exGmHO3HZG+6AvberKYVYNHahNFEw5TsAcQWDLRpkGybBcxqZo
81YCqlqidwfeO5YtlO7etx1xLyqa2NsCeG9A86UjG+aeNnXEIDk1PDK+EuiThIUa
/2IxKzJKWl1BKr2d4xAfR0ZnEYuRrbeDQYgTImOlfW6/GuYIxKYgEKCFHFqJATAG
IxHrq1PDOiSwXd2GmVVYyEmhZnbcp8CxaEMQoevxAta0ssMK3w6UsDtvUvYvF22m
qQKBiD5GwESzsFPy3Ga0MvZpn3D6EJQLgsnrtUPZx+z2Ep2x0xc5orneB5fGyF1P
WtP+fG5Q6Dpdz3LRfm+KwBCWFKQjg7uTxcjerhBWEYPmEMKYwTJF5PBG9/ddvHLQ
EQeNC8fHGg4UXU8mhHnSBt3EA10qQJfRDs15M38eG2cYwB1PZpDHScDnDA0=
-----END RSA PRIVATE KEY-----
"""
ED25519_PRIVATE_PEM = """-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----
"""
RSA_KEY = load_private_key(RSA_PRIVATE_PEM)
ED_KEY = load_private_key(ED25519_PRIVATE_PEM)
assert isinstance(RSA_KEY, rsa.RSAPrivateKey)
assert isinstance(ED_KEY, ed25519.Ed25519PrivateKey)

NOW = 1_700_000_000.0
KEY_ID = "https://social.example/users/alice#main-key"
INBOX = "https://remote.example/users/bob/inbox"
JSON_BODY = b'{"type":"Create","actor":"https://social.example/users/alice"}'
AP_JSON = {"Content-Type": "application/activity+json"}


def _sign(method, url, body, key=RSA_KEY, headers=None, now=NOW):
    base = dict(AP_JSON if body is not None and headers is None else headers or {})
    added = sign_cavage(
        method=method, url=url, headers=base, body=body, key_id=KEY_ID, private_key=key, now=now
    )
    return {**base, **added}


def _parse(method, url, headers, body, now=NOW):
    return parse_request_signature(method=method, url=url, headers=headers, body=body, now=now)


def _params(signature_header):
    return dict(re.findall(r'(\w+)="([^"]*)"', signature_header))


def _with_signature(request_headers, /, **changes):
    """Re-assemble a Signature header with some parameters changed (None drops one)."""
    params = _params(request_headers["Signature"])
    params.update(changes)
    value = ",".join(f'{k}="{v}"' for k, v in params.items() if v is not None)
    return {**request_headers, "Signature": value}


# --- helpers ---------------------------------------------------------------------------


def test_http_date_is_imf_fixdate():
    assert http_date(CAVAGE_NOW) == "Sun, 05 Jan 2014 21:31:40 GMT"
    assert http_date(1618884475) == "Tue, 20 Apr 2021 02:07:55 GMT"
    assert http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"


def test_digest_headers_match_the_drafts_example_value():
    # draft-cavage-12 appendix C's Digest header is SHA-256 of the example body.
    assert digest_header(CAVAGE_BODY) == CAVAGE_HEADERS["Digest"]
    assert content_digest_header(CAVAGE_BODY) == (
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    )


def test_normalize_headers_lowercases_trims_and_joins():
    normalised = normalize_headers({"X-A": " 1 ", "x-a": "2", "Host": "h"})
    assert normalised == {"x-a": "1, 2", "host": "h"}


# --- appendix C: crypto path -------------------------------------------------------------


def _cavage_signing_string(covered, target="/foo?param=value&pet=dog"):
    return cavage_signing_string(
        method="POST",
        request_target=target,
        headers=normalize_headers(CAVAGE_HEADERS),
        covered=covered,
    )


def _signature_of(header):
    return base64.b64decode(_params(header)["signature"])


def test_appendix_default_test_crypto():
    signing_string = _cavage_signing_string(["date"])
    assert signing_string == "date: Sun, 05 Jan 2014 21:31:40 GMT"
    verify_signature_bytes(
        "rsa-v1_5-sha256",
        load_public_key(CAVAGE_PUBLIC_KEY),
        signing_string.encode(),
        _signature_of(DEFAULT_SIGNATURE),
    )


def test_appendix_basic_test_crypto():
    signing_string = _cavage_signing_string(["(request-target)", "host", "date"])
    assert signing_string == BASIC_STRING
    verify_signature_bytes(
        "rsa-v1_5-sha256",
        load_public_key(CAVAGE_PUBLIC_KEY),
        signing_string.encode(),
        _signature_of(BASIC_SIGNATURE),
    )


def test_appendix_all_headers_test_crypto():
    covered = "(request-target) host date content-type digest content-length".split()
    signing_string = _cavage_signing_string(covered)
    assert signing_string == ALL_HEADERS_STRING
    key = load_public_key(CAVAGE_PUBLIC_KEY)
    verify_signature_bytes(
        "rsa-v1_5-sha256", key, signing_string.encode(), _signature_of(ALL_HEADERS_SIGNATURE)
    )
    with pytest.raises(InvalidSignature):
        verify_signature_bytes(
            "rsa-v1_5-sha256",
            key,
            signing_string.replace("pet=dog", "pet=cat").encode(),
            _signature_of(ALL_HEADERS_SIGNATURE),
        )


# --- appendix C: policy path -------------------------------------------------------------


def test_appendix_default_test_policy_refused_for_lack_of_request_target():
    headers = {**CAVAGE_HEADERS, "Signature": DEFAULT_SIGNATURE}
    with pytest.raises(InsufficientCoverage):
        _parse("POST", CAVAGE_URL, headers, CAVAGE_BODY, now=CAVAGE_NOW)


def test_appendix_basic_test_policy_refused_for_post_without_digest():
    headers = {**CAVAGE_HEADERS, "Signature": BASIC_SIGNATURE}
    with pytest.raises(InsufficientCoverage):
        _parse("POST", CAVAGE_URL, headers, CAVAGE_BODY, now=CAVAGE_NOW)


def test_appendix_all_headers_test_policy_accepted_and_verified():
    headers = {**CAVAGE_HEADERS, "Signature": ALL_HEADERS_SIGNATURE}
    signed = _parse("POST", CAVAGE_URL, headers, CAVAGE_BODY, now=CAVAGE_NOW)
    assert (signed.scheme, signed.key_id, signed.algorithm) == ("cavage", "Test", "rsa-sha256")
    assert signed.created == CAVAGE_NOW
    signed.verify(load_public_key(CAVAGE_PUBLIC_KEY))
    # The same request an hour and a bit later is stale.
    with pytest.raises(SignatureExpired):
        _parse("POST", CAVAGE_URL, headers, CAVAGE_BODY, now=CAVAGE_NOW + 3600 + 301)


# --- sign_cavage: what Mastodon sends ----------------------------------------------------


def test_sign_cavage_post_headers_like_mastodon():
    headers = _sign("POST", INBOX, JSON_BODY)
    assert headers["Host"] == "remote.example"
    assert headers["Date"] == http_date(NOW)
    assert headers["Digest"] == digest_header(JSON_BODY)
    assert re.fullmatch(
        r'keyId="https://social\.example/users/alice#main-key",algorithm="rsa-sha256",'
        r'headers="\(request-target\) host date digest content-type",signature="[A-Za-z0-9+/=]+"',
        headers["Signature"],
    )
    # PKCS#1 v1.5 is deterministic: recompute the signature independently.
    expected_string = (
        "(request-target): post /users/bob/inbox\nhost: remote.example\n"
        f"date: {http_date(NOW)}\ndigest: {digest_header(JSON_BODY)}\n"
        "content-type: application/activity+json"
    )
    verify_signature_bytes(
        "rsa-v1_5-sha256",
        RSA_KEY.public_key(),
        expected_string.encode(),
        _signature_of(headers["Signature"]),
    )


def test_sign_cavage_post_without_content_type_omits_it():
    headers = _sign("POST", INBOX, JSON_BODY, headers={})
    assert _params(headers["Signature"])["headers"] == "(request-target) host date digest"


def test_sign_cavage_get_headers_like_mastodon():
    headers = _sign("GET", "https://remote.example/users/bob?page=1", None)
    assert "Digest" not in headers
    assert _params(headers["Signature"])["headers"] == "(request-target) host date"


def test_sign_cavage_host_keeps_only_non_default_ports():
    assert _sign("GET", "https://remote.example:8443/x", None)["Host"] == "remote.example:8443"
    assert _sign("GET", "https://remote.example:443/x", None)["Host"] == "remote.example"
    assert _sign("GET", "http://remote.example:80/x", None)["Host"] == "remote.example"
    assert _sign("GET", "http://[2001:db8::1]:8080/x", None)["Host"] == "[2001:db8::1]:8080"


def test_sign_cavage_ed25519_uses_hs2019():
    headers = _sign("POST", INBOX, JSON_BODY, key=ED_KEY)
    assert _params(headers["Signature"])["algorithm"] == "hs2019"


# --- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("key", [RSA_KEY, ED_KEY], ids=["rsa", "ed25519"])
@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "https://remote.example/users/bob?page=true&min_id=1", None),
        ("POST", INBOX, JSON_BODY),
        ("POST", "http://remote.example:8080/inbox", b""),
    ],
    ids=["get", "post", "post-empty-port"],
)
def test_round_trip(key, method, url, body):
    headers = _sign(method, url, body, key=key)
    signed = _parse(method, url, headers, body, now=NOW + 30)
    assert signed.scheme == "cavage"
    assert signed.key_id == KEY_ID
    assert signed.created == NOW
    signed.verify(key.public_key())


def test_headers_are_case_insensitive():
    headers = {k.upper(): v for k, v in _sign("POST", INBOX, JSON_BODY).items()}
    _parse("POST", INBOX, headers, JSON_BODY).verify(RSA_KEY.public_key())


def test_request_target_without_query_is_accepted_for_compatibility():
    """Some implementations sign ``(request-target)`` without the query string."""
    url = "https://remote.example/users/bob/outbox?page=true"
    headers = _sign("GET", "https://remote.example/users/bob/outbox", None)
    signed = _parse("GET", url, headers, None)
    assert len(signed.signed_data) == 2
    signed.verify(RSA_KEY.public_key())
    # ...but a different query is not an alternative to the signed one.
    headers = _sign("GET", "https://remote.example/users/bob/outbox?page=false", None)
    with pytest.raises(InvalidSignature):
        _parse("GET", url, headers, None).verify(RSA_KEY.public_key())


def test_hs2019_with_created_pseudo_header():
    url = "https://remote.example/users/bob"
    created = int(NOW)
    signing_string = (
        f"(request-target): get /users/bob\n(created): {created}\nhost: remote.example"
    )
    signature = base64.b64encode(ED_KEY.sign(signing_string.encode())).decode()
    headers = {
        "Host": "remote.example",
        "Signature": f'keyId="{KEY_ID}",algorithm="hs2019",created={created},'
        f'headers="(request-target) (created) host",signature="{signature}"',
    }
    signed = _parse("GET", url, headers, None, now=NOW + 10)
    assert signed.created == NOW
    signed.verify(ED_KEY.public_key())


# --- policy failures ---------------------------------------------------------------------


def test_missing_signature():
    with pytest.raises(MissingSignature):
        _parse("GET", INBOX, {"Host": "remote.example"}, None)


@pytest.mark.parametrize("algorithm", ["rsa-sha512", "hmac-sha256", "ed25519"])
def test_unsupported_algorithm(algorithm):
    headers = _with_signature(_sign("POST", INBOX, JSON_BODY), algorithm=algorithm)
    with pytest.raises(UnsupportedAlgorithm):
        _parse("POST", INBOX, headers, JSON_BODY)


def test_absent_algorithm_means_hs2019_and_accepts_rsa():
    headers = _with_signature(_sign("POST", INBOX, JSON_BODY), algorithm=None)
    signed = _parse("POST", INBOX, headers, JSON_BODY)
    assert signed.algorithm == "hs2019"
    signed.verify(RSA_KEY.public_key())


@pytest.mark.parametrize("dropped", ["keyId", "signature"])
def test_missing_key_id_or_signature(dropped):
    headers = _with_signature(_sign("POST", INBOX, JSON_BODY), **{dropped: None})
    with pytest.raises(MalformedSignature):
        _parse("POST", INBOX, headers, JSON_BODY)


@pytest.mark.parametrize(
    "value",
    [
        'keyId="a",signature',
        'keyId="a,signature="x"',
        'keyId="a" signature="x"',
        'keyId="a",keyId="b"',
    ],
)
def test_unparseable_signature_header(value):
    with pytest.raises(MalformedSignature):
        _parse("GET", INBOX, {"Signature": value}, None)


def test_created_pseudo_header_needs_hs2019():
    headers = _with_signature(
        _sign("GET", INBOX, None), headers="(request-target) host (created)"
    )
    with pytest.raises(MalformedSignature):
        _parse("GET", INBOX, headers, None)


def test_post_must_cover_digest():
    headers = _with_signature(_sign("POST", INBOX, JSON_BODY), headers="(request-target) host date")
    with pytest.raises(InsufficientCoverage):
        _parse("POST", INBOX, headers, JSON_BODY)


def test_get_must_cover_host():
    headers = _with_signature(_sign("GET", INBOX, None), headers="(request-target) date")
    with pytest.raises(InsufficientCoverage):
        _parse("GET", INBOX, headers, None)


def test_must_cover_date_or_created():
    headers = _with_signature(_sign("GET", INBOX, None), headers="(request-target) host")
    with pytest.raises(InsufficientCoverage):
        _parse("GET", INBOX, headers, None)


def test_must_cover_request_target_or_digest():
    headers = _with_signature(_sign("GET", INBOX, None), headers="host date")
    with pytest.raises(InsufficientCoverage):
        _parse("GET", INBOX, headers, None)


def test_digest_mismatch_on_tampered_body():
    headers = _sign("POST", INBOX, JSON_BODY)
    with pytest.raises(DigestMismatch):
        _parse("POST", INBOX, headers, JSON_BODY.replace(b"Create", b"Delete"))


def test_digest_must_offer_sha256():
    headers = {**_sign("POST", INBOX, JSON_BODY), "Digest": "SHA-512=" + "A" * 88}
    with pytest.raises(DigestMismatch):
        _parse("POST", INBOX, headers, JSON_BODY)
    headers = {k: v for k, v in _sign("POST", INBOX, JSON_BODY).items() if k != "Digest"}
    with pytest.raises(DigestMismatch):
        _parse("POST", INBOX, headers, JSON_BODY)


def test_digest_with_several_algorithms_checks_sha256_case_insensitively():
    sha256 = digest_header(JSON_BODY).split("=", 1)[1]
    headers = {
        "Host": "remote.example",
        "Date": http_date(NOW),
        "Digest": f"MD5=abc, sha-256={sha256}",
    }
    covered = ["(request-target)", "host", "date", "digest"]
    signing_string = cavage_signing_string(
        method="POST",
        request_target="/users/bob/inbox",
        headers=normalize_headers(headers),
        covered=covered,
    )
    signature = base64.b64encode(sign_bytes(RSA_KEY, signing_string.encode())).decode()
    headers["Signature"] = (
        f'keyId="{KEY_ID}",algorithm="rsa-sha256",headers="{" ".join(covered)}",'
        f'signature="{signature}"'
    )
    _parse("POST", INBOX, headers, JSON_BODY).verify(RSA_KEY.public_key())
    with pytest.raises(DigestMismatch):
        _parse("POST", INBOX, headers, JSON_BODY + b" ")


def test_date_70_minutes_old_is_expired():
    headers = _sign("POST", INBOX, JSON_BODY, now=NOW - 70 * 60)
    with pytest.raises(SignatureExpired):
        _parse("POST", INBOX, headers, JSON_BODY)


def test_date_60_minutes_old_is_still_accepted():
    headers = _sign("POST", INBOX, JSON_BODY, now=NOW - 60 * 60)
    _parse("POST", INBOX, headers, JSON_BODY).verify(RSA_KEY.public_key())


def test_date_two_hours_in_the_future_is_refused():
    headers = _sign("POST", INBOX, JSON_BODY, now=NOW + 2 * 3600)
    with pytest.raises(SignatureExpired):
        _parse("POST", INBOX, headers, JSON_BODY)


def test_unparseable_date_is_malformed():
    headers = {**_sign("GET", INBOX, None), "Date": "yesterday"}
    with pytest.raises(MalformedSignature):
        _parse("GET", INBOX, headers, None)


def test_tampered_signature_is_invalid():
    headers = _sign("POST", INBOX, JSON_BODY)
    raw = bytearray(_signature_of(headers["Signature"]))
    raw[10] ^= 0x01
    headers = _with_signature(headers, signature=base64.b64encode(bytes(raw)).decode())
    with pytest.raises(InvalidSignature):
        _parse("POST", INBOX, headers, JSON_BODY).verify(RSA_KEY.public_key())


def test_tampered_covered_header_is_invalid():
    headers = {**_sign("POST", INBOX, JSON_BODY), "Content-Type": "text/html"}
    with pytest.raises(InvalidSignature):
        _parse("POST", INBOX, headers, JSON_BODY).verify(RSA_KEY.public_key())


def test_wrong_key_type_is_invalid():
    rsa_signed = _parse("POST", INBOX, _sign("POST", INBOX, JSON_BODY), JSON_BODY)
    with pytest.raises(InvalidSignature):
        rsa_signed.verify(ED_KEY.public_key())  # rsa-sha256 with an Ed25519 key
    ed_signed = _parse("POST", INBOX, _sign("POST", INBOX, JSON_BODY, key=ED_KEY), JSON_BODY)
    with pytest.raises(InvalidSignature):
        ed_signed.verify(RSA_KEY.public_key())  # hs2019 over Ed25519, checked with RSA


def test_wrong_key_is_invalid():
    signed = _parse("POST", INBOX, _sign("POST", INBOX, JSON_BODY), JSON_BODY)
    with pytest.raises(InvalidSignature):
        signed.verify(load_public_key(CAVAGE_PUBLIC_KEY))


def test_covered_header_absent_is_malformed():
    headers = _with_signature(
        _sign("POST", INBOX, JSON_BODY), headers="(request-target) host date digest x-missing"
    )
    with pytest.raises(MalformedSignature):
        _parse("POST", INBOX, headers, JSON_BODY)
