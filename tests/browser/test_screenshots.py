"""What a group sees, photographed for the README (issue 10), and checked while at it.

One instance, "Elm Street Mutual Aid": the coordinator fills in the group's profile and its
neighborhoods on the web, two neighbors join with an invitation link, one of them posts two
needs and two offers through the web form; a few members-only posts are added through the
JSON API so the needs picture has numbers it may show (it hides counts from 1 to 4). Then
every page a group uses on its first days is opened on a phone (360 x 740, the whole page)
and on a desktop (1280 x 800), photographed, and checked: the posts' titles, the hotline on
the home page and on the flyer, the members on the members page, ``lang="es"`` in Spanish.

The pictures go to ``$FEDIAID_SCREENSHOTS`` when set, in 64 colors to keep the repository
small (the README's: ``FEDIAID_SCREENSHOTS=$PWD/docs/screenshots .venv/bin/python -m pytest
tests/browser/test_screenshots.py``), else to the test's temporary directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fediaid.domain.posts import title_from
from tests.support.databases import sqlite_url
from tests.support.instances import Instance, finish_cli, free_port

pytestmark = pytest.mark.slow

GROUP_NAME = "Elm Street Mutual Aid"
DESCRIPTION = ("Neighbors helping neighbors around Elm Street since 2020: groceries, rides, "
               "meals and a hand with whatever comes up. No forms, no questions asked.")
HOW_TO_JOIN = ("Come to the Tuesday pantry at the community center (6 to 8 pm), call the "
               "hotline, or ask to join on this site.")
HOTLINE = "(201) 555-0123"  # 555-01xx: a number reserved for fiction
HOURS = "Monday to Friday, 9 am to 5 pm"
AREAS = "north-end = North End\nriverside = Riverside"
PASSWORD = "plenty of soup for all"
# (kind, what the neighbor writes, neighborhood slug): through the web form, public.
WEB_POSTS = [
    ("need", "Groceries for my mother this week: she can't leave the house after her fall.",
     "north-end"),
    ("need", "A ride to the job center on Thursday at 9 am, and back.", "riverside"),
    ("offer", "I cook on Sundays and can bring four hot meals to anyone who needs them.",
     "north-end"),
    ("offer", "Lending a ladder and a drill: pick them up near the park.", "riverside"),
]
# Members only, through the API: enough for the needs picture to show two categories.
API_POSTS = [
    ("need", "Rice, beans and milk for a family of five", "food"),
    ("need", "Diapers and baby food until payday", "food"),
    ("need", "Fresh vegetables for an older neighbor on a diet", "food"),
    ("need", "Bread and eggs for the weekend", "food"),
    ("offer", "A pot of soup every Wednesday", "meals"),
    ("offer", "Lunch boxes for two kids after school", "meals"),
    ("offer", "Hot dinners for a family after a hospital stay", "meals"),
    ("offer", "Tamales for ten on Saturday", "meals"),
]
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}


class NamedInstance(Instance):
    """An instance created with the group's display name and area."""

    def _init_args(self) -> list[str]:
        return [*super()._init_args(), "--name", GROUP_NAME, "--area", "Elm Street"]


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, str, str]]:
    """The instance, a one-time login link and an API token for its coordinator."""
    data = tmp_path_factory.mktemp("screenshots") / "instance"
    data.mkdir()
    inst = NamedInstance(data=data, port=free_port(), group="elm",
                         database_url=sqlite_url(data), env={"FEDIAID_RATE_LIMIT_SCALE": "0"})
    inst.init()
    inst.launch(workers=False)
    try:
        making_link = inst.cli_bg("admin", "login-link", "admin")
        making_token = inst.cli_bg("admin", "token", "admin")
        inst.wait_up(timeout=60)
        link = finish_cli(making_link).strip().splitlines()[-1]
        token = finish_cli(making_token).strip().splitlines()[-1]
        assert link.startswith(inst.base + "/login/")
        yield inst, link, token
    finally:
        inst.stop()


def new_page(browser: Any, site: Instance, *, state: dict[str, Any] | None = None,
             locale: str = "en-US") -> Any:
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, locale=locale,
                                  storage_state=state, base_url=site.base)
    context.set_default_timeout(15_000)
    return context.new_page()


def shrink(path: Path) -> None:
    """A screenshot in 64 colors (a third of its size; text stays sharp)."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT,
                                              dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def submit(page: Any, form_action: str) -> None:
    page.locator(f"main form[action='{form_action}'] button[type=submit]").last.click()
    page.wait_for_load_state()


def test_what_a_group_sees(browser: Any, started: tuple[Instance, str, str], shots: Path
                           ) -> None:
    from playwright.sync_api import expect

    site, link, token = started

    # -- the coordinator sets the group up --------------------------------------------
    coord = new_page(browser, site)
    coord.goto(link)
    coord.goto("/admin/profile")
    coord.get_by_label("About the group").fill(DESCRIPTION)
    coord.get_by_label("How to join").fill(HOW_TO_JOIN)
    coord.get_by_label("Hotline number").fill(HOTLINE)
    coord.get_by_label("When someone answers the hotline").fill(HOURS)
    submit(coord, "/admin/profile")
    expect(coord.locator("main [role=alert], main .field-error")).to_have_count(0)
    hotline = coord.locator("#hotline_number").input_value()  # as the group writes it
    assert re.sub(r"\D", "", hotline) == "1" + re.sub(r"\D", "", HOTLINE), hotline

    coord.goto("/admin/areas")
    coord.locator("#areas").fill(AREAS)
    submit(coord, "/admin/areas")
    expect(coord.locator("#areas")).to_have_value(re.compile("north-end = North End"))

    coord.goto("/admin/invitations")
    coord.locator("#uses").fill("10")
    coord.locator("#note").fill("From the Tuesday pantry")
    coord.get_by_role("button", name="Make the link").click()
    invitation = coord.locator("code.secret-link").inner_text().strip()
    assert invitation.startswith(site.base + "/join/")
    coordinator = coord.context.storage_state()
    coord.context.close()

    # -- two neighbors join; Rosa posts through the web form ----------------------------
    members: dict[str, dict[str, Any]] = {}
    for name in ("rosa", "tomas"):
        page = new_page(browser, site)
        page.goto(invitation)
        page.locator("#username").fill(name)
        page.locator("#password").fill(PASSWORD)
        submit(page, invitation.removeprefix(site.base))
        expect(page.locator("header .account")).to_contain_text(name)
        members[name] = page.context.storage_state()
        page.context.close()

    rosa = new_page(browser, site, state=members["rosa"])
    titles = []
    post_path = ""
    for kind, text, area in WEB_POSTS:
        rosa.goto(f"/posts/new?kind={kind}")
        label = "What do you need?" if kind == "need" else "What can you offer?"
        rosa.get_by_label(label).fill(text)
        rosa.locator("input[name=visibility][value=public]").check()
        rosa.locator("details summary").first.click()
        rosa.locator("#area").select_option(area)
        rosa.get_by_role("button", name="Publish").click()
        expect(rosa.get_by_text("Published. Thank you!")).to_be_visible()
        title = rosa.locator("main h1").inner_text().strip()
        assert title == title_from(text), (title, text)
        titles.append(title)
        post_path = post_path or rosa.url.removeprefix(site.base)
    rosa.context.close()

    with httpx.Client(base_url=site.base + "/api/fediaid/v1",
                      headers={"Authorization": f"Bearer {token}"}) as api:
        for kind, text, category in API_POSTS:
            made = api.post("/posts", json={"kind": kind, "description": text,
                                            "category": category, "visibility": "members",
                                            "confirm": True})
            assert made.status_code == 201, made.text

    # -- the pages, on a phone and on a desktop -----------------------------------------
    visitor_state: dict[str, Any] = {"cookies": [], "origins": []}
    people = {"visitor": visitor_state, "coordinator": coordinator, **members}

    pages: dict[tuple[str, str], Any] = {}

    def look(name: str, who: str, path: str, check: Any, locale: str = "en-US") -> None:
        """The page on a phone (the whole page) and on a desktop (the first screen)."""
        page = pages.get((who, locale))
        if page is None:
            page = pages[who, locale] = new_page(browser, site, state=people[who],
                                                 locale=locale)
        page.set_viewport_size(PHONE)
        response = page.goto(path)
        assert response is not None and response.ok, (path, response and response.status)
        check(page)
        page.screenshot(path=str(shots / f"{name}-phone.png"), full_page=True)
        page.set_viewport_size(DESKTOP)
        page.screenshot(path=str(shots / f"{name}-desktop.png"))
        if os.environ.get("FEDIAID_SCREENSHOTS"):  # kept in the repository: made small
            for size in ("phone", "desktop"):
                shrink(shots / f"{name}-{size}.png")

    def home_for_visitor(page: Any) -> None:
        main = page.locator("main").inner_text()
        assert all(t in main for t in titles), main
        assert API_POSTS[0][1] not in main  # members only
        assert hotline in main and HOURS in main and HOW_TO_JOIN in main

    def home_for_member(page: Any) -> None:
        main = page.locator("main").inner_text()
        assert all(t in main for t in titles), main
        assert API_POSTS[0][1] in main
        expect(page.locator("header .account")).to_contain_text("tomas")

    def post_page(page: Any) -> None:
        expect(page.locator("main h1")).to_have_text(titles[0])
        expect(page.locator("main")).to_contain_text("North End")
        expect(page.get_by_role("button", name="I can help")).to_be_visible()

    def new_need(page: Any) -> None:
        expect(page.get_by_label("What do you need?")).to_be_visible()
        expect(page.get_by_role("button", name="Publish")).to_be_visible()

    def my_posts(page: Any) -> None:
        mine = page.locator("main").inner_text()
        assert all(t in mine for t in titles), mine

    def picture(page: Any) -> None:
        facts = " ".join(page.locator("main dl.facts-list").first.inner_text().split())
        assert "Needs posted 6" in facts and "Offers posted 6" in facts, facts
        shown = page.locator("main td, main dd, main svg text").all_text_contents()
        assert not [t for t in shown if re.fullmatch(r"\s*[1-4]\s*", t)], shown

    def flyer(page: Any) -> None:
        text = page.locator("main").inner_text()
        assert all(t in text for t in titles), text
        assert hotline in text and API_POSTS[0][1] not in text

    def members_page(page: Any) -> None:
        text = page.locator("main").inner_text()
        assert "rosa" in text and "tomas" in text, text

    def spanish_home(page: Any) -> None:
        assert page.locator("html").get_attribute("lang") == "es"
        main = page.locator("main").inner_text()
        assert all(t in main for t in titles), main
        assert hotline in main

    look("home-visitor", "visitor", "/", home_for_visitor)
    look("home-member", "tomas", "/", home_for_member)
    look("post", "tomas", post_path, post_page)
    look("new-need", "tomas", "/posts/new?kind=need", new_need)
    look("my-posts", "rosa", "/my/posts", my_posts)
    look("picture", "coordinator", "/picture", picture)
    look("flyer", "visitor", "/flyer", flyer)
    look("members", "coordinator", "/admin/members", members_page)
    look("home-spanish", "visitor", "/", spanish_home, locale="es-ES")
    for page in pages.values():
        page.context.close()
