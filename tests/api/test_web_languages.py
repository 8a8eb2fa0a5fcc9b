"""Pages in the reader's language and time zone (docs/languages.md): a Spanish browser, the
switch at the foot of every page (no JavaScript), the member's own setting, times in the
group's and the member's zone, and the one-time notice that is not in the address."""

from __future__ import annotations

import re

import httpx

from fediaid.domain.actors import Role
from fediaid.services.runtime import Runtime
from tests.api.test_web_pages import csrf, log_in_with_link

ES = {"Accept": "text/html", "Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}
EN = {"Accept": "text/html", "Accept-Language": "en-US,en;q=0.9"}


async def test_a_spanish_browser_gets_spanish_pages(client: httpx.AsyncClient,
                                                    runtime: Runtime) -> None:
    home = await client.get("/", headers=ES)
    assert '<html lang="es">' in home.text and "Ofertas y necesidades" in home.text
    assert "Saltar al contenido" in home.text and "Accept-Language" in home.headers["vary"]
    assert "Entrar" in (await client.get("/login", headers=ES)).text
    missing = await client.get("/nothing-here", headers=ES)
    assert missing.status_code == 404 and "No se encontró." in missing.text
    assert 'aria-label="Principal"' in missing.text  # the header, on an error page
    await runtime.accounts.create_user("maria", role=Role.MEMBER)
    await log_in_with_link(client, runtime, "maria")
    form = (await client.get("/posts/new?kind=need", headers=ES)).text
    assert "¿Qué necesita? Basta con una frase." in form
    r = await client.post("/posts/new", headers=ES, data={
        "csrf": csrf(form), "kind": "need", "visibility": "members",
        "description": "Two bags of groceries for a family of four."})
    assert r.status_code == 303 and "?" not in r.headers["location"]  # nothing in the URL
    post = (await client.get(r.headers["location"], headers=ES)).text
    assert "Publicado. ¡Gracias!" in post and "Solo los miembros de" in post
    assert "Publicado. ¡Gracias!" not in (await client.get(r.headers["location"],
                                                           headers=ES)).text  # once
    assert "Mis ofertas y necesidades" in (await client.get("/my/posts", headers=ES)).text
    assert "Nada todavía" in (await client.get("/notifications", headers=ES)).text


async def test_the_switch_works_without_javascript_and_stays(client: httpx.AsyncClient) -> None:
    home = (await client.get("/", headers=EN)).text
    link = re.search(r'href="(/language\?to=es[^"]*)"', home)
    assert link and '<html lang="en">' in home
    r = await client.get(link.group(1).replace("&amp;", "&"), headers=EN)
    assert r.status_code == 303 and r.headers["location"] == "/"
    # The English browser now gets Spanish pages, on every page, until switched back.
    assert '<html lang="es">' in (await client.get("/", headers=EN)).text
    assert "Entrar" in (await client.get("/login", headers=EN)).text
    r = await client.get("/language?to=en&next=//evil.example/", headers=EN)
    assert r.headers["location"] == "/"
    assert '<html lang="en">' in (await client.get("/", headers=ES)).text


async def test_the_members_setting_wins_and_times_follow_the_zones(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    await log_in_with_link(client, runtime, "admin")
    page = (await client.get("/admin/settings", headers=EN)).text
    r = await client.post("/admin/settings", headers=EN, data={
        "csrf": csrf(page), "default_visibility": "public", "expiry_days": "14",
        "retention_days": "30", "hold_nonmember_posts": "1", "phone_region": "US",
        "language": "en", "time_zone": "America/New_York"})
    assert r.status_code == 303, r.text
    form = (await client.get("/posts/new?kind=offer", headers=EN)).text
    assert "America/New_York" in form
    # Typed in the group's zone: 12:00 in New York after clocks went forward is 16:00 UTC.
    r = await client.post("/posts/new", headers=EN, data={
        "csrf": csrf(form), "kind": "offer", "visibility": "public",
        "description": "A ladder to lend.", "starts_at": "2030-03-10T12:00"})
    assert r.status_code == 303
    post = (await client.get(r.headers["location"], headers=EN)).text
    assert "12:00\u202fPM" in post
    async with runtime.db.read() as conn:
        from sqlalchemy import select

        from fediaid.storage.tables import posts
        starts = (await conn.execute(select(posts.c.starts_at))).scalar_one()
    assert (starts.hour, starts.minute) == (16, 0)
    # The member's own language and zone win over the browser and the group.
    settings = (await client.get("/settings/language", headers=EN)).text
    r = await client.post("/settings/language", headers=EN, data={
        "csrf": csrf(settings), "language": "es", "time_zone": "Europe/Madrid"})
    assert r.status_code == 303 and "?" not in r.headers["location"]
    client.cookies.delete("fediaid_language")
    shown = (await client.get(post_path(r, post), headers=EN)).text
    assert '<html lang="es">' in shown and "17:00" in shown  # Madrid: 16:00 UTC + 1
    bad = await client.post("/settings/language", headers=EN, data={
        "csrf": csrf(settings), "language": "es", "time_zone": "Mars/Olympus"})
    assert bad.status_code == 400 and "no es una zona horaria" in bad.text


def post_path(_r: httpx.Response, page: str) -> str:
    m = re.search(r'action="/posts/(\d+)/close"', page)
    assert m
    return f"/posts/{m.group(1)}"
