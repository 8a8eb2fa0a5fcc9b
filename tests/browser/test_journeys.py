"""A group's first day, in a real browser on a 360 px phone: every day-one journey (issue 10)
walked on one running `fediaid serve` process, with JavaScript on and again with it off.

Joining by invitation and by asking; a need in one sentence, answered by a second member,
seen by its author in the header's badge, on "My posts" and on the notifications page,
accepted, talked over in the exchange and marked done; a coordinator removing a member,
whose session stops working; a need recorded for a neighbor without internet, shown without
a name; the pages in Spanish.

Every page state the journeys reach is checked by ``Tour`` (browsing.py): axe-core finds no
serious or critical violation, each page weighs under 60 KB transferred, no
Content-Security-Policy violation, nothing loaded from elsewhere.

One browser and one instance per module; each journey uses its own people and posts, so the
journeys share the instance in any order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.browsing import MAX_PAGE_BYTES, Tour
from tests.support.databases import sqlite_url
from tests.support.instances import Instance, finish_cli, free_port

pytestmark = pytest.mark.slow
PASSWORD = "plenty of soup for all"


# -- the module's browser, instance and coordinator --------------------------------------

@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, str]]:
    """The module's instance, and a one-time login link for its coordinator (made while
    the server starts)."""
    data = tmp_path_factory.mktemp("journeys") / "instance"
    data.mkdir()
    # Request limits off: a dozen people join from 127.0.0.1 within a minute here
    # (the join limit is tests/api/test_rate_limits.py's business).
    inst = Instance(data=data, port=free_port(), group="elm", database_url=sqlite_url(data),
                    env={"FEDIAID_RATE_LIMIT_SCALE": "0"})
    inst.init()
    inst.launch(workers=False)
    try:
        making = inst.cli_bg("admin", "login-link", "admin")
        inst.wait_up(timeout=60)  # a busy CI machine: two commands start beside it
        link = finish_cli(making).strip().splitlines()[-1]
        assert link.startswith(inst.base + "/login/")
        yield inst, link
    finally:
        inst.stop()


@pytest.fixture(scope="module")
def site(started: tuple[Instance, str]) -> Instance:
    return started[0]


@pytest.fixture(scope="module")
def coordinator(started: tuple[Instance, str], browser: Any) -> dict[str, Any]:
    """The coordinator's logged-in browser state (from the one-time login link)."""
    site, link = started
    context = browser.new_context(base_url=site.base)
    try:
        context.new_page().goto(link)
        state: dict[str, Any] = context.storage_state()
    finally:
        context.close()
    return state


@pytest.fixture(scope="module")
def members_link(site: Instance, browser: Any, coordinator: dict[str, Any]) -> str:
    """A many-use invitation link, for the members the journeys need along the way."""
    context = browser.new_context(base_url=site.base, storage_state=coordinator)
    try:
        page = context.new_page()
        page.goto("/admin/invitations")
        page.fill("#uses", "50")
        page.fill("#note", "for the journeys' members")
        page.click("button[type=submit]:has-text('Make the link')")
        link = page.locator("code.secret-link").inner_text().strip()
    finally:
        context.close()
    assert link.startswith(site.base + "/join/")
    return link


@pytest.fixture(params=[True, False], ids=["js", "no-js"])
def tour(request: pytest.FixtureRequest, browser: Any, site: Instance, axe: Any
         ) -> Iterator[Tour]:
    made = Tour(browser, site.base, js=request.param, axe=axe)
    try:
        yield made
    finally:
        made.close()


def suffix(tour: Tour) -> str:
    """Names differ between the two runs of a journey on the one instance."""
    return "j" if tour.js else "n"


def join(tour: Tour, link: str, name: str, *, locale: str = "en-US") -> Any:
    """A new member on their own phone, joined with an invitation link and a password
    (test_join_by_invitation walks the same page by its words)."""
    from playwright.sync_api import expect

    page = tour.person(name, locale=locale)
    tour.go(page, link)
    page.locator("#username").fill(name)
    page.locator("#password").fill(PASSWORD)
    tour.click(page, page.locator(f"form[action='{link.removeprefix(tour.base)}'] "
                                  "button[type=submit]"), "just joined")
    expect(page.locator("header .account")).to_contain_text(name)
    return page


def logged_in_as(page: Any, name: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("header .account")).to_contain_text(f"Logged in as {name}")


# -- joining ------------------------------------------------------------------------------

def test_join_by_invitation(tour: Tour, site: Instance, coordinator: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    s = suffix(tour)
    note = f"From the Tuesday pantry ({s})"
    coord = tour.person("coordinator", storage_state=coordinator)
    tour.go(coord, "/admin/invitations")
    coord.get_by_label("A note").fill(note)
    tour.click(coord, coord.get_by_role("button", name="Make the link"), "a new link")
    expect(coord.get_by_role("heading", name="Your new link")).to_be_visible()
    link = coord.locator("code.secret-link").inner_text().strip()
    assert link.startswith(site.base + "/join/")

    # The neighbor opens it on her own phone, picks a name and a passphrase: she is in.
    name = f"ines_{s}"
    ines = tour.person(name)
    tour.go(ines, link)
    expect(ines.get_by_text(note)).to_be_visible()
    ines.get_by_label("Choose a name").fill(name)
    ines.get_by_label("Password", exact=True).fill(PASSWORD)
    tour.click(ines, ines.get_by_role("button", name="Join the group"), "just joined")
    expect(ines).to_have_url(site.base + "/")
    expect(ines.get_by_text(f"Welcome, {name}!")).to_be_visible()
    logged_in_as(ines, name)
    tour.go(ines, "/my/posts")
    expect(ines.get_by_role("heading", name="My posts", exact=True)).to_be_visible()

    # The link was for one person: it is used up now.
    stranger = tour.person("someone else")
    tour.go(stranger, link, "a used link")
    expect(stranger.get_by_text("unknown, used up, expired or taken back")).to_be_visible()
    tour.go(coord, "/admin/invitations")
    expect(coord.locator("tr", has_text=note)).to_contain_text("used up")

    # The passphrase works on the login page too, on another phone.
    again = tour.person(f"{name} elsewhere")
    tour.go(again, "/login")
    again.get_by_label("Name").fill(name)
    again.get_by_label("Password").fill(PASSWORD)
    tour.click(again, again.get_by_role("button", name="Log in"), "logged in")
    logged_in_as(again, name)
    tour.check()


def test_join_by_request(tour: Tour, site: Instance, coordinator: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    s = suffix(tour)
    asked_as = f"Marta Lopez {s.upper()}"
    name = f"marta_{s}"
    marta = tour.person("Marta")
    tour.go(marta, "/")
    tour.click(marta, marta.get_by_role("link", name="Ask to join the group"))
    marta.get_by_label("A name to call you by").fill(asked_as)
    marta.get_by_label("A message for the coordinators").fill("I live near the school.")
    marta.get_by_label("How can we reach you?").fill("At the pantry on Tuesdays")
    tour.click(marta, marta.get_by_role("button", name="Ask to join"), "asked")
    expect(marta.get_by_text("A coordinator will read it")).to_be_visible()

    # A coordinator reads it on the members page and makes the account.
    coord = tour.person("coordinator", storage_state=coordinator)
    tour.go(coord, "/admin/members")
    asking = coord.locator(".follow-request", has_text=asked_as)
    expect(asking).to_contain_text("I live near the school.")
    expect(asking).to_contain_text("At the pantry on Tuesdays")
    asking.get_by_label("Account name").fill(name)
    tour.click(coord, asking.get_by_role("button", name="Approve: make the account"),
          "account made")
    expect(coord.get_by_role("heading", name="Account made")).to_be_visible()
    link = coord.locator("code.secret-link").inner_text().strip()
    assert link.startswith(site.base + "/login/")
    tour.go(coord, "/admin/members")
    expect(coord.locator(".follow-request", has_text=asked_as)).to_have_count(0)
    expect(coord.locator("tr", has_text=name)).to_be_visible()

    # The coordinator hands over the link; Marta opens it, is in, and picks a passphrase.
    tour.go(marta, link, "login link")
    logged_in_as(marta, name)
    marta.get_by_label("New password").fill(PASSWORD)
    tour.click(marta, marta.get_by_role("button", name="Save password"))
    expect(marta.get_by_text("Password saved.")).to_be_visible()
    tour.go(marta, "/my/posts")
    logged_in_as(marta, name)
    tour.check()


# -- a need, answered -----------------------------------------------------------------------

def test_a_need_answered_accepted_and_done(tour: Tour, site: Instance, members_link: str
                                           ) -> None:
    from playwright.sync_api import expect

    s = suffix(tour)
    author_name, helper_name = f"amara_{s}", f"bo_{s}"
    title = f"Could someone lend me a ladder on Saturday ({s})?"
    author = join(tour, members_link, author_name)
    helper = join(tour, members_link, helper_name)

    # One sentence is enough.
    tour.go(author, "/posts/new?kind=need")
    author.get_by_label("What do you need?").fill(title)
    tour.click(author, author.get_by_role("button", name="Publish"), "published")
    expect(author.get_by_text("Published. Thank you!")).to_be_visible()
    expect(author.get_by_role("heading", name=title)).to_be_visible()
    post_path = author.url.removeprefix(site.base)
    assert re.fullmatch(r"/posts/\d+", post_path), post_path

    # A second member finds it and answers.
    tour.go(helper, "/")
    tour.click(helper, helper.get_by_role("link", name=title))
    helper.get_by_label("How can you help?").fill("I have a ladder and can bring it at 10.")
    tour.click(helper, helper.get_by_role("button", name="I can help"), "answered")
    expect(helper.get_by_text("They can see your answer now")).to_be_visible()

    # The author sees the badge, the answer on "My posts" and on the notifications page.
    tour.go(author, "/")
    badge = author.locator("header a[href='/notifications']")
    expect(badge).to_contain_text("1 unread")
    tour.go(author, "/my/posts")
    mine = author.locator("article.my-post", has_text=title)
    expect(mine).to_contain_text("1 answer")
    expect(mine).to_contain_text("1 new")
    tour.go(author, "/notifications")
    told = author.locator("ul.notifications li", has_text=title)
    expect(told).to_contain_text(f"{helper_name} answered")
    expect(told).to_contain_text("New:")
    expect(badge).not_to_contain_text("unread")  # seen now

    # She accepts; they talk in the exchange.
    tour.click(author, told.get_by_role("link"), "the answer")
    answer = author.locator(".answer", has_text=helper_name)
    expect(answer).to_contain_text("I have a ladder and can bring it at 10.")
    tour.click(author, answer.get_by_role("button", name="Accept"), "accepted")
    expect(author.get_by_text("Accepted.")).to_be_visible()
    expect(author.get_by_role("heading", name=f"Messages with {helper_name}")).to_be_visible()
    author.get_by_label("Your message").fill("Saturday at 10 is perfect, thank you!")
    tour.click(author, author.get_by_role("button", name="Send"), "sent")
    expect(author.locator("ol.messages")).to_contain_text("Saturday at 10 is perfect")

    tour.go(helper, "/conversations")
    tour.click(helper, helper.locator("a.conv-link", has_text=title))
    expect(helper.locator("ol.messages")).to_contain_text("Saturday at 10 is perfect")
    helper.get_by_label("Your message").fill("See you then.")
    tour.click(helper, helper.get_by_role("button", name="Send"), "sent")

    tour.go(author, "/my/posts")
    expect(author.locator("a.conv-link", has_text=title)).to_contain_text(helper_name)
    tour.click(author, author.locator("a.conv-link", has_text=title))
    expect(author.locator("ol.messages")).to_contain_text("See you then.")

    # It went well: the author marks it done.
    tour.go(author, post_path)
    author.get_by_label("Done: I got what I needed").check()
    tour.click(author, author.get_by_role("button", name="Close the post"), "closed")
    expect(author.get_by_text("Closed. Thank you!")).to_be_visible()
    expect(author.locator("article.post-full .badges")).to_contain_text("Done")
    tour.go(helper, post_path)
    expect(helper.locator("article.post-full .badges")).to_contain_text("Done")
    tour.check()


# -- a coordinator removes a member -------------------------------------------------------

def test_a_removed_member_is_logged_out(tour: Tour, site: Instance, members_link: str,
                                        coordinator: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    s = suffix(tour)
    name = f"carl_{s}"
    title = f"Spare bicycle pump for a week ({s})"
    carl = join(tour, members_link, name)
    tour.go(carl, "/posts/new?kind=need")
    carl.get_by_label("What do you need?").fill(title)
    tour.click(carl, carl.get_by_role("button", name="Publish"), "published")
    post_path = carl.url.removeprefix(site.base)

    coord = tour.person("coordinator", storage_state=coordinator)
    tour.go(coord, "/admin/members")
    coord.get_by_label("Find by name").fill(name)
    tour.click(coord, coord.get_by_role("button", name="Find"), "found")
    row = coord.locator("tr", has_text=name)
    row.get_by_label(f"Delete {name} and their posts").check()
    tour.click(coord, row.get_by_role("button", name="Remove"), "removed")
    expect(coord.locator(".flash")).to_contain_text(re.compile(f"Removed.*{name}"))
    expect(coord.locator("tr", has_text=name)).to_have_count(0)

    # Carl's phone is logged out: his session no longer opens anything, nor his password.
    response = carl.goto("/my/posts")
    tour.look(carl, "after removal")
    assert response is not None and response.status == 401
    expect(carl.locator("header .account")).to_have_count(0)
    expect(carl.get_by_role("alert")).to_contain_text("log in")
    tour.go(carl, "/login")
    carl.get_by_label("Name").fill(name)
    carl.get_by_label("Password").fill(PASSWORD)
    tour.click(carl, carl.get_by_role("button", name="Log in"), "refused")
    expect(carl.locator("header .account")).to_have_count(0)
    expect(carl.locator(".flash.error")).to_be_visible()
    # His post went with him.
    response = coord.goto(post_path)
    tour.look(coord, "a removed member's post")
    assert response is not None and response.status == 404
    tour.check()


# -- proxy intake -------------------------------------------------------------------------

def test_intake_for_a_neighbor_without_internet(tour: Tour, site: Instance, members_link: str,
                                                coordinator: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    s = suffix(tour)
    neighbor = f"Mrs Okafor{s.upper()}"
    title = f"Groceries delivered on Friday for a neighbor ({s})"
    coord = tour.person("coordinator", storage_state=coordinator)
    tour.go(coord, "/intake")
    coord.locator("#name").fill(neighbor)
    coord.locator("#notes").fill("Calls after five; prefers Spanish.")
    coord.locator("#description").fill(title)
    tour.click(coord, coord.get_by_role("button", name="Record and publish"), "recorded")
    expect(coord.get_by_text("Recorded and published for your neighbor.")).to_be_visible()
    post_path = coord.url.removeprefix(site.base)
    group = coord.locator("header .brand").inner_text().strip()

    # Members see it in the group's name: neither the neighbor nor the coordinator.
    member = join(tour, members_link, f"dee_{s}")
    tour.go(member, "/")
    card = member.locator("article.post", has_text=title)
    expect(card).to_contain_text(f"by {group}, for a neighbor")
    tour.click(member, card.get_by_role("link", name=title))
    shown = member.locator("article.post-full").inner_text()
    assert f"{group}, for a neighbor" in shown
    for name in (neighbor, "Okafor", "admin"):
        assert name not in shown, f"{name!r} is shown on the post: {shown}"
    assert neighbor not in member.content()

    # The intake record is the coordinators' alone, opened on purpose.
    tour.go(coord, post_path)
    expect(coord.get_by_text(neighbor)).to_have_count(0)
    tour.click(coord, coord.get_by_role("link", name="Open the intake record"), "record")
    expect(coord.locator("#intake")).to_contain_text(neighbor)
    expect(coord.locator("#intake")).to_contain_text("Calls after five")
    tour.check()


# -- Spanish -------------------------------------------------------------------------------

# Words the pages must not show to a phone that asks for Spanish.
ENGLISH = ("Post a need", "Log in", "Offers and needs", "My posts", "Notifications",
           "Publish", "I can help", "Answers", "unread", "Ask to join", "Join the group",
           "Messages", "Your message", "Send", "Accept")


def in_spanish(page: Any, where: str, *words: str) -> None:
    """The page is in Spanish: lang="es", the Spanish ``words`` shown, no English ones."""
    assert page.locator("html").get_attribute("lang") == "es", f"{where}: not lang=es"
    text = " ".join(page.locator("body").inner_text().split())
    missing = [w for w in words if w not in text]
    english = [w for w in ENGLISH if re.search(rf"\b{re.escape(w)}\b", text)]
    assert not missing and not english, (
        f"{where}: Spanish words missing {missing}, English words shown {english}: {text}")


def test_pages_in_spanish(tour: Tour, site: Instance, members_link: str) -> None:
    """Neighbors whose phones ask for Spanish: asking to join, an invitation, a need posted
    and answered, the badge, "My posts", the notifications, the answer accepted and the
    exchange, all in Spanish words."""
    from playwright.sync_api import expect

    s = suffix(tour)
    visitor = tour.person("visitante", locale="es-ES")
    tour.go(visitor, "/")
    in_spanish(visitor, "/", "Ofertas y necesidades", "Publicar una necesidad", "Entrar")
    tour.click(visitor, visitor.get_by_role("link", name="Entrar", exact=True))
    in_spanish(visitor, "/login", "Nombre", "Contraseña")
    tour.go(visitor, "/join")
    in_spanish(visitor, "/join", "Pedir unirse")
    tour.go(visitor, members_link)
    in_spanish(visitor, "an invitation", "Unirse al grupo")

    names = [f"lucia_{s}", f"pablo_{s}"]
    lucia, pablo = (join(tour, members_link, name, locale="es-ES") for name in names)

    title = f"Necesito una escalera el sábado ({s})."
    tour.go(lucia, "/posts/new?kind=need")
    in_spanish(lucia, "the form", "Publicar una necesidad", "¿Quién puede verla?")
    lucia.get_by_label("¿Qué necesita? Basta con una frase.").fill(title)
    tour.click(lucia, lucia.get_by_role("button", name="Publicar", exact=True), "published")
    expect(lucia.get_by_text("Publicado. ¡Gracias!")).to_be_visible()
    in_spanish(lucia, "a new post")
    post_path = lucia.url.removeprefix(site.base)

    tour.go(pablo, post_path)
    in_spanish(pablo, "someone's need", "Puedo ayudar")
    pablo.get_by_label("¿Cómo puede ayudar? (opcional)").fill("Tengo una escalera.")
    tour.click(pablo, pablo.get_by_role("button", name="Puedo ayudar"), "answered")
    expect(pablo.get_by_text("¡Gracias! Ya pueden ver su respuesta.")).to_be_visible()

    tour.go(lucia, "/")
    expect(lucia.locator("header a[href='/notifications']")).to_contain_text("1 sin leer")
    tour.go(lucia, "/my/posts")
    in_spanish(lucia, "/my/posts", "Mis publicaciones", "Mis ofertas y necesidades")
    tour.go(lucia, "/notifications")
    in_spanish(lucia, "/notifications", "Avisos", f"{names[1]} respondió a «{title}»")
    tour.go(lucia, post_path)
    in_spanish(lucia, "her post with its answer", "Respuestas", "Tengo una escalera.")
    tour.click(lucia, lucia.get_by_role("button", name="Aceptar", exact=True), "accepted")
    in_spanish(lucia, "the exchange", f"Mensajes con {names[1]}", "Aceptada.", "Su mensaje")
    lucia.get_by_label("Su mensaje").fill("¿El sábado a las diez?")
    tour.click(lucia, lucia.get_by_role("button", name="Enviar"), "sent")
    tour.go(pablo, "/conversations")
    in_spanish(pablo, "/conversations", "Mensajes", title)
    tour.click(pablo, pablo.locator("a.conv-link", has_text=title))
    in_spanish(pablo, "the exchange", f"Mensajes con {names[0]}", "¿El sábado a las diez?")
    tour.check()


# -- the checks themselves ------------------------------------------------------------------

def test_the_checks_catch_what_they_are_for(browser: Any, axe: Any) -> None:
    """A page with an image without words, an inline style the CSP refuses and an 80 KB
    stylesheet, then a page reached but never looked at: ``Tour.check`` names all four."""
    base = "http://127.0.0.1:9"  # nothing listens there: the browser's router answers
    heavy = "/*" + "x" * (MAX_PAGE_BYTES + 20_000) + "*/"
    page_html = ('<!doctype html><html lang="en"><title>t</title>'
                 '<link rel="stylesheet" href="/heavy.css"><main><h1>t</h1>'
                 '<p style="color: red">x</p><img src="/heavy.css"><a href="/next">on</a>'
                 '</main></html>')

    def answer(route: Any) -> None:
        if route.request.url.endswith(".css"):
            route.fulfill(status=200, content_type="text/css", body=heavy)
        else:
            route.fulfill(status=200, content_type="text/html", body=page_html,
                          headers={"Content-Security-Policy": "default-src 'self'"})

    tour = Tour(browser, base, js=True, axe=axe)
    try:
        page = tour.person("tester")
        page.route("**/*", answer)
        tour.go(page, "/")
        page.goto("/next")
    finally:
        tour.close()
    with pytest.raises(AssertionError) as caught:
        tour.check()
    found = str(caught.value)
    assert "axe image-alt (critical) on tester at /" in found
    assert "tester at / weighs" in found and "/heavy.css" in found
    assert "Content-Security-Policy violations" in found and "inline style" in found
    assert "not checked" in found and "tester at /next" in found
