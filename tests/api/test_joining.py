"""Joining without a terminal: invitation links (single and multi-use, expiry, taking
back), joining with a password or with a login link, requests to join approved or declined
on the members page, resetting a login and removing a member there; coordinators only,
everything in the group's log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update

from fediaid.domain.audit import AuditAction
from fediaid.services.runtime import Runtime
from fediaid.storage.tables import audit_log, invitations, join_requests
from tests.api.test_web_posts import Login, form, forms_to, visitor
from tests.api.test_web_posts import login as login  # the fixture

PASSWORD = "three short words here"


async def actions(rt: Runtime) -> list[str]:
    async with rt.db.read() as conn:
        return [r.action for r in await conn.execute(select(audit_log).order_by(audit_log.c.id))]


def token(page: str) -> dict[str, str]:
    return {"csrf": next(f["csrf"] for f in forms_to(page, "/admin/members") if "csrf" in f)}


async def make_invitation(coord: httpx.AsyncClient, uses: int = 1, days: int = 7,
                          note: str = "") -> str:
    page = (await coord.get("/admin/invitations")).text
    r = await coord.post("/admin/invitations", data=form(page, "/admin/invitations") | {
        "uses": str(uses), "days": str(days), "note": note})
    assert r.status_code == 200, r.text
    m = re.search(r'<code class="secret-link">https?://[^/]+(/join/[A-Za-z0-9_-]+)</code>',
                  r.text)
    assert m, r.text
    return m.group(1)


async def join(rt: Runtime, path: str, name: str, *, how: str = "password",
               password: str = PASSWORD) -> httpx.Response:
    c = await visitor(rt)
    page = await c.get(path)
    if page.status_code != 200:
        return page
    values = form(page.text, path) | {"username": name, "how": how, "password": password}
    r = await c.post(path, data=values)
    r.extensions["client"] = c  # type: ignore[index]
    return r


async def test_single_use_invitation_works_once(runtime: Runtime, login: Login) -> None:
    coord = await login("coord")
    path = await make_invitation(coord, note="for the Tuesday fridge crew")
    async with runtime.db.read() as conn:
        stored = [r.token_hash for r in await conn.execute(select(invitations))]
    assert stored and path.rsplit("/", 1)[1] not in stored  # only a digest is kept
    first = await join(runtime, path, "rosa")
    assert first.status_code == 303, first.text
    assert "fediaid_session" in first.headers.get("set-cookie", "")
    second = await join(runtime, path, "tomas")
    assert second.status_code == 401 and "used up" in second.text
    # The first joined with a password: it logs in.
    user, _session = await runtime.accounts.login("rosa", PASSWORD)
    assert user.username == "rosa"
    assert AuditAction.INVITED in await actions(runtime)
    assert AuditAction.JOINED in await actions(runtime)


async def test_multi_use_counts_and_expiry_and_taking_back(runtime: Runtime,
                                                           login: Login) -> None:
    coord = await login("coord")
    path = await make_invitation(coord, uses=2)
    assert (await join(runtime, path, "ana")).status_code == 303
    page = (await coord.get("/admin/invitations")).text
    assert "1 of 2" in page
    assert (await join(runtime, path, "ben")).status_code == 303
    assert (await join(runtime, path, "cy")).status_code == 401
    # Expired.
    old = await make_invitation(coord, uses=5)
    async with runtime.db.write() as conn:
        await conn.execute(update(invitations).where(invitations.c.uses_left == 5).values(
            expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    assert (await join(runtime, old, "dee")).status_code == 401
    # Taken back.
    back = await make_invitation(coord, uses=5)
    page = (await coord.get("/admin/invitations")).text
    revoke = [f for f in forms_to(page, "/admin/invitations") if f.get("what") == "revoke"]
    r = await coord.post("/admin/invitations", data=revoke[0])
    assert r.status_code == 303
    assert (await join(runtime, back, "eve")).status_code == 401
    assert AuditAction.INVITATION_REVOKED in await actions(runtime)


async def test_join_problems_are_shown_on_the_form(runtime: Runtime, login: Login) -> None:
    coord = await login("coord")
    path = await make_invitation(coord)
    r = await join(runtime, path, "rosa", password="short")
    assert r.status_code == 400 and "at least 10" in r.text
    r = await join(runtime, path, "coord")
    assert r.status_code == 400 and "already taken" in r.text
    # Neither used the invitation up.
    assert (await join(runtime, path, "rosa")).status_code == 303


async def test_passwordless_join_gets_a_working_login_link(runtime: Runtime,
                                                           login: Login) -> None:
    coord = await login("coord")
    path = await make_invitation(coord)
    r = await join(runtime, path, "grandma_li", how="link", password="")
    assert r.status_code == 200, r.text
    assert "fediaid_session" in r.headers.get("set-cookie", "")
    m = re.search(r'https?://[^/]+(/login/[A-Za-z0-9_-]+)</code>', r.text)
    assert m, r.text
    other = await visitor(runtime)
    opened = await other.get(m.group(1))
    assert opened.status_code == 303 and "fediaid_session" in opened.headers["set-cookie"]
    # The members page shows coordinators who logs in without a password.
    assert "no password" in (await coord.get("/admin/members")).text


async def test_join_request_approve_and_decline(runtime: Runtime, login: Login) -> None:
    coord = await login("coord")
    v = await visitor(runtime)
    home = (await v.get("/")).text
    assert 'href="/join"' in home
    for name, contact in (("Li Wen", "call 555 0100 after 6"), ("Spammer", "")):
        page = (await v.get("/join")).text
        r = await v.post("/join", data=form(page, "/join") | {
            "name": name, "message": "I live on Elm street", "contact": contact})
        assert r.status_code == 200 and "Thank you" in r.text
    members = (await coord.get("/admin/members")).text
    assert "Li Wen" in members and "call 555 0100 after 6" in members
    decide = [f for f in forms_to(members, "/admin/members") if "request" in f]
    approve = next(f for f in decide if "username" in f)
    assert approve["username"] == "li_wen"
    r = await coord.post("/admin/members", data=approve | {"what": "join_approve"})
    assert r.status_code == 200, r.text
    m = re.search(r'https?://[^/]+(/login/[A-Za-z0-9_-]+)</code>', r.text)
    assert m
    li = await visitor(runtime)
    assert (await li.get(m.group(1))).status_code == 303
    members = (await coord.get("/admin/members")).text
    decline = [f for f in forms_to(members, "/admin/members") if "request" in f]
    assert len(decline) == 2  # the remaining request's two forms
    r = await coord.post("/admin/members", data=next(f for f in decline if "username" not in f)
                         | {"what": "join_decline"})
    assert r.status_code == 303
    async with runtime.db.read() as conn:
        rows = list(await conn.execute(select(join_requests)))
    assert {r.state for r in rows} == {"approved", "declined"}
    assert all(r.contact is None and r.message is None for r in rows)  # forgotten
    acts = await actions(runtime)
    assert AuditAction.JOIN_APPROVED in acts and AuditAction.JOIN_DECLINED in acts
    async with runtime.db.read() as conn:
        summaries = " ".join(r.summary for r in await conn.execute(select(audit_log)))
    assert "555" not in summaries and "Elm" not in summaries


async def test_members_search_reset_and_remove(runtime: Runtime, login: Login) -> None:
    coord = await login("coord")
    await runtime.accounts.create_user("maria")
    await runtime.accounts.create_user("marcus")
    await runtime.accounts.create_user("zoe")
    page = (await coord.get("/admin/members?q=mar")).text
    assert "maria" in page and "marcus" in page and "zoe" not in page
    r = await coord.post("/admin/members", data={**token(page),
                                                 "what": "reset", "name": "zoe"})
    assert r.status_code == 200 and "/login/" in r.text
    # Removing needs the box ticked.
    r = await coord.post("/admin/members", data={**token(page),
                                                 "what": "remove", "name": "zoe"})
    assert r.status_code == 400
    r = await coord.post("/admin/members", data={**token(page),
                                                 "what": "remove", "name": "zoe",
                                                 "confirm": "1"})
    assert r.status_code == 303, r.text
    # Said once (the notice names her), then she is gone from the list.
    assert "account of zoe" in (await coord.get("/admin/members")).text
    assert "zoe" not in (await coord.get("/admin/members")).text
    # Not the last admin, and not an admin at all for a coordinator.
    r = await coord.post("/admin/members", data={**token(page),
                                                 "what": "remove", "name": "admin",
                                                 "confirm": "1"})
    assert r.status_code == 403
    admin = await login("admin")
    apage = (await admin.get("/admin/members")).text
    r = await admin.post("/admin/members", data={**token(apage),
                                                 "what": "remove", "name": "admin",
                                                 "confirm": "1"})
    assert r.status_code == 400  # your own account: My data
    acts = await actions(runtime)
    assert AuditAction.LOGIN_LINK in acts and AuditAction.ACCOUNT_DELETED in acts


async def test_members_may_not(runtime: Runtime, login: Login) -> None:
    maria = await login("maria")
    for path in ("/admin/invitations", "/admin/members"):
        assert (await maria.get(path)).status_code == 403
    token = form((await maria.get("/posts/new?kind=need")).text, "/posts/new")["csrf"]
    r = await maria.post("/admin/invitations", data={"csrf": token, "uses": "5", "days": "7"})
    assert r.status_code == 403
    r = await maria.post("/admin/members", data={"csrf": token, "what": "reset",
                                                 "name": "admin"})
    assert r.status_code == 403
    assert AuditAction.INVITED not in await actions(runtime)
