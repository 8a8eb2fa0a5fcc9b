"""Conversations (direct messages) in the Mastodon client API: built from direct statuses,
answers to offers and needs included; read and removed per account; paged by the newest
status; the asker of an anonymous need never appears as a participant."""

from __future__ import annotations

import httpx

from fediaid.domain.statuses import Level
from fediaid.services.runtime import Runtime
from tests.api.test_mastodon_notifications import get, member, note, token_for


async def test_an_answer_opens_a_conversation_for_both(runtime: Runtime,
                                                       client: httpx.AsyncClient) -> None:
    rt = runtime
    maria, as_maria = await member(rt, "maria")
    sam, as_sam = await member(rt, "sam")
    _lee, as_lee = await member(rt, "lee")
    need = await rt.posts.create(maria, {"kind": "need", "title": "Ride to the clinic"})
    await rt.responses.respond(sam, need.id, "I can drive", None)

    [seen_by_maria] = await get(client, "/api/v1/conversations", as_maria)
    assert seen_by_maria["unread"] is True
    assert [a["acct"] for a in seen_by_maria["accounts"]] == ["sam"]
    assert "I can drive" in seen_by_maria["last_status"]["content"]
    [seen_by_sam] = await get(client, "/api/v1/conversations", as_sam)
    assert seen_by_sam["unread"] is False  # he wrote it
    assert [a["acct"] for a in seen_by_sam["accounts"]] == ["maria"]
    assert seen_by_sam["id"] == seen_by_maria["id"]
    assert await get(client, "/api/v1/conversations", as_lee) == []

    cid = seen_by_maria["id"]
    r = await client.post(f"/api/v1/conversations/{cid}/read", headers=as_maria)
    assert r.status_code == 200, r.text
    assert r.json()["unread"] is False and r.json()["id"] == cid
    [again] = await get(client, "/api/v1/conversations", as_maria)
    assert again["unread"] is False
    r = await client.post(f"/api/v1/conversations/{cid}/read", headers=as_lee)
    assert r.status_code == 404

    # Removing hides it for maria only, until something new is said.
    r = await client.delete(f"/api/v1/conversations/{cid}", headers=as_maria)
    assert r.status_code == 200 and r.json() == {}
    assert await get(client, "/api/v1/conversations", as_maria) == []
    assert len(await get(client, "/api/v1/conversations", as_sam)) == 1
    [response] = await rt.responses.for_post(maria, need.id)
    await rt.responses.accept(maria, response.id)
    [back] = await get(client, "/api/v1/conversations", as_maria)
    assert back["id"] == cid and back["unread"] is False  # her own acceptance
    assert "Accepted" in back["last_status"]["content"]
    [for_sam] = await get(client, "/api/v1/conversations", as_sam)
    assert for_sam["unread"] is True and for_sam["last_status"]["id"] == back["last_status"]["id"]


async def test_the_asker_of_an_anonymous_need_is_never_a_participant(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    maria, as_maria = await member(rt, "maria")
    sam, as_sam = await member(rt, "sam")
    need = await rt.posts.create(maria, {"kind": "need", "title": "Help with rent"},
                                 as_neighbor=True)
    await rt.responses.respond(sam, need.id, "I can help", None)
    group = rt.identity.group.username
    [for_sam] = await get(client, "/api/v1/conversations", as_sam)
    assert [a["acct"] for a in for_sam["accounts"]] == [group]
    assert "maria" not in str(for_sam)
    [for_maria] = await get(client, "/api/v1/conversations", as_maria)
    assert sorted(a["acct"] for a in for_maria["accounts"]) == sorted(["sam", group])
    assert for_maria["unread"] is True


async def test_direct_threads_paging_and_scopes(runtime: Runtime,
                                                client: httpx.AsyncClient) -> None:
    rt = runtime
    maria, as_maria = await member(rt, "maria")
    sam, _ = await member(rt, "sam")
    lee, _ = await member(rt, "lee")
    first = await note(rt, sam, level=Level.DIRECT, to=(maria,), conversation="urn:t:1")
    second = await note(rt, lee, level=Level.DIRECT, to=(maria,), conversation="urn:t:2")
    reply = await note(rt, maria, level=Level.DIRECT, to=(sam,), conversation="urn:t:1")
    await note(rt, sam, level=Level.DIRECT, to=(lee,), conversation="urn:t:3")  # not hers
    await note(rt, sam, level=Level.PUBLIC, to=(maria,))  # a public mention is no DM

    listed = await get(client, "/api/v1/conversations", as_maria)
    assert [(c["id"], c["last_status"]["id"]) for c in listed] == [
        (str(first), str(reply)), (str(second), str(second))]
    assert listed[0]["unread"] is True  # sam wrote in it and she never marked it read
    r = await client.get("/api/v1/conversations", headers=as_maria, params={"limit": 1})
    assert [c["id"] for c in r.json()] == [str(first)]
    assert f"max_id={reply}" in r.headers["link"]
    older = await get(client, "/api/v1/conversations", as_maria, max_id=reply)
    assert [c["id"] for c in older] == [str(second)]
    newer = await get(client, "/api/v1/conversations", as_maria, min_id=second)
    assert [c["id"] for c in newer] == [str(first)]

    read_only = await token_for(rt, "maria", ["read"])
    r = await client.post(f"/api/v1/conversations/{first}/read", headers=read_only)
    assert r.status_code == 403
    r = await client.delete(f"/api/v1/conversations/{first}", headers=read_only)
    assert r.status_code == 403
    assert len(await get(client, "/api/v1/conversations", read_only)) == 2
    r = await client.get("/api/v1/conversations")
    assert r.status_code == 401
    r = await client.post("/api/v1/conversations/abc/read", headers=as_maria)
    assert r.status_code == 404
    # A thread's later status is not its id.
    r = await client.post(f"/api/v1/conversations/{reply}/read", headers=as_maria)
    assert r.status_code == 404


async def test_deleting_a_posts_thread_leaves_nothing_behind(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    """What retention calls when a post is deleted (response_statuses.delete_for_post)."""
    from fediaid.storage import response_statuses

    rt = runtime
    maria, as_maria = await member(rt, "maria")
    sam, as_sam = await member(rt, "sam")
    need = await rt.posts.create(maria, {"kind": "need", "title": "Help with rent"})
    other = await rt.posts.create(maria, {"kind": "need", "title": "Ride"})
    response = await rt.responses.respond(sam, need.id, "I can help", None)
    await rt.responses.respond(sam, other.id, "Me too", None)
    await rt.responses.accept(maria, response.id)
    assert len(await get(client, "/api/v1/conversations", as_maria)) == 2
    async with rt.db.write() as conn:
        assert len(await response_statuses.delete_for_post(conn, need.uri)) == 2
    [left] = await get(client, "/api/v1/conversations", as_maria)
    assert "Me too" in left["last_status"]["content"]
    assert len(await get(client, "/api/v1/notifications", as_maria)) == 1
    assert await get(client, "/api/v1/notifications", as_sam) == []
