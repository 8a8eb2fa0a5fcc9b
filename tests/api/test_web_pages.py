"""The web pages as a person uses them: login link, password, login, coordination, logout.
Driven through the real forms (HTML parsed), in process."""

from __future__ import annotations

import re

import httpx

from fediaid.domain.actors import Role
from fediaid.services.runtime import Runtime

HTML = {"Accept": "text/html"}


def csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert m, "no CSRF field on the page"
    return m.group(1)


async def log_in_with_link(client: httpx.AsyncClient, rt: Runtime, name: str) -> str:
    link = await rt.accounts.login_link(name)
    r = await client.get(link.removeprefix("http://a.test"), headers=HTML)
    assert r.status_code == 303 and r.headers["location"] == "/settings/password?welcome=1"
    page = (await client.get(r.headers["location"], headers=HTML)).text
    assert f"Welcome, {name}" in page
    return page


async def test_first_login_sets_a_password_then_logs_in(client: httpx.AsyncClient,
                                                       runtime: Runtime) -> None:
    assert await runtime.accounts.first_coordinator_without_password() == "admin"
    page = await log_in_with_link(client, runtime, "admin")
    r = await client.post("/settings/password", data={"csrf": csrf(page), "password": "short"},
                          headers=HTML)
    assert r.status_code == 400 and "at least 10 characters" in r.text
    r = await client.post("/settings/password",
                          data={"csrf": csrf(page), "password": "correct horse battery"})
    assert r.status_code == 303
    assert await runtime.accounts.first_coordinator_without_password() is None
    home = (await client.get("/", headers=HTML)).text
    r = await client.post("/logout", data={"csrf": csrf(home)})
    assert r.status_code == 303
    assert "Log in" in (await client.get("/", headers=HTML)).text
    token = csrf((await client.get("/login", headers=HTML)).text)
    bad = await client.post("/login", data={"csrf": token, "username": "admin",
                                            "password": "nope nope nope"})
    assert bad.status_code == 401 and "do not match" in bad.text
    ok = await client.post("/login", data={"csrf": token, "username": "admin",
                                           "password": "correct horse battery"})
    assert ok.status_code == 303 and "fediaid_session" in ok.headers["set-cookie"]
    assert "HttpOnly" in ok.headers["set-cookie"]


async def test_a_login_link_works_once(client: httpx.AsyncClient, runtime: Runtime) -> None:
    link = (await runtime.accounts.login_link("admin")).removeprefix("http://a.test")
    assert (await client.get(link)).status_code == 303
    client.cookies.clear()
    again = await client.get(link, headers=HTML)
    assert again.status_code == 401 and "used or expired" in again.text


async def test_forms_need_the_csrf_token(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await log_in_with_link(client, runtime, "admin")
    r = await client.post("/settings/password", data={"password": "correct horse battery"},
                          headers=HTML)
    assert r.status_code == 403
    r = await client.post("/admin/follow", data={"handle": "@x@y.example", "csrf": "0" * 40})
    assert r.status_code == 403


async def test_coordination_page_is_for_coordinators(client: httpx.AsyncClient,
                                                     runtime: Runtime) -> None:
    assert (await client.get("/admin", headers=HTML)).status_code == 401
    await runtime.accounts.create_user("maria", role=Role.MEMBER)
    await log_in_with_link(client, runtime, "maria")
    assert (await client.get("/admin", headers=HTML)).status_code == 403
    client.cookies.clear()
    await log_in_with_link(client, runtime, "admin")
    page = await client.get("/admin", headers=HTML)
    assert page.status_code == 200 and "Link up with another group" in page.text


async def test_follow_form_reports_an_unknown_group_plainly(client: httpx.AsyncClient,
                                                           runtime: Runtime) -> None:
    await log_in_with_link(client, runtime, "admin")
    page = (await client.get("/admin", headers=HTML)).text
    r = await client.post("/admin/follow", data={"csrf": csrf(page), "handle": "not a handle"})
    # The notice is not in the address: a signed cookie, shown once.
    assert r.status_code == 303 and r.headers["location"] == "/admin"
    shown = (await client.get(r.headers["location"], headers=HTML)).text
    assert "not a fediverse handle" in shown
    again = (await client.get("/admin", headers=HTML)).text
    assert "not a fediverse handle" not in again


async def test_pages_never_load_third_party_resources(client: httpx.AsyncClient) -> None:
    page = (await client.get("/", headers=HTML)).text
    assert not re.search(r'(src|href)="https?://(?!a\.test)', page)
    assert '<meta name="viewport"' in page


async def test_errors_are_plain_words_not_stack_traces(client: httpx.AsyncClient) -> None:
    r = await client.get("/@nobody", headers=HTML)
    assert r.status_code == 404 and "Traceback" not in r.text and "No such account" in r.text
