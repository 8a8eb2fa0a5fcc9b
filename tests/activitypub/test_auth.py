"""HttpSignatureAuth against an in-process server (httpx.MockTransport, no network).

The handler plays the remote server: it runs this package's own verifier on
what it receives, exactly as our inbox would.
"""

import asyncio

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from activitypub.auth import HttpSignatureAuth
from activitypub.errors import SignatureError
from activitypub.verify import parse_request_signature

NOW = 1_700_000_000.0
KEY_ID = "https://social.example/users/alice#main-key"
INBOX = "https://remote.example/users/bob/inbox"
BODY = b'{"type":"Announce"}'
KEY = ed25519.Ed25519PrivateKey.generate()


class Server:
    """Verifies every request; refuses the schemes in ``refuse`` with 401."""

    def __init__(self, refuse=()):
        self.refuse = set(refuse)
        self.seen = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        try:
            signed = parse_request_signature(
                method=request.method,
                url=str(request.url),
                headers=dict(request.headers.items()),
                body=request.content,
                now=NOW + 1,
            )
            signed.verify(KEY.public_key())
        except SignatureError as exc:
            self.seen.append(("invalid", exc.reason))
            return httpx.Response(401, text=exc.reason)
        self.seen.append((signed.scheme, signed.key_id))
        if signed.scheme in self.refuse:
            return httpx.Response(401, text="scheme not accepted")
        return httpx.Response(202 if request.method == "POST" else 200)


def _auth(**kwargs):
    return HttpSignatureAuth(key_id=KEY_ID, private_key=KEY, clock=lambda: NOW, **kwargs)


@pytest.mark.parametrize("scheme", ["cavage", "rfc9421"])
def test_post_is_signed_verifiably(scheme):
    server = Server()
    with httpx.Client(transport=httpx.MockTransport(server), auth=_auth(scheme=scheme)) as client:
        response = client.post(
            INBOX, content=BODY, headers={"Content-Type": "application/activity+json"}
        )
    assert response.status_code == 202
    assert server.seen == [(scheme, KEY_ID)]


def test_get_with_query_is_signed_verifiably():
    server = Server()
    with httpx.Client(transport=httpx.MockTransport(server), auth=_auth()) as client:
        response = client.get("https://remote.example:8443/users/bob/outbox?page=true")
    assert response.status_code == 200
    assert server.seen == [("cavage", KEY_ID)]


def test_cavage_request_carries_mastodon_headers():
    captured = []

    def handler(request):
        captured.append(request)
        return httpx.Response(202)

    with httpx.Client(transport=httpx.MockTransport(handler), auth=_auth()) as client:
        client.post(INBOX, content=BODY, headers={"Content-Type": "application/activity+json"})
    (request,) = captured
    assert request.headers["Host"] == "remote.example"
    assert request.headers["Date"] == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert request.headers["Digest"].startswith("SHA-256=")
    covered = 'headers="(request-target) host date digest content-type"'
    assert covered in request.headers["Signature"]
    assert request.content == BODY


def test_double_knock_retries_once_with_rfc9421_after_401():
    server = Server(refuse={"cavage"})
    transport = httpx.MockTransport(server)
    with httpx.Client(transport=transport, auth=_auth(double_knock=True)) as client:
        response = client.post(INBOX, content=BODY)
    assert response.status_code == 202
    assert server.seen == [("cavage", KEY_ID), ("rfc9421", KEY_ID)]
    assert len(response.history) == 1 and response.history[0].status_code == 401


def test_double_knock_from_rfc9421_falls_back_to_cavage():
    server = Server(refuse={"rfc9421"})
    auth = _auth(scheme="rfc9421", double_knock=True)
    with httpx.Client(transport=httpx.MockTransport(server), auth=auth) as client:
        assert client.post(INBOX, content=BODY).status_code == 202
    assert server.seen == [("rfc9421", KEY_ID), ("cavage", KEY_ID)]


def test_double_knock_gives_up_after_one_retry():
    server = Server(refuse={"cavage", "rfc9421"})
    with httpx.Client(
        transport=httpx.MockTransport(server), auth=_auth(double_knock=True)
    ) as client:
        assert client.post(INBOX, content=BODY).status_code == 401
    assert [scheme for scheme, _ in server.seen] == ["cavage", "rfc9421"]


def test_without_double_knock_a_401_is_returned_as_is():
    server = Server(refuse={"cavage"})
    with httpx.Client(transport=httpx.MockTransport(server), auth=_auth()) as client:
        assert client.post(INBOX, content=BODY).status_code == 401
    assert len(server.seen) == 1


def test_async_client_with_double_knock():
    server = Server(refuse={"cavage"})

    async def main():
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(server), auth=_auth(double_knock=True)
        ) as client:
            return await client.post(INBOX, content=BODY)

    assert asyncio.run(main()).status_code == 202
    assert server.seen == [("cavage", KEY_ID), ("rfc9421", KEY_ID)]


def test_clock_is_read_for_every_signature():
    ticks = iter([NOW, NOW + 1])
    server = Server(refuse={"cavage"})
    auth = HttpSignatureAuth(
        key_id=KEY_ID, private_key=KEY, clock=lambda: next(ticks), double_knock=True
    )
    with httpx.Client(transport=httpx.MockTransport(server), auth=auth) as client:
        assert client.post(INBOX, content=BODY).status_code == 202
    with pytest.raises(StopIteration):
        next(ticks)
