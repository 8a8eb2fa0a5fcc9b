"""The JSON API at /api/fediaid/v1 as a client uses it: over HTTP (in process) against a real
initialised instance, on SQLite and PostgreSQL.

People: ``admin`` (the first coordinator), ``maria`` and ``sam`` (members), created per test.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from starlette.requests import Request

from api.fediaid_api import routes
from api.fediaid_api.openapi import DOCUMENT
from api.web.session import COOKIE, csrf_token
from fediaid.domain.actors import ActorType, Role
from fediaid.services.runtime import Runtime
from fediaid.storage.tables import posts

API = "/api/fediaid/v1"
Headers = dict[str, str]


async def token(rt: Runtime, name: str, *, role: Role | None = Role.MEMBER,
                scopes: tuple[str, ...] = ("read", "write")) -> Headers:
    """A bearer header for ``name`` (created unless ``role`` is None: an existing user)."""
    if role is not None:
        await rt.accounts.create_user(name, role=role)
    secret = await rt.accounts.create_token(name, scopes=list(scopes))
    return {"Authorization": f"Bearer {secret}"}


def uri_of(rt: Runtime, name: str) -> str:
    return rt.urls.actor_urls(ActorType.PERSON, name)["uri"]


async def stored_posts(rt: Runtime) -> int:
    async with rt.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(posts))).scalar_one())


async def post_as(client: httpx.AsyncClient, who: Headers, body: dict[str, Any],
                  path: str = "/posts") -> dict[str, Any]:
    r = await client.post(API + path, json=body, headers=who)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def listed(client: httpx.AsyncClient, who: Headers | None = None, **params: Any
                 ) -> list[str]:
    r = await client.get(API + "/posts", params=params, headers=who or {})
    assert r.status_code == 200, r.text
    return [p["title"] for p in r.json()]


# -- posting --------------------------------------------------------------------------------
async def test_a_need_with_only_kind_and_a_sentence(client: httpx.AsyncClient,
                                                    runtime: Runtime) -> None:
    maria = await token(runtime, "maria")
    r = await client.post(API + "/posts", headers=maria, json={
        "kind": "need", "description": "Groceries for a family of four. We are short."})
    assert r.status_code == 201 and r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "private, no-store"
    post = r.json()
    assert r.headers["location"] == f"http://a.test{API}/posts/{post['id']}"
    assert post["title"] == "Groceries for a family of four."
    assert isinstance(post["id"], str) and post["id"].isdigit()
    assert post["kind"] == "need" and post["state"] == "open" and post["quantity"] is None
    assert post["visibility"] == "public" and post["category"] == "food"  # suggested
    assert post["created_at"].endswith("Z") and post["expires_at"].endswith("Z")
    assert post["author"] == {"uri": uri_of(runtime, "maria")} and post["creator"] == "maria"
    assert post["recipients"] == [] and post["anonymous"] is False
    seen = (await client.get(f"{API}/posts/{post['id']}")).json()
    assert seen["title"] == post["title"]
    assert "recipients" not in seen and "anonymous" not in seen  # only for who manages it


async def test_quantities_are_strings_and_times_utc(client: httpx.AsyncClient,
                                                    runtime: Runtime) -> None:
    maria = await token(runtime, "maria")
    post = await post_as(client, maria, {
        "kind": "offer", "title": "Apples", "quantity": 10, "unit": "kg",
        "starts_at": "2030-06-01T18:00:00+02:00", "ends_at": "2030-06-01T20:00:00Z",
        "urgency": "urgent", "category": "food", "area": "11211"})
    assert post["quantity"] == "10" and post["unit"] == "kg"  # not "1E+1"
    assert post["starts_at"] == "2030-06-01T16:00:00.000Z"
    assert post["ends_at"] == "2030-06-01T20:00:00.000Z"
    assert (post["urgency"], post["category"], post["area"]) == ("urgent", "food", "11211")
    half = await post_as(client, maria, {"kind": "offer", "title": "Flour", "quantity": "1.5"})
    assert half["quantity"] == "1.5"


async def test_privacy_warnings_ask_first_and_store_nothing(client: httpx.AsyncClient,
                                                           runtime: Runtime) -> None:
    maria = await token(runtime, "maria")
    need = {"kind": "need", "title": "Ride to the clinic",
            "description": "Call me on 555 123 4567 please"}
    r = await client.post(API + "/posts", headers=maria, json=need)
    assert r.status_code == 422
    body = r.json()
    assert "phone number" in body["error"] and body["field"] == "description"
    assert body["warnings"] == [{"field": "description", "message": body["error"]}]
    assert body["confirm_with"] == {"confirm": True}
    assert await stored_posts(runtime) == 0 and await listed(client) == []
    r = await client.post(API + "/posts", headers=maria, json={**need, "confirm": True})
    assert r.status_code == 201 and r.json()["description"] == need["description"]
    # Members-only posts are not public: no question asked.
    await post_as(client, maria, {**need, "visibility": "members"})
    # Edits ask too, and change nothing until confirmed.
    pid = r.json()["id"]
    r = await client.patch(f"{API}/posts/{pid}", headers=maria,
                           json={"title": "Ride, or write to m@example.org"})
    assert r.status_code == 422 and r.json()["field"] == "title"
    assert (await client.get(f"{API}/posts/{pid}")).json()["title"] == need["title"]
    r = await client.patch(f"{API}/posts/{pid}", headers=maria,
                           json={"title": "Ride, or write to m@example.org", "confirm": True})
    assert r.status_code == 200 and r.json()["title"] == "Ride, or write to m@example.org"


async def test_edit_is_partial_and_only_for_the_poster(client: httpx.AsyncClient,
                                                       runtime: Runtime) -> None:
    maria = await token(runtime, "maria")
    sam = await token(runtime, "sam")
    post = await post_as(client, maria, {"kind": "offer", "title": "Rides on Tuesdays",
                                         "category": "transport"})
    url = f"{API}/posts/{post['id']}"
    r = await client.patch(url, headers=maria, json={"title": "Rides on Fridays"})
    assert r.status_code == 200
    assert (r.json()["title"], r.json()["category"]) == ("Rides on Fridays", "transport")
    r = await client.patch(url, headers=maria, json={"kind": "need"})
    assert r.status_code == 400 and r.json()["field"] == "kind"
    r = await client.patch(url, headers=sam, json={"title": "mine now"})
    assert r.status_code == 403
    r = await client.post(url + "/close", headers=sam, json={"outcome": "withdrawn"})
    assert r.status_code == 403
    r = await client.post(url + "/close", headers=maria, json={"outcome": "expired"})
    assert r.status_code == 400 and r.json()["field"] == "outcome"
    r = await client.post(url + "/close", headers=maria, json={"outcome": "fulfilled"})
    assert r.status_code == 200 and r.json()["state"] == "fulfilled"
    assert r.json()["closed_at"].endswith("Z")
    r = await client.post(url + "/close", headers=maria, json={"outcome": "withdrawn"})
    assert r.status_code == 409 and "already closed" in r.json()["error"]
    r = await client.patch(url, headers=maria, json={"title": "again"})
    assert r.status_code == 400 and r.json()["field"] == "state"


# -- who sees what --------------------------------------------------------------------------
async def test_members_only_posts_stay_with_members(client: httpx.AsyncClient,
                                                    runtime: Runtime) -> None:
    maria = await token(runtime, "maria")
    sam = await token(runtime, "sam")
    post = await post_as(client, maria, {"kind": "offer", "title": "Spare room for a week",
                                         "visibility": "members"})
    url = f"{API}/posts/{post['id']}"
    anonymous = await client.get(url)
    assert anonymous.status_code == 404 and "not shared with you" in anonymous.json()["error"]
    assert await listed(client) == []
    assert (await client.get(url, headers=sam)).status_code == 200
    assert await listed(client, sam) == ["Spare room for a week"]


async def test_direct_posts_only_reach_their_recipients(client: httpx.AsyncClient,
                                                        runtime: Runtime) -> None:
    maria = await token(runtime, "maria")
    sam = await token(runtime, "sam")
    lee = await token(runtime, "lee")
    post = await post_as(client, maria, {"kind": "offer", "title": "Your size of boots",
                                         "visibility": "direct",
                                         "recipients": [uri_of(runtime, "sam")]})
    assert post["recipients"] == [uri_of(runtime, "sam")]
    url = f"{API}/posts/{post['id']}"
    seen = await client.get(url, headers=sam)
    assert seen.status_code == 200 and "recipients" not in seen.json()
    assert (await client.get(url, headers=lee)).status_code == 404
    assert (await client.get(url)).status_code == 404
    assert await listed(client, sam) == ["Your size of boots"]
    assert await listed(client, lee) == [] and await listed(client) == []
    r = await client.post(API + "/posts", headers=maria, json={
        "kind": "offer", "title": "x", "visibility": "direct"})
    assert r.status_code == 400 and r.json()["field"] == "recipients"


async def test_anonymous_posts_show_the_group(client: httpx.AsyncClient,
                                              runtime: Runtime) -> None:
    maria = await token(runtime, "maria")
    sam = await token(runtime, "sam")
    admin = await token(runtime, "admin", role=None)
    post = await post_as(client, maria, {"kind": "need", "title": "Help with rent",
                                         "as_neighbor": True})
    group = {"uri": runtime.identity.group.uri}
    assert post["author"] == group and post["creator"] == "maria" and post["anonymous"]
    url = f"{API}/posts/{post['id']}"
    for who in ({}, sam):
        seen = (await client.get(url, headers=who)).json()
        assert seen["author"] == group and "creator" not in seen
    listed_anonymously = (await client.get(API + "/posts")).json()
    assert "creator" not in listed_anonymously[0]
    coordinator_view = (await client.get(url, headers=admin)).json()
    assert coordinator_view["creator"] == "maria" and "recipients" not in coordinator_view
    assert (await client.get(url, headers=maria)).json()["creator"] == "maria"


async def test_proxy_intake_is_for_coordinators(client: httpx.AsyncClient,
                                                runtime: Runtime) -> None:
    admin = await token(runtime, "admin", role=None)
    cora = await token(runtime, "cora", role=Role.COORDINATOR)
    maria = await token(runtime, "maria")
    sam = await token(runtime, "sam")
    need = {"kind": "need", "title": "Groceries on Fridays",
            "intake": {"name": "Mrs. K", "callback": "555 0100", "notes": "after 6pm"}}
    r = await client.post(API + "/intake", headers=maria, json=need)
    assert r.status_code == 403 and "coordinators" in r.json()["error"]
    r = await client.post(API + "/intake", headers=admin,
                          json={**need, "intake": {"name": "  "}})
    assert r.status_code == 400 and r.json()["field"] == "intake.name"
    r = await client.post(API + "/intake", headers=admin,
                          json={**need, "intake": {"name": "K", "phone": "1"}})
    assert r.status_code == 400 and r.json()["field"] == "intake.phone"
    assert await stored_posts(runtime) == 0
    post = await post_as(client, admin, need, path="/intake")
    assert post["author"] == {"uri": runtime.identity.group.uri} and post["proxy"] is True
    url = f"{API}/posts/{post['id']}"
    # The world sees the group; coordinators see who recorded it.
    assert "creator" not in (await client.get(url)).json()
    assert "creator" not in (await client.get(url, headers=sam)).json()
    assert (await client.get(url, headers=cora)).json()["creator"] == "admin"
    # The intake record: coordinators only.
    record = await client.get(url + "/intake", headers=cora)
    assert record.status_code == 200
    assert record.json() | {"created_at": None} == {
        "post_id": post["id"], "name": "Mrs. K", "callback": "555 0100",
        "notes": "after 6pm", "created_at": None}
    assert (await client.get(url + "/intake", headers=maria)).status_code == 403
    assert (await client.get(url + "/intake")).status_code == 401
    ordinary = await post_as(client, maria, {"kind": "offer", "title": "Bread"})
    assert (await client.get(f"{API}/posts/{ordinary['id']}/intake",
                             headers=admin)).status_code == 404
    # Answers to it are seen by every coordinator, who speak for the group.
    r = await client.post(url + "/responses", headers=sam, json={"message": "I can shop"})
    assert r.status_code == 201
    answers = await client.get(url + "/responses", headers=cora)
    assert [a["message"] for a in answers.json()] == ["I can shop"]
    assert (await client.get(url + "/responses", headers=maria)).status_code == 404
    conv = await client.post(f"{API}/responses/{r.json()['id']}/accept", headers=cora)
    assert conv.status_code == 200 and conv.json()["you_are"] == "other"
    sent = await client.post(f"{API}/conversations/{conv.json()['id']}/messages",
                             headers=admin, json={"body": "Thank you! Friday at 5?"})
    assert sent.status_code == 201
    assert sent.json()["sender"] == {"uri": runtime.identity.group.uri}
    for who in (admin, cora):  # the recorder and any other coordinator
        listed_ids = [c["id"] for c in (await client.get(API + "/conversations",
                                                         headers=who)).json()]
        assert listed_ids == [conv.json()["id"]]


# -- answering, accepting, conversations -----------------------------------------------------
async def test_respond_accept_part_converse_and_close(client: httpx.AsyncClient,
                                                      runtime: Runtime) -> None:
    maria = await token(runtime, "maria")
    sam = await token(runtime, "sam")
    post = await post_as(client, maria, {"kind": "need", "title": "Diapers, size 4",
                                         "quantity": 4, "unit": "packs"})
    url = f"{API}/posts/{post['id']}"
    r = await client.post(url + "/responses", headers=maria, json={"message": "me"})
    assert r.status_code == 400 and r.json()["field"] == "post"
    r = await client.post(url + "/responses", headers=sam, json={"quantity": 5})
    assert r.status_code == 400 and r.json()["field"] == "quantity"
    r = await client.post(url + "/responses", headers=sam,
                          json={"message": "I have three packs", "quantity": "3"})
    assert r.status_code == 201
    answer = r.json()
    assert answer["state"] == "pending" and answer["quantity"] == "3"
    assert answer["responder"] == {"uri": uri_of(runtime, "sam")}
    again = await client.post(url + "/responses", headers=sam, json={})
    assert again.status_code == 409
    assert (await client.get(url + "/responses", headers=sam)).status_code == 404
    mine = await client.get(url + "/responses", headers=maria)
    assert [a["id"] for a in mine.json()] == [answer["id"]]

    accept = f"{API}/responses/{answer['id']}/accept"
    assert (await client.post(accept, headers=sam)).status_code == 404
    r = await client.post(accept, headers=maria, json={"quantity": 4})
    assert r.status_code == 400 and r.json()["field"] == "quantity"
    r = await client.post(accept, headers=maria, json={"quantity": 2})
    assert r.status_code == 200
    conv = r.json()
    assert conv["you_are"] == "other" and conv["closed"] is False
    assert conv["post_id"] == post["id"] and conv["response_id"] == answer["id"]
    assert (await client.get(url)).json()["state"] == "promised"
    accepted = (await client.get(url + "/responses", headers=maria)).json()[0]
    assert (accepted["state"], accepted["quantity"]) == ("accepted", "2")

    theirs = (await client.get(API + "/conversations", headers=sam)).json()
    assert [(c["id"], c["you_are"]) for c in theirs] == [(conv["id"], "helper")]
    curl = f"{API}/conversations/{conv['id']}"
    for who, text in ((sam, "Tuesday at 6?"), (maria, "Yes, thank you!")):
        r = await client.post(curl + "/messages", headers=who, json={"body": text})
        assert r.status_code == 201 and r.json()["from_you"] is True
    r = await client.post(curl + "/messages", headers=sam, json={"body": "   "})
    assert r.status_code == 400 and r.json()["field"] == "body"
    lee = await token(runtime, "lee")
    assert (await client.get(curl, headers=lee)).status_code == 404
    assert (await client.post(curl + "/messages", headers=lee,
                              json={"body": "hi"})).status_code == 404
    shown = (await client.get(curl, headers=maria)).json()
    assert [(m["body"], m["from_you"]) for m in shown["messages"]] == [
        ("Tuesday at 6?", False), ("Yes, thank you!", True)]
    assert shown["messages"][0]["sender"] == {"uri": uri_of(runtime, "sam")}

    r = await client.post(url + "/close", headers=maria, json={"outcome": "partly_fulfilled"})
    assert r.status_code == 200 and r.json()["state"] == "partly_fulfilled"
    assert (await client.get(curl, headers=sam)).json()["closed"] is True
    # The closed-exchange rule: the other side cannot write to the helper any more...
    r = await client.post(curl + "/messages", headers=maria, json={"body": "One more thing"})
    assert r.status_code == 403 and "closed" in r.json()["error"]
    assert (await client.post(curl + "/reopen", headers=maria)).status_code == 403
    # ...unless the helper writes, which reopens contact.
    r = await client.post(curl + "/messages", headers=sam, json={"body": "Need more?"})
    assert r.status_code == 201
    assert (await client.get(curl, headers=maria)).json()["closed"] is False
    r = await client.post(curl + "/messages", headers=maria, json={"body": "No, all good"})
    assert r.status_code == 201


async def test_the_helper_can_reopen_explicitly(client: httpx.AsyncClient,
                                                runtime: Runtime) -> None:
    maria = await token(runtime, "maria")
    sam = await token(runtime, "sam")
    offer = await post_as(client, sam, {"kind": "offer", "title": "Tutoring in maths"})
    answer = (await client.post(f"{API}/posts/{offer['id']}/responses", headers=maria,
                                json={"message": "For my son?"})).json()
    conv = (await client.post(f"{API}/responses/{answer['id']}/accept", headers=sam)).json()
    assert conv["you_are"] == "helper"  # on an offer, the one who offered helps
    await client.post(f"{API}/posts/{offer['id']}/close", headers=sam,
                      json={"outcome": "fulfilled"})
    curl = f"{API}/conversations/{conv['id']}"
    r = await client.post(curl + "/messages", headers=maria, json={"body": "again?"})
    assert r.status_code == 403
    r = await client.post(curl + "/reopen", headers=sam, json={})
    assert r.status_code == 204 and r.content == b""
    r = await client.post(curl + "/messages", headers=maria, json={"body": "again?"})
    assert r.status_code == 201


async def test_the_asker_of_an_anonymous_need_finds_its_conversations(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    maria = await token(runtime, "maria")
    sam = await token(runtime, "sam")
    need = await post_as(client, maria, {"kind": "need", "title": "Rent help",
                                         "as_neighbor": True})
    answer = await post_as(client, sam, {"message": "I can chip in"},
                           path=f"/posts/{need['id']}/responses")
    conv = (await client.post(f"{API}/responses/{answer['id']}/accept", headers=maria)).json()
    assert conv["you_are"] == "other"  # the group speaks for maria
    listed_for_maria = (await client.get(API + "/conversations", headers=maria)).json()
    assert [(c["id"], c["you_are"]) for c in listed_for_maria] == [(conv["id"], "other")]
    sent = await client.post(f"{API}/conversations/{conv['id']}/messages", headers=maria,
                             json={"body": "Thank you so much"})
    assert sent.json()["sender"] == {"uri": runtime.identity.group.uri}
    shown = (await client.get(f"{API}/conversations/{conv['id']}", headers=sam)).json()
    assert [(m["body"], m["from_you"]) for m in shown["messages"]] == [
        ("Thank you so much", False)]


async def test_decline_and_withdraw(client: httpx.AsyncClient, runtime: Runtime) -> None:
    maria = await token(runtime, "maria")
    sam = await token(runtime, "sam")
    lee = await token(runtime, "lee")
    need = await post_as(client, maria, {"kind": "need", "title": "A winter coat"})
    answers = f"{API}/posts/{need['id']}/responses"
    from_sam = (await client.post(answers, headers=sam, json={"message": "Size M?"})).json()
    from_lee = (await client.post(answers, headers=lee, json={})).json()
    r = await client.post(f"{API}/responses/{from_sam['id']}/decline", headers=maria,
                          json={"note": "Thanks, found one in L"})
    assert r.status_code == 204
    r = await client.post(f"{API}/responses/{from_sam['id']}/accept", headers=maria)
    assert r.status_code == 409
    r = await client.post(f"{API}/responses/{from_lee['id']}/withdraw", headers=sam)
    assert r.status_code == 404
    r = await client.post(f"{API}/responses/{from_lee['id']}/withdraw", headers=lee,
                          json={"why": "x"})
    assert r.status_code == 400 and r.json()["field"] == "why"
    r = await client.post(f"{API}/responses/{from_lee['id']}/withdraw", headers=lee)
    assert r.status_code == 204
    states = {a["id"]: (a["state"], a["note"])
              for a in (await client.get(answers, headers=maria)).json()}
    assert states == {from_sam["id"]: ("declined", "Thanks, found one in L"),
                      from_lee["id"]: ("withdrawn", None)}


async def test_a_weekly_cap_protects_one_time_helpers(client: httpx.AsyncClient,
                                                      runtime: Runtime) -> None:
    maria = await token(runtime, "maria")
    sam = await token(runtime, "sam")
    needs = [await post_as(client, maria, {"kind": "need", "title": f"Ride {i}"})
             for i in range(3)]
    shown = await client.get(API + "/me/limits", headers=sam)
    assert shown.status_code == 200 and shown.json() == {"weekly_response_cap": None}
    r = await client.put(API + "/me/limits", headers=sam, json={"weekly_response_cap": 1})
    assert r.status_code == 200 and r.json() == {"weekly_response_cap": 1}
    assert (await client.get(API + "/me/limits", headers=sam)).json() == r.json()
    first = await client.post(f"{API}/posts/{needs[0]['id']}/responses", headers=sam)
    assert first.status_code == 201
    second = await client.post(f"{API}/posts/{needs[1]['id']}/responses", headers=sam)
    assert second.status_code == 409 and "limit of 1 a week" in second.json()["error"]
    for bad in (0, 101, "3", 2.5, True):
        r = await client.put(API + "/me/limits", headers=sam,
                             json={"weekly_response_cap": bad})
        assert r.status_code == 400, bad
        assert r.json()["field"] == "weekly_response_cap"
    r = await client.put(API + "/me/limits", headers=sam, json={})
    assert r.status_code == 400 and r.json()["field"] == "weekly_response_cap"
    r = await client.put(API + "/me/limits", headers=sam, json={"weekly_response_cap": None})
    assert r.status_code == 200 and r.json() == {"weekly_response_cap": None}
    third = await client.post(f"{API}/posts/{needs[2]['id']}/responses", headers=sam)
    assert third.status_code == 201


# -- credentials -----------------------------------------------------------------------------
async def test_scopes_and_credentials(client: httpx.AsyncClient, runtime: Runtime) -> None:
    reader = await token(runtime, "maria", scopes=("read",))
    writer = await token(runtime, "maria", role=None, scopes=("write",))
    need = {"kind": "need", "title": "A ladder for a day"}
    r = await client.post(API + "/posts", json=need)
    assert r.status_code == 401 and "sign in" in r.json()["error"]
    r = await client.post(API + "/posts", json=need, headers=reader)
    assert r.status_code == 403 and "write scope" in r.json()["error"]
    r = await client.post(API + "/posts", json=need,
                          headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401 and "invalid" in r.json()["error"]
    r = await client.post(API + "/posts", json=need, headers={"Authorization": "Basic eDp5"})
    assert r.status_code == 401 and "Bearer" in r.json()["error"]
    assert await stored_posts(runtime) == 0
    created = await post_as(client, writer, need)
    r = await client.get(API + "/posts", headers=writer)
    assert r.status_code == 403 and "read scope" in r.json()["error"]
    assert await listed(client, reader) == ["A ladder for a day"]
    assert (await client.get(API + "/conversations")).status_code == 401
    assert (await client.get(API + "/conversations", headers=reader)).status_code == 200
    r = await client.get(f"{API}/posts/{created['id']}/responses")
    assert r.status_code == 401
    assert (await client.put(API + "/me/limits", json={"weekly_response_cap": 2})
            ).status_code == 401


def _csrf_for(client: httpx.AsyncClient, session: str) -> str:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    cookie = f"{COOKIE}={session}".encode()
    request = Request({"type": "http", "headers": [(b"cookie", cookie)],
                       "app": transport.app})
    return csrf_token(request)


async def test_the_web_session_works_with_a_csrf_header(client: httpx.AsyncClient,
                                                        runtime: Runtime) -> None:
    await runtime.accounts.create_user("maria")
    link = await runtime.accounts.login_link("maria")
    _user, session = await runtime.accounts.redeem_login_link(link.rsplit("/", 1)[1])
    client.cookies.set(COOKIE, session)
    need = {"kind": "need", "title": "Someone to walk my dog", "visibility": "members"}
    r = await client.post(API + "/posts", json=need)
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["error"]
    r = await client.post(API + "/posts", json=need, headers={"X-CSRF-Token": "0" * 40})
    assert r.status_code == 403
    r = await client.post(API + "/posts", json=need,
                          headers={"X-CSRF-Token": _csrf_for(client, session)})
    assert r.status_code == 201 and r.json()["creator"] == "maria"
    assert await listed(client) == ["Someone to walk my dog"]  # GETs need no header
    client.cookies.clear()
    assert await listed(client) == []


# -- finding ---------------------------------------------------------------------------------
async def test_filters_and_paging(client: httpx.AsyncClient, runtime: Runtime) -> None:
    maria = await token(runtime, "maria")
    await post_as(client, maria, {"kind": "offer", "title": "Fresh bread", "category": "food",
                                  "area": "11211"})
    await post_as(client, maria, {"kind": "need", "title": "Rent for May",
                                  "category": "rent-bills", "urgency": "urgent"})
    await post_as(client, maria, {"kind": "need", "title": "Bread flour", "category": "food",
                                  "urgency": "low"})
    closed = await post_as(client, maria, {"kind": "offer", "title": "Old sofa",
                                           "category": "furniture"})
    await client.post(f"{API}/posts/{closed['id']}/close", headers=maria,
                      json={"outcome": "withdrawn"})
    await post_as(client, maria, {"kind": "offer", "title": "Spanish lessons",
                                  "category": "skills"})
    assert await listed(client) == ["Spanish lessons", "Bread flour", "Rent for May",
                                    "Fresh bread"]
    assert await listed(client, kind="need") == ["Bread flour", "Rent for May"]
    assert await listed(client, category="food") == ["Bread flour", "Fresh bread"]
    assert await listed(client, area="11211") == ["Fresh bread"]
    assert await listed(client, q="BREAD") == ["Bread flour", "Fresh bread"]
    assert await listed(client, q="50%") == []
    assert await listed(client, state="withdrawn") == ["Old sofa"]
    assert await listed(client, state="open,withdrawn", kind="offer") == [
        "Spanish lessons", "Old sofa", "Fresh bread"]
    urgent = await listed(client, order="urgent")
    assert urgent[0] == "Rent for May" and urgent[-1] == "Bread flour"

    r = await client.get(API + "/posts", params={"limit": 2, "kind": "offer"})
    assert [p["title"] for p in r.json()] == ["Spanish lessons", "Fresh bread"]
    seen: list[str] = []
    url: str | None = f"{API}/posts?limit=3"
    while url:
        r = await client.get(url)
        seen += [p["title"] for p in r.json()]
        link = r.headers.get("link")
        url = link[1:link.index(">")].removeprefix("http://a.test") if link else None
        if url:
            assert link.endswith('>; rel="next"') and "limit=3" in url  # type: ignore[union-attr]
    assert seen == ["Spanish lessons", "Bread flour", "Rent for May", "Fresh bread"]
    assert "link" not in (await client.get(API + "/posts", params={"order": "urgent",
                                                                  "limit": 1})).headers

    for name, value in (("kind", "gift"), ("limit", "0"), ("limit", "101"), ("limit", "x"),
                        ("before", "abc"), ("before", "99999999999999999999"),
                        ("state", "open,gone"), ("order", "oldest"), ("q", "x" * 201),
                        ("q", "nul\x00"), ("category", "\x07")):
        r = await client.get(API + "/posts", params={name: value})
        assert r.status_code == 400, (name, value)
        assert r.json()["field"] == name


async def test_categories_and_areas_are_public_with_their_labels(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    categories = (await client.get(API + "/categories")).json()
    assert categories[0] == {"slug": "food", "label": "Food and groceries"}
    assert {"slug": "other", "label": "Other"} in categories
    assert (await client.get(API + "/areas")).json() == []
    admin = await runtime.accounts.get_user("admin")
    await runtime.group_settings.set_category(admin, "seeds", "Seeds and seedlings")
    await runtime.group_settings.set_areas(admin, [("northside", "Northside"),
                                                   ("south-4th", "South 4th St blocks")])
    categories = (await client.get(API + "/categories")).json()
    assert categories[-1] == {"slug": "seeds", "label": "Seeds and seedlings"}
    assert (await client.get(API + "/areas")).json() == [
        {"slug": "northside", "label": "Northside"},
        {"slug": "south-4th", "label": "South 4th St blocks"}]


# -- malformed requests ----------------------------------------------------------------------
@pytest.mark.parametrize("content, content_type, status, message", [
    (b"{", "application/json", 400, "not valid JSON"),
    (b'{"kind": "need", "title": NaN}', "application/json", 400, "not valid JSON"),
    (b'{"kind": "need", "quantity": 1e400}', "application/json", 400, "not valid JSON"),
    (b"\xff\xfe{}", "application/json", 400, "not valid JSON"),
    (b"[" * 100_000, "application/json", 400, "not valid JSON"),
    (b'["kind", "need"]', "application/json", 400, "must be a JSON object"),
    (b'"need"', "application/json", 400, "must be a JSON object"),
    (b"kind=need&title=x", "application/x-www-form-urlencoded", 415, "as JSON"),
    (b'{"kind": "need", "title": "' + b"x" * 300_000 + b'"}', "application/json", 413,
     "too large"),
])
async def test_malformed_bodies_are_plain_4xx(client: httpx.AsyncClient, runtime: Runtime,
                                              content: bytes, content_type: str, status: int,
                                              message: str) -> None:
    maria = await token(runtime, "maria")
    r = await client.post(API + "/posts", content=content,
                          headers={**maria, "Content-Type": content_type})
    assert r.status_code == status and message in r.json()["error"]
    assert await stored_posts(runtime) == 0


@pytest.mark.parametrize("body, field", [
    ({"kind": "need", "title": "x", "colour": "red"}, "colour"),
    ({"kind": "need", "title": 5}, "title"),
    ({"kind": 1, "title": "x"}, "kind"),
    ({"kind": "need", "title": "x", "confirm": "yes"}, "confirm"),
    ({"kind": "need", "title": "x", "as_neighbor": 1}, "as_neighbor"),
    ({"kind": "need", "title": "x", "quantity": True}, "quantity"),
    ({"kind": "need", "title": "x", "quantity": [1]}, "quantity"),
    ({"kind": "need", "title": "x", "category": []}, "category"),
    ({"kind": "need", "title": "x", "recipients": "sam"}, "recipients"),
    ({"kind": "need", "title": "x", "recipients": [1]}, "recipients"),
    ({"kind": "need", "title": "x", "starts_at": 1700000000}, "starts_at"),
    ({"kind": "need", "title": "x", "starts_at": "2030-01-01T10:00:00"}, "starts_at"),
    (b'{"kind": "need", "title": "x", "description": "bad \\ud800 text"}', "description"),
    ({"kind": "need", "title": "x", "intake": {"name": "K"}}, "intake"),
    ({"title": "x"}, "kind"),
    ({"kind": "need"}, "title"),
])
async def test_bad_fields_are_named(client: httpx.AsyncClient, runtime: Runtime,
                                    body: dict[str, Any] | bytes, field: str) -> None:
    maria = await token(runtime, "maria")
    if isinstance(body, bytes):  # JSON that Python's encoder would refuse to write
        r = await client.post(API + "/posts", content=body,
                              headers={**maria, "Content-Type": "application/json"})
    else:
        r = await client.post(API + "/posts", json=body, headers=maria)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field and r.json()["error"]
    assert await stored_posts(runtime) == 0


async def test_bad_ids_are_not_found(client: httpx.AsyncClient, runtime: Runtime) -> None:
    maria = await token(runtime, "maria")
    for pid in ("abc", "0", "-1", "1.5", "99999999999999999999", "\u0661"):
        r = await client.get(f"{API}/posts/{pid}")
        assert r.status_code == 404 and r.json() == {"error": "No such post."}, pid
    r = await client.post(f"{API}/responses/99999999999999999999/accept", headers=maria)
    assert r.status_code == 404
    r = await client.get(f"{API}/conversations/7", headers=maria)
    assert r.status_code == 404 and "error" in r.json()
    r = await client.delete(f"{API}/posts/1")
    assert r.status_code == 405 and "error" in r.json()
    assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD", "PATCH"}


# -- the description ------------------------------------------------------------------------
async def test_the_openapi_document_is_served_and_lists_every_route(
        client: httpx.AsyncClient) -> None:
    r = await client.get(API + "/openapi.json")
    assert r.status_code == 200 and r.json() == DOCUMENT
    assert r.json()["openapi"] == "3.1.0"
    served = {(route.path, method.lower()) for route in routes()
              for method in route.methods or () if method != "HEAD"}
    documented = {(path, method) for path, item in DOCUMENT["paths"].items()
                  for method in item if method != "parameters"}
    assert served == documented


# -- input the services must refuse plainly -----------------------------------------------
async def test_extreme_dates_are_refused_plainly(client: httpx.AsyncClient,
                                                 runtime: Runtime) -> None:
    maria = await token(runtime, "maria")
    for when in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        r = await client.post(API + "/posts", headers=maria,
                              json={"kind": "need", "title": "x", "starts_at": when})
        assert r.status_code == 400 and r.json()["field"] == "starts_at"


async def test_recipients_are_validated(client: httpx.AsyncClient, runtime: Runtime) -> None:
    maria = await token(runtime, "maria")
    for bad in ("https://a.test/users/" + "x" * 2100, "sam", "https://a.test/users/s\x00m"):
        r = await client.post(API + "/posts", headers=maria, json={
            "kind": "offer", "title": "x", "visibility": "direct", "recipients": [bad]})
        assert r.status_code == 400 and r.json()["field"] == "recipients"


async def test_a_quantity_that_rounds_to_zero_is_refused(client: httpx.AsyncClient,
                                                         runtime: Runtime) -> None:
    maria = await token(runtime, "maria")
    r = await client.post(API + "/posts", headers=maria,
                          json={"kind": "need", "title": "x", "quantity": "0.0001"})
    assert r.status_code == 400 and r.json()["field"] == "quantity"
