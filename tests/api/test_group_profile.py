"""The group's profile (description, how to join, hotline, contact): coordinators edit it at
/admin/profile (the real form, its CSRF token), the home page shows it, the description is
the Group actor's summary (the actor document, an Update to the group's remote followers,
NodeInfo), every change is in the audit log; members are refused, bad input changes
nothing. In process, on SQLite and PostgreSQL."""

from __future__ import annotations

import html
from typing import Any

import orjson
from sqlalchemy import select

from fediaid.services.runtime import Runtime
from fediaid.storage.tables import activities, audit_log, deliveries
from tests.api.test_web_posts import Login, form, visitor
from tests.api.test_web_posts import login as login  # the fixture
from tests.fediaid.test_inbox_processing import receive
from tests.support.remote import remote_actor, store

GOOD = {"description": "Elm St neighbors <sharing> food, rides and tools.\n\nSince 2020.",
        "how_to_join": "Come to a Tuesday meeting, or call the hotline.",
        "hotline_number": "(201) 555-0123",
        "hotline_hours": "Mon to Fri,  9 am to 5 pm",
        "contact": "Church hall, 12 Elm St, Tuesdays 7 pm"}


async def _updates(rt: Runtime) -> list[tuple[str, dict[str, Any]]]:
    async with rt.db.read() as conn:
        rows = await conn.execute(
            select(deliveries.c.inbox_url, activities.c.payload)
            .join(activities, deliveries.c.activity_id == activities.c.id)
            .where(activities.c.type == "Update").order_by(deliveries.c.id))
        return [(r[0], orjson.loads(r[1])) for r in rows]


async def _audit(rt: Runtime) -> list[Any]:
    async with rt.db.read() as conn:
        return list(await conn.execute(select(audit_log).where(
            audit_log.c.target_id == "profile").order_by(audit_log.c.id)))


async def test_a_coordinator_edits_the_profile_and_everyone_sees_it(
        runtime: Runtime, login: Login) -> None:
    rt = runtime
    bob = remote_actor("bob")
    await store(rt, bob)
    await receive(rt, bob, {"id": f"{bob.uri}/follows/1", "type": "Follow", "actor": bob.uri,
                            "object": rt.identity.group.uri})
    admin = await login("admin")
    assert 'href="/admin/profile"' in (await admin.get("/admin")).text
    page = (await admin.get("/admin/profile")).text
    values = form(page, "/admin/profile")
    assert values["csrf"] and values["description"] == rt.identity.group.summary

    # Without the page's token, nothing is saved.
    r = await admin.post("/admin/profile", data=values | GOOD | {"csrf": "forged"})
    assert r.status_code == 403
    assert (await rt.group_settings.profile()).hotline_number == ""

    r = await admin.post("/admin/profile", data=values | GOOD)
    assert r.status_code == 303, r.text
    assert "Saved." in (await admin.get(r.headers["location"])).text
    profile = await rt.group_settings.profile()
    assert profile.description == GOOD["description"]
    assert profile.hotline_number == "+1 201-555-0123"  # read as a US number, normalised
    assert profile.hotline_tel == "tel:+12015550123"
    assert profile.hotline_hours == "Mon to Fri, 9 am to 5 pm"
    assert profile.how_to_join == GOOD["how_to_join"] and profile.contact == GOOD["contact"]

    # The home page, for a visitor: description, how to join, hotline and hours, contact.
    anon = await visitor(rt)
    async with anon:
        home = (await anon.get("/")).text
        for words in (html.escape(GOOD["description"], quote=False), GOOD["how_to_join"],
                      'href="tel:+12015550123"', "+1 201-555-0123", "Mon to Fri, 9 am to 5 pm",
                      GOOD["contact"]):
            assert words in home, words
        # The actor document: the description as escaped HTML paragraphs.
        doc = (await anon.get(rt.identity.group.uri,
                              headers={"Accept": "application/activity+json"})).json()
        assert doc["summary"] == ("<p>Elm St neighbors &lt;sharing&gt; food, rides and "
                                  "tools.</p><p>Since 2020.</p>")
        info = (await anon.get("/nodeinfo/2.1")).json()
        assert info["metadata"]["nodeDescription"] == GOOD["description"]

    # The remote follower gets Update(Group) with the new summary, signed as the group.
    updates = await _updates(rt)
    assert len(updates) == 1
    inbox, update = updates[0]
    assert inbox == bob.shared_inbox
    assert update["actor"] == rt.identity.group.uri
    assert update["object"]["type"] == "Group"
    assert update["object"]["summary"] == doc["summary"]

    # One line in the group's log; the hotline (a phone number) only in the details.
    entries = await _audit(rt)
    assert [e.summary for e in entries] == [
        "changed the group's profile: description, how to join, hotline number, "
        "hotline hours, contact"]
    assert entries[0].actor_label == "admin admin" and entries[0].action == "setting_changed"
    assert "+1 201-555-0123" in entries[0].detail
    maria = await login("maria")
    assert "changed the group&#39;s profile: description" in (await maria.get("/audit")).text

    # Saving the same again changes nothing: no Update, no log line. Changing the hours
    # sends an Update (the actor describes the group: tests/api/test_group_description.py);
    # changing only the contact line would not (it is not part of the actor).
    r = await admin.post("/admin/profile", data=form(
        (await admin.get("/admin/profile")).text, "/admin/profile"))
    assert r.status_code == 303
    r = await admin.post("/admin/profile", data=form(
        (await admin.get("/admin/profile")).text, "/admin/profile") | {"hotline_hours": ""})
    assert r.status_code == 303
    assert len(await _updates(rt)) == 2
    r = await admin.post("/admin/profile", data=form(
        (await admin.get("/admin/profile")).text, "/admin/profile") | {"contact": "Hall"})
    assert r.status_code == 303
    assert len(await _updates(rt)) == 2
    assert [e.summary for e in await _audit(rt)][1:] == [
        "changed the group's profile: hotline hours (cleared)",
        "changed the group's profile: contact"]


async def test_a_member_cannot_edit_the_profile(runtime: Runtime, login: Login) -> None:
    rt = runtime
    admin = await login("admin")
    token_page = (await admin.get("/admin/profile")).text
    maria = await login("maria")
    r = await maria.get("/admin/profile")
    assert r.status_code == 403 and "coordinator" in r.text.lower()
    # Even with a form in hand (here her own token from another page), refused.
    page = (await maria.get("/settings/password")).text
    csrf = form(page, "/settings/password")["csrf"]
    r = await maria.post("/admin/profile", data=form(token_page, "/admin/profile") | GOOD
                         | {"csrf": csrf})
    assert r.status_code == 403
    assert await rt.group_settings.profile() == await _initial(rt)
    assert await _audit(rt) == [] and await _updates(rt) == []


async def _initial(rt: Runtime) -> Any:
    from fediaid.domain.group_profile import GroupProfile

    return GroupProfile(name="Elm St Mutual Aid", description=rt.identity.group.summary or "")


async def test_bad_input_changes_nothing_and_says_why(runtime: Runtime, login: Login) -> None:
    rt = runtime
    admin = await login("admin")
    values = form((await admin.get("/admin/profile")).text, "/admin/profile")
    before = await rt.group_settings.profile()

    r = await admin.post("/admin/profile", data=values | GOOD | {"description": "x" * 501})
    assert r.status_code == 400
    assert 'id="err-description"' in r.text
    assert "This is too long: 501 characters, and it can have up to 500." in r.text
    # What was typed stays in the form.
    again = form(r.text, "/admin/profile")
    assert again["description"] == "x" * 501 and again["hotline_number"] == "(201) 555-0123"

    for number in ("555-1234", "call me", "+99 123"):
        r = await admin.post("/admin/profile", data=values | GOOD | {"hotline_number": number})
        assert r.status_code == 400, number
        assert 'id="err-hotline_number"' in r.text
        assert "This is not a phone number we can read" in r.text

    assert await rt.group_settings.profile() == before
    assert await _audit(rt) == [] and await _updates(rt) == []


async def test_the_hotline_is_read_in_the_groups_region(runtime: Runtime, login: Login) -> None:
    rt = runtime
    admin = await login("admin")
    page = (await admin.get("/admin/settings")).text
    assert form(page, "/admin/settings")["phone_region"] == "US"
    r = await admin.post("/admin/settings",
                         data=form(page, "/admin/settings") | {"phone_region": "mx"})
    assert r.status_code == 303
    assert (await rt.posts.policy()).phone_region == "MX"
    values = form((await admin.get("/admin/profile")).text, "/admin/profile")
    assert "MX" in (await admin.get("/admin/profile")).text
    r = await admin.post("/admin/profile", data=values | {"hotline_number": "55 1234 5678"})
    assert r.status_code == 303, r.text
    assert (await rt.group_settings.profile()).hotline_number == "+52 55 1234 5678"
