"""The needs picture (/picture, /picture.csv) and the coordinators' export of the group's
posts (/admin/posts.csv), on SQLite and PostgreSQL.

A set of posts is made through the services (by members, as a neighbor, by proxy intake,
and one shared from another server), then dated and closed in the database so that months,
waits and times to help are known. The numbers expected are counted here from that list,
not by the code under test; whether a hidden number could be worked out is judged by the
oracle in tests/fediaid/test_picture_rules.py.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from sqlalchemy import update

from fediaid.domain.actors import Role
from fediaid.domain.users import User
from fediaid.services.posts import Intake
from fediaid.services.runtime import Runtime
from fediaid.storage import posts as posts_repo
from fediaid.storage.tables import posts, responses
from fediaid.storage.types import utcnow
from tests.api.test_web_posts import Login, visitor
from tests.api.test_web_posts import login as login  # the fixture
from tests.fediaid.test_picture_rules import Cell, recoverable

INTAKE_NAME = "Rosalind Quimby"
INTAKE_CALLBACK = "555-0199"
INTAKE_NOTES = "Leaves the key under the blue mat"
ANON_AUTHOR = "quillonzed"
ANON_TEXT = "Short 300 on rent this month, Zed Zimmerman"
PRIVATE = (INTAKE_NAME, "Quimby", INTAKE_CALLBACK, "0199", INTAKE_NOTES, "blue mat",
           ANON_AUTHOR, "Zimmerman", ANON_TEXT)


@dataclass
class Seeded:
    kind: str
    category: str
    area: str | None
    created: datetime
    state: str = "open"
    closed: datetime | None = None
    id: int = 0


async def _post(rt: Runtime, user: User, kind: str, category: str, area: str | None,
                title: str, **extra: object) -> int:
    data = {"kind": kind, "title": title, "category": category, "area": area or "",
            "visibility": extra.pop("visibility", "public")}
    post = await rt.posts.create(user, data, confirm=True, **extra)  # type: ignore[arg-type]
    return post.id


async def _set(rt: Runtime, post_id: int, **values: object) -> None:
    async with rt.core.db.write() as conn:
        await conn.execute(update(posts).where(posts.c.id == post_id).values(**values))


async def seed(rt: Runtime, now: datetime) -> list[Seeded]:
    """The posts, as the truth the page is checked against."""
    coord = await rt.accounts.create_user("coordpic", role=Role.COORDINATOR)
    await rt.group_settings.set_areas(coord, [("north", "North End"), ("south", "South Side")])
    await rt.group_settings.set_category(coord, "odd", "=1+2")  # a label like a formula
    members = [await rt.accounts.create_user(f"member{i}") for i in range(1, 8)]
    helper = await rt.accounts.create_user("helperpic")
    anon = await rt.accounts.create_user(ANON_AUTHOR)
    out: list[Seeded] = []
    recent = now - timedelta(hours=1)

    async def add(user: User, kind: str, category: str, area: str | None, title: str,
                  created: datetime = recent, **extra: object) -> Seeded:
        pid = await _post(rt, user, kind, category, area, title, **extra)
        s = Seeded(kind, category, area, created, id=pid)
        await _set(rt, pid, created_at=created)
        out.append(s)
        return s

    # Food: 7 needs by 7 people, 5 in the North End; 5 met within 1..5 days, each first
    # answered after 2, 4, 6, 8, 10 hours.
    for i, m in enumerate(members):
        area = "north" if i < 5 else "south"
        title = "Groceries for the family" if i < 6 else "Diapers please"
        created = now - timedelta(days=8) if i < 5 else now - timedelta(days=40)
        s = await add(m, "need", "food", area, title, created)
        if i < 5:
            answer = await rt.responses.respond(helper, s.id, "I can bring some")
            async with rt.core.db.write() as conn:
                await conn.execute(update(responses).where(responses.c.id == answer.id)
                                   .values(created_at=created + timedelta(hours=2 * (i + 1))))
            s.state, s.closed = "fulfilled", created + timedelta(days=i + 1)
            await _set(rt, s.id, state="fulfilled", closed_at=s.closed)
    # Transport: 2 open needs without a place; 6 offers in the North End.
    for m in members[:2]:
        await add(m, "need", "transport", None, "A ride to the clinic")
    for m in members[:6]:
        await add(m, "offer", "transport", "north", "Rides on weekends")
    # Tools: 5 offers, 4 in the South Side and 1 without a place.
    for i, m in enumerate(members[:5]):
        await add(m, "offer", "tools", "south" if i < 4 else None, "Drill to lend")
    # Household: 7 offers, 3 without a place, 4 from a postal area not in the list.
    for i, m in enumerate(members):
        await add(m, "offer", "household", None if i < 3 else "99999", "Spare dishes",
                  now - timedelta(days=70))
    # A need recorded for a neighbor who called (members only), and one posted as a
    # neighbor (members only).
    await add(coord, "need", "health", None, "Prescription pickup", visibility="members",
              intake=Intake(INTAKE_NAME, INTAKE_CALLBACK, INTAKE_NOTES))
    await add(anon, "need", "housing", None, "Help with rent", visibility="members",
              as_neighbor=True)
    async with rt.core.db.write() as conn:
        await conn.execute(update(posts).where(posts.c.title == "Help with rent")
                           .values(description=ANON_TEXT))
    # A need from another server the group shares: its category and place are text the
    # group did not choose (a formula, here).
    async with rt.core.db.write() as conn:
        pid, _ = await posts_repo.insert(conn, {
            "uri": "https://elsewhere.test/objects/1", "kind": "need",
            "title": "Blankets", "description": "", "category": "@SUM(1+1)",
            "area": "=cmd|' /C calc'!A0", "urgency": "normal", "visibility": "public",
            "state": "open", "local": False, "author_actor_id": rt.identity.group.id,
            "anonymous": False, "proxy": False, "held": False, "via_group": True}, [])
    out.append(Seeded("need", "@SUM(1+1)", "=cmd|' /C calc'!A0", recent, id=pid))
    await _set(rt, pid, created_at=recent)
    # Not counted: a hidden post and one waiting for approval.
    for flag in ("hidden", "held"):
        pid = await _post(rt, members[0], "offer", "tools", "south", f"Not counted {flag}")
        await _set(rt, pid, **{flag: True})
    return out


# -- reading the page and the CSV -----------------------------------------------------

class _Tables(HTMLParser):
    """Every table: its caption and its rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._caption: str | None = None
        self._rows: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._rows, self._caption = [], ""
        elif tag == "caption":
            self._in_caption = True
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption":
            self._in_caption = False
        elif tag in ("td", "th") and self._cell is not None and self._rows is not None:
            self._rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table" and self._rows is not None:
            self.tables[self._caption or ""] = self._rows
            self._rows = None

    def handle_data(self, data: str) -> None:
        if self._in_caption:
            self._caption = (self._caption or "") + data
        elif self._cell is not None:
            self._cell.append(data)


def tables_of(page: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def csv_values(rows: list[dict[str, str]], table: str, column: str) -> list[tuple[str, str]]:
    return [(r["row"], r["value"]) for r in rows if r["table"] == table
            and r["column"] == column]


def cell(value: str) -> Cell:
    if value.isdigit():
        return int(value)
    return {"fewer than 5": "small", "hidden": "complement"}[value]


# -- the tests ------------------------------------------------------------------------

async def test_the_picture_counts_hides_small_numbers_and_matches_its_csv(
        runtime: Runtime, login: Login) -> None:
    now = utcnow()
    seeded = await seed(runtime, now)
    member = await login("readerpic")
    page_r = await member.get("/picture")
    assert page_r.status_code == 200
    page = page_r.text
    assert len(page_r.content) < 60_000
    csv_r = await member.get("/picture.csv")
    assert csv_r.status_code == 200 and csv_r.headers["content-type"].startswith("text/csv")
    rows = csv_rows(csv_r.text)

    since = datetime(now.year, now.month, 1, tzinfo=UTC)
    for _ in range(11):
        since = (since - timedelta(days=1)).replace(day=1)
    counted = [s for s in seeded if s.created >= since]
    truth = {kind: {
        "categories": Counter(s.category for s in counted if s.kind == kind),
        "areas": Counter(s.area for s in counted if s.kind == kind),
        "months": Counter(f"{s.created:%Y-%m}" for s in counted if s.kind == kind),
    } for kind in ("need", "offer")}
    totals = {kind: sum(truth[kind]["categories"].values()) for kind in truth}
    assert totals == {"need": 12, "offer": 18}

    listed_areas = {"north", "south"}
    for kind in ("need", "offer"):
        families = []
        for table in ("categories", "areas", "months"):
            got = csv_values(rows, table, kind)
            shown_cells = []
            for key, value in got:
                if key == "(total)":
                    continue
                c = cell(value)
                shown_cells.append(c)
                if isinstance(c, int):  # a shown number is the true one, and 5 or more
                    if table == "areas" and key == "(other)":
                        true = sum(n for a, n in truth[kind]["areas"].items()
                                   if a is not None and a not in listed_areas)
                    elif table == "areas" and key == "(none)":
                        true = truth[kind]["areas"][None]
                    else:
                        true = truth[kind][table][key]
                    assert c == true >= 5, (kind, table, key)
                else:  # hidden: "fewer than 5" is true
                    if value == "fewer than 5" and table != "areas" and key != "(other)":
                        assert truth[kind][table][key] < 5, (kind, table, key)
            families.append(shown_cells)
            total = dict(got)["(total)"]
            assert total == str(totals[kind])
        # Nobody's small number can be worked out from the three tables and the total.
        assert recoverable(families, totals[kind]) == [], kind

    values = dict(csv_values(rows, "categories", "need"))
    assert values["food"] == "7"
    assert values["transport"] == values["health"] == values["housing"] == "fewer than 5"
    # Offers by place: 6 + 4 + 4 + 4 = 18 would give the three 4s away under the total:
    # the 6 is hidden too.
    offers_by_area = dict(csv_values(rows, "areas", "offer"))
    assert offers_by_area == {"north": "hidden", "south": "fewer than 5",
                              "(other)": "fewer than 5", "(none)": "fewer than 5",
                              "(total)": "18"}
    assert "99999" not in csv_r.text  # a place with few posts is not named
    summary = {r["row"]: r["value"] for r in rows if r["table"] == "summary"}
    assert summary == {"needs": "12", "offers": "18", "open_needs": "7"}

    # What waits: 5 under 3 days, 2 (the food needs of 40 days) hidden among zeros.
    bands = dict(csv_values(rows, "bands", "need"))
    assert bands == {"0-3": "5", "3-7": "fewer than 5", "7-14": "fewer than 5",
                     "14+": "fewer than 5", "(total)": "7"}
    # How quickly: 5 food needs met after 1..5 days (half within 3, 3 in 4 within 4);
    # first answers after 2..10 hours (half within 6 hours).
    speed = {(r["row"], r["column"]): r["value"] for r in rows if r["table"] == "speed"}
    assert speed[("food", "met")] == "5"
    assert speed[("food", "days_to_met_p50")] == "3.0"
    assert speed[("food", "days_to_met_p75")] == "4.0"
    assert speed[("food", "days_to_first_answer_p50")] == "0.2"  # 6 hours
    assert speed[("transport", "days_to_met_p50")] == "fewer than 5"
    assert speed[("(all)", "met")] == "5"
    requested = [(r["row"], r["value"]) for r in rows if r["table"] == "most_requested"]
    assert requested == [("food", "7")]
    words = {r["row"]: r["value"] for r in rows if r["table"] == "words"}
    assert words == {"groceries": "6", "family": "6"}  # "diapers": one post

    # The page shows the same numbers as the CSV, table by table.
    tables = tables_of(page)
    for caption, table in (("Needs and offers by category, last 12 months", "categories"),
                           ("Needs and offers by place, last 12 months", "areas"),
                           ("Needs and offers by month posted", "months")):
        shown = tables[caption]
        want = [(n[1], o[1]) for n, o in zip(csv_values(rows, table, "need"),
                                            csv_values(rows, table, "offer"), strict=True)]
        if table != "months":  # rows with nothing but "fewer than 5" are left out
            want = [w for w in want if w != ("fewer than 5", "fewer than 5")]
        assert [(r[1], r[2]) for r in shown[1:]] == want, caption  # the header row first
    assert "Places not listed: fewer than 5 needs and fewer than 5 offers each." in page
    shown = tables["Needs waiting for help now, by how long they have waited"]
    assert [r[1] for r in shown[1:]] == [v for _, v in csv_values(rows, "bands", "need")]
    shown = tables["How quickly needs are met, by category"]
    food = next(r for r in shown if r[0] == "Food and groceries")
    assert food[1:] == ["5", "3.0 days", "4.0 days", "6 hours"]
    assert "6 hours" in page
    # Charts: an image with a name and a description, no inline style anywhere.
    assert page.count('<svg class="chart" role="img"') == 6
    assert page.count("<title id=") == 6 and page.count("<desc id=") == 6
    assert not re.search(r"\sstyle=", page) and "<style" not in page
    assert 'scope="col"' in page and 'scope="row"' in page
    for text in PRIVATE:
        assert text not in page and text not in csv_r.text
    # A label made by a coordinator that starts like a formula stays text in the CSV.
    odd = next(r for r in rows if r["table"] == "categories" and r["row"] == "odd")
    assert odd["label"] == "'=1+2"


async def test_the_posts_export_has_no_private_fields(runtime: Runtime,
                                                      login: Login) -> None:
    seeded = await seed(runtime, utcnow())
    coord = await login("coordexport")
    r = await coord.get("/admin/posts.csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    text = r.text
    for secret in (*PRIVATE, "Groceries", "Help with rent", "member1", "coordpic"):
        assert secret not in text, secret
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["id", "kind", "category", "area", "state", "created", "closed",
                        "visibility", "answers"]
    by_id = {int(row[0]): row for row in table[1:]}
    assert sorted(by_id) == sorted(s.id for s in seeded)  # hidden and held ones left out
    for s in seeded:
        row = by_id[s.id]
        assert row[1] == s.kind and row[4] == s.state
        assert datetime.fromisoformat(row[5]) == s.created.replace(microsecond=0)
        if s.closed:
            assert datetime.fromisoformat(row[6]) == s.closed.replace(microsecond=0)
        else:
            assert row[6] == ""
    remote = by_id[seeded[-1].id]
    # Formula injection: text from elsewhere that starts like a formula gets an apostrophe.
    assert remote[2] == "'@SUM(1+1)" and remote[3] == "'=cmd|' /C calc'!A0"
    intake = next(s for s in seeded if s.category == "health")
    assert by_id[intake.id][7] == "members"
    food_answered = [s for s in seeded if s.category == "food" and s.state == "fulfilled"]
    assert all(by_id[s.id][8] == "1" for s in food_answered)
    # The export is in the group's log, in words every member may read.
    entries = await runtime.audit.page(await runtime.accounts.get_user("coordexport"),
                                       limit=5)
    assert any("exported the group's posts" in e.summary for e in entries)


async def test_visitors_and_members_are_kept_out(runtime: Runtime, login: Login) -> None:
    v = await visitor(runtime)
    async with v:
        for path in ("/picture", "/picture.csv", "/admin/posts.csv"):
            r = await v.get(path)
            assert r.status_code == 401, path
            assert "Log in" in r.text and "text/csv" not in r.headers["content-type"]
    member = await login("memberpic")
    r = await member.get("/admin/posts.csv")
    assert r.status_code == 403 and "text/csv" not in r.headers["content-type"]
    page = (await member.get("/picture")).text
    assert "/admin/posts.csv" not in page  # the export link is for coordinators
    coord = await login("coordpic2")
    assert "/admin/posts.csv" in (await coord.get("/picture")).text


async def test_an_empty_group_shows_nothing_small(runtime: Runtime, login: Login) -> None:
    member = await login("firstpic")
    page = (await member.get("/picture")).text
    assert "Too few posts to draw yet." in page
    rows = csv_rows((await member.get("/picture.csv")).text)
    assert all(not r["value"].isdigit() or int(r["value"]) >= 5 for r in rows)
    assert {r["value"] for r in rows if r["table"] == "summary"} == {"fewer than 5"}
