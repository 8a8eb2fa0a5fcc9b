"""E-mail pages, through the web application with a real SMTP server on 127.0.0.1: a member
adds and confirms an address and chooses what to get; the one-click unsubscribe POST works
without login or token (RFC 8058); "send me a login link" answers the same for every name;
coordinators set the SMTP server (checked, the password never shown back) and send a test
message."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from api.app import create_app
from fediaid.domain.email import Period
from fediaid.services.runtime import Runtime
from fediaid.storage.tables import group_settings
from tests.api.test_web_posts import Login, form, post_need, visitor
from tests.api.test_web_posts import login as login  # the fixture
from tests.fediaid.test_email import configure, link_in, send_all
from tests.support.smtp import SmtpSink


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


async def add_address(c: httpx.AsyncClient, rt: Runtime, sink: SmtpSink, address: str) -> None:
    page = (await c.get("/settings/email")).text
    r = await c.post("/settings/email", data=form(page, "/settings/email") | {
        "address": address})
    assert r.status_code == 303, r.text
    await send_all(rt)
    path = link_in(sink.to(address)[-1].text, "/settings/email/confirm/")
    r = await c.get(path)
    assert r.status_code == 303
    assert "Your e-mail address is confirmed" in (await c.get(r.headers["location"])).text


async def test_member_adds_confirms_and_chooses(runtime: Runtime, login: Login,
                                                smtp: SmtpSink) -> None:
    maria = await login("maria")
    page = (await maria.get("/settings/email")).text
    assert "has not set up e-mail yet" in page and 'name="address"' not in page
    await configure(runtime, smtp)
    page = (await maria.get("/settings/email")).text
    r = await maria.post("/settings/email", data=form(page, "/settings/email") | {
        "address": "not an address"})
    assert r.status_code == 400 and "like name@example.org" in r.text
    assert 'aria-invalid="true"' in r.text
    await add_address(maria, runtime, smtp, "maria@mail.test")
    page = (await maria.get("/settings/email")).text
    assert "maria@mail.test" in page
    # The link is good once.
    path = link_in(smtp.to("maria@mail.test")[-1].text, "/settings/email/confirm/")
    assert (await maria.get(path)).status_code == 401
    # Choose: weekly digest of food in the south only, no answers.
    await runtime.group_settings.set_areas(await runtime.accounts.get_user("admin"),
                                           [("south", "South side")])
    page = (await maria.get("/settings/email")).text
    values = form(page, "/settings/email")
    data = {"csrf": values["csrf"], "action": "choices", "messages": "1",
            "digest": "weekly", "category": ["food", "nonsense"], "area": ["south"]}
    r = await maria.post("/settings/email", data=data)
    assert r.status_code == 303, r.text
    user = await runtime.accounts.get_user("maria")
    mine = await runtime.email.mine(user)
    assert mine is not None and mine.choices.digest is Period.WEEKLY
    assert mine.choices.categories == ("food",) and mine.choices.areas == ("south",)
    assert not mine.choices.answers and mine.choices.messages
    page = (await maria.get("/settings/email")).text
    assert re.search(r'value="weekly" checked', page)
    # Removing forgets it.
    r = await maria.post("/settings/email", data={"csrf": values["csrf"], "action": "remove"})
    assert r.status_code == 303
    assert await runtime.email.mine(user) is None
    assert "maria@mail.test" not in (await maria.get("/settings/email")).text


async def test_one_click_unsubscribe_by_post_without_login(runtime: Runtime, login: Login,
                                                          smtp: SmtpSink) -> None:
    await configure(runtime, smtp)
    maria, sam = await login("maria"), await login("sam")
    await add_address(maria, runtime, smtp, "maria@mail.test")
    pid = await post_need(maria, "Soup for a sick neighbor.")
    page = (await sam.get(f"/posts/{pid}")).text
    r = await sam.post(f"/posts/{pid}/respond", data=form(page, f"/posts/{pid}/respond"))
    assert r.status_code in (200, 303), r.text
    await send_all(runtime)
    [answer] = [m for m in smtp.to("maria@mail.test") if m["Subject"].startswith("New answer")]
    url = answer["List-Unsubscribe"].strip("<>")
    path = url.removeprefix("http://a.test")
    anon = await visitor(runtime)  # a mail program: no cookies, no token
    # Opening the link (as link checkers do) changes nothing; it shows a button.
    r = await anon.get(path)
    assert r.status_code == 200 and "Stop these e-mails" in r.text
    user = await runtime.accounts.get_user("maria")
    assert (await runtime.email.mine(user)).choices.answers  # type: ignore[union-attr]
    # A tampered token is refused and changes nothing.
    bad = path[:-1] + ("0" if path[-1] != "0" else "1")
    r = await anon.post(bad, data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 403
    assert (await runtime.email.mine(user)).choices.answers  # type: ignore[union-attr]
    r = await anon.post(path, content=b"List-Unsubscribe=One-Click",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and "no more e-mails" in r.text
    mine = await runtime.email.mine(user)
    assert mine is not None and not mine.choices.answers and mine.choices.messages


async def test_login_link_form_answers_the_same_for_everyone(runtime: Runtime, login: Login,
                                                             smtp: SmtpSink) -> None:
    await configure(runtime, smtp)
    maria = await login("maria")
    await add_address(maria, runtime, smtp, "maria@mail.test")
    login_page = (await (await visitor(runtime)).get("/login")).text
    assert 'href="/login/email"' in login_page
    answers = []
    for who in ("maria", "nobody", "maria@mail.test", "nobody@mail.test"):
        anon = await visitor(runtime)
        page = (await anon.get("/login/email")).text
        r = await anon.post("/login/email", data=form(page, "/login/email") | {"who": who})
        answers.append((r.status_code, r.text.replace(who, "WHO")))
    assert len(set(answers)) == 1 and answers[0][0] == 200
    before = len(smtp.messages)
    await send_all(runtime)
    sent = smtp.messages[before:]
    assert len(sent) == 2 and all(m.envelope_to == ["maria@mail.test"] for m in sent)
    anon = await visitor(runtime)
    r = await anon.get(link_in(sent[0].text, "/login/"))
    assert r.status_code == 303 and "fediaid_session" in r.headers.get("set-cookie", "")
    # Over the limit per address: the same refusal for every name.
    runtime.limits.scale = 1.0
    transport = httpx.ASGITransport(app=create_app(runtime), client=("203.0.113.5", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://a.test",
                                 headers={"Accept": "text/html"}) as c:
        page = (await c.get("/login/email")).text
        codes = [(await c.post("/login/email", data=form(page, "/login/email") | {
            "who": "maria" if i % 2 else "nobody"})).status_code for i in range(12)]
    assert codes[:10] == [200] * 10 and codes[10:] == [429, 429]


async def test_coordinator_sets_the_smtp_server(runtime: Runtime, login: Login,
                                               smtp: SmtpSink) -> None:
    member = await login("maria")
    assert (await member.get("/admin/email")).status_code == 403
    coord = await login("coord")
    assert 'href="/admin/email"' in (await coord.get("/admin")).text
    page = (await coord.get("/admin/email")).text
    assert "Password: not set" in page
    values = form(page, "/admin/email") | {"host": "127.0.0.1", "port": "99999",
                                           "tls": "none", "sender": "aid@elm.test"}
    r = await coord.post("/admin/email", data=values)
    assert r.status_code == 400 and "65535" in r.text and 'id="err-port"' in r.text
    assert 'value="127.0.0.1"' in r.text  # what was typed is kept
    r = await coord.post("/admin/email", data=values | {"port": "", "sender": "nope"})
    assert r.status_code == 400 and 'id="err-sender"' in r.text
    r = await coord.post("/admin/email", data=values | {
        "port": str(smtp.port), "username": "", "password": "hunter2-secret"})
    assert r.status_code == 303, r.text
    page = (await coord.get("/admin/email")).text
    assert "Password: set" in page and "hunter2-secret" not in page
    async with runtime.db.read() as conn:
        stored = str([tuple(r) for r in await conn.execute(select(group_settings))])
    assert "hunter2-secret" not in stored
    # Saving again with the password field empty keeps it.
    r = await coord.post("/admin/email", data=form(page, "/admin/email"))
    assert r.status_code == 303
    assert await runtime.email_settings.password() == "hunter2-secret"
    # The test message (no login here: the password is only used with a user name).
    page = (await coord.get("/admin/email")).text
    tests = [f for f in re.findall(r'<form[^>]*action="/admin/email".*?</form>', page, re.S)
             if 'value="test"' in f]
    assert tests
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    r = await coord.post("/admin/email", data={"csrf": token, "action": "test",
                                               "to": "ops@mail.test"})
    assert r.status_code == 303
    await send_all(runtime)
    [msg] = smtp.to("ops@mail.test")
    assert "Test message from Elm St Mutual Aid" == msg["Subject"]
    page = (await coord.get("/admin/email")).text
    assert re.search(r"Sent</td><td>1<", page)
