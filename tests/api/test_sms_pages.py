"""Text messages and the hotline through HTTP, in process (SQLite and PostgreSQL): the
providers' webhooks (a valid signature stored, an invalid one 403 and nothing changed, the
URL signed as Twilio saw it behind a reverse proxy), the coordinators' pages (/admin/sms,
/admin/texts, /admin/hotline), the helper's page to text a way to reach them; and a
neighbor's phone number in no page, API response, ActivityPub document or export but the
coordinators' texts, hotline and intake views."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from api.app import create_app
from fediaid.services.runtime import Runtime
from fediaid.storage import tables
from tests.api.test_web_posts import Login, form, visitor
from tests.api.test_web_posts import login as login  # the fixture
from tests.fediaid.test_sms import NEIGHBOR, held, use_android, use_twilio, work
from tests.support.sms import FakeAndroid, FakeTwilio

FORMS = (NEIGHBOR, "2015550123", "201-555-0123", "(201) 555-0123", "+1 201-555-0123")


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def android() -> AsyncIterator[FakeAndroid]:
    fake = FakeAndroid()
    await fake.start()
    yield fake
    await fake.stop()


async def test_twilio_webhook_over_http(runtime: Runtime, twilio: FakeTwilio) -> None:
    rt = runtime
    c = await visitor(rt)
    url = f"{rt.settings.base_url}/sms/twilio"
    raw, headers = twilio.inbound(url, NEIGHBOR, "NEED bus fare to the clinic")
    r = await c.post("/sms/twilio", content=raw, headers=headers)
    assert r.status_code == 404  # not set up yet
    await use_twilio(rt, twilio)
    # A reverse proxy passes the request on to 127.0.0.1:8000: what Twilio signed is the
    # public URL, and that is what is checked.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(rt)),
                                 base_url="http://127.0.0.1:8000") as behind_proxy:
        r = await behind_proxy.post("/sms/twilio", content=raw, headers=headers)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/xml")
        assert r.text == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
        # Signed for the address the proxy used instead: refused.
        raw2, headers2 = twilio.inbound(url, NEIGHBOR, "NEED rent money",
                                        sign_url="http://127.0.0.1:8000/sms/twilio")
        r = await behind_proxy.post("/sms/twilio", content=raw2, headers=headers2)
        assert r.status_code == 403
    forged = raw.replace(b"bus+fare", b"cash")
    assert forged != raw
    r = await c.post("/sms/twilio", content=forged, headers=headers)
    assert r.status_code == 403
    await work(rt)
    assert [p.title for p in await held(rt)] == ["bus fare to the clinic"]
    assert len(twilio.sent) == 1
    r = await c.post("/sms/twilio", content=b"x" * 70_000, headers=headers)
    assert r.status_code == 413
    await c.aclose()


async def test_android_webhook_over_http(runtime: Runtime, android: FakeAndroid) -> None:
    rt = runtime
    await use_android(rt, android)
    c = await visitor(rt)
    raw, headers = android.inbound(NEIGHBOR, "Ofrezco sopa caliente los viernes")
    r = await c.post("/sms/android", content=raw, headers=headers)
    assert r.status_code == 200 and r.json() == {}
    raw, headers = android.inbound(NEIGHBOR, "NEED soup", key="guessed")
    assert (await c.post("/sms/android", content=raw, headers=headers)).status_code == 403
    raw, headers = android.inbound(NEIGHBOR, "", event="system:ping")
    assert (await c.post("/sms/android", content=raw, headers=headers)).status_code == 200
    await work(rt)
    assert [p.title for p in await held(rt)] == ["sopa caliente los viernes"]
    await c.aclose()


async def test_coordinators_pages(runtime: Runtime, login: Login, android: FakeAndroid
                                  ) -> None:
    rt = runtime
    coord = await login("coord")
    member = await login("maria")
    assert (await member.get("/admin/sms")).status_code == 403
    assert (await member.get("/admin/hotline")).status_code == 403
    assert (await member.get("/admin/texts")).status_code == 403
    page = (await coord.get("/admin")).text
    assert 'href="/admin/hotline"' in page and 'href="/admin/sms"' in page
    # Settings: the secrets are never shown back.
    page = (await coord.get("/admin/sms")).text
    values = form(page, "/admin/sms") | {
        "provider": "android", "number": "(201) 555-0100", "account": android.username,
        "secret": android.password, "api_url": android.base,
        "signing_key": android.signing_key}
    r = await coord.post("/admin/sms", data=values)
    assert r.status_code == 303, r.text
    page = (await coord.get("/admin/sms")).text
    assert android.password not in page and android.signing_key not in page
    assert "+12015550100" in page and f"{rt.settings.base_url}/sms/android" in page
    bad = form(page, "/admin/sms") | {"provider": "android", "number": "12",
                                      "account": "sms", "api_url": android.base}
    r = await coord.post("/admin/sms", data=bad)
    assert r.status_code == 400 and "phone number" in r.text
    # A text arrives; it is in the inbox, with the number only on its own page.
    raw, headers = android.inbound(NEIGHBOR, "Is the fridge on 5th street open today?")
    assert (await coord.post("/sms/android", content=raw, headers=headers)).status_code == 200
    await work(rt)
    page = (await coord.get("/admin/texts")).text
    assert "…0123" in page and NEIGHBOR not in page and "201-555-0123" not in page
    [tid] = [i.id for i in await rt.sms.threads(await rt.accounts.get_user("coord"))]
    page = (await coord.get(f"/admin/texts/{tid}")).text
    assert "+1 201-555-0123" in page and "fridge on 5th street" in page
    values = form(page, f"/admin/texts/{tid}") | {"action": "send",
                                                  "body": "Yes, until 8 pm!"}
    r = await coord.post(f"/admin/texts/{tid}", data=values)
    assert r.status_code == 303
    await work(rt)
    assert android.sent[-1].to == NEIGHBOR
    assert android.sent[-1].body == "Elm St Mutual Aid: Yes, until 8 pm!"
    # The hotline shift: note a voicemail, return it; the callback list.
    page = (await coord.get("/admin/hotline")).text
    assert 'href="/intake"' in page
    values = form(page, "/admin/hotline") | {"number": "(201) 555-0177", "name": "Ana",
                                             "note": "wants to offer tutoring"}
    assert (await coord.post("/admin/hotline", data=values)).status_code == 303
    page = (await coord.get("/admin/hotline")).text
    assert "+1 201-555-0177" in page and "tel:+12015550177" in page
    [call] = await rt.hotline.calls(await rt.accounts.get_user("coord"))
    r = await coord.post("/admin/hotline", data={"csrf": values["csrf"], "action": "returned",
                                                 "call": str(call.call.id)})
    assert r.status_code == 303
    [call] = await rt.hotline.calls(await rt.accounts.get_user("coord"))
    assert call.call.returned_at is not None


async def test_callbacks_and_the_helpers_contact_page(runtime: Runtime, login: Login,
                                                      android: FakeAndroid) -> None:
    rt = runtime
    await use_android(rt, android)
    coord = await login("coord")
    helper = await login("rosa")
    admin_user = await rt.accounts.get_user("coord")
    raw, headers = android.inbound(NEIGHBOR, "NEED help carrying groceries upstairs")
    await coord.post("/sms/android", content=raw, headers=headers)
    await work(rt)
    [post] = await held(rt)
    await rt.group_settings.decide_held(admin_user, post.id, approve=True)
    answer = await rt.responses.respond(await rt.accounts.get_user("rosa"), post.id,
                                        "I live next door")
    page = (await coord.get("/admin/hotline")).text
    assert f'href="/posts/{post.id}"' in page and "came by text" in page
    assert NEIGHBOR not in page and "201-555-0123" not in page  # in the intake record only
    conv = await rt.responses.accept(admin_user, answer.id)
    values = form(page, "/admin/hotline")
    r = await coord.post("/admin/hotline", data={"csrf": values["csrf"], "action": "told",
                                                 "post": str(post.id)})
    assert r.status_code == 303
    assert f'href="/posts/{post.id}"' not in (await coord.get("/admin/hotline")).text
    # The exchange page: the coordinator can text; the helper only after the YES.
    page = (await coord.get(f"/conversations/{conv.id}")).text
    assert f'href="/admin/texts/post/{post.id}"' in page
    page = (await helper.get(f"/conversations/{conv.id}")).text
    assert f"/conversations/{conv.id}/text" not in page
    raw, headers = android.inbound(NEIGHBOR, "yes")
    await coord.post("/sms/android", content=raw, headers=headers)
    await work(rt)
    page = (await helper.get(f"/conversations/{conv.id}")).text
    assert f'href="/conversations/{conv.id}/text"' in page
    page = (await helper.get(f"/conversations/{conv.id}/text")).text
    values = form(page, f"/conversations/{conv.id}/text") | {
        "contact": "Rosa, apartment 2B, or call 201 555 0142"}
    r = await helper.post(f"/conversations/{conv.id}/text", data=values)
    assert r.status_code == 400 and 'name="confirm"' in r.text
    assert android.sent[-1].body.endswith("we will text you how to reach them. Reply STOP to "
                                          "stop texts.")
    values["confirm"] = "1"
    r = await helper.post(f"/conversations/{conv.id}/text", data=values)
    assert r.status_code == 303
    await work(rt)
    assert android.sent[-1].to == NEIGHBOR
    assert "How to reach them: Rosa, apartment 2B, or call 201 555 0142" in android.sent[-1].body
    # Nobody else may use that page.
    other = await login("sam")
    assert (await other.get(f"/conversations/{conv.id}/text")).status_code == 404


async def test_a_neighbors_number_is_shown_only_to_coordinators_where_they_need_it(
        runtime: Runtime, login: Login, android: FakeAndroid) -> None:
    rt = runtime
    await use_android(rt, android)
    coord = await login("coord")
    maria = await login("maria")
    coord_user = await rt.accounts.get_user("coord")
    raw, headers = android.inbound(NEIGHBOR, "NEED a warm blanket, size queen")
    await coord.post("/sms/android", content=raw, headers=headers)
    raw, headers = android.inbound(NEIGHBOR, "thank you so much")
    await coord.post("/sms/android", content=raw, headers=headers)
    await work(rt)
    [post] = await held(rt)
    pid = post.id
    page = (await coord.get("/admin/held")).text
    assert "warm blanket" in page
    await rt.group_settings.decide_held(coord_user, pid, approve=True)
    answer = await rt.responses.respond(await rt.accounts.get_user("maria"), pid, "I have one")
    conv = await rt.responses.accept(coord_user, answer.id)
    await rt.responses.send(coord_user, conv.id, "Thank you Maria")

    def clean(where: str, body: str) -> None:
        for shown in FORMS:
            assert shown not in body, (where, shown)

    anon = await visitor(rt)
    pages = ["/", f"/posts/{pid}", "/my/posts", "/notifications", "/conversations",
             f"/conversations/{conv.id}", "/audit", "/admin", "/admin/held", "/admin/texts",
             "/admin/posts.csv", "/picture", "/flyer", "/admin/sms", "/account/data"]
    for who, c in (("coord", coord), ("maria", maria), ("visitor", anon)):
        for path in pages:
            clean(f"{who} {path}", (await c.get(path)).text)
    # Where coordinators need it: the texts conversation, and the intake record (opening
    # it is in the group's log).
    [tid] = [i.id for i in await rt.sms.threads(coord_user)]
    assert "+1 201-555-0123" in (await coord.get(f"/admin/texts/{tid}")).text
    assert NEIGHBOR in (await coord.get(f"/posts/{pid}?intake=open")).text
    assert (await maria.get(f"/admin/texts/{tid}")).status_code == 403
    assert NEIGHBOR not in (await maria.get(f"/posts/{pid}?intake=open")).text

    token = await rt.accounts.create_token("maria", scopes=["read"], name="test")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(rt)),
                                 base_url=rt.settings.base_url) as api:
        auth = {"Authorization": f"Bearer {token}"}
        for path in ("/api/fediaid/v1/posts", f"/api/fediaid/v1/posts/{pid}",
                     "/api/v1/timelines/public", "/api/v1/timelines/home",
                     "/api/fediaid/v1/audit", "/api/v1/notifications"):
            clean(path, (await api.get(path, headers=auth)).text)
        ap = {"Accept": "application/activity+json"}
        for path in ("/groups/elm", "/groups/elm/outbox", post.uri.removeprefix(
                rt.settings.base_url)):
            clean(path, (await api.get(path, headers=ap)).text)
    async with rt.db.read() as conn:
        for table in (tables.activities, tables.deliveries, tables.objects, tables.statuses,
                      tables.audit_log, tables.notifications, tables.posts, tables.messages):
            clean(table.name, json.dumps([[str(v) for v in r]
                                          for r in await conn.execute(select(table))]))
    for name in ("maria", "coord"):
        clean(f"export of {name}", json.dumps(
            await rt.member_data.export(await rt.accounts.get_user(name)), default=str))
    await anon.aclose()
