"""Offers and needs through the web pages, as neighbors use them: the real forms are read
from the HTML, filled in and sent back, in process (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from html.parser import HTMLParser

import httpx
import pytest

from api.app import create_app
from fediaid.domain.actors import Role
from fediaid.domain.visibility import Viewer
from fediaid.services.posts import Filters
from fediaid.services.runtime import Runtime
from tests.api.test_web_pages import HTML, log_in_with_link

Login = Callable[[str], Awaitable[httpx.AsyncClient]]


class _Forms(HTMLParser):
    """Every form on a page: its action and the values a browser would send unchanged
    (hidden and filled-in inputs, checked boxes, selected options, textareas)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, object]] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"),
                               "fields": {}, "names": set(), "ids": set()})
            return
        if not self.forms:
            return
        form = self.forms[-1]
        fields: dict[str, str] = form["fields"]  # type: ignore[assignment]
        names: set[str] = form["names"]  # type: ignore[assignment]
        if "id" in a:
            form["ids"].add(a["id"])  # type: ignore[attr-defined]
        name = a.get("name")
        if tag == "input" and name:
            names.add(name)
            kind = a.get("type", "text")
            if kind in ("radio", "checkbox"):
                if "checked" in a:
                    fields[name] = a.get("value", "on")
            elif kind not in ("submit", "button"):
                fields[name] = a.get("value", "")
        elif tag == "select" and name:
            names.add(name)
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            fields[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            names.add(name)
            self._textarea = name
            fields[name] = ""
        elif tag == "button" and name:
            names.add(name)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea and self.forms:
            fields: dict[str, str] = self.forms[-1]["fields"]  # type: ignore[assignment]
            fields[self._textarea] += data


def form(page: str, action: str) -> dict[str, str]:
    """The values of the form posting to ``action`` (the first one), as a browser sends them
    before the person types anything."""
    parser = _Forms()
    parser.feed(page)
    for f in parser.forms:
        if f["action"] == action:
            return dict(f["fields"])  # type: ignore[call-overload]
    raise AssertionError(f"no form posting to {action} on the page")


def forms_to(page: str, action: str) -> list[dict[str, str]]:
    parser = _Forms()
    parser.feed(page)
    return [dict(f["fields"]) for f in parser.forms if f["action"] == action]  # type: ignore[call-overload]


@pytest.fixture
async def login(runtime: Runtime) -> AsyncIterator[Login]:
    """A separate browser (cookie jar) per person, logged in through a one-time link."""
    app = create_app(runtime)
    clients: list[httpx.AsyncClient] = []

    async def make(name: str) -> httpx.AsyncClient:
        if name != "admin":
            role = Role.COORDINATOR if name.startswith("coord") else Role.MEMBER
            await runtime.accounts.create_user(name, role=role)
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                              base_url=runtime.settings.base_url, headers=HTML)
        clients.append(c)
        await log_in_with_link(c, runtime, name)
        return c

    yield make
    for c in clients:
        await c.aclose()


async def visitor(runtime: Runtime) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime)),
                             base_url=runtime.settings.base_url, headers=HTML)


async def all_posts(rt: Runtime) -> list[str]:
    found = await rt.posts.search(Viewer(user_id=0, coordinator=True), Filters())
    return [p.title for p in found]


async def post_need(c: httpx.AsyncClient, text: str, **more: str) -> int:
    page = (await c.get("/posts/new?kind=need")).text
    values = form(page, "/posts/new") | {"description": text, **more}
    r = await c.post("/posts/new", data=values)
    assert r.status_code == 303, r.text
    m = re.fullmatch(r"/posts/(\d+)", r.headers["location"])  # no notice in the address
    assert m, r.headers["location"]
    return int(m.group(1))


async def test_a_need_with_only_kind_and_a_sentence(runtime: Runtime, login: Login) -> None:
    maria = await login("maria")
    page = (await maria.get("/posts/new?kind=need")).text
    assert "<h1>Post a need</h1>" in page
    assert "<details" in page and "More details" in page and "<details open" not in page
    values = form(page, "/posts/new")
    assert values["kind"] == "need" and values["csrf"]
    # Every input has a label.
    for field_id in ("description", "title", "category", "quantity", "unit", "area",
                     "ends_at", "recipients"):
        assert f'for="{field_id}"' in page and f'id="{field_id}"' in page
    assert "Everyone" in page and "Our network" in page and "Members only" in page
    assert "Only people I name" in page and "Only coordinators know it was you" in page

    r = await maria.post("/posts/new", data={"csrf": values["csrf"], "kind": "need",
                                             "description": "Groceries for a family of four "
                                             "this week. We are fine otherwise."})
    assert r.status_code == 303
    post_page = (await maria.get(r.headers["location"])).text
    assert "Published. Thank you!" in post_page
    assert "Groceries for a family of four this week." in post_page
    assert "No answers yet" in post_page and "Close the post" in post_page
    assert "closes by itself on" in post_page
    home = (await maria.get("/")).text
    assert "Groceries for a family of four this week." in home
    assert 'class="badge need">Need<' in home
    # Visitors see public posts on the home page too, with the filters.
    anon = await visitor(runtime)
    async with anon:
        home = (await anon.get("/")).text
        assert "Groceries for a family of four this week." in home
        assert (await anon.get("/?kind=offer")).text.count('class="post ') == 0
        assert (await anon.get("/?kind=need&q=groceries&order=urgent")).text.count(
            'class="post ') == 1
        assert "Nothing matches" in (await anon.get("/?q=bicycle")).text
        # Posting needs an account: a visitor is asked to log in, then comes back.
        r = await anon.get("/posts/new?kind=need")
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
        login_page = (await anon.get(r.headers["location"])).text
        assert form(login_page, "/login")["next"] == "/posts/new?kind=need"


async def test_the_form_needs_the_csrf_token(runtime: Runtime, login: Login) -> None:
    maria = await login("maria")
    r = await maria.post("/posts/new", data={"kind": "need", "description": "Rice please."})
    assert r.status_code == 403 and "This form has expired" in r.text
    assert r.headers["content-type"].startswith("text/html")
    assert await all_posts(runtime) == []


async def test_privacy_warning_then_publish_anyway(runtime: Runtime, login: Login) -> None:
    maria = await login("maria")
    page = (await maria.get("/posts/new?kind=need")).text
    text = "Need a ride to the clinic on Friday, call me at 555 123 4567"
    r = await maria.post("/posts/new", data=form(page, "/posts/new") | {"description": text})
    assert r.status_code == 200
    assert "Before you publish" in r.text and "looks like a phone number" in r.text
    assert await all_posts(runtime) == []  # nothing stored yet
    # The form is shown again with what was typed, to change it...
    assert form(r.text, "/posts/new")["description"] == text
    # ...or "Publish anyway", which sends the same values with confirm=1.
    anyway = forms_to(r.text, "/posts/new")[0]
    assert anyway["confirm"] == "1" and anyway["description"] == text
    assert "Publish anyway" in r.text
    r = await maria.post("/posts/new", data=anyway)
    assert r.status_code == 303
    assert await all_posts(runtime) == ["Need a ride to the clinic on Friday, call me at "
                                        "555 123 4567"]


async def test_invalid_input_keeps_what_was_typed_and_names_the_field(
        runtime: Runtime, login: Login) -> None:
    maria = await login("maria")
    page = (await maria.get("/posts/new?kind=offer")).text
    values = form(page, "/posts/new") | {
        "description": "Spare rice and beans from our pantry.", "quantity": "lots",
        "unit": "bags", "area": "Riverside", "urgency": "low"}
    r = await maria.post("/posts/new", data=values)
    assert r.status_code == 400
    again = form(r.text, "/posts/new")
    assert again["description"] == "Spare rice and beans from our pantry."
    assert again["quantity"] == "lots" and again["unit"] == "bags"
    assert again["area"] == "Riverside" and again["urgency"] == "low" and again["kind"] == "offer"
    assert "<details open" in r.text  # the error is inside "More details": open it
    m = re.search(r'<p class="field-error" id="err-quantity">([^<]+)</p>\s*'
                  r'<input id="quantity"[^>]*aria-invalid="true"', r.text)
    assert m and "amount must be a number" in m.group(1)
    assert await all_posts(runtime) == []

    r = await maria.post("/posts/new", data=values | {"quantity": "3",
                                                      "area": "12 Elm Street"})
    assert r.status_code == 400 and 'id="err-area"' in r.text
    assert "not a street address" in r.text

    r = await maria.post("/posts/new", data=values | {"quantity": "3",
                                                      "starts_at": "next friday"})
    assert r.status_code == 400 and 'id="err-starts_at"' in r.text

    r = await maria.post("/posts/new", data=values | {"description": " "})
    assert r.status_code == 400 and 'id="err-description"' in r.text
    assert "Say in a sentence" in r.text

    r = await maria.post("/posts/new", data=values | {
        "quantity": "3", "starts_at": "2030-05-01T09:00", "ends_at": "2030-05-02"})
    assert r.status_code == 303
    shown = (await maria.get(r.headers["location"])).text
    # The group's time zone (UTC here), in the reader's language (babel: CLDR's formats).
    assert ("Available from Wed, May 1, 2030, 9:00\u202fAM until Thu, May 2, 2030, "
            "11:59\u202fPM") in shown
    assert "3 bags" in shown and "Can wait" in shown


async def test_answer_accept_talk_and_close(runtime: Runtime, login: Login) -> None:
    maria, sam = await login("maria"), await login("sam")
    pid = await post_need(maria, "Two bags of groceries for my grandmother.",
                          quantity="2", unit="bags")

    page = (await sam.get(f"/posts/{pid}")).text
    assert "I can help" in page
    answer = form(page, f"/posts/{pid}/respond") | {"message": "I can bring them Saturday.",
                                                    "quantity": "5"}
    r = await sam.post(f"/posts/{pid}/respond", data=answer)
    assert r.status_code == 400 and "At most 2 bags" in r.text
    assert form(r.text, f"/posts/{pid}/respond")["message"] == "I can bring them Saturday."
    r = await sam.post(f"/posts/{pid}/respond", data=answer | {"quantity": "2"})
    assert r.status_code == 303 and "answered=" not in r.headers["location"]
    page = (await sam.get(r.headers["location"])).text
    assert "You answered this" in page and "Take back my answer" in page

    page = (await maria.get(f"/posts/{pid}")).text
    assert "sam" in page and "I can bring them Saturday." in page and "Waiting for you" in page
    rid = re.search(rf'/posts/{pid}/responses/(\d+)/accept', page)
    assert rid
    accept = f"/posts/{pid}/responses/{rid.group(1)}/accept"
    r = await maria.post(accept, data=form(page, accept) | {"quantity": "1"})
    assert r.status_code == 303
    conv_url = r.headers["location"].split("?")[0]
    assert re.fullmatch(r"/conversations/\d+", conv_url)

    conv = (await maria.get(conv_url)).text
    assert "Messages with sam" in conv and "never shown to anyone" in conv
    r = await maria.post(conv_url + "/send", data=form(conv, conv_url + "/send")
                         | {"body": "Thank you! Grandma is home after 2pm."})
    assert r.status_code == 303
    r = await maria.post(conv_url + "/send", data=form(conv, conv_url + "/send"))
    assert r.status_code == 400 and 'id="err-body"' in r.text

    inbox = (await sam.get("/conversations")).text
    assert "Two bags of groceries for my grandmother." in inbox and "With maria" in inbox
    conv = (await sam.get(conv_url)).text
    assert "Grandma is home after 2pm." in conv
    r = await sam.post(conv_url + "/send", data=form(conv, conv_url + "/send")
                       | {"body": "See you at 3."})
    assert r.status_code == 303
    assert "See you at 3." in (await maria.get(conv_url)).text
    # A third member cannot read it.
    tom = await login("tom")
    assert (await tom.get(conv_url)).status_code == 404

    page = (await maria.get(f"/posts/{pid}")).text
    assert "Messages with sam" in page
    r = await maria.post(f"/posts/{pid}/close", data=form(page, f"/posts/{pid}/close")
                         | {"outcome": "fulfilled"})
    assert r.status_code == 303
    page = (await maria.get(f"/posts/{pid}")).text
    assert "Done" in page and "This post and its messages will be deleted on" in page
    assert "Close the post" not in page

    # After closing, the asker can no longer write to the helper; the helper can reopen.
    conv = (await maria.get(conv_url)).text
    assert "you can't write here any more" in conv and 'action="' + conv_url + '/send"' not in conv
    r = await maria.post(conv_url + "/send", data={"csrf": form(conv, "/logout")["csrf"],
                                                   "body": "One more thing?"})
    assert r.status_code == 403 and "The helper can reopen contact" in r.text
    conv = (await sam.get(conv_url)).text
    assert "Reopen contact" in conv
    r = await sam.post(conv_url + "/reopen", data=form(conv, conv_url + "/reopen"))
    assert r.status_code == 303
    conv = (await maria.get(conv_url)).text
    assert 'action="' + conv_url + '/send"' in conv


async def test_decline_with_a_kind_word_and_withdraw(runtime: Runtime, login: Login) -> None:
    maria, sam, tom = await login("maria"), await login("sam"), await login("tom")
    pid = await post_need(maria, "Someone to walk my dog Tuesday.")
    for helper in (sam, tom):
        page = (await helper.get(f"/posts/{pid}")).text
        r = await helper.post(f"/posts/{pid}/respond", data=form(page, f"/posts/{pid}/respond"))
        assert r.status_code == 303
    page = (await tom.get(r.headers["location"])).text
    withdraw = re.search(rf'action="(/posts/{pid}/responses/\d+/withdraw)"', page)
    assert withdraw
    r = await tom.post(withdraw.group(1), data=form(page, withdraw.group(1)))
    assert r.status_code == 303

    page = (await maria.get(f"/posts/{pid}")).text
    assert "Taken back" in page
    decline = re.search(rf'action="(/posts/{pid}/responses/\d+/decline)"', page)
    assert decline
    r = await maria.post(decline.group(1), data=form(page, decline.group(1))
                         | {"note": "Thank you, a friend is doing it."})
    assert r.status_code == 303
    page = (await maria.get(f"/posts/{pid}")).text
    assert "Declined" in page and "Thank you, a friend is doing it." in page
    # Answering twice is refused in words, not an error page.
    page = (await sam.get(f"/posts/{pid}")).text
    assert "I can help" in page  # declined: may answer again


async def test_members_only_posts_stay_with_members(runtime: Runtime, login: Login) -> None:
    maria = await login("maria")
    pid = await post_need(maria, "Quiet help with paperwork.", visibility="members")
    anon = await visitor(runtime)
    async with anon:
        assert "Quiet help with paperwork." not in (await anon.get("/")).text
        r = await anon.get(f"/posts/{pid}")
        assert r.status_code == 404 and "Quiet help" not in r.text
        assert "Traceback" not in r.text
    sam = await login("sam")
    assert "Quiet help with paperwork." in (await sam.get("/")).text
    assert (await sam.get(f"/posts/{pid}")).status_code == 200

    # "Only people I name": named members see it, nobody else does.
    page = (await maria.get("/posts/new?kind=need")).text
    values = form(page, "/posts/new") | {"description": "A hand moving a sofa.",
                                         "visibility": "direct", "recipients": "nobody_here"}
    r = await maria.post("/posts/new", data=values)
    assert r.status_code == 400 and 'id="err-recipients"' in r.text
    assert "no member called nobody_here" in r.text
    direct = await post_need(maria, "A hand moving a sofa.", visibility="direct",
                             recipients="sam")
    assert (await sam.get(f"/posts/{direct}")).status_code == 200
    tom = await login("tom")
    assert (await tom.get(f"/posts/{direct}")).status_code == 404
    assert "moving a sofa" not in (await tom.get("/")).text
    edit = (await maria.get(f"/posts/{direct}/edit")).text
    assert form(edit, f"/posts/{direct}/edit")["recipients"] == "sam"


async def test_a_coordinator_records_a_phone_call(runtime: Runtime, login: Login) -> None:
    maria = await login("maria")
    assert (await maria.get("/intake")).status_code == 403
    admin = await login("admin")
    page = (await admin.get("/intake")).text
    assert "Record a need from a phone call or paper form" in page
    assert "This record stays on this server." in page and "Only coordinators see it" in page
    assert "deleted together with the post" in page
    values = form(page, "/intake") | {
        "name": "Mrs. Okafor", "callback": "555 0100 222", "notes": "Speaks Igbo and English.",
        "description": "Help carrying groceries upstairs once a week."}
    r = await admin.post("/intake", data=values | {"name": ""})
    assert r.status_code == 400 and 'id="err-name"' in r.text
    assert form(r.text, "/intake")["callback"] == "555 0100 222"
    r = await admin.post("/intake", data=values)
    assert r.status_code == 303
    url = r.headers["location"].split("?")[0]
    page = (await admin.get(url)).text
    assert "Open the intake record" in page and "Mrs. Okafor" not in page
    page = (await admin.get(url + "?intake=open")).text  # written in the group's log
    assert "Intake record" in page and "Mrs. Okafor" in page and "555 0100 222" in page
    assert "Speaks Igbo and English." in page
    other = (await maria.get(url)).text
    assert "Help carrying groceries upstairs once a week." in other
    assert "Elm St Mutual Aid, for a neighbor" in other
    for secret in ("Intake record", "Mrs. Okafor", "555 0100 222", "Igbo", "admin"):
        assert secret not in other
    # Another coordinator manages it too and sees the record.
    coord = await login("coord_b")
    page = (await coord.get(url + "?intake=open")).text
    assert "Mrs. Okafor" in page and "Close the post" in page


async def test_an_anonymous_post_shows_the_group(runtime: Runtime, login: Login) -> None:
    maria = await login("maria")
    pid = await post_need(maria, "Diapers, size 4.", as_neighbor="1")
    own = (await maria.get(f"/posts/{pid}")).text
    assert "Elm St Mutual Aid (a neighbor)" in own and "really you" in own
    sam = await login("sam")
    seen = (await sam.get(f"/posts/{pid}")).text
    assert "Elm St Mutual Aid (a neighbor)" in seen and "maria" not in seen
    assert "maria" not in (await sam.get("/")).text
    anon = await visitor(runtime)
    async with anon:
        assert "maria" not in (await anon.get(f"/posts/{pid}")).text
    admin = await login("admin")
    assert "really maria" in (await admin.get(f"/posts/{pid}")).text

    # The helper talks with the group; maria (who manages the post) answers as the group.
    r = await sam.post(f"/posts/{pid}/respond",
                       data=form(seen, f"/posts/{pid}/respond") | {"message": "I have some"})
    page = (await maria.get(f"/posts/{pid}")).text
    accept = re.search(rf'action="(/posts/{pid}/responses/\d+/accept)"', page)
    assert accept
    r = await maria.post(accept.group(1), data=form(page, accept.group(1)))
    conv_url = r.headers["location"].split("?")[0]
    assert "Diapers, size 4." in (await maria.get("/conversations")).text
    conv = (await sam.get(conv_url)).text
    assert "Messages with Elm St Mutual Aid (a neighbor)" in conv and "maria" not in conv


async def test_edit_a_post(runtime: Runtime, login: Login) -> None:
    maria = await login("maria")
    pid = await post_need(maria, "A winter coat, size M.")
    page = (await maria.get(f"/posts/{pid}/edit")).text
    values = form(page, f"/posts/{pid}/edit")
    assert values["description"] == "A winter coat, size M." and values["kind"] == "need"
    r = await maria.post(f"/posts/{pid}/edit", data=values | {
        "title": "", "description": "A warm winter coat, size M or L.", "urgency": "urgent"})
    assert r.status_code == 303
    shown = (await maria.get(f"/posts/{pid}")).text
    assert "A warm winter coat, size M or L." in shown and "badge urgent" in shown
    sam = await login("sam")
    assert (await sam.get(f"/posts/{pid}/edit")).status_code == 403


async def test_a_helper_sets_a_weekly_limit(runtime: Runtime, login: Login) -> None:
    maria, sam = await login("maria"), await login("sam")
    first = await post_need(maria, "Soup for a sick neighbor.")
    second = await post_need(maria, "A lift to the station.")
    page = (await sam.get("/settings/limits")).text
    r = await sam.post("/settings/limits", data=form(page, "/settings/limits") | {"cap": "0"})
    assert r.status_code == 400 and 'id="err-cap"' in r.text
    r = await sam.post("/settings/limits", data=form(page, "/settings/limits") | {"cap": "1"})
    assert r.status_code == 303
    assert "at most 1 a week" in (await sam.get(r.headers["location"])).text
    page = (await sam.get("/settings/limits")).text
    assert "Now:</strong> at most 1 a week." in page
    assert form(page, "/settings/limits")["cap"] == "1"
    for pid, status in ((first, 303), (second, 409)):
        page = (await sam.get(f"/posts/{pid}")).text
        r = await sam.post(f"/posts/{pid}/respond", data=form(page, f"/posts/{pid}/respond"))
        assert r.status_code == status
    assert "you have reached it" in r.text
