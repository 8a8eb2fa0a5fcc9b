"""The needs picture and the printable flyer, in a real browser on a 360 px phone, with
JavaScript on and off, on a running instance of their own (so the counts are known).

The group's posts are made through the JSON API before the browser starts: six needs for
food, two for tools and one members-only need about housing; five offers of meals. The
picture must show the six and the five, and never a count from 1 to 4; the flyer, printed
by a visitor, lists the public posts with the hotline a coordinator set on the web, and its
QR code opens the group's page. Every page state is checked as in test_journeys.py (axe-core,
weight, CSP).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser.browsing import Tour
from tests.support.databases import sqlite_url
from tests.support.instances import Instance, finish_cli, free_port

pytestmark = pytest.mark.slow

FOOD = [f"Rice and beans for a family, week {n}" for n in range(1, 7)]
TOOLS = ["Borrow a drill for an afternoon", "Borrow a ladder for the gutters"]
HOUSING = "A room for two weeks after a fire"  # members only: never on the flyer
MEALS = [f"Hot soup on Sundays, pot {n}" for n in range(1, 6)]
HOTLINE = "+1 212 555 0188"
HOURS = "Monday to Friday, 9 to 5"


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, str]]:
    """The instance with its posts, and a one-time login link for its coordinator."""
    data = tmp_path_factory.mktemp("picture") / "instance"
    data.mkdir()
    inst = Instance(data=data, port=free_port(), group="elm", database_url=sqlite_url(data),
                    env={"FEDIAID_RATE_LIMIT_SCALE": "0"})
    inst.init()
    inst.launch(workers=False)
    try:
        making_link = inst.cli_bg("admin", "login-link", "admin")
        making_token = inst.cli_bg("admin", "token", "admin")
        inst.wait_up(timeout=60)  # a busy CI machine: two commands start beside it
        link = finish_cli(making_link).strip().splitlines()[-1]
        token = finish_cli(making_token).strip().splitlines()[-1]
        posts = ([("need", t, "food", "public") for t in FOOD]
                 + [("need", t, "tools", "public") for t in TOOLS]
                 + [("need", HOUSING, "housing", "members")]
                 + [("offer", t, "meals", "public") for t in MEALS])
        with httpx.Client(base_url=inst.base + "/api/fediaid/v1",
                          headers={"Authorization": f"Bearer {token}"}) as api:
            for kind, title, category, visibility in posts:
                made = api.post("/posts", json={
                    "kind": kind, "description": title, "category": category,
                    "visibility": visibility, "confirm": True})
                assert made.status_code == 201, made.text
        yield inst, link
    finally:
        inst.stop()


@pytest.fixture(scope="module")
def site(started: tuple[Instance, str]) -> Instance:
    return started[0]


@pytest.fixture(scope="module")
def coordinator(started: tuple[Instance, str], browser: Any) -> dict[str, Any]:
    site, link = started
    context = browser.new_context(base_url=site.base)
    try:
        context.new_page().goto(link)
        state: dict[str, Any] = context.storage_state()
    finally:
        context.close()
    return state


@pytest.fixture(params=[True, False], ids=["js", "no-js"])
def tour(request: pytest.FixtureRequest, browser: Any, site: Instance, axe: Any
         ) -> Iterator[Tour]:
    made = Tour(browser, site.base, js=request.param, axe=axe)
    try:
        yield made
    finally:
        made.close()


def cells(row: Any) -> list[str]:
    return [" ".join(c.split()) for c in row.locator("td").all_inner_texts()]


def test_the_needs_picture_counts_and_hides_small_numbers(
        tour: Tour, site: Instance, coordinator: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    visitor = tour.person("visitor")
    response = visitor.goto("/picture")
    tour.look(visitor, "not a member")
    assert response is not None and response.status == 401

    coord = tour.person("coordinator", storage_state=coordinator)
    tour.go(coord, "/picture")
    facts = " ".join(coord.locator("main dl.facts-list").first.inner_text().split())
    assert "Needs posted 9" in facts and "Offers posted 5" in facts, facts
    assert "Needs still waiting for help now 9" in facts, facts
    assert "Needs met fewer than 5" in facts, facts

    table = coord.locator("table", has=coord.locator(
        "caption", has_text="Needs and offers by category"))
    rows = table.locator("tbody tr")
    assert cells(rows.filter(has_text="Food and groceries")) == ["6", "fewer than 5"]
    assert cells(rows.filter(has_text="Meals")) == ["fewer than 5", "5"]
    # Two needs for tools and one for housing: too few to show, so not listed at all.
    expect(rows.filter(has_text="Tools")).to_have_count(0)
    expect(rows.filter(has_text="Housing")).to_have_count(0)
    expect(coord.get_by_text(
        "Categories not listed: fewer than 5 needs and fewer than 5 offers each.")).to_be_visible()
    assert cells(table.locator("tfoot tr")) == ["9", "5"]

    # Nowhere on the page a count from 1 to 4, in a table or in a chart.
    shown = coord.locator("main td, main dd, main svg text").all_text_contents()
    small = [t for t in shown if re.fullmatch(r"\s*[1-4]\s*", t)]
    assert small == [], f"counts below 5 shown: {small}"

    # The CSV has the same numbers, hidden the same way.
    got = coord.request.get("/picture.csv")
    assert got.ok
    table_rows = list(csv.DictReader(io.StringIO(got.text())))
    food = {r["column"]: r["value"] for r in table_rows
            if r["table"] == "categories" and r["row"] == "food"}
    tools = {r["column"]: r["value"] for r in table_rows
             if r["table"] == "categories" and r["row"] == "tools"}
    assert food == {"need": "6", "offer": "fewer than 5"}, food
    assert tools == {"need": "fewer than 5", "offer": "fewer than 5"}, tools
    tour.check()


def test_a_visitor_prints_the_flyer(tour: Tour, site: Instance, coordinator: dict[str, Any]
                                    ) -> None:

    # A coordinator puts the hotline in the group's profile, on the web.
    coord = tour.person("coordinator", storage_state=coordinator)
    tour.go(coord, "/admin/profile")
    coord.locator("#hotline_number").fill(HOTLINE)
    coord.locator("#hotline_hours").fill(HOURS)
    tour.click(coord, coord.locator("form[action='/admin/profile'] button[type=submit]"),
               "saved")
    hotline = coord.locator("#hotline_number").input_value()  # as the group writes it
    assert re.sub(r"\D", "", hotline) == re.sub(r"\D", "", HOTLINE), hotline

    # A visitor (no account) opens the flyer page and downloads the PDF.
    visitor = tour.person("visitor")
    tour.go(visitor, "/flyer")
    flyer = visitor.locator("main").inner_text()
    for title in (*FOOD, *TOOLS, *MEALS):
        assert title in flyer, f"{title!r} missing from the flyer page"
    assert HOUSING not in flyer
    assert hotline in flyer
    # The page's link to the PDF, fetched with the visitor's browser (its cookies, its
    # language); headless Chromium would show a PDF rather than save it.
    href = visitor.get_by_role("link", name="Download the PDF").get_attribute("href")
    assert href and "/flyer.pdf" in href
    got = visitor.request.get(href)
    assert got.ok and got.headers["content-type"].startswith("application/pdf")
    data = got.body()
    assert data.startswith(b"%PDF")

    from pypdf import PdfReader

    text = " ".join(" ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)
                    .split())
    for title in (*FOOD, *TOOLS, *MEALS):
        assert title in text, f"{title!r} missing from the PDF: {text}"
    assert HOUSING not in text
    assert hotline in text and HOURS in text
    assert f"{site.domain}/join" in text
    assert scan_pdf(data) == [f"{site.base}/@{site.group}"]
    tour.check()


def scan_pdf(data: bytes) -> list[str]:
    """The QR codes on the PDF's first page, drawn at 200 dpi."""
    import pypdfium2
    import zxingcpp

    image = pypdfium2.PdfDocument(data)[0].render(scale=200 / 72).to_pil()
    return [code.text for code in zxingcpp.read_barcodes(image)]
