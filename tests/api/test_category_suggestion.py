"""The suggested category on the HTTP surfaces: the web form (a "suggest" choice, the
suggestion filled in at the confirm step, and told to the author after publishing) and a
Mastodon app's #need without a category hashtag."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from fediaid.services.runtime import Runtime
from fediaid.storage.tables import posts
from tests.api.test_mastodon_statuses import member
from tests.api.test_web_posts import Login, form, forms_to
from tests.api.test_web_posts import login as login  # the fixture


async def test_web_form_suggests_and_tells_the_author(runtime: Runtime, login: Login) -> None:
    maria = await login("maria")
    page = (await maria.get("/posts/new?kind=need")).text
    values = form(page, "/posts/new")
    assert values["category"] == ""  # "Suggest one from what I write" is the default
    assert "Suggest one from what I write" in page
    r = await maria.post("/posts/new", data=values | {
        "description": "Need diapers and formula for my baby"})
    assert r.status_code == 303
    shown = (await maria.get(r.headers["location"])).text  # the notice, once
    assert "suggested from your words" in shown and "Childcare" in shown
    async with runtime.db.read() as conn:
        row = (await conn.execute(select(posts))).one()
    assert row.category == "childcare"


async def test_confirm_step_preselects_the_suggestion(runtime: Runtime, login: Login) -> None:
    maria = await login("maria")
    page = (await maria.get("/posts/new?kind=need")).text
    r = await maria.post("/posts/new", data=form(page, "/posts/new") | {
        "description": "Necesito comida para mi familia, llámame al 555-1234"})
    assert r.status_code == 200 and "looks like a phone number" in r.text
    # Both the "publish anyway" form and the form to change the words carry the suggestion.
    assert form(r.text, "/posts/new")["category"] == "food"


async def test_app_need_without_a_category_hashtag(runtime: Runtime,
                                                   client: httpx.AsyncClient) -> None:
    maria = await member(runtime, client, "maria")
    await maria.toot("Need diapers and formula for my baby #need")
    await maria.toot("Necesito comida para mi familia #need")
    await maria.toot("Spare crib, good condition #offer #furniture")
    async with runtime.db.read() as conn:
        rows = (await conn.execute(select(posts).order_by(posts.c.id))).all()
    assert [r.category for r in rows] == ["childcare", "food", "furniture"]


async def test_coordinators_add_words(runtime: Runtime, login: Login) -> None:
    admin, maria = await login("admin"), await login("maria")
    page = (await admin.get("/admin/categories")).text
    assert "Words we already know" in page and "diaper" in page
    words = next(f for f in forms_to(page, "/admin/categories") if f.get("do") == "keywords")
    r = await admin.post("/admin/categories", data=words | {"keywords": "nope: x"})
    assert r.status_code == 400 and "no category with the short name nope" in r.text
    assert "nope: x" in r.text  # what was typed is kept
    r = await admin.post("/admin/categories", data=words | {"keywords": "just words"})
    assert r.status_code == 400 and "a colon" in r.text
    r = await admin.post("/admin/categories",
                         data=words | {"keywords": "tools:  power washer ,pressure hose"})
    assert r.status_code == 303
    page = (await admin.get("/admin/categories")).text
    assert "tools: power washer, pressure hose</textarea>" in page
    page = (await maria.get("/posts/new?kind=offer")).text
    r = await maria.post("/posts/new", data=form(page, "/posts/new") | {
        "description": "Lending my pressure hose on weekends"})
    assert r.status_code == 303
    async with runtime.db.read() as conn:
        row = (await conn.execute(select(posts))).one()
    assert row.category == "tools"
