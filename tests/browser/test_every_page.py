"""Every page of the web application, in a real browser, in English and in Spanish.

The GET routes are read from the application itself (``api.app.routes``); each one that
serves an HTML page is visited as the person who sees it (a visitor, a member, a
coordinator), with the objects its path names made first (a post, a conversation, an
invitation, an app asking for a login, a report). ``Tour`` (browsing.py) checks every page
state: axe-core finds no serious or critical violation, each page weighs under 60 KB
transferred, no Content-Security-Policy violation, nothing loaded from elsewhere. The
Spanish pass uses phones that ask for Spanish (Accept-Language) and goes through
``/language?to=es`` once; its pages must say ``lang="es"``.

``test_every_page_route_is_listed`` fails when a GET route is added and is neither visited
here nor listed, with its reason, among the routes that are not pages or cannot be reached
from a browser alone.

One browser, one instance, one browser context per person and language.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pyotp
import pytest
from starlette.routing import Mount, Route

from tests.browser.browsing import Tour
from tests.support.databases import sqlite_url
from tests.support.instances import Instance, finish_cli, free_port

pytestmark = pytest.mark.slow
PASSWORD = "plenty of soup for all"
OOB = "urn:ietf:wg:oauth:2.0:oob"

# GET routes that serve no HTML page: machine-readable documents, files and redirects.
NOT_PAGES = (
    "/api/", "/.well-known/", "/nodeinfo/", "/healthz", "/actor", "/activities/", "/objects/",
    "/groups/", "/users/", "/static", "/media/", "/metrics",
)
NOT_PAGE_SUFFIXES = (".csv", ".pdf", ".json")

# Pages this module does not reach, and why. Each is covered elsewhere, over HTTP.
NOT_VISITED = {
    "/admin/texts/{id:id}": "needs a text from an SMS provider and the workers "
                            "(tests/api/test_sms_pages.py)",
    "/admin/texts/post/{id:id}": "a redirect to a texts conversation about a post that "
                                 "came by text (tests/api/test_sms_pages.py)",
    "/conversations/{id:id}/text": "only for a conversation about a post that came by text "
                                   "(tests/api/test_sms_pages.py)",
    "/email/unsubscribe/{uid}/{kind}/{token}": "needs a signed link from a sent e-mail "
                                               "(tests/api/test_email*.py)",
    "/settings/email/confirm/{secret}": "needs the secret from a sent e-mail "
                                        "(tests/api/test_email*.py)",
}


@dataclass(frozen=True)
class Visit:
    route: str  # the route's path as the application declares it
    who: str  # visitor, member or coordinator
    path: str  # what to open; {post}, {conversation}, {invitation}, {client} filled in
    status: int = 200


VISITS = (
    # A visitor.
    Visit("/", "visitor", "/"),
    Visit("/login", "visitor", "/login"),
    Visit("/login/email", "visitor", "/login/email"),
    Visit("/login/{secret}", "visitor", "/login/no-such-link", 401),
    Visit("/join", "visitor", "/join"),
    Visit("/join/{secret}", "visitor", "/join/{invitation}"),
    Visit("/@{name}", "visitor", "/@admin"),
    Visit("/posts/{id:id}", "visitor", "/posts/{post}"),
    Visit("/posts/{id:id}", "visitor", "/posts/999999", 404),
    Visit("/directory", "visitor", "/directory?area=oak"),
    # A member (the author of the post, in a conversation about it).
    Visit("/", "member", "/"),
    Visit("/posts/new", "member", "/posts/new?kind=need"),
    Visit("/posts/new", "member", "/posts/new?kind=offer"),
    Visit("/posts/{id:id}", "member", "/posts/{post}"),
    Visit("/posts/{id:id}/edit", "member", "/posts/{post}/edit"),
    Visit("/conversations", "member", "/conversations"),
    Visit("/conversations/{id:id}", "member", "/conversations/{conversation}"),
    Visit("/my/posts", "member", "/my/posts"),
    Visit("/notifications", "member", "/notifications"),
    Visit("/@{name}", "member", "/@helper"),
    Visit("/report", "member", "/report?post={post}"),
    Visit("/reports", "member", "/reports"),
    Visit("/picture", "member", "/picture"),
    Visit("/picture/network", "member", "/picture/network"),
    Visit("/flyer", "member", "/flyer"),
    Visit("/settings/password", "member", "/settings/password"),
    Visit("/settings/two-factor", "member", "/settings/two-factor"),
    Visit("/settings/language", "member", "/settings/language"),
    Visit("/settings/limits", "member", "/settings/limits"),
    Visit("/settings/blocks", "member", "/settings/blocks"),
    Visit("/settings/email", "member", "/settings/email"),
    Visit("/account/data", "member", "/account/data"),
    Visit("/account/delete", "member", "/account/delete"),
    Visit("/oauth/authorize", "member",
          "/oauth/authorize?response_type=code&client_id={client}"
          f"&redirect_uri={quote(OOB)}&scope=read+write"),
    Visit("/admin", "member", "/admin", 403),
    # A coordinator.
    Visit("/admin", "coordinator", "/admin"),
    Visit("/settings/two-factor", "coordinator", "/settings/two-factor"),
    Visit("/admin/settings", "coordinator", "/admin/settings"),
    Visit("/admin/profile", "coordinator", "/admin/profile"),
    Visit("/admin/categories", "coordinator", "/admin/categories"),
    Visit("/admin/areas", "coordinator", "/admin/areas"),
    Visit("/admin/held", "coordinator", "/admin/held"),
    Visit("/admin/reports", "coordinator", "/admin/reports"),
    Visit("/admin/members", "coordinator", "/admin/members"),
    Visit("/admin/invitations", "coordinator", "/admin/invitations"),
    Visit("/admin/domains", "coordinator", "/admin/domains"),
    Visit("/admin/network", "coordinator", "/admin/network"),
    Visit("/admin/alerts", "coordinator", "/admin/alerts"),
    Visit("/admin/email", "coordinator", "/admin/email"),
    Visit("/admin/sms", "coordinator", "/admin/sms"),
    Visit("/admin/texts", "coordinator", "/admin/texts"),
    Visit("/admin/hotline", "coordinator", "/admin/hotline"),
    Visit("/audit", "coordinator", "/audit"),
    Visit("/intake", "coordinator", "/intake"),
    Visit("/posts/{id:id}", "coordinator", "/posts/{post}"),
)
# Visited by each language's pass on its own: the switch (a redirect to the page it names)
# and the second step of a coordinator's login (after the password, on a fresh phone).
ON_THEIR_OWN = ("/language", "/login/code")


def get_routes() -> list[str]:
    """Every GET route's path, mounts included."""
    from api.app import routes

    found: list[str] = []

    def walk(items: list[Any], prefix: str) -> None:
        for item in items:
            if isinstance(item, Mount):
                walk(list(item.routes or []), prefix + item.path)
            elif isinstance(item, Route) and "GET" in (item.methods or set()):
                found.append(prefix + item.path)

    walk(routes(), "")
    return found


def page_routes() -> set[str]:
    return {p for p in get_routes()
            if not p.startswith(NOT_PAGES) and not p.endswith(NOT_PAGE_SUFFIXES)}


def test_every_page_route_is_listed() -> None:
    pages = page_routes()
    listed = {v.route for v in VISITS} | set(NOT_VISITED) | set(ON_THEIR_OWN)
    assert not pages - listed, (
        f"GET pages visited nowhere in {__name__}: {sorted(pages - listed)} "
        "(add a Visit, or say in NOT_VISITED why a browser cannot reach it)")
    assert not listed - pages, f"listed but no longer routes: {sorted(listed - pages)}"
    assert len(pages) >= 50 and "/admin/settings" in pages


# -- the module's instance and the things its pages show --------------------------------------

@dataclass
class World:
    site: Instance
    states: dict[str, dict[str, Any]]  # logged-in browser state by person
    names: dict[str, str]  # {post}, {conversation}, {invitation}, {client}


def _state_after(browser: Any, base: str, steps: Any,
                 state: dict[str, Any] | None = None) -> dict[str, Any]:
    """Walk ``steps`` in a new browser context; returns its logged-in state."""
    context = browser.new_context(base_url=base, storage_state=state)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        steps(page)
        after: dict[str, Any] = context.storage_state()
    finally:
        context.close()
    return after


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[World]:
    from playwright.sync_api import expect

    data = tmp_path_factory.mktemp("every_page") / "instance"
    data.mkdir()
    site = Instance(data=data, port=free_port(), group="elm", database_url=sqlite_url(data),
                    env={"FEDIAID_RATE_LIMIT_SCALE": "0"})
    site.init()
    site.launch(workers=False)
    try:
        making = site.cli_bg("admin", "login-link", "admin")
        site.wait_up(timeout=60)
        login = finish_cli(making).strip().splitlines()[-1]
        names: dict[str, str] = {}

        def coordinator(page: Any) -> None:
            page.goto(login)
            page.goto("/admin/invitations")
            page.fill("#uses", "3")
            page.click("button[type=submit]:has-text('Make the link')")
            names["members_link"] = page.locator("code.secret-link").inner_text().strip()
            page.goto("/admin/invitations")
            page.fill("#note", "For the pages' visitor")
            page.click("button[type=submit]:has-text('Make the link')")
            names["invitation"] = page.locator("code.secret-link").inner_text().strip(
                ).removeprefix(site.base + "/join/")
            # A password and two-factor login, for the login code page.
            page.goto("/settings/password")
            page.fill("#password", PASSWORD)
            page.click("button:has-text('Save password')")
            page.goto("/settings/two-factor")
            page.click("button:has-text('Set up two-factor login')")
            secret = page.locator("p code").inner_text().strip()
            page.fill("#code", pyotp.TOTP(secret).now())
            page.click("button:has-text('Turn on')")
            expect(page.locator("#code")).to_have_count(0)

        states = {"coordinator": _state_after(browser, site.base, coordinator)}

        def joined(name: str) -> Any:
            def steps(page: Any) -> None:
                page.goto(names["members_link"])
                page.locator("#username").fill(name)
                page.locator("#password").fill(PASSWORD)
                page.get_by_role("button", name="Join the group").click()
                expect(page.locator("header .account")).to_contain_text(name)
                if name == "member":  # the author: a need
                    page.goto("/posts/new?kind=need")
                    page.get_by_label("What do you need?").fill(
                        "Could someone lend me a ladder on Saturday?")
                    page.get_by_role("button", name="Publish").click()
                    expect(page.get_by_text("Published. Thank you!")).to_be_visible()
                    names["post"] = page.url.removeprefix(site.base + "/posts/")
                else:  # the helper answers it, and reports it (so the queue has one)
                    page.goto(f"/posts/{names['post']}")
                    page.get_by_label("How can you help?").fill("I have a ladder.")
                    page.get_by_role("button", name="I can help").click()
                    expect(page.get_by_text("They can see your answer now")).to_be_visible()
                    page.goto(f"/report?post={names['post']}")
                    page.locator("#comment").fill("Checking the reports queue.")
                    page.get_by_role("button", name="Send the report").click()
                    expect(page).to_have_url(site.base + "/reports")
            return steps

        states["member"] = _state_after(browser, site.base, joined("member"))
        _state_after(browser, site.base, joined("helper"))

        def accepts(page: Any) -> None:
            page.goto(f"/posts/{names['post']}")
            page.locator(".answer", has_text="helper").get_by_role(
                "button", name="Accept").click()
            found = re.search(r"/conversations/(\d+)$", page.url)
            assert found, page.url
            names["conversation"] = found.group(1)

        states["member"] = _state_after(browser, site.base, accepts, states["member"])
        names["client"] = httpx.post(f"{site.base}/api/v1/apps", data={
            "client_name": "Tusky", "redirect_uris": OOB, "scopes": "read write",
            "website": "https://tusky.app"}).json()["client_id"]
        assert re.fullmatch(r"\d+", names["post"])
        yield World(site, states, names)
    finally:
        site.stop()


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_page(language: str, world: World, browser: Any, axe: Any) -> None:
    tour = Tour(browser, world.site.base, js=True, axe=axe)
    locale = "es-ES" if language == "es" else "en-US"
    try:
        people = {"visitor": tour.person(f"visitor ({language})", locale=locale)}
        for who in ("member", "coordinator"):
            people[who] = tour.person(f"{who} ({language})", locale=locale,
                                      storage_state=world.states[who])
        wrong: list[str] = []
        # The language switch, once: a redirect to the page it names, in that language.
        visitor = people["visitor"]
        tour.go(visitor, f"/language?to={language}&next=/login", "switched language")
        if visitor.url != world.site.base + "/login":
            wrong.append(f"/language led to {visitor.url}")
        # The coordinator, logging in on another phone: the password, then the code page.
        again = tour.person(f"coordinator elsewhere ({language})", locale=locale)
        tour.go(again, "/login")
        again.fill("#username", "admin")
        again.fill("#password", PASSWORD)
        tour.click(again, again.locator("form[action='/login'] button[type=submit]"),
                   "password accepted")
        if not again.url.startswith(world.site.base + "/login/code"):
            wrong.append(f"after the password, {again.url}, not /login/code")
        if again.locator("html").get_attribute("lang") != language:
            wrong.append(f"/login/code not in {language}")
        for visit in VISITS:
            page = people[visit.who]
            path = visit.path.format(**world.names)
            response = page.goto(path)
            tour.look(page)
            status = response.status if response is not None else 0
            lang = page.locator("html").get_attribute("lang")
            if status != visit.status or lang != language:
                wrong.append(f"{visit.who} at {path}: {status} (expected {visit.status}), "
                             f"lang={lang!r}")
        assert not wrong, "\n".join(wrong)
        assert len(tour.states) == len(VISITS) + 3, tour.states  # every page looked at
        tour.check()
    finally:
        tour.close()
