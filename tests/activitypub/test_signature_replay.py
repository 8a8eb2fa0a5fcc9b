"""Replaying a captured signed request: the holes an attacker found, each closed.

A draft-cavage signature covers only the headers it lists: ``algorithm``, ``created`` and
``expires`` are parameters beside the signature, not inside it.  So the time of a signature
is taken only from what the signature covers (``Date``, ``(created)``, ``(expires)``), every
covered ``Date`` is checked, and a covered ``Host`` must be the server's own.  The same rules
hold for RFC 9421.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from activitypub.algorithms import sign_bytes
from activitypub.errors import (
    InsufficientCoverage,
    InvalidSignature,
    SignatureExpired,
)
from activitypub.signatures import (
    cavage_signing_string,
    digest_header,
    http_date,
    normalize_headers,
    parse_target,
    sign_cavage,
    sign_rfc9421,
)
from activitypub.structured_fields import InnerList, Item, serialize_dictionary
from activitypub.verify import ResolvedKey, parse_request_signature, verify_request

NOW = 1_800_000_000.0
DAY = 86400.0
KEY_ID = "https://social.example/users/mallory#main-key"
OURS = "https://aid.example/inbox"
THEIRS = "https://other.example/inbox"
BODY = b'{"type":"Create","actor":"https://social.example/users/mallory"}'
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ED_KEY = ed25519.Ed25519PrivateKey.generate()


def _verify(headers, *, url=OURS, method="POST", body=BODY, now=NOW, key=RSA_KEY):
    async def resolve(key_id, refresh):
        return ResolvedKey(key_id=key_id, owner="https://social.example/users/mallory",
                           public_key=key.public_key())

    return asyncio.run(verify_request(method=method, url=url, headers=headers, body=body,
                                      resolve_key=resolve, now=now))


def _edit(signature: str, **params: str) -> str:
    """Change or add bare parameters of a cavage Signature header, as an attacker can."""
    for name, value in params.items():
        if re.search(rf'(^|,){name}=', signature):
            signature = re.sub(rf'(^|,){name}="?[^,"]*"?', rf'\g<1>{name}="{value}"', signature)
        else:
            signature += f',{name}={value}'
    return signature


# --- hole 1a: uncovered parameters do not move the time ------------------------------------


@pytest.mark.parametrize("age_days", [10, 30])
def test_old_rsa_sha256_request_rewritten_as_hs2019_with_fresh_created_is_refused(age_days):
    then = NOW - age_days * DAY
    captured = sign_cavage(method="POST", url=OURS, headers={}, body=BODY, key_id=KEY_ID,
                           private_key=RSA_KEY, now=then)
    _verify(captured, now=then)  # it was valid when it was sent
    replay = dict(captured)
    replay["Signature"] = _edit(captured["Signature"], algorithm="hs2019", created=str(int(NOW)))
    with pytest.raises(SignatureExpired):
        _verify(replay)


def test_uncovered_expires_does_not_extend_the_lifetime():
    then = NOW - 2 * 3600
    captured = sign_cavage(method="POST", url=OURS, headers={}, body=BODY, key_id=KEY_ID,
                           private_key=RSA_KEY, now=then)
    replay = dict(captured)
    replay["Signature"] = _edit(captured["Signature"], algorithm="hs2019",
                                created=str(int(then)), expires=str(int(NOW + 3600)))
    with pytest.raises(SignatureExpired):
        _verify(replay)


def _cavage_by_hand(covered, *, now, created=None, expires=None, date=None, host=None,
                    url=OURS, method="POST", key=ED_KEY):
    """A hs2019 signature over exactly ``covered``, with the parameters given."""
    target = parse_target(url)
    headers = {"Host": host or target.authority, "Date": date or http_date(now),
               "Digest": digest_header(BODY)}
    text = cavage_signing_string(method=method, request_target=target.request_target,
                                 headers=normalize_headers(headers), covered=covered,
                                 created=created, expires=expires)
    import base64

    sig = base64.b64encode(sign_bytes(key, text.encode())).decode()
    params = f'keyId="{KEY_ID}",algorithm="hs2019",headers="{" ".join(covered)}"'
    if created is not None:
        params += f",created={created}"
    if expires is not None:
        params += f",expires={expires}"
    headers["Signature"] = params + f',signature="{sig}"'
    return headers


def test_a_covered_date_is_always_checked_even_beside_a_fresh_created():
    covered = ["(request-target)", "host", "date", "digest", "(created)"]
    old = http_date(NOW - 20 * DAY)
    headers = _cavage_by_hand(covered, now=NOW, created=int(NOW), date=old)
    with pytest.raises(SignatureExpired):
        _verify(headers, key=ED_KEY)
    fresh = _cavage_by_hand(covered, now=NOW, created=int(NOW))
    _verify(fresh, key=ED_KEY)


def test_covered_created_and_expires_are_honoured():
    covered = ["(request-target)", "host", "digest", "(created)", "(expires)"]
    headers = _cavage_by_hand(covered, now=NOW, created=int(NOW - 3 * 3600),
                              expires=int(NOW + 60), date=http_date(NOW - 20 * DAY))
    _verify(headers, key=ED_KEY)  # Date is not covered, so it is not read
    stale = _cavage_by_hand(covered, now=NOW, created=int(NOW - 3 * 3600),
                            expires=int(NOW - 3 * 3600 + 60))
    with pytest.raises(SignatureExpired):
        _verify(stale, key=ED_KEY)


def test_uncovered_created_is_ignored_and_the_covered_date_decides():
    covered = ["(request-target)", "host", "date", "digest"]
    headers = _cavage_by_hand(covered, now=NOW - 10 * DAY, created=int(NOW))
    with pytest.raises(SignatureExpired):
        _verify(headers, key=ED_KEY)


# --- hole 1b: the host a signature covers must be ours -------------------------------------


def test_cavage_request_signed_for_another_server_is_refused():
    signed = sign_cavage(method="POST", url=THEIRS, headers={}, body=BODY, key_id=KEY_ID,
                         private_key=RSA_KEY, now=NOW)
    _verify(signed, url=THEIRS)
    with pytest.raises(InvalidSignature, match="another host"):
        _verify(signed, url=OURS)


def test_cavage_get_signed_for_another_server_is_refused():
    url_theirs, url_ours = "https://other.example/posts/1", "https://aid.example/posts/1"
    signed = sign_cavage(method="GET", url=url_theirs, headers={}, body=None, key_id=KEY_ID,
                         private_key=RSA_KEY, now=NOW)
    _verify(signed, url=url_theirs, method="GET", body=None)
    with pytest.raises(InvalidSignature, match="another host"):
        _verify(signed, url=url_ours, method="GET", body=None)


def test_host_comparison_ignores_case_and_default_port():
    signed = sign_cavage(method="POST", url=OURS, headers={}, body=BODY, key_id=KEY_ID,
                         private_key=RSA_KEY, now=NOW)
    _verify(signed, url="https://AID.example:443/inbox")


def test_cavage_must_cover_host():
    covered = ["(request-target)", "date", "digest"]
    headers = _cavage_by_hand(covered, now=NOW)
    with pytest.raises(InsufficientCoverage):
        _verify(headers, key=ED_KEY)


def test_get_must_cover_the_request_target():
    covered = ["host", "date", "digest"]
    headers = _cavage_by_hand(covered, now=NOW, method="GET", url="https://aid.example/p/1")
    with pytest.raises(InsufficientCoverage):
        parse_request_signature(method="GET", url="https://aid.example/p/1", headers=headers,
                                body=BODY, now=NOW)


def test_rfc9421_request_signed_for_another_server_is_refused():
    signed = sign_rfc9421(method="POST", url=THEIRS, headers={}, body=BODY, key_id=KEY_ID,
                          private_key=ED_KEY, now=NOW)
    _verify(signed, url=THEIRS, key=ED_KEY)
    with pytest.raises(InvalidSignature):
        _verify(signed, url=OURS, key=ED_KEY)


def _rfc9421_by_hand(covered, extra, *, now, created, url=OURS):
    from activitypub.signatures import content_digest_header, signature_base

    headers = {"Content-Digest": content_digest_header(BODY), **extra}
    components = InnerList([Item(c) for c in covered], {"created": created, "keyid": KEY_ID})
    base = signature_base(components=components, headers=normalize_headers(headers),
                          method="POST", url=url)
    from activitypub.structured_fields import serialize_bare_item

    headers["Signature-Input"] = serialize_dictionary({"sig1": components})
    headers["Signature"] = "sig1=" + serialize_bare_item(sign_bytes(ED_KEY, base.encode()))
    return headers


def test_rfc9421_covered_host_header_must_be_ours():
    covered = ["@method", "@target-uri", "content-digest", "host"]
    headers = _rfc9421_by_hand(covered, {"Host": "other.example"}, now=NOW, created=int(NOW))
    with pytest.raises(InvalidSignature, match="another host"):
        _verify(headers, key=ED_KEY)
    good = _rfc9421_by_hand(covered, {"Host": "aid.example"}, now=NOW, created=int(NOW))
    _verify(good, key=ED_KEY)


def test_rfc9421_covered_date_is_checked():
    covered = ["@method", "@target-uri", "content-digest", "date"]
    headers = _rfc9421_by_hand(covered, {"Date": http_date(NOW - 20 * DAY)}, now=NOW,
                               created=int(NOW))
    with pytest.raises(SignatureExpired):
        _verify(headers, key=ED_KEY)
