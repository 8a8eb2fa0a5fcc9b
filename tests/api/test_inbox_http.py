"""The inbox over HTTP (in process): signature checks and the error codes, and that a
rejected request stores nothing."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from activitypub.errors import FetchError
from fediaid.services.runtime import Runtime
from fediaid.storage.tables import inbox_items
from tests.support.remote import remote_actor, store

URL = "http://a.test/inbox"


async def stored(rt: Runtime) -> int:
    async with rt.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(inbox_items)))
                   .scalar_one())


def follow(actor_uri: str, n: int = 1) -> dict:
    return {"id": f"{actor_uri}/f/{n}", "type": "Follow", "actor": actor_uri,
            "object": "http://a.test/groups/elm"}


async def test_signed_activity_is_stored_and_202(client: httpx.AsyncClient,
                                                  runtime: Runtime) -> None:
    bob = remote_actor("bob")
    await store(runtime, bob)
    body, headers = bob.signed_post(URL, follow(bob.uri))
    r = await client.post("/inbox", content=body, headers=headers)
    assert r.status_code == 202
    assert await stored(runtime) == 1
    # The same activity again: accepted, still one row.
    body, headers = bob.signed_post(URL, follow(bob.uri))
    assert (await client.post("/inbox", content=body, headers=headers)).status_code == 202
    assert await stored(runtime) == 1


async def test_per_actor_inbox(client: httpx.AsyncClient, runtime: Runtime) -> None:
    bob = remote_actor("bob")
    await store(runtime, bob)
    body, headers = bob.signed_post("http://a.test/groups/elm/inbox", follow(bob.uri))
    assert (await client.post("/groups/elm/inbox", content=body,
                              headers=headers)).status_code == 202
    body, headers = bob.signed_post("http://a.test/groups/nope/inbox", follow(bob.uri, 2))
    assert (await client.post("/groups/nope/inbox", content=body,
                              headers=headers)).status_code == 404


async def test_unsigned_is_401(client: httpx.AsyncClient, runtime: Runtime) -> None:
    r = await client.post("/inbox", content=orjson.dumps(follow("https://remote.example/u/x")),
                          headers={"Content-Type": "application/activity+json"})
    assert r.status_code == 401 and "error" in r.json()
    assert await stored(runtime) == 0


async def test_tampered_body_is_401(client: httpx.AsyncClient, runtime: Runtime) -> None:
    bob = remote_actor("bob")
    await store(runtime, bob)
    body, headers = bob.signed_post(URL, follow(bob.uri))
    r = await client.post("/inbox", content=body.replace(b"/f/1", b"/f/2"), headers=headers)
    assert r.status_code == 401
    assert await stored(runtime) == 0


async def test_wrong_key_is_401_after_one_refetch(client: httpx.AsyncClient,
                                                   runtime: Runtime) -> None:
    bob = remote_actor("bob")
    await store(runtime, bob)
    impostor = remote_actor("bob", key=1)  # same URI, different private key
    fetched: list[str] = []

    async def fetch(url: str) -> dict:
        fetched.append(url)
        return bob.document()

    runtime.keys._fetch = fetch  # the network: bob's server still publishes the old key
    body, headers = impostor.signed_post(URL, follow(bob.uri))
    assert (await client.post("/inbox", content=body, headers=headers)).status_code == 401
    assert fetched == [bob.uri]  # refetched once, in case the key had rotated
    assert await stored(runtime) == 0


async def test_rotated_key_is_accepted_after_refetch(client: httpx.AsyncClient,
                                                      runtime: Runtime) -> None:
    bob = remote_actor("bob")
    await store(runtime, bob)
    rotated = remote_actor("bob", key=1)

    async def fetch(url: str) -> dict:
        return rotated.document()

    runtime.keys._fetch = fetch
    body, headers = rotated.signed_post(URL, follow(bob.uri))
    assert (await client.post("/inbox", content=body, headers=headers)).status_code == 202


async def test_signer_must_be_the_actor(client: httpx.AsyncClient, runtime: Runtime) -> None:
    bob, eve = remote_actor("bob"), remote_actor("eve", key=1)
    await store(runtime, bob)
    await store(runtime, eve)
    body, headers = eve.signed_post(URL, follow(bob.uri))
    r = await client.post("/inbox", content=body, headers=headers)
    assert r.status_code == 401 and "actor" in r.json()["error"]
    assert await stored(runtime) == 0


async def test_unknown_key_that_cannot_be_fetched_is_401(client: httpx.AsyncClient,
                                                          runtime: Runtime) -> None:
    async def fetch(url: str) -> dict:
        raise FetchError("connection refused")

    runtime.keys._fetch = fetch
    ghost = remote_actor("ghost", "gone.example")
    body, headers = ghost.signed_post(URL, follow(ghost.uri))
    assert (await client.post("/inbox", content=body, headers=headers)).status_code == 401
    # ...except the Delete of that very actor, which is accepted and dropped.
    delete = {"id": ghost.uri + "#delete", "type": "Delete", "actor": ghost.uri,
              "object": ghost.uri}
    body, headers = ghost.signed_post(URL, delete)
    assert (await client.post("/inbox", content=body, headers=headers)).status_code == 202
    assert await stored(runtime) == 0


async def test_unknown_key_is_fetched_once_for_concurrent_requests(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    import asyncio

    carol = remote_actor("carol", "new.example")
    calls = 0

    async def fetch(url: str) -> dict:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return carol.document()

    runtime.keys._fetch = fetch
    posts = []
    for i in range(10):
        body, headers = carol.signed_post(URL, follow(carol.uri, i))
        posts.append(client.post("/inbox", content=body, headers=headers))
    results = await asyncio.gather(*posts)
    assert [r.status_code for r in results] == [202] * 10
    assert calls == 1
    assert await stored(runtime) == 10


async def test_old_date_is_401(client: httpx.AsyncClient, runtime: Runtime) -> None:
    bob = remote_actor("bob")
    await store(runtime, bob)
    body, headers = bob.signed_post(URL, follow(bob.uri), now=time.time() - 2 * 3600)
    assert (await client.post("/inbox", content=body, headers=headers)).status_code == 401


async def test_malformed_json_with_valid_signature_is_400(client: httpx.AsyncClient,
                                                           runtime: Runtime) -> None:
    bob = remote_actor("bob")
    await store(runtime, bob)
    body, headers = bob.signed_post(URL, b'{"type": "Follow", ')
    r = await client.post("/inbox", content=body, headers=headers)
    assert r.status_code == 400
    body, headers = bob.signed_post(URL, b'["not", "an", "object"]')
    assert (await client.post("/inbox", content=body, headers=headers)).status_code == 400
    assert await stored(runtime) == 0


@pytest.mark.parametrize("ct", ["text/plain", "application/x-www-form-urlencoded", ""])
async def test_wrong_content_type_is_415(client: httpx.AsyncClient, runtime: Runtime,
                                         ct: str) -> None:
    r = await client.post("/inbox", content=b"{}", headers={"Content-Type": ct})
    assert r.status_code == 415
    assert await stored(runtime) == 0


async def test_too_large_is_413(client: httpx.AsyncClient, runtime: Runtime) -> None:
    bob = remote_actor("bob")
    await store(runtime, bob)
    big = follow(bob.uri) | {"padding": "x" * (1024 * 1024)}
    body, headers = bob.signed_post(URL, big)
    assert (await client.post("/inbox", content=body, headers=headers)).status_code == 413

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"x" * 65536

    r = await client.post("/inbox", content=chunks(),
                          headers={"Content-Type": "application/activity+json"})
    assert r.status_code == 413
    assert await stored(runtime) == 0


async def test_blocked_domain_is_403(client: httpx.AsyncClient, runtime: Runtime) -> None:
    bob = remote_actor("bob", "spam.example")
    await store(runtime, bob)
    await runtime.moderation.block_domain("spam.example")
    body, headers = bob.signed_post(URL, follow(bob.uri))
    assert (await client.post("/inbox", content=body, headers=headers)).status_code == 403
    sub = remote_actor("bob", "eu.spam.example")
    await store(runtime, sub)
    body, headers = sub.signed_post(URL, follow(sub.uri))
    assert (await client.post("/inbox", content=body, headers=headers)).status_code == 403
    assert await stored(runtime) == 0
    await runtime.moderation.unblock_domain("spam.example")
    body, headers = bob.signed_post(URL, follow(bob.uri))
    assert (await client.post("/inbox", content=body, headers=headers)).status_code == 202


async def test_rfc9421_signed_activity_is_accepted(client: httpx.AsyncClient,
                                                    runtime: Runtime) -> None:
    from activitypub.keys import load_private_key
    from activitypub.signatures import sign_rfc9421

    bob = remote_actor("bob")
    await store(runtime, bob)
    body = orjson.dumps(follow(bob.uri))
    headers = {"Content-Type": "application/activity+json"}
    headers |= sign_rfc9421(method="POST", url=URL, headers=headers, body=body,
                            key_id=bob.key_id, private_key=load_private_key(bob.keys.private_pem),
                            now=time.time())
    assert (await client.post("/inbox", content=body, headers=headers)).status_code == 202


async def test_captured_request_replayed_with_edited_parameters_is_401(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    """The attack as found: a 10-day-old captured request, its algorithm changed to hs2019
    and an uncovered created=<now> added, was stored and applied."""
    import re

    bob = remote_actor("bob")
    await store(runtime, bob)
    body, headers = bob.signed_post(URL, follow(bob.uri), now=time.time() - 10 * 86400)
    sig = re.sub(r'algorithm="[^"]*"', 'algorithm="hs2019"', headers["Signature"])
    headers = {**headers, "Signature": sig + f",created={int(time.time())}"}
    r = await client.post("/inbox", content=body, headers=headers)
    assert r.status_code == 401 and "expired" in r.json()["error"]
    assert await stored(runtime) == 0


async def test_request_signed_for_another_server_is_401(client: httpx.AsyncClient,
                                                        runtime: Runtime) -> None:
    bob = remote_actor("bob")
    await store(runtime, bob)
    body, headers = bob.signed_post("http://other.test/inbox", follow(bob.uri))
    assert headers["Host"] == "other.test"
    r = await client.post("/inbox", content=body, headers=headers)
    assert r.status_code == 401 and "another host" in r.json()["error"]
    assert await stored(runtime) == 0
