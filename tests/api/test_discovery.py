"""WebFinger, host-meta, NodeInfo, actor documents, collections, content negotiation."""

from __future__ import annotations

import httpx
import pytest

from fediaid.services.runtime import Runtime

AP = "application/activity+json"
LD = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'


async def test_webfinger_acct_and_actor_url(client: httpx.AsyncClient, runtime: Runtime) -> None:
    r = await client.get("/.well-known/webfinger", params={"resource": "acct:elm@a.test"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/jrd+json")
    assert r.headers["access-control-allow-origin"] == "*"
    jrd = r.json()
    assert jrd["subject"] == "acct:elm@a.test"
    self_link = next(link for link in jrd["links"] if link["rel"] == "self")
    assert self_link == {"rel": "self", "type": AP, "href": "http://a.test/groups/elm"}
    # Resolving by the actor URL gives the same canonical subject (Mastodon's round trip).
    r2 = await client.get("/.well-known/webfinger",
                          params={"resource": "http://a.test/groups/elm"})
    assert r2.json()["subject"] == "acct:elm@a.test"
    r3 = await client.get("/.well-known/webfinger", params={"resource": "acct:admin@a.test"})
    assert r3.json()["links"][0]["href"] == "http://a.test/users/admin"


@pytest.mark.parametrize("resource", ["acct:nobody@a.test", "acct:elm@other.test",
                                      "http://other.test/groups/elm", "garbage"])
async def test_webfinger_unknown_is_404(client: httpx.AsyncClient, resource: str) -> None:
    r = await client.get("/.well-known/webfinger", params={"resource": resource})
    assert r.status_code == 404
    assert "error" in r.json()


async def test_webfinger_without_resource_is_400(client: httpx.AsyncClient) -> None:
    r = await client.get("/.well-known/webfinger")
    assert r.status_code == 400


async def test_host_meta_points_to_webfinger(client: httpx.AsyncClient) -> None:
    r = await client.get("/.well-known/host-meta")
    assert r.status_code == 200
    assert 'template="http://a.test/.well-known/webfinger?resource={uri}"' in r.text


async def test_nodeinfo_21_and_20(client: httpx.AsyncClient) -> None:
    links = (await client.get("/.well-known/nodeinfo")).json()["links"]
    assert [link["rel"].rsplit("/", 1)[1] for link in links] == ["2.1", "2.0"]
    doc = (await client.get("/nodeinfo/2.1")).json()
    assert doc["version"] == "2.1"
    assert doc["software"]["name"] == "fediaid"
    assert doc["protocols"] == ["activitypub"]
    assert doc["usage"]["users"]["total"] == 1
    assert doc["metadata"]["nodeName"] == "Elm St Mutual Aid"
    assert "area" in doc["metadata"] and doc["metadata"]["languages"] == ["en"]
    old = (await client.get("/nodeinfo/2.0")).json()
    assert old["version"] == "2.0" and "repository" not in old["software"]
    assert (await client.get("/nodeinfo/9.9")).status_code == 404


@pytest.mark.parametrize("accept", [AP, LD, "application/activity+json, text/html;q=0.5"])
async def test_actor_document_for_servers(client: httpx.AsyncClient, accept: str) -> None:
    r = await client.get("/groups/elm", headers={"Accept": accept})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(AP)
    doc = r.json()
    for field in ("id", "type", "preferredUsername", "name", "summary", "url", "inbox",
                  "outbox", "followers", "following", "endpoints", "publicKey",
                  "manuallyApprovesFollowers", "discoverable", "published", "@context"):
        assert field in doc, field
    assert doc["type"] == "Group"
    assert doc["endpoints"]["sharedInbox"] == "http://a.test/inbox"
    assert doc["publicKey"]["owner"] == doc["id"]
    assert doc["publicKey"]["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert "PRIVATE" not in r.text


async def test_browsers_get_html(client: httpx.AsyncClient) -> None:
    r = await client.get("/groups/elm", headers={"Accept": "text/html,application/xhtml+xml"},
                         follow_redirects=True)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "@elm@a.test" in r.text
    person = await client.get("/@admin", headers={"Accept": "text/html"})
    assert person.status_code == 200 and "admin" in person.text


async def test_instance_actor_is_an_application(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/actor")).json()
    assert doc["type"] == "Application"
    assert doc["publicKey"]["id"] == "http://a.test/actor#main-key"


async def test_collections_are_paged(client: httpx.AsyncClient, runtime: Runtime) -> None:
    for i in range(23):
        await runtime.notes.post_as_group(f"note {i}")
    outbox = (await client.get("/groups/elm/outbox")).json()
    assert outbox["type"] == "OrderedCollection" and outbox["totalItems"] == 23
    page1 = (await client.get(outbox["first"])).json()
    assert page1["type"] == "OrderedCollectionPage" and len(page1["orderedItems"]) == 20
    assert page1["orderedItems"][0]["object"]["content"] == "<p>note 22</p>"
    page2 = (await client.get(page1["next"])).json()
    assert len(page2["orderedItems"]) == 3 and "next" not in page2
    followers = (await client.get("/groups/elm/followers")).json()
    # Its size, not its members (shapes for Lemmy and Mastodon: test_stored_activity_privacy).
    assert followers["totalItems"] == 0 and followers["items"] == []
    assert followers["first"]["items"] == []
    following = (await client.get("/groups/elm/following?page=1")).json()
    assert following["orderedItems"] == []
    assert (await client.get("/groups/elm/outbox?page=abc")).status_code == 400
    assert (await client.get("/groups/elm/secrets")).status_code == 404


async def test_public_objects_and_activities_can_be_fetched(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    uri = await runtime.notes.post_as_group("The fridge is full")
    r = await client.get(uri.removeprefix("http://a.test"), headers={"Accept": AP})
    assert r.status_code == 200 and r.json()["content"] == "<p>The fridge is full</p>"
    missing = await client.get("/objects/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404


async def test_unknown_actor_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/groups/nope", headers={"Accept": AP})
    assert r.status_code == 404 and r.json() == {"error": "No such account here."}


async def test_healthz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_signed_fetch_replayed_or_signed_for_another_host_is_401(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    """A captured signed GET cannot be re-used later (edited algorithm and an uncovered
    created) nor on another server; a fresh one for us is accepted."""
    import re
    import time

    from activitypub.keys import load_private_key
    from activitypub.signatures import sign_cavage
    from tests.support.remote import remote_actor, store

    bob = remote_actor("bob")
    await store(runtime, bob)
    uri = await runtime.notes.post_as_group("Soup on Friday")
    path = uri.removeprefix("http://a.test")

    def signed(url: str, now: float) -> dict[str, str]:
        return {"Accept": AP} | sign_cavage(
            method="GET", url=url, headers={}, body=None, key_id=bob.key_id,
            private_key=load_private_key(bob.keys.private_pem), now=now)

    fresh = await client.get(path, headers=signed(uri, time.time()))
    assert fresh.status_code == 200
    old = signed(uri, time.time() - 20 * 86400)
    old["Signature"] = (re.sub(r'algorithm="[^"]*"', 'algorithm="hs2019"', old["Signature"])
                        + f",created={int(time.time())}")
    assert (await client.get(path, headers=old)).status_code == 401
    elsewhere = signed("http://other.test" + path, time.time())
    assert (await client.get(path, headers=elsewhere)).status_code == 401


async def test_actor_documents_match_the_client_api(client: httpx.AsyncClient,
                                                    runtime: Runtime) -> None:
    """Every account's actor has an ``icon`` (the avatar the client API shows, the default
    image when none is set), a ``featured`` collection that exists, and the same
    ``discoverable``/``indexable`` as its client-API account."""
    await runtime.accounts.create_user("maria")
    for path, name in (("/groups/elm", "elm"), ("/users/maria", "maria"),
                       ("/users/admin", "admin")):
        doc = (await client.get(path, headers={"Accept": AP})).json()
        account = (await client.get("/api/v1/accounts/lookup", params={"acct": name})).json()
        assert doc["icon"] == {"type": "Image", "url": account["avatar"],
                               "mediaType": "image/png"}, path
        assert account["avatar"] == "http://a.test/static/avatar.png"
        assert (await client.get(doc["icon"]["url"])).status_code == 200
        assert "image" not in doc  # no header set: nothing to show
        assert doc["discoverable"] is account["discoverable"], path
        assert doc["indexable"] is account["indexable"], path
        assert doc["featured"] == f"http://a.test{path}/featured"
        r = await client.get(doc["featured"], headers={"Accept": AP})
        assert r.status_code == 200 and r.headers["content-type"].startswith(AP)
        featured = r.json()
        assert featured["id"] == doc["featured"]
        assert featured["type"] == "OrderedCollection"
        assert featured["totalItems"] == 0 and featured["orderedItems"] == []
        assert "@context" in featured
    # The group wants to be found; members' profiles stay out of directories and search.
    group = (await client.get("/groups/elm", headers={"Accept": AP})).json()
    assert group["discoverable"] is True and group["indexable"] is True
    person = (await client.get("/users/maria", headers={"Accept": AP})).json()
    assert person["discoverable"] is False and person["indexable"] is False
    # The instance actor is no account: no profile picture, no pinned posts, not listed.
    service = (await client.get("/actor")).json()
    assert "featured" not in service and "icon" not in service
    assert service["discoverable"] is False and service["indexable"] is False
    assert (await client.get("/groups/nope/featured")).status_code == 404
    assert (await client.get("/users/elm/featured")).status_code == 404
