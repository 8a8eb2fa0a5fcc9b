"""Taking a post down (fediaid/services/reports.py): a coordinator hides a post from its page
or a note; the hidden thing disappears for everyone but its author and the coordinators on
every path (web page and list, client API status and timelines, ActivityPub fetch), the
author sees why in plain words. In process, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from fediaid.domain.reports import TakedownAction
from fediaid.services.runtime import Runtime
from fediaid.storage.tables import posts, statuses
from tests.api.test_mastodon_statuses import Member
from tests.api.test_web_posts import Login, form, post_need, visitor
from tests.api.test_web_posts import login as login  # the fixture

AP = "application/activity+json"
REASON = "It shows a street address; please post your area instead."


async def test_a_hidden_post_is_seen_only_by_its_author_and_coordinators(
        runtime: Runtime, login: Login, client: httpx.AsyncClient) -> None:
    rt = runtime
    maria, tom, admin = await login("maria"), await login("tom"), await login("admin")
    pid = await post_need(maria, "Help moving a sofa on Saturday.")
    async with rt.db.read() as conn:
        uri = (await conn.execute(select(posts.c.uri).where(posts.c.id == pid))).scalar_one()
        sid = (await conn.execute(select(statuses.c.id).where(statuses.c.post_id == pid))
               ).scalar_one()
    tom_api = Member(client, await rt.accounts.create_token("tom", scopes=["read"]), "tom")
    maria_api = Member(client, await rt.accounts.create_token("maria", scopes=["read"]),
                       "maria")
    assert (await tom_api.get(f"/api/v1/statuses/{sid}")).status_code == 200

    page = (await admin.get(f"/posts/{pid}")).text
    values = form(page, f"/posts/{pid}/takedown") | {"action": "hide", "reason": REASON}
    r = await admin.post(f"/posts/{pid}/takedown", data=values)
    assert r.status_code == 303

    anon = await visitor(rt)
    async with anon:
        assert (await anon.get(f"/posts/{pid}")).status_code == 404
        assert "Help moving a sofa" not in (await anon.get("/")).text
        path = uri.removeprefix(rt.settings.base_url)
        assert (await anon.get(path, headers={"Accept": AP})).status_code == 404
    assert (await tom.get(f"/posts/{pid}")).status_code == 404
    assert "Help moving a sofa" not in (await tom.get("/")).text
    assert (await tom_api.get(f"/api/v1/statuses/{sid}")).status_code == 404
    assert all(s["id"] != str(sid) for s in
               (await tom_api.get("/api/v1/timelines/public")).json())
    assert (await client.get(f"/api/v1/statuses/{sid}")).status_code == 404

    # Its author sees it, with the reason in plain words; so do coordinators.
    own = await maria.get(f"/posts/{pid}")
    assert own.status_code == 200
    assert f"A coordinator hid your post: {REASON}" in own.text
    assert (await maria_api.get(f"/api/v1/statuses/{sid}")).status_code == 200
    notices = (await maria.get("/reports")).text
    assert f"A coordinator hid your post: {REASON}" in notices
    assert f'href="/posts/{pid}"' in notices
    shown = (await admin.get(f"/posts/{pid}")).text
    assert REASON in shown and "Hide it" not in shown and "Remove it everywhere" in shown


async def test_a_hidden_note_and_a_removed_one(runtime: Runtime,
                                               client: httpx.AsyncClient) -> None:
    rt = runtime
    await rt.accounts.create_user("maria")
    await rt.accounts.create_user("tom")
    maria = Member(client, await rt.accounts.create_token("maria", scopes=["read", "write"]),
                   "maria")
    tom = Member(client, await rt.accounts.create_token("tom", scopes=["read"]), "tom")
    admin = await rt.accounts.get_user("admin")
    hidden = await maria.toot("My address is 12 Elm Street, come by")
    removed = await maria.toot("Another one with the address")
    await rt.reports.take_down(admin, action=TakedownAction.HIDE, reason=REASON,
                               status_id=int(hidden["id"]))
    await rt.reports.take_down(admin, action=TakedownAction.REMOVE, reason="Same reason.",
                               status_id=int(removed["id"]))
    for s in (hidden, removed):
        assert (await tom.get(f"/api/v1/statuses/{s['id']}")).status_code == 404
        assert (await client.get(f"/api/v1/statuses/{s['id']}")).status_code == 404
    assert (await maria.get(f"/api/v1/statuses/{hidden['id']}")).status_code == 200
    assert (await maria.get(f"/api/v1/statuses/{removed['id']}")).status_code == 404
    path = hidden["uri"].removeprefix(rt.settings.base_url)
    assert (await client.get(path, headers={"Accept": AP})).status_code == 404
    assert [t.words for t in await rt.reports.notices(await rt.accounts.get_user("maria"))] == [
        "A coordinator removed your post: Same reason.",
        f"A coordinator hid your post: {REASON}"]
    # A member cannot take anything down.
    import pytest

    from fediaid.errors import Forbidden

    with pytest.raises(Forbidden):
        await rt.reports.take_down(await rt.accounts.get_user("tom"),
                                   action=TakedownAction.HIDE, reason="x",
                                   status_id=int(hidden["id"]))
