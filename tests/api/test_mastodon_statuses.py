"""Mastodon client API: statuses and timelines, in process, on SQLite and PostgreSQL.

Posting (notes, and offers/needs with #need/#offer), the visibility mapping enforced on
every read path, Idempotency-Key, pagination with Link headers, threads, favourites, boosts,
bookmarks, deletion, errors that change nothing."""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from fediaid.domain.actors import Role
from fediaid.services.runtime import Runtime
from fediaid.storage.tables import activities, deliveries, notifications, posts, statuses


class Member:
    def __init__(self, client: httpx.AsyncClient, token: str, name: str) -> None:
        self.client, self.token, self.name = client, token, name

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.client.get(path, headers=self.auth, **kw)

    async def post(self, path: str, **kw: Any) -> httpx.Response:
        headers = {**self.auth, **kw.pop("headers", {})}
        return await self.client.post(path, headers=headers, **kw)

    async def toot(self, text: str, **extra: Any) -> dict[str, Any]:
        r = await self.post("/api/v1/statuses", data={"status": text, **extra})
        assert r.status_code == 200, r.text
        return dict(r.json())


async def member(rt: Runtime, client: httpx.AsyncClient, name: str, *,
                 scopes: tuple[str, ...] = ("read", "write", "follow"),
                 role: Role = Role.MEMBER) -> Member:
    await rt.accounts.create_user(name, role=role)
    token = await rt.accounts.create_token(name, scopes=list(scopes))
    return Member(client, token, name)


async def count(rt: Runtime, table: Any) -> int:
    async with rt.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


@pytest.fixture
async def people(runtime: Runtime, client: httpx.AsyncClient) -> tuple[Member, Member]:
    return (await member(runtime, client, "maria"), await member(runtime, client, "tom"))


async def test_a_plain_status_has_mastodons_shape(people: tuple[Member, Member]) -> None:
    maria, _ = people
    s = await maria.toot("Hello neighbors! #garden")
    assert isinstance(s["id"], str) and s["visibility"] == "public"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", s["created_at"])
    assert s["account"]["username"] == "maria" and s["account"]["avatar"]
    assert "Hello neighbors!" in s["content"] and 'rel="tag"' in s["content"]
    assert s["tags"] == [{"name": "garden", "url": s["tags"][0]["url"]}]
    for key in ("reblogs_count", "favourites_count", "replies_count"):
        assert s[key] == 0
    assert s["favourited"] is False and s["reblog"] is None and s["media_attachments"] == []
    again = await maria.get(f"/api/v1/statuses/{s['id']}")
    assert again.json()["content"] == s["content"]


async def test_need_from_an_app_becomes_a_group_need(runtime: Runtime,
                                                     people: tuple[Member, Member]) -> None:
    maria, tom = people
    s = await maria.toot("Groceries for a family of four this week #need #food")
    async with runtime.db.read() as conn:
        row = (await conn.execute(select(posts))).one()
    assert row.kind == "need" and row.category == "food"
    assert row.title == "Groceries for a family of four this week"
    assert row.description == ""
    long = await maria.toot("Rides to the clinic. Tuesdays and Thursdays, mornings.\n"
                            "I can pay for gas. #need #transport")
    async with runtime.db.read() as conn:
        ride = (await conn.execute(select(posts).where(posts.c.id > row.id))).one()
    assert ride.title == "Rides to the clinic." and ride.category == "transport"
    assert ride.description == "Tuesdays and Thursdays, mornings.\nI can pay for gas."
    assert long["id"]
    # It reads as a normal status whose content shows the structured parts.
    seen = (await tom.get(f"/api/v1/statuses/{s['id']}")).json()
    assert "Groceries for a family of four" in seen["content"]
    assert "need" in {t["name"] for t in seen["tags"]}
    offer = await tom.toot("Spare crib, good condition #offer")
    assert offer["id"] != s["id"] and await count(runtime, posts) == 3


async def test_public_need_with_a_phone_number_is_refused_with_the_reason(
        runtime: Runtime, people: tuple[Member, Member]) -> None:
    maria, _ = people
    r = await maria.post("/api/v1/statuses",
                         data={"status": "Need a ride, call 555-123-4567 #need"})
    assert r.status_code == 422 and "phone number" in r.json()["error"]
    assert await count(runtime, posts) == 0 and await count(runtime, statuses) == 0
    ok = await maria.post("/api/v1/statuses", data={
        "status": "Need a ride, call 555-123-4567 #need", "visibility": "local"})
    assert ok.status_code == 200 and ok.json()["visibility"] == "private"


@pytest.mark.parametrize(("asked", "level", "shown"), [
    ("public", "public", "public"), ("unlisted", "public", "unlisted"),
    ("private", "network", "private"), ("direct", "direct", "direct"),
    ("local", "members", "private"),
])
async def test_visibility_mapping(runtime: Runtime, people: tuple[Member, Member],
                                  asked: str, level: str, shown: str) -> None:
    maria, _ = people
    s = await maria.toot("@tom see you at the meeting", visibility=asked)
    assert s["visibility"] == shown
    async with runtime.db.read() as conn:
        stored = (await conn.execute(select(statuses.c.visibility, statuses.c.listed))).one()
    assert stored.visibility == level and stored.listed is (asked != "unlisted")


async def test_private_statuses_stay_private_on_every_path(
        runtime: Runtime, client: httpx.AsyncClient, people: tuple[Member, Member]) -> None:
    maria, tom = people
    ana = await member(runtime, client, "ana")
    direct = await maria.toot("@tom your key is under the mat", visibility="direct")
    members = await maria.toot("Members only: meeting moved", visibility="local")
    public = await maria.toot("Everyone welcome")
    sid = direct["id"]
    # The named person and the author see the direct message; nobody else does.
    assert (await tom.get(f"/api/v1/statuses/{sid}")).status_code == 200
    assert (await ana.get(f"/api/v1/statuses/{sid}")).status_code == 404
    assert (await client.get(f"/api/v1/statuses/{sid}")).status_code == 404
    assert (await client.get(f"/api/v1/statuses/{members['id']}")).status_code == 404
    assert (await ana.get(f"/api/v1/statuses/{members['id']}")).status_code == 200
    for path in ("/api/v1/timelines/public", "/api/v1/timelines/public?local=true"):
        anon_ids = [s["id"] for s in (await client.get(path)).json()]
        assert anon_ids == [public["id"]]
    ana_home = [s["id"] for s in (await ana.get("/api/v1/timelines/home")).json()]
    assert sid not in ana_home
    tom_home = [s["id"] for s in (await tom.get("/api/v1/timelines/home")).json()]
    assert sid in tom_home
    # Context, favourites and "many" do not leak it either.
    assert (await ana.get(f"/api/v1/statuses/{sid}/context")).status_code == 404
    assert (await ana.post(f"/api/v1/statuses/{sid}/favourite")).status_code == 404
    many = await ana.get("/api/v1/statuses", params=[("id[]", sid), ("id[]", public["id"])])
    assert [s["id"] for s in many.json()] == [public["id"]]
    # Members-only statuses never leave the instance.
    async with runtime.db.read() as conn:
        uris = [r[0] for r in await conn.execute(select(activities.c.object_uri))]
    members_uri = (await maria.get(f"/api/v1/statuses/{members['id']}")).json()["uri"]
    assert members_uri not in uris


async def test_idempotency_key_posts_once(runtime: Runtime,
                                          people: tuple[Member, Member]) -> None:
    maria, _ = people
    first = await maria.post("/api/v1/statuses", data={"status": "once"},
                             headers={"Idempotency-Key": "abc-1"})
    second = await maria.post("/api/v1/statuses", data={"status": "once"},
                              headers={"Idempotency-Key": "abc-1"})
    assert first.json()["id"] == second.json()["id"]
    assert await count(runtime, statuses) == 1
    third = await maria.post("/api/v1/statuses", data={"status": "once"},
                             headers={"Idempotency-Key": "abc-2"})
    assert third.json()["id"] != first.json()["id"]


async def test_pagination_and_link_headers(people: tuple[Member, Member]) -> None:
    maria, tom = people
    ids = [(await maria.toot(f"status {i}"))["id"] for i in range(7)]
    newest_first = list(reversed(ids))
    r = await tom.get("/api/v1/timelines/public", params={"limit": 3})
    assert [s["id"] for s in r.json()] == newest_first[:3]
    links = dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"',
                                                       r.headers["link"]))
    assert f"max_id={newest_first[2]}" in links["next"] and "limit=3" in links["next"]
    assert f"min_id={newest_first[0]}" in links["prev"]
    nxt = await tom.get(links["next"].split("://", 1)[1].split("/", 1)[1].join(["/", ""]))
    assert [s["id"] for s in nxt.json()] == newest_first[3:6]
    since = await tom.get("/api/v1/timelines/public", params={"since_id": ids[4]})
    assert [s["id"] for s in since.json()] == [ids[6], ids[5]]
    mins = await tom.get("/api/v1/timelines/public", params={"min_id": ids[1], "limit": 2})
    assert [s["id"] for s in mins.json()] == [ids[3], ids[2]]
    bad = await tom.get("/api/v1/timelines/public", params={"max_id": "abc"})
    assert bad.status_code == 400 and "error" in bad.json()


async def test_thread_context_and_reply_notification(
        runtime: Runtime, people: tuple[Member, Member]) -> None:
    maria, tom = people
    root = await maria.toot("Who has a ladder?")
    reply = await tom.toot("I do!", in_reply_to_id=root["id"])
    deeper = await maria.toot("Thanks", in_reply_to_id=reply["id"])
    assert reply["in_reply_to_id"] == root["id"]
    ctx = (await tom.get(f"/api/v1/statuses/{reply['id']}/context")).json()
    assert [s["id"] for s in ctx["ancestors"]] == [root["id"]]
    assert [s["id"] for s in ctx["descendants"]] == [deeper["id"]]
    async with runtime.db.read() as conn:
        kinds = [r[0] for r in await conn.execute(select(notifications.c.type))]
    assert kinds.count("mention") == 2  # maria about tom's reply, tom about maria's


async def test_favourite_boost_bookmark_and_undo(runtime: Runtime,
                                                 people: tuple[Member, Member]) -> None:
    maria, tom = people
    s = await maria.toot("Soup night on Friday")
    fav = (await tom.post(f"/api/v1/statuses/{s['id']}/favourite")).json()
    assert fav["favourited"] is True and fav["favourites_count"] == 1
    boost = await tom.post(f"/api/v1/statuses/{s['id']}/reblog")
    assert boost.status_code == 200
    b = boost.json()
    assert b["reblog"]["id"] == s["id"] and b["reblogged"] is True
    assert b["reblog"]["reblogs_count"] == 1
    who = await maria.get(f"/api/v1/statuses/{s['id']}/favourited_by")
    assert [a["username"] for a in who.json()] == ["tom"]
    rb = await maria.get(f"/api/v1/statuses/{s['id']}/reblogged_by")
    assert [a["username"] for a in rb.json()] == ["tom"]
    bm = (await tom.post(f"/api/v1/statuses/{s['id']}/bookmark")).json()
    assert bm["bookmarked"] is True
    assert [x["id"] for x in (await tom.get("/api/v1/bookmarks")).json()] == [s["id"]]
    assert [x["id"] for x in (await tom.get("/api/v1/favourites")).json()] == [s["id"]]
    async with runtime.db.read() as conn:
        kinds = sorted(r[0] for r in await conn.execute(select(notifications.c.type)))
    assert kinds == ["favourite", "reblog"]
    un = (await tom.post(f"/api/v1/statuses/{s['id']}/unfavourite")).json()
    assert un["favourited"] is False and un["favourites_count"] == 0
    unb = (await tom.post(f"/api/v1/statuses/{s['id']}/unreblog")).json()
    assert unb["reblogged"] is False and unb["reblogs_count"] == 0
    await tom.post(f"/api/v1/statuses/{s['id']}/unbookmark")
    assert (await tom.get("/api/v1/bookmarks")).json() == []


async def test_private_status_cannot_be_boosted(people: tuple[Member, Member]) -> None:
    maria, tom = people
    s = await maria.toot("Members and network only", visibility="private")
    r = await tom.post(f"/api/v1/statuses/{s['id']}/reblog")
    assert r.status_code == 422 and "error" in r.json()


async def test_delete_own_status_returns_its_text_and_others_cannot(
        runtime: Runtime, people: tuple[Member, Member]) -> None:
    maria, tom = people
    s = await maria.toot("Typo in thsi")
    refused = await tom.client.delete(f"/api/v1/statuses/{s['id']}", headers=tom.auth)
    assert refused.status_code == 403
    r = await maria.client.delete(f"/api/v1/statuses/{s['id']}", headers=maria.auth)
    assert r.status_code == 200 and r.json()["text"] == "Typo in thsi"
    assert (await maria.get(f"/api/v1/statuses/{s['id']}")).status_code == 404
    need = await maria.toot("Rent help this month #need")
    r = await maria.client.delete(f"/api/v1/statuses/{need['id']}", headers=maria.auth)
    assert r.status_code == 200 and await count(runtime, posts) == 0


async def test_edit_and_source(people: tuple[Member, Member]) -> None:
    maria, tom = people
    s = await maria.toot("Pickup at 5")
    r = await maria.client.put(f"/api/v1/statuses/{s['id']}", headers=maria.auth,
                               data={"status": "Pickup at 6"})
    assert r.status_code == 200 and "Pickup at 6" in r.json()["content"]
    assert r.json()["edited_at"] is not None
    src = (await maria.get(f"/api/v1/statuses/{s['id']}/source")).json()
    assert src["text"] == "Pickup at 6"
    history = (await tom.get(f"/api/v1/statuses/{s['id']}/history")).json()
    assert ["Pickup at 5" in v["content"] for v in history] == [True, False]
    assert "Pickup at 6" in history[-1]["content"]
    assert history[0]["created_at"] == s["created_at"]
    other = await tom.client.put(f"/api/v1/statuses/{s['id']}", headers=tom.auth,
                                 data={"status": "hacked"})
    assert other.status_code == 404


async def test_bad_input_changes_nothing(runtime: Runtime, client: httpx.AsyncClient,
                                         people: tuple[Member, Member]) -> None:
    maria, _ = people
    reader = await member(runtime, client, "reader", scopes=("read",))
    cases = [
        (maria, {"status": ""}, 422),
        (maria, {"status": "x" * 5001}, 422),
        (maria, {"status": "hi", "visibility": "everyone"}, 400),
        (maria, {"status": "hi", "in_reply_to_id": "999999"}, 404),
        (maria, {"status": "hi", "in_reply_to_id": "abc"}, 400),
        (maria, {"status": "hi", "poll[options][]": "a"}, 422),
        (maria, {"status": "just for @nobody", "visibility": "direct"}, 422),
        (reader, {"status": "hi"}, 403),
    ]
    for who, data, code in cases:
        r = await who.post("/api/v1/statuses", data=data)
        assert r.status_code == code, (data, r.text)
        assert set(r.json()) == {"error"}
    r = await client.post("/api/v1/statuses", data={"status": "hi"})
    assert r.status_code == 401
    r = await client.post("/api/v1/statuses", data={"status": "hi"},
                          headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    r = await maria.client.post("/api/v1/statuses", headers={**maria.auth,
                                "Content-Type": "application/json"}, content=b"{oops")
    assert r.status_code == 400
    assert await count(runtime, statuses) == 0 and await count(runtime, deliveries) == 0


async def test_json_body_and_tag_timeline(people: tuple[Member, Member]) -> None:
    maria, tom = people
    r = await maria.client.post("/api/v1/statuses", headers={**maria.auth,
                                "Content-Type": "application/json"},
                                content=orjson.dumps({"status": "Seeds to share #garden",
                                                      "spoiler_text": "plants"}))
    assert r.status_code == 200 and r.json()["spoiler_text"] == "plants"
    assert r.json()["sensitive"] is True
    await maria.toot("Unrelated")
    tagged = (await tom.get("/api/v1/timelines/tag/garden")).json()
    assert [s["id"] for s in tagged] == [r.json()["id"]]
    assert (await tom.get("/api/v1/timelines/tag/nothing")).json() == []


async def test_an_answer_from_an_app_is_private_and_goes_with_the_post(
        runtime: Runtime, client: httpx.AsyncClient, people: tuple[Member, Member]) -> None:
    maria, tom = people
    ana = await member(runtime, client, "ana")
    need = await maria.toot("A ride to the clinic on Monday #need")
    answer = await tom.toot("I can drive you", in_reply_to_id=need["id"])
    assert answer["visibility"] == "direct" and answer["in_reply_to_id"] == need["id"]
    assert (await maria.get(f"/api/v1/statuses/{answer['id']}")).status_code == 200
    assert (await ana.get(f"/api/v1/statuses/{answer['id']}")).status_code == 404
    # Deleting the need takes its private thread with it.
    r = await maria.client.delete(f"/api/v1/statuses/{need['id']}", headers=maria.auth)
    assert r.status_code == 200
    assert await count(runtime, statuses) == 0 and await count(runtime, posts) == 0


async def test_an_anonymous_asker_cannot_reveal_herself_by_replying(
        runtime: Runtime, people: tuple[Member, Member]) -> None:
    maria, tom = people
    async with runtime.db.read() as conn:
        maria_user = await runtime.accounts.get_user("maria")
    del conn
    post = await runtime.posts.create(maria_user, {"kind": "need", "title": "Rent help"},
                                      as_neighbor=True)
    async with runtime.db.read() as conn:
        from fediaid.storage import statuses as statuses_repo

        sid = await statuses_repo.id_for_post(conn, post.id)
    shown = (await tom.get(f"/api/v1/statuses/{sid}")).json()
    assert shown["account"]["username"] != "maria"
    answer = await tom.toot("I can help with part of it", in_reply_to_id=str(sid))
    before = await count(runtime, statuses)
    r = await maria.post("/api/v1/statuses", data={"status": "Thank you!",
                                                   "in_reply_to_id": answer["id"]})
    assert r.status_code == 422 and "anonymous" in r.json()["error"]
    assert await count(runtime, statuses) == before


async def _answered_and_accepted(runtime: Runtime, maria: Member, tom: Member, *,
                                 anonymous: bool) -> tuple[str, Any]:
    from fediaid.storage import responses as responses_repo
    from fediaid.storage import statuses as statuses_repo

    maria_user = await runtime.accounts.get_user("maria")
    post = await runtime.posts.create(maria_user, {"kind": "need", "title": "Winter coat"},
                                      as_neighbor=anonymous)
    async with runtime.db.read() as conn:
        need_sid = await statuses_repo.id_for_post(conn, post.id)
    answer = await tom.toot("I have one in size M", in_reply_to_id=str(need_sid))
    async with runtime.db.read() as conn:
        response = (await responses_repo.for_post(conn, post.id))[0]
    conv = await runtime.responses.accept(maria_user, response.id)
    return answer["id"], conv


async def test_exchange_messages_are_statuses_and_app_replies_join_the_exchange(
        runtime: Runtime, client: httpx.AsyncClient, people: tuple[Member, Member]) -> None:
    maria, tom = people
    ana = await member(runtime, client, "ana")
    answer_id, conv = await _answered_and_accepted(runtime, maria, tom, anonymous=False)
    # Maria replies from her app to Tom's answer: it is a message of the exchange.
    reply = await maria.toot("Great, can you bring it Sunday?", in_reply_to_id=answer_id)
    assert reply["visibility"] == "direct" and reply["account"]["username"] == "maria"
    _, messages = await runtime.responses.messages(await runtime.accounts.get_user("tom"),
                                                   conv.id)
    assert [m.body for m in messages] == ["Great, can you bring it Sunday?"]
    # A message from the web page reaches Tom's app as a direct status with a mention.
    await runtime.responses.send(await runtime.accounts.get_user("tom"), conv.id,
                                 "Yes, around noon")
    notes = (await maria.get("/api/v1/notifications", params={"types[]": "mention"})).json()
    assert any("around noon" in n["status"]["content"] for n in notes)
    tom_notes = (await tom.get("/api/v1/notifications", params={"types[]": "mention"})).json()
    assert any("Sunday" in n["status"]["content"] for n in tom_notes)
    assert (await ana.get(f"/api/v1/statuses/{reply['id']}")).status_code == 404


async def test_anonymous_asker_replies_from_an_app_as_the_group(
        runtime: Runtime, people: tuple[Member, Member]) -> None:
    maria, tom = people
    answer_id, _conv = await _answered_and_accepted(runtime, maria, tom, anonymous=True)
    reply = await maria.toot("Thank you, the group will pick it up", in_reply_to_id=answer_id)
    assert reply["account"]["username"] != "maria" and reply["account"]["group"] is True
    seen = (await tom.get(f"/api/v1/statuses/{reply['id']}")).json()
    assert seen["account"]["username"] != "maria"
    assert "maria" not in str(seen["mentions"])
    # Tom's reply reaches maria (hidden recipient) without naming her.
    back = await tom.toot("Sounds good", in_reply_to_id=reply["id"])
    assert (await maria.get(f"/api/v1/statuses/{back['id']}")).status_code == 200
    assert "maria" not in str(back["mentions"])


async def test_remote_profiles_are_sanitised_and_show_their_images(
        runtime: Runtime, people: tuple[Member, Member]) -> None:
    from fediaid.federation.parse import parse_actor
    from tests.support.remote import remote_actor

    maria, _ = people
    bob = remote_actor("bob")
    doc = bob.document() | {
        "summary": '<p>Hi <script>alert(1)</script><a href="javascript:x">me</a></p>',
        "icon": {"type": "Image", "url": "https://remote.example/a.png"},
        "image": [{"type": "Image", "url": "https://remote.example/h.png"}]}
    actor = await runtime.keys.store_actor(parse_actor(doc))
    account = (await maria.get(f"/api/v1/accounts/{actor.id}")).json()
    assert "<script>" not in account["note"] and "javascript:" not in account["note"]
    assert "Hi" in account["note"]
    assert account["avatar"] == "https://remote.example/a.png"
    assert account["header"] == "https://remote.example/h.png"


async def test_full_text_search_finds_only_what_the_asker_may_see(
        runtime: Runtime, client: httpx.AsyncClient, people: tuple[Member, Member]) -> None:
    maria, tom = people
    ana = await member(runtime, client, "ana")
    crib = await maria.toot("Spare crib and a stroller #offer")
    note = await maria.toot("The crib went to a good home!")
    secret = await maria.toot("@tom the crib key is under the mat", visibility="direct")
    await maria.toot("Unrelated soup night")

    async def found(who: Member, q: str) -> list[str]:
        r = await who.get("/api/v2/search", params={"q": q, "type": "statuses"})
        assert r.status_code == 200
        return [s["id"] for s in r.json()["statuses"]]

    assert await found(tom, "crib") == [secret["id"], note["id"], crib["id"]]
    assert await found(ana, "CRIB") == [note["id"], crib["id"]]
    assert await found(ana, "crib stroller") == [crib["id"]]
    assert await found(ana, "100%_") == []
    anonymous = await client.get("/api/v2/search", params={"q": "crib", "type": "statuses"})
    assert anonymous.json()["statuses"] == []
