"""The coordinators' Account alerts page (/admin/alerts) over HTTP in process, SQLite and
PostgreSQL: members are refused; an alert from a linked group is shown and applied with one
button; a member is suspended for harm and linked groups are told only when the box is
ticked; an alert is retracted; every step is in the group's log."""

from __future__ import annotations

import orjson

from fediaid.services.runtime import Runtime
from tests.api.test_web_posts import Login, forms_to
from tests.api.test_web_posts import login as login  # the fixture
from tests.fediaid.test_alerts import alert_from, clear, linked
from tests.fediaid.test_inbox_processing import outgoing, receive
from tests.support.remote import remote_actor

PAGE = "/admin/alerts"


async def test_the_alerts_page(runtime: Runtime, login: Login) -> None:
    rt = runtime
    maria = await login("maria")
    assert (await maria.get(PAGE)).status_code == 403
    assert (await maria.post(PAGE, data={"do": "dismiss", "id": "1"})).status_code == 403

    admin = await login("admin")
    page = (await admin.get(PAGE)).text
    assert "No alerts are waiting" in page and "No linked group gets alerts" in page
    assert 'href="/admin/alerts"' in (await admin.get("/admin")).text
    assert 'href="/admin/alerts"' in (await admin.get("/admin/network")).text

    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    await linked(rt, oak)
    await receive(rt, oak, alert_from(oak, rt))
    assert "1 alert from a linked group is waiting." in (await admin.get("/admin")).text
    page = (await admin.get(PAGE)).text
    assert "@mallory@far.example" in page and "Followed a volunteer home." in page
    assert "Harassment" in page and "@oak@oak.example" in page
    [f] = [f for f in forms_to(page, PAGE) if f.get("id")]
    r = await admin.post(PAGE, data={**f, "do": "apply"})
    assert r.status_code in (302, 303), r.text
    page = (await admin.get(PAGE)).text
    assert "No alerts are waiting" in page and "suspended here" in page

    # Suspending a member for harm; the box is not ticked: nobody is told.
    await rt.accounts.create_user("rex")
    [f] = [f for f in forms_to(page, PAGE) if f.get("do") == "suspend"]
    await clear(rt)
    r = await admin.post(PAGE, data={**f, "account": "rex", "harm": "theft"})
    assert r.status_code in (302, 303), r.text
    assert (await rt.accounts.get_user("rex")).disabled
    assert await outgoing(rt) == []
    # Ticked: oak is told.
    await rt.accounts.create_user("mel")
    r = await admin.post(PAGE, data={**f, "account": "@mel", "harm": "doxxing",
                                     "reason": "Posted a neighbor's address.", "share": "yes"})
    assert r.status_code in (302, 303), r.text
    [(kind, _, payload)] = await outgoing(rt)
    sent = orjson.loads(payload)
    assert kind == "AccountAlert" and sent["harm"] == "doxxing"
    # Addressed to the linked group only: never served from /activities to anyone else.
    path = sent["id"].removeprefix(rt.settings.base_url)
    r = await maria.get(path, headers={"Accept": "application/activity+json"})
    assert r.status_code == 404 and "Posted a neighbor" not in r.text
    # A bad category: the form again, with the words kept.
    r = await admin.post(PAGE, data={**f, "account": "mel", "harm": "rudeness",
                                     "reason": "kept words"})
    assert r.status_code == 400 and "kept words" in r.text

    page = (await admin.get(PAGE)).text
    assert "Posted a neighbor&#39;s address." in page and "told 1 group" in page
    [f] = [f for f in forms_to(page, PAGE) if f.get("id") and "do" not in f]
    r = await admin.post(PAGE, data={**f, "do": "retract"})
    assert r.status_code in (302, 303), r.text
    assert "retracted" in (await admin.get(PAGE)).text
    log = (await admin.get("/audit")).text
    for words in ("after an alert from @oak@oak.example", "shared an alert about",
                  "retracted the alert about"):
        assert words in log, words
