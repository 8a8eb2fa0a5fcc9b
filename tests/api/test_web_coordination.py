"""What coordinators set for the group, through the web pages: default visibility, expiry
and retention, categories, neighborhoods, and posts waiting for approval. The real forms
are read from the HTML, filled in and sent back, in process (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx

from api.web.render import day
from fediaid.domain.posts import Visibility
from fediaid.domain.visibility import Viewer
from fediaid.services.runtime import Runtime
from fediaid.storage import posts as posts_repo
from tests.api.test_web_posts import Login, form, forms_to, post_need, visitor
from tests.api.test_web_posts import login as login  # the fixture

COORDINATOR_PAGES = ("/admin", "/admin/settings", "/admin/categories", "/admin/areas",
                     "/admin/held")
COORDINATOR_FORMS = ("/admin/settings", "/admin/categories", "/admin/categories/food",
                     "/admin/areas", "/admin/held/1")


def _options(page: str, select_id: str) -> list[tuple[str, str]]:
    m = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', page, re.S)
    assert m, f"no select {select_id}"
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', m.group(1))


async def _save_settings(admin: httpx.AsyncClient, **values: str) -> httpx.Response:
    page = (await admin.get("/admin/settings")).text
    return await admin.post("/admin/settings", data=form(page, "/admin/settings") | values)


async def test_default_visibility_members(runtime: Runtime, login: Login) -> None:
    admin = await login("admin")
    page = (await admin.get("/admin")).text
    assert 'href="/admin/settings"' in page and 'href="/admin/held"' in page
    page = (await admin.get("/admin/settings")).text
    values = form(page, "/admin/settings")
    assert values["default_visibility"] == "public" and values["csrf"]
    assert "Only people they name" not in page  # a default cannot name people
    for words in ("Everyone", "Our network", "Members only",
                  "Posts never leave this server"):
        assert words in page
    assert values["hold_nonmember_posts"] == "1" and "#need" in page

    r = await admin.post("/admin/settings", data=values | {"default_visibility": "members"})
    assert r.status_code == 303
    assert "Saved." in (await admin.get(r.headers["location"])).text
    assert (await runtime.posts.policy()).default_visibility is Visibility.MEMBERS

    maria = await login("maria")
    page = (await maria.get("/posts/new?kind=need")).text
    assert form(page, "/posts/new")["visibility"] == "members"
    pid = await post_need(maria, "Someone to help fill in a form.")
    post = await runtime.posts.get(Viewer(user_id=0, coordinator=True), pid)
    assert post.visibility is Visibility.MEMBERS
    anon = await visitor(runtime)
    async with anon:
        assert (await anon.get(f"/posts/{pid}")).status_code == 404


async def test_a_wrong_setting_is_shown_in_words_and_nothing_is_saved(
        runtime: Runtime, login: Login) -> None:
    admin = await login("admin")
    r = await _save_settings(admin, default_visibility="network", expiry_days="0",
                             hold_nonmember_posts="0")
    assert r.status_code == 400
    assert 'id="err-expiry_days"' in r.text
    assert "number of days posts stay open must be between 1 and 365" in r.text
    again = form(r.text, "/admin/settings")
    assert again["expiry_days"] == "0" and again["default_visibility"] == "network"
    assert again["hold_nonmember_posts"] == "0"
    r = await _save_settings(admin, retention_days="a year")
    assert r.status_code == 400 and 'id="err-retention_days"' in r.text
    assert "whole number" in r.text and "Traceback" not in r.text
    policy = await runtime.posts.policy()
    assert policy.default_visibility is Visibility.PUBLIC and policy.expiry.days == 14
    assert policy.hold_nonmember_posts


async def test_expiry_and_retention_show_on_posts(runtime: Runtime, login: Login) -> None:
    admin, maria = await login("admin"), await login("maria")
    r = await _save_settings(admin, expiry_days="3", retention_days="7")
    assert r.status_code == 303
    page = (await admin.get("/admin/settings")).text
    assert form(page, "/admin/settings")["expiry_days"] == "3"
    assert "tells the other servers" in page

    pid = await post_need(maria, "A ride to the market.")
    page = (await maria.get(f"/posts/{pid}")).text
    now = datetime.now(UTC)
    assert f"closes by itself on {day(now + timedelta(days=3))}" in page
    assert "deleted 7 days later" in page
    r = await maria.post(f"/posts/{pid}/close", data=form(page, f"/posts/{pid}/close")
                         | {"outcome": "fulfilled"})
    assert r.status_code == 303
    page = (await maria.get(f"/posts/{pid}")).text
    assert (f"This post and its messages will be deleted on "
            f"{day(datetime.now(UTC) + timedelta(days=7))}.") in page

    # Retention 0: deleted at the next clean-up.
    assert (await _save_settings(admin, retention_days="0")).status_code == 303
    other = await post_need(maria, "Boxes for moving.")
    page = (await maria.get(f"/posts/{other}")).text
    await maria.post(f"/posts/{other}/close", data=form(page, f"/posts/{other}/close")
                     | {"outcome": "withdrawn"})
    assert f"will be deleted on {day(datetime.now(UTC))}" in (
        await maria.get(f"/posts/{other}")).text


async def test_add_rename_hide_a_category_and_use_it(runtime: Runtime, login: Login) -> None:
    admin, maria = await login("admin"), await login("maria")
    page = (await admin.get("/admin/categories")).text
    assert 'value="Food and groceries"' in page
    add = form(page, "/admin/categories")
    r = await admin.post("/admin/categories", data=add | {"label": "Bike repair"})
    assert r.status_code == 303
    page = (await admin.get(r.headers["location"])).text
    assert "Added “Bike repair”" in page
    assert form(page, "/admin/categories/bike-repair")["label"] == "Bike repair"
    # The same short name again is refused in words, with what was typed kept.
    r = await admin.post("/admin/categories", data=add | {"label": "Bikes",
                                                          "slug": "bike-repair"})
    assert r.status_code == 400 and 'id="err-slug"' in r.text
    assert "already a category with the short name bike-repair" in r.text
    assert form(r.text, "/admin/categories")["label"] == "Bikes"
    r = await admin.post("/admin/categories", data=add | {"label": "Tools", "slug": "!!"})
    assert r.status_code == 400 and "letters a to z" in r.text
    r = await admin.post("/admin/categories", data=add | {"label": ""})
    assert r.status_code == 400

    page = (await maria.get("/posts/new?kind=need")).text
    assert ("bike-repair", "Bike repair") in _options(page, "category")
    assert _options(page, "category")[-1] == ("other", "Other")
    pid = await post_need(maria, "My bike has a flat tire.", category="bike-repair")
    assert "Bike repair" in (await maria.get(f"/posts/{pid}")).text
    home = (await maria.get("/")).text
    assert ("bike-repair", "Bike repair") in _options(home, "f-category")
    assert "My bike has a flat tire." in (await maria.get("/?category=bike-repair")).text

    # Rename: every page shows the new label.
    page = (await admin.get("/admin/categories")).text
    action = "/admin/categories/bike-repair"
    r = await admin.post(action, data=form(page, action) | {"label": "", "do": "rename"})
    assert r.status_code == 400 and 'id="err-label-bike-repair"' in r.text
    r = await admin.post(action, data=form(page, action) | {"label": "Bicycle repair",
                                                             "do": "rename"})
    assert r.status_code == 303
    assert "Bicycle repair" in (await maria.get(f"/posts/{pid}")).text

    # Hide: not offered any more, the post keeps it; undo brings it back.
    r = await admin.post(action, data=form(page, action) | {"do": "hide"})
    assert r.status_code == 303
    page = (await admin.get(r.headers["location"])).text
    assert "no longer offered" in page and f'action="{action}"' in page  # the undo form
    assert ("bike-repair", "Bicycle repair") not in _options(
        (await maria.get("/posts/new?kind=need")).text, "category")
    edit = (await maria.get(f"/posts/{pid}/edit")).text
    assert "no longer uses the category “bike-repair”" in edit
    assert form(edit, f"/posts/{pid}/edit")["category"] == "other"
    undo = forms_to(page, action)[0]
    r = await admin.post(action, data=undo | {"do": "show"})
    assert r.status_code == 303
    assert ("bike-repair", "Bicycle repair") in _options(
        (await maria.get("/posts/new?kind=need")).text, "category")

    # "Other" cannot be hidden: it is what a post without a category gets.
    page = (await admin.get("/admin/categories")).text
    r = await admin.post("/admin/categories/other",
                         data=form(page, "/admin/categories/other") | {"do": "hide"})
    assert r.status_code == 400 and "cannot be hidden" in r.text
    assert ("other", "Other") in await runtime.group_settings.categories()


async def test_neighborhoods_become_the_area_choices(runtime: Runtime, login: Login) -> None:
    admin, maria = await login("admin"), await login("maria")
    await runtime.group_settings.set_areas(await runtime.accounts.get_user("admin"), [])
    page = (await admin.get("/admin/areas")).text
    assert "any postal area" in page
    values = form(page, "/admin/areas")
    assert values["areas"] == ""
    # Without a list, the form asks for a neighborhood or postal code as text.
    assert 'id="area" name="area" type="text"' in (await maria.get("/posts/new?kind=need")).text

    r = await admin.post("/admin/areas", data=values | {"areas": "north-end = North End\n"
                                                        "??? = Nowhere\n"})
    assert r.status_code == 400 and 'id="err-areas"' in r.text and "Line 2" in r.text
    assert form(r.text, "/admin/areas")["areas"] == "north-end = North End\n??? = Nowhere\n"
    r = await admin.post("/admin/areas", data=values | {"areas": "Riverside\nriverside = R"})
    assert r.status_code == 400 and "already used on line 1" in r.text
    r = await admin.post("/admin/areas", data=values | {
        "areas": "north-end = North End\n\n  Riverside  \r\nSüdstadt = Südstadt\n"})
    assert r.status_code == 303
    assert "Saved: 3 neighborhoods." in (await admin.get(r.headers["location"])).text
    page = (await admin.get("/admin/areas")).text
    assert form(page, "/admin/areas")["areas"] == (
        "north-end = North End\nriverside = Riverside\nsudstadt = Südstadt")

    page = (await maria.get("/posts/new?kind=offer")).text
    assert _options(page, "area") == [("", "Not saying"), ("north-end", "North End"),
                                      ("riverside", "Riverside"), ("sudstadt", "Südstadt")]
    pid = await post_need(maria, "Soup for two.", area="north-end")
    assert "North End" in (await maria.get(f"/posts/{pid}")).text
    home = (await maria.get("/")).text
    assert ("north-end", "North End") in _options(home, "f-area")
    # A street address typed in by hand is refused, with what was typed kept.
    r = await maria.post("/posts/new", data=form(page, "/posts/new") | {
        "description": "Spare chairs.", "area": "12 Elm Street"})
    assert r.status_code == 400 and 'id="err-area"' in r.text
    assert "not a street address" in r.text and "Spare chairs." in r.text

    # Emptying the list: any postal area again.
    page = (await admin.get("/admin/areas")).text
    r = await admin.post("/admin/areas", data=form(page, "/admin/areas") | {"areas": "  \n"})
    assert r.status_code == 303 and await runtime.group_settings.areas() == []
    assert "any postal area" in (await admin.get(r.headers["location"])).text


async def _held_post(runtime: Runtime, text: str) -> int:
    """A post waiting for approval (as one from a non-member arriving by federation)."""
    maria = await runtime.accounts.get_user("maria")
    post = await runtime.posts.create(maria, {"kind": "need", "description": text})
    async with runtime.db.write() as conn:
        await posts_repo.update_fields(conn, post.id, {"held": True})
    return post.id


async def test_approve_or_turn_away_a_held_post(runtime: Runtime, login: Login) -> None:
    admin, sam = await login("admin"), await login("sam")
    await runtime.accounts.create_user("maria")
    first = await _held_post(runtime, "A warm blanket, please. It is cold here.")
    second = await _held_post(runtime, "Cheap watches for sale.")
    assert "A warm blanket" not in (await sam.get("/")).text
    assert (await sam.get(f"/posts/{first}")).status_code == 404

    assert "2 posts" in (await admin.get("/admin")).text
    page = (await admin.get("/admin/held")).text
    assert "A warm blanket, please." in page and "It is cold here." in page
    assert "From maria" in page and "received" in page
    assert "Waiting for a coordinator" in (await admin.get(f"/posts/{first}")).text

    r = await admin.post(f"/admin/held/{first}", data=form(page, f"/admin/held/{first}")
                         | {"decision": "approve"})
    assert r.status_code == 303
    assert "Approved" in (await admin.get(r.headers["location"])).text
    assert "A warm blanket" in (await sam.get("/")).text
    assert (await sam.get(f"/posts/{first}")).status_code == 200

    page = (await admin.get("/admin/held")).text
    assert "A warm blanket" not in page
    r = await admin.post(f"/admin/held/{second}", data=form(page, f"/admin/held/{second}")
                         | {"decision": "reject"})
    assert r.status_code == 303
    page = (await admin.get(r.headers["location"])).text
    assert "Turned away" in page and "Nothing is waiting." in page
    assert (await admin.get(f"/posts/{second}")).status_code == 404
    # Deciding twice, or on a post that is not waiting, is a plain 404 page.
    r = await admin.post(f"/admin/held/{first}", data=form(page, "/logout")
                         | {"decision": "approve"})
    assert r.status_code == 404 and "No post waiting for approval" in r.text


async def test_only_coordinators(runtime: Runtime, login: Login) -> None:
    maria = await login("maria")
    csrf = form((await maria.get("/")).text, "/logout")["csrf"]
    for url in COORDINATOR_PAGES:
        r = await maria.get(url)
        assert r.status_code == 403 and "Only coordinators" in r.text, url
    for url in COORDINATOR_FORMS:
        r = await maria.post(url, data={"csrf": csrf, "label": "x", "do": "rename",
                                        "decision": "approve", "areas": "x",
                                        "default_visibility": "members"})
        assert r.status_code == 403 and "Only coordinators" in r.text, url
    assert (await runtime.posts.policy()).default_visibility is Visibility.PUBLIC
    anon = await visitor(runtime)
    async with anon:
        for url in COORDINATOR_PAGES:
            r = await anon.get(url)
            assert r.status_code == 401 and f'href="/login?next={url}"' in r.text, url
        r = await anon.post("/admin/settings", data={"default_visibility": "members"})
        assert r.status_code == 401
    # A coordinator's form without the CSRF field is refused.
    admin = await login("admin")
    r = await admin.post("/admin/settings", data={"default_visibility": "members"})
    assert r.status_code == 403 and "This form has expired" in r.text
    assert (await runtime.posts.policy()).default_visibility is Visibility.PUBLIC
