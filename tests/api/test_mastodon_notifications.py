"""Notifications in the Mastodon client API: answers to offers and needs as mentions
(private to the people involved), v1 listing with filters and paging, grouped v2,
dismiss and clear, unread counts, the notification policy, scopes."""

from __future__ import annotations

from typing import Any

import httpx

from fediaid.domain.statuses import Level
from fediaid.domain.users import User
from fediaid.services.runtime import Runtime
from fediaid.storage import notifications as notifications_repo
from fediaid.storage import statuses as statuses_repo

RW = ["read", "write"]


async def member(rt: Runtime, name: str, scopes: list[str] | None = None
                 ) -> tuple[User, dict[str, str]]:
    user = await rt.accounts.create_user(name)
    token = await rt.accounts.create_token(name, scopes=scopes or RW)
    return user, {"Authorization": f"Bearer {token}"}


async def token_for(rt: Runtime, name: str, scopes: list[str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {await rt.accounts.create_token(name, scopes=scopes)}"}


async def note(rt: Runtime, author: User, *, level: Level = Level.PUBLIC,
               to: tuple[User, ...] = (), conversation: str | None = None) -> int:
    """A status written straight into storage (what the status service would store)."""
    async with rt.db.write() as conn:
        sid = await statuses_repo.insert(
            conn, uri=rt.urls.new_object(), account_id=author.actor_id, user_id=author.id,
            level=level, listed=True, local=True, content="<p>hello</p>",
            conversation=conversation, recipient_ids=[u.actor_id for u in to])
    assert sid is not None
    return sid


async def notify(rt: Runtime, user: User, type_: str, by: User,
                 status_id: int | None = None) -> int:
    async with rt.db.write() as conn:
        return await notifications_repo.add(conn, user_id=user.id, type_=type_,
                                            from_actor_id=by.actor_id, status_id=status_id)


async def get(client: httpx.AsyncClient, url: str, headers: dict[str, str],
              **params: Any) -> Any:
    r = await client.get(url, headers=headers, params=params or None)
    assert r.status_code == 200, r.text
    return r.json()


async def test_an_answer_to_a_need_is_a_private_mention(runtime: Runtime,
                                                        client: httpx.AsyncClient) -> None:
    rt = runtime
    maria, as_maria = await member(rt, "maria")
    sam, as_sam = await member(rt, "sam")
    _lee, as_lee = await member(rt, "lee")
    need = await rt.posts.create(maria, {"kind": "need", "title": "Ride to the clinic"})
    await rt.responses.respond(sam, need.id, "I can drive <you>", None)

    [n] = await get(client, "/api/v1/notifications", as_maria)
    assert n["type"] == "mention" and n["account"]["acct"] == "sam"
    assert n["group_key"] == f"ungrouped-{n['id']}"
    status = n["status"]
    assert status["visibility"] == "direct"
    assert "Ride to the clinic" in status["content"] and "&lt;you&gt;" in status["content"]
    async with rt.db.read() as conn:
        post_status = await statuses_repo.id_for_post(conn, need.id)
    assert status["in_reply_to_id"] == str(post_status)
    assert [m["acct"] for m in status["mentions"]] == ["maria"]
    # The two people involved see it; a third member does not, and gets no notification.
    for headers in (as_maria, as_sam):
        r = await client.get(f"/api/v1/statuses/{status['id']}", headers=headers)
        assert r.status_code == 200, r.text
    r = await client.get(f"/api/v1/statuses/{status['id']}", headers=as_lee)
    assert r.status_code == 404
    assert await get(client, "/api/v1/notifications", as_lee) == []
    assert await get(client, "/api/v1/notifications", as_sam) == []

    # Accepting tells the helper, as a mention from the author.
    [response] = await rt.responses.for_post(maria, need.id)
    await rt.responses.accept(maria, response.id)
    [m] = await get(client, "/api/v1/notifications", as_sam)
    assert m["type"] == "mention" and m["account"]["acct"] == "maria"
    assert "Accepted" in m["status"]["content"]
    assert m["status"]["in_reply_to_id"] == status["id"]
    r = await client.get(f"/api/v1/statuses/{m['status']['id']}", headers=as_lee)
    assert r.status_code == 404


async def test_an_answer_to_an_anonymous_need_never_names_the_asker(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    maria, as_maria = await member(rt, "maria")
    sam, as_sam = await member(rt, "sam")
    _lee, as_lee = await member(rt, "lee")
    need = await rt.posts.create(maria, {"kind": "need", "title": "Help with rent"},
                                 as_neighbor=True)
    response = await rt.responses.respond(sam, need.id, "I can help", None)
    [n] = await get(client, "/api/v1/notifications", as_maria)
    assert n["type"] == "mention" and n["account"]["acct"] == "sam"
    group = rt.identity.group.username
    # Everyone who can see the status sees it addressed to the group, never to maria.
    for headers in (as_maria, as_sam):
        seen = await get(client, f"/api/v1/statuses/{n['status']['id']}", headers)
        assert [m["acct"] for m in seen["mentions"]] == [group]
        assert "maria" not in str(seen)
    r = await client.get(f"/api/v1/statuses/{n['status']['id']}", headers=as_lee)
    assert r.status_code == 404
    await rt.responses.decline(maria, response.id, "Covered already, thank you")
    [d] = await get(client, "/api/v1/notifications", as_sam)
    assert d["account"]["acct"] == group and "Covered already" in d["status"]["content"]
    assert "maria" not in str(d)


async def test_v1_listing_filters_paging_dismiss_and_clear(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    maria, as_maria = await member(rt, "maria")
    sam, _ = await member(rt, "sam")
    lee, _ = await member(rt, "lee")
    mine = await note(rt, maria)
    ids = [await notify(rt, maria, "favourite", sam, mine),
           await notify(rt, maria, "follow", lee),
           await notify(rt, maria, "reblog", lee, mine),
           await notify(rt, maria, "mention", sam, mine)]
    listed = await get(client, "/api/v1/notifications", as_maria)
    assert [n["id"] for n in listed] == [str(i) for i in reversed(ids)]
    assert "status" not in listed[2] and listed[2]["type"] == "follow"
    assert listed[0]["created_at"].endswith("Z")

    r = await client.get("/api/v1/notifications", headers=as_maria, params={"limit": 2})
    assert [n["id"] for n in r.json()] == [str(ids[3]), str(ids[2])]
    assert f"max_id={ids[2]}" in r.headers["link"] and f"min_id={ids[3]}" in r.headers["link"]
    older = await get(client, "/api/v1/notifications", as_maria, max_id=ids[2])
    assert [n["id"] for n in older] == [str(ids[1]), str(ids[0])]
    oldest_up = await get(client, "/api/v1/notifications", as_maria, min_id=ids[0], limit=2)
    assert [n["id"] for n in oldest_up] == [str(ids[2]), str(ids[1])]

    by_type = await get(client, "/api/v1/notifications?types[]=follow&types[]=mention",
                        as_maria)
    assert [n["type"] for n in by_type] == ["mention", "follow"]
    excluded = await get(client, "/api/v1/notifications?exclude_types[]=favourite"
                         "&exclude_types[]=reblog", as_maria)
    assert [n["type"] for n in excluded] == ["mention", "follow"]
    from_lee = await get(client, "/api/v1/notifications", as_maria, account_id=lee.actor_id)
    assert {n["type"] for n in from_lee} == {"follow", "reblog"}

    one = await get(client, f"/api/v1/notifications/{ids[1]}", as_maria)
    assert one["type"] == "follow" and one["account"]["id"] == str(lee.actor_id)
    r = await client.post(f"/api/v1/notifications/{ids[1]}/dismiss", headers=as_maria)
    assert r.status_code == 200 and r.json() == {}
    r = await client.get(f"/api/v1/notifications/{ids[1]}", headers=as_maria)
    assert r.status_code == 404 and r.json() == {"error": "Record not found"}
    r = await client.post(f"/api/v1/notifications/{ids[1]}/dismiss", headers=as_maria)
    assert r.status_code == 404
    r = await client.post("/api/v1/notifications/dismiss", headers=as_maria,
                          data={"id": str(ids[0])})
    assert r.status_code == 200
    assert len(await get(client, "/api/v1/notifications", as_maria)) == 2
    r = await client.post("/api/v1/notifications/clear", headers=as_maria)
    assert r.status_code == 200 and r.json() == {}
    assert await get(client, "/api/v1/notifications", as_maria) == []


async def test_a_notification_about_a_status_one_cannot_see_is_not_shown(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    maria, as_maria = await member(rt, "maria")
    sam, _ = await member(rt, "sam")
    lee, _ = await member(rt, "lee")
    private = await note(rt, sam, level=Level.DIRECT, to=(lee,))
    hidden = await notify(rt, maria, "mention", sam, private)
    shown = await notify(rt, maria, "follow", sam)
    listed = await get(client, "/api/v1/notifications", as_maria)
    assert [n["id"] for n in listed] == [str(shown)]
    r = await client.get(f"/api/v1/notifications/{hidden}", headers=as_maria)
    assert r.status_code == 404
    grouped = await get(client, "/api/v2/notifications", as_maria)
    assert [g["type"] for g in grouped["notification_groups"]] == ["follow"]
    assert (await get(client, "/api/v1/notifications/unread_count", as_maria))["count"] == 1


async def test_grouped_v2(runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    maria, as_maria = await member(rt, "maria")
    sam, _ = await member(rt, "sam")
    lee, _ = await member(rt, "lee")
    kim, _ = await member(rt, "kim")
    first = await note(rt, maria)
    second = await note(rt, maria)
    f1 = await notify(rt, maria, "favourite", sam, first)
    await notify(rt, maria, "follow", sam)
    m1 = await notify(rt, maria, "mention", lee, second)
    f2 = await notify(rt, maria, "favourite", lee, first)
    await notify(rt, maria, "follow", kim)
    b1 = await notify(rt, maria, "reblog", kim, first)
    f3 = await notify(rt, maria, "favourite", kim, first)

    r = await client.get("/api/v2/notifications", headers=as_maria)
    assert r.status_code == 200, r.text
    body = r.json()
    groups = {g["group_key"]: g for g in body["notification_groups"]}
    assert [g["group_key"] for g in body["notification_groups"]][:2] == [
        f"favourite-{first}", f"reblog-{first}"]
    fav = groups[f"favourite-{first}"]
    assert fav["notifications_count"] == 3 and fav["type"] == "favourite"
    # Types as Mastodon sends them (NotificationGroup in Mastodon's OpenAPI description):
    # most_recent_notification_id is an integer (Ice Cubes decodes it as Int), the page
    # edges, status and account ids are strings.
    assert fav["most_recent_notification_id"] == f3
    for g in body["notification_groups"]:
        assert type(g["most_recent_notification_id"]) is int
        assert type(g["notifications_count"]) is int
        assert all(type(g[k]) is str for k in ("group_key", "page_min_id", "page_max_id",
                                                "latest_page_notification_at"))
        assert g["sample_account_ids"] and all(type(a) is str for a in g["sample_account_ids"])
        assert type(g.get("status_id", "")) is str
    # The page reaches down to its oldest group (the mention): f1 is below it.
    assert fav["page_min_id"] == str(f2) and fav["page_max_id"] == str(f3)
    assert f"max_id={m1}" in r.headers["link"]
    assert fav["sample_account_ids"] == [str(kim.actor_id), str(lee.actor_id),
                                         str(sam.actor_id)]
    assert fav["status_id"] == str(first)
    assert groups[f"reblog-{first}"]["notifications_count"] == 1
    follow = next(g for g in groups.values() if g["type"] == "follow")
    assert follow["notifications_count"] == 2 and "status_id" not in follow
    assert groups[f"ungrouped-{m1}"]["status_id"] == str(second)
    assert len(groups) == 4
    assert {s["id"] for s in body["statuses"]} == {str(first), str(second)}
    assert {a["id"] for a in body["accounts"]} == {str(u.actor_id) for u in (sam, lee, kim)}

    # Mentions only grouped when asked; favourites stay apart when not in grouped_types.
    apart = await get(client, "/api/v2/notifications?grouped_types[]=follow", as_maria)
    assert len([g for g in apart["notification_groups"] if g["type"] == "favourite"]) == 3

    # Paging counts groups.
    r = await client.get("/api/v2/notifications", headers=as_maria, params={"limit": 2})
    page = r.json()["notification_groups"]
    assert [g["group_key"] for g in page] == [f"favourite-{first}", f"reblog-{first}"]
    assert f"max_id={b1}" in r.headers["link"]
    rest = await get(client, "/api/v2/notifications", as_maria, max_id=b1)
    keys = [g["group_key"] for g in rest["notification_groups"]]
    assert keys[0].startswith("follow-") and f"ungrouped-{m1}" in keys
    assert f"favourite-{first}" in keys  # its older members, as in Mastodon
    assert next(g for g in rest["notification_groups"]
                if g["type"] == "favourite")["most_recent_notification_id"] == f2

    last = await get(client, "/api/v2/notifications", as_maria, max_id=m1)
    assert [(g["type"], g["page_min_id"]) for g in last["notification_groups"]] == [
        ("follow", str(f1 + 1)), ("favourite", str(f1))]

    one = await get(client, f"/api/v2/notifications/favourite-{first}", as_maria)
    assert one["notification_groups"][0]["notifications_count"] == 3
    assert len(one["accounts"]) == 3 and one["statuses"][0]["id"] == str(first)
    r = await client.get("/api/v2/notifications/favourite-999999", headers=as_maria)
    assert r.status_code == 404
    r = await client.get("/api/v2/notifications/nonsense", headers=as_maria)
    assert r.status_code == 404

    assert (await get(client, "/api/v2/notifications/unread_count", as_maria))["count"] == 4
    r = await client.post(f"/api/v2/notifications/favourite-{first}/dismiss",
                          headers=as_maria)
    assert r.status_code == 200 and r.json() == {}
    left = await get(client, "/api/v1/notifications", as_maria)
    assert [n["type"] for n in left].count("favourite") == 0 and len(left) == 4
    assert (await get(client, "/api/v2/notifications/unread_count", as_maria))["count"] == 3


async def test_unread_counts_follow_the_notifications_marker(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    maria, as_maria = await member(rt, "maria")
    sam, _ = await member(rt, "sam")
    ids = [await notify(rt, maria, "follow", sam) for _ in range(3)]
    assert (await get(client, "/api/v1/notifications/unread_count", as_maria))["count"] == 3
    assert (await get(client, "/api/v1/notifications/unread_count", as_maria,
                      limit=2))["count"] == 2
    r = await client.post("/api/v1/markers", headers=as_maria,
                          data={"notifications[last_read_id]": str(ids[1])})
    assert r.status_code == 200, r.text
    assert (await get(client, "/api/v1/notifications/unread_count", as_maria))["count"] == 1


async def test_policy_and_requests_are_honest(runtime: Runtime,
                                              client: httpx.AsyncClient) -> None:
    rt = runtime
    _maria, as_maria = await member(rt, "maria")
    policy = await get(client, "/api/v2/notifications/policy", as_maria)
    assert policy["for_not_following"] == "accept" and policy["for_private_mentions"] == "accept"
    assert policy["summary"] == {"pending_requests_count": 0, "pending_notifications_count": 0}
    r = await client.patch("/api/v2/notifications/policy", headers=as_maria,
                           json={"for_not_following": "accept"})
    assert r.status_code == 200 and r.json() == policy
    r = await client.patch("/api/v2/notifications/policy", headers=as_maria,
                           json={"for_new_accounts": "filter"})
    assert r.status_code == 422 and "accept" in r.json()["error"]
    assert await get(client, "/api/v1/notifications/requests", as_maria) == []


async def test_scopes(runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    maria, _ = await member(rt, "maria")
    sam, _ = await member(rt, "sam")
    n = await notify(rt, maria, "follow", sam)
    read_only = await token_for(rt, "maria", ["read"])
    notifications_only = await token_for(rt, "maria", ["read:notifications"])
    statuses_only = await token_for(rt, "maria", ["read:statuses"])
    assert len(await get(client, "/api/v1/notifications", notifications_only)) == 1
    r = await client.get("/api/v1/notifications", headers=statuses_only)
    assert r.status_code == 403
    r = await client.get("/api/v1/notifications")
    assert r.status_code == 401 and "error" in r.json()
    for url in (f"/api/v1/notifications/{n}/dismiss", "/api/v1/notifications/clear",
                f"/api/v2/notifications/ungrouped-{n}/dismiss"):
        r = await client.post(url, headers=read_only)
        assert r.status_code == 403, url
        assert r.headers["access-control-allow-origin"] == "*"
    assert len(await get(client, "/api/v1/notifications", read_only)) == 1
    r = await client.patch("/api/v2/notifications/policy", headers=read_only, json={})
    assert r.status_code == 403


async def test_answers_from_other_servers_are_mentions_too(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    from tests.fediaid.test_inbox_processing import receive
    from tests.fediaid.test_post_federation import with_followers
    from tests.support.remote import remote_actor

    rt = runtime
    bob = remote_actor("bob")
    await with_followers(rt, bob)
    maria, as_maria = await member(rt, "maria")
    _lee, as_lee = await member(rt, "lee")
    need = await rt.posts.create(maria, {"kind": "need", "title": "Ride to clinic"})
    offer = {"id": f"{bob.uri}/offers/1", "type": "Offer", "actor": bob.uri,
             "to": ["http://a.test/users/maria"], "content": "<p>I can drive</p>",
             "object": {"type": "Agreement", "stipulates": {
                 "type": "Commitment", "satisfies": need.uri + "#primary",
                 "resourceQuantity": {"hasUnit": "one", "hasNumericalValue": "1"}}}}
    await receive(rt, bob, offer)
    [n] = await get(client, "/api/v1/notifications", as_maria)
    assert n["type"] == "mention" and n["account"]["uri"] == bob.uri
    assert n["status"]["uri"] == offer["id"] and "I can drive" in n["status"]["content"]
    assert n["status"]["visibility"] == "direct"
    assert (await client.get(f"/api/v1/statuses/{n['status']['id']}",
                             headers=as_lee)).status_code == 404

    # A Mastodon reply is already a status: one status, one mention, its own visibility.
    crib = await rt.posts.create(maria, {"kind": "offer", "title": "Spare crib"})
    reply = {"id": f"{bob.uri}/statuses/5", "type": "Note", "attributedTo": bob.uri,
             "inReplyTo": crib.uri, "to": ["http://a.test/users/maria"],
             "content": "<p>I'd love the crib!</p>"}
    await receive(rt, bob, {"id": f"{reply['id']}/activity", "type": "Create",
                            "actor": bob.uri, "object": reply})
    mentions = await get(client, "/api/v1/notifications", as_maria)
    assert len(mentions) == 2
    assert mentions[0]["status"]["uri"] == reply["id"]
    assert "love the crib" in mentions[0]["status"]["content"]

    # To an anonymous need, addressed to the group: the asker is told, and stays hidden.
    rent = await rt.posts.create(maria, {"kind": "need", "title": "Help with rent"},
                                 as_neighbor=True)
    to_group = {"id": f"{bob.uri}/statuses/6", "type": "Note", "attributedTo": bob.uri,
                "inReplyTo": rent.uri, "to": [rt.identity.group.uri],
                "content": "<p>I can help</p>"}
    await receive(rt, bob, {"id": f"{to_group['id']}/activity", "type": "Create",
                            "actor": bob.uri, "object": to_group})
    latest = (await get(client, "/api/v1/notifications", as_maria))[0]
    assert latest["status"]["uri"] == to_group["id"]
    assert "maria" not in str(latest["status"]["mentions"])
    assert (await client.get(f"/api/v1/statuses/{latest['status']['id']}",
                             headers=as_lee)).status_code == 404


async def test_a_remote_author_accepting_our_members_answer_tells_them(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    from tests.fediaid.test_inbox_processing import receive
    from tests.fediaid.test_post_federation import PUBLIC, sent
    from tests.support.remote import remote_actor, store

    rt = runtime
    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    await store(rt, oak)
    await rt.follows.follow(rt.identity.group, oak.uri)
    await receive(rt, oak, {"id": f"{oak.uri}/accept/1", "type": "Accept", "actor": oak.uri,
                            "object": (await sent(rt))[0][2]})
    note_ = {"id": f"{oak.uri}/posts/9", "type": "Note", "attributedTo": oak.uri,
             "to": [PUBLIC], "content": "<p>Need: soup</p>", "purpose": "request",
             "name": "Soup", "publishes": {"type": "Intent", "action": "transfer",
                                           "resourceQuantity": {"hasUnit": "one"}}}
    await receive(rt, oak, {"id": f"{oak.uri}/create/9", "type": "Create", "actor": oak.uri,
                            "object": note_})
    post = await rt.posts.get_by_uri(await rt.posts.viewer_for_user(None), note_["id"])
    sam, as_sam = await member(rt, "sam")
    await rt.responses.respond(sam, post.id, "I'll bring some", None)
    [mine] = await get(client, "/api/v1/conversations", as_sam)
    assert [a["acct"] for a in mine["accounts"]] == ["oak@oak.example"]
    offer = next(p for t, _, p in await sent(rt) if t == "Offer")
    await receive(rt, oak, {"id": f"{oak.uri}/accept/2", "type": "Accept", "actor": oak.uri,
                            "object": offer["id"],
                            "result": {"id": f"{oak.uri}/agreements/1", "type": "Agreement"}})
    [n] = await get(client, "/api/v1/notifications", as_sam)
    assert n["type"] == "mention" and n["account"]["acct"] == "oak@oak.example"
    assert "Accepted" in n["status"]["content"]
    assert n["status"]["uri"] == f"{oak.uri}/accept/2"
