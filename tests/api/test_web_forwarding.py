"""Forwarding unmet needs on the web pages (issue 12): the coordinators' settings, the
asker's choice on the posting and edit forms, and "From linked groups" on the first page.
In process, SQLite and PostgreSQL; the exchange between instances:
tests/integration/test_forwarding.py."""

from __future__ import annotations

import httpx
import orjson

from api.fediaid_api.openapi import DOCUMENT
from fediaid.services.runtime import Runtime
from fediaid.storage import forwarding as forwarding_repo
from tests.api.test_fediaid_api import API, post_as, token
from tests.api.test_web_coordination import _save_settings
from tests.api.test_web_posts import Login, form, post_need
from tests.api.test_web_posts import login as login  # the fixture
from tests.fediaid.test_forwarding_service import linked, need_note, offer_of
from tests.fediaid.test_inbox_processing import receive
from tests.support.remote import remote_actor, store


async def test_settings_the_askers_choice_and_the_section(runtime: Runtime,
                                                          login: Login) -> None:
    rt = runtime
    maria = await login("maria")
    page = (await maria.get("/posts/new?kind=need")).text
    assert 'name="forward"' not in page  # off: nothing to choose

    admin = await login("admin")
    page = (await admin.get("/admin/settings")).text
    values = form(page, "/admin/settings")
    assert values["forward_after_hours"] == "0" and values["forwarded_daily_cap"] == "10"
    assert values["forward_by_default"] == "1"
    r = await _save_settings(admin, forward_after_hours="1000")
    assert r.status_code == 400 and 'id="err-forward_after_hours"' in r.text
    assert "whole number from 0 to 720" in r.text
    r = await _save_settings(admin, forward_after_hours="24", forward_by_default="0",
                             forwarded_daily_cap="3")
    assert r.status_code == 303
    s = await rt.forwarding.settings_now()
    assert (s.after_hours, s.by_default, s.daily_cap) == (24, False, 3)

    # The asker chooses; the form says what the group's usual choice is.
    page = (await maria.get("/posts/new?kind=need")).text
    assert "A need nobody here answers within 24 hours" in page
    assert "Keep it in this group (the group" in page and "s usual choice)" in page
    pid = await post_need(maria, "Firewood for the stove, two bags.", forward="yes")
    async with rt.db.read() as conn:
        assert await forwarding_repo.choice(conn, pid) is True
    page = (await maria.get(f"/posts/{pid}/edit")).text
    values = form(page, f"/posts/{pid}/edit")
    assert values["forward"] == "yes"
    r = await maria.post(f"/posts/{pid}/edit", data=values | {"forward": "no"})
    assert r.status_code == 303
    async with rt.db.read() as conn:
        assert await forwarding_repo.choice(conn, pid) is False

    # A need a linked group offered: members see it under "From linked groups".
    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    rosa = remote_actor("rosa", "oak.example", key=1)
    await linked(rt, oak)
    await store(rt, rosa)
    await receive(rt, oak, orjson.loads(orjson.dumps(offer_of(oak, need_note(rosa, oak, 1),
                                                                1))))
    home = (await maria.get("/")).text
    section = home.split("From linked groups", 1)[1].split('id="posts"', 1)[0]
    assert "Blankets 1" in section and "@oak@oak.example" in section
    post_path = section.split('<a href="', 2)[1].split('"', 1)[0]
    page = (await maria.get(post_path)).text
    assert "From a linked group" in page and "offered it to this group" in page


async def test_the_json_api_names_the_group_that_offered_a_need(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    maria = await token(rt, "maria")
    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    rosa = remote_actor("rosa", "oak.example", key=1)
    await linked(rt, oak)
    await store(rt, rosa)
    await receive(rt, oak, offer_of(oak, need_note(rosa, oak, 1), 1))
    own = await post_as(client, maria, {"kind": "need", "description": "Soup for two."})
    received = (await rt.forwarding.from_linked_groups())[0]
    r = await client.get(f"{API}/posts/{received.post_id}", headers=maria)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["forwarded_by"] == {"name": received.group_name, "uri": oak.uri,
                                    "handle": "@oak@oak.example"}
    schema = DOCUMENT["components"]["schemas"]["Post"]["properties"]
    assert set(body) <= set(schema) and "forwarded_by" in schema
    listed = {p["id"]: p for p in (await client.get(f"{API}/posts", headers=maria)).json()}
    assert listed[str(received.post_id)]["forwarded_by"]["uri"] == oak.uri
    assert "forwarded_by" not in listed[own["id"]]
