"""Fetching documents (Mastodon's rules), WebFinger parsing, media types, NodeInfo."""

import httpx
import pytest

from activitypub import nodeinfo, webfinger
from activitypub.client import NotFoundRemote, fetch_document
from activitypub.errors import FetchError
from activitypub.vocab import accepts_activitypub, is_activitypub_media_type

AP = "application/activity+json"


def client_for(handler) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    return httpx.AsyncClient(transport=httpx.MockTransport(handler), follow_redirects=True)


async def test_fetch_document_happy_path() -> None:
    async with client_for(lambda r: httpx.Response(
            200, json={"id": "https://a.test/u/1", "type": "Person"},
            headers={"content-type": AP})) as c:
        doc = await fetch_document(c, "https://a.test/u/1#main-key", max_bytes=10_000)
    assert doc["type"] == "Person"


@pytest.mark.parametrize("response, error", [
    (httpx.Response(404), NotFoundRemote),
    (httpx.Response(500), FetchError),
    (httpx.Response(200, json={"id": "https://a.test/u/1"},
                    headers={"content-type": "text/html"}), FetchError),
    (httpx.Response(200, json={"id": "https://evil.test/u/1"},
                    headers={"content-type": AP}), FetchError),
    (httpx.Response(200, content=b"[1]", headers={"content-type": AP}), FetchError),
    (httpx.Response(200, content=b"{nope", headers={"content-type": AP}), FetchError),
])
async def test_fetch_document_rejects(response: httpx.Response, error: type) -> None:
    async with client_for(lambda r: response) as c:
        with pytest.raises(error):
            await fetch_document(c, "https://a.test/u/1", max_bytes=10_000)


@pytest.mark.parametrize("value, user, host", [
    ("@elm@aid.example", "elm", "aid.example"),
    ("elm@Aid.Example", "elm", "aid.example"),
    ("acct:elm@aid.example:8443", "elm", "aid.example:8443"),
])
def test_parse_handle(value: str, user: str, host: str) -> None:
    assert webfinger.parse_handle(value) == (user, host)


@pytest.mark.parametrize("value", ["elm", "@elm", "https://a/b", "a@b@c"])
def test_parse_handle_rejects(value: str) -> None:
    with pytest.raises(ValueError):
        webfinger.parse_handle(value)


def test_self_link() -> None:
    jrd = {"links": [{"rel": "self", "type": "text/html", "href": "x"},
                     {"rel": "self", "type": 'application/ld+json; profile='
                      '"https://www.w3.org/ns/activitystreams"', "href": "https://a/u"}]}
    assert webfinger.self_link(jrd) == "https://a/u"
    assert webfinger.self_link({"links": []}) is None
    assert webfinger.self_link("nope") is None


@pytest.mark.parametrize("ct, strict, ok", [
    (AP, True, True),
    ('application/ld+json; profile="https://www.w3.org/ns/activitystreams"', True, True),
    ("application/ld+json", True, False),
    ("application/json", True, False),
    ("application/json", False, True),
    ("text/plain", False, False),
    (None, False, False),
])
def test_media_types(ct: str | None, strict: bool, ok: bool) -> None:
    assert is_activitypub_media_type(ct, strict=strict) is ok


@pytest.mark.parametrize("accept, ap", [
    (AP, True),
    ("text/html,application/xhtml+xml,*/*;q=0.8", False),
    ("application/activity+json, text/html;q=0.1", True),
    ("text/html, application/activity+json;q=0.5", False),
    ("", False),
])
def test_content_negotiation(accept: str, ap: bool) -> None:
    assert accepts_activitypub(accept) is ap


def test_nodeinfo_documents_follow_the_schemas() -> None:
    kw = dict(software_name="fediaid", software_version="1.0", repository="https://r",
              homepage="https://h", users_total=3, users_active_month=2,
              users_active_halfyear=3, local_posts=7, open_registrations=False,
              metadata={"nodeName": "x"})
    d21 = nodeinfo.document("2.1", **kw)  # type: ignore[arg-type]
    d20 = nodeinfo.document("2.0", **kw)  # type: ignore[arg-type]
    assert set(d21) == {"version", "software", "protocols", "services", "openRegistrations",
                        "usage", "metadata"}
    assert d21["software"]["repository"] == "https://r" and "repository" not in d20["software"]
    with pytest.raises(ValueError):
        nodeinfo.document("1.0", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["http://[x", "https://a:99999/", "http://[::1", "https://"])
def test_hostile_uris_are_not_http_uris(value: str) -> None:
    from activitypub.vocab import is_http_uri, same_origin

    assert not is_http_uri(value)
    assert same_origin(value, "https://a/") is False
