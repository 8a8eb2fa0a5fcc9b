"""A member's e-mail address is theirs alone: with confirmed addresses for several members
(and one still waiting for confirmation), no web page, client API response (Mastodon's and
ours), ActivityPub document, WebFinger answer, stored activity or delivery, audit log entry
or other member's export contains another member's address; an address finds nobody in
search or WebFinger; no account JSON has an ``email`` field. The member's own page and own
export do have it; deleting the account deletes it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from api.app import create_app
from fediaid.services.runtime import Runtime
from fediaid.storage import tables
from tests.api.test_web_posts import Login, post_need, visitor
from tests.api.test_web_posts import login as login  # the fixture
from tests.fediaid.test_email import configure, confirmed, send_all
from tests.support.smtp import SmtpSink

ADDRESSES = {"maria": "maria.r@mail.test", "sam": "sam.k@mail.test",
             "coord": "coord.l@mail.test"}
PENDING = "maria.new@mail.test"


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


def keys_named(doc: Any, name: str) -> list[object]:
    found: list[object] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k == name:
                found.append(v)
            found += keys_named(v, name)
    elif isinstance(doc, list):
        for v in doc:
            found += keys_named(v, name)
    return found


async def test_no_other_member_ever_sees_an_address(runtime: Runtime, login: Login,
                                                     smtp: SmtpSink) -> None:
    rt = runtime
    await configure(rt, smtp)
    clients = {name: await login(name) for name in ("maria", "sam", "coord")}
    users = {name: await rt.accounts.get_user(name) for name in clients}
    for name, address in ADDRESSES.items():
        await confirmed(rt, smtp, users[name], address)
    await rt.email.add_address(users["maria"], PENDING)  # waiting for confirmation
    # Something for every page to show: a need, an answer, an exchange, messages.
    pid = await post_need(clients["maria"], "Groceries for my grandmother.")
    response = await rt.responses.respond(users["sam"], pid, "On my way")
    conv = await rt.responses.accept(users["maria"], response.id)
    await rt.responses.send(users["maria"], conv.id, "Thank you!")
    await send_all(rt)
    everyone = [*ADDRESSES.values(), PENDING]

    def others(viewer: str | None) -> list[str]:
        own = [ADDRESSES[viewer], PENDING] if viewer == "maria" else (
            [ADDRESSES[viewer]] if viewer else [])
        return [a for a in everyone if a not in own]

    def check(viewer: str | None, where: str, body: str) -> None:
        low = body.lower()
        for address in others(viewer):
            assert address.lower() not in low, (viewer, where, address)

    # -- web pages -----------------------------------------------------------------------
    pages = ["/", f"/posts/{pid}", "/@maria", "/@sam", "/@coord", "/my/posts",
             "/notifications", "/conversations", f"/conversations/{conv.id}", "/audit",
             "/reports", "/settings/email", "/account/data", "/admin", "/admin/members",
             "/admin/email", "/admin/invitations", "/login", "/login/email", "/join"]
    anon = await visitor(rt)
    for viewer, c in [*clients.items(), (None, anon)]:
        for path in pages:
            r = await c.get(path)
            check(viewer, path, r.text)
    own = (await clients["maria"].get("/settings/email")).text
    assert ADDRESSES["maria"] in own and PENDING in own
    # Coordinators see no address on the members page (nor anywhere else).
    assert ADDRESSES["maria"] not in (await clients["coord"].get("/admin/members")).text

    # -- the client APIs (Mastodon's and /api/fediaid/v1) --------------------------------------
    tokens = {name: await rt.accounts.create_token(name, scopes=["read", "write", "follow"],
                                                   name="test") for name in clients}
    maria_actor = users["maria"].actor_id
    api_paths = ["/api/v1/accounts/verify_credentials", f"/api/v1/accounts/{maria_actor}",
                 "/api/v1/accounts/lookup?acct=maria", "/api/v1/accounts/search?q=maria",
                 "/api/v2/search?q=maria", "/api/v1/notifications", "/api/v1/timelines/home",
                 "/api/v1/timelines/public", "/api/v1/conversations", "/api/v2/instance",
                 "/api/fediaid/v1/posts", f"/api/fediaid/v1/posts/{pid}",
                 "/api/fediaid/v1/conversations", "/api/fediaid/v1/audit"]
    transport = httpx.ASGITransport(app=create_app(rt))
    async with httpx.AsyncClient(transport=transport, base_url="http://a.test") as api:
        for viewer, token in [*tokens.items(), (None, None)]:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            for path in api_paths:
                r = await api.get(path, headers=headers)
                check(viewer, path, r.text)
                # No account has an ``email`` field (the instance's contact address is
                # the group's, set by the operator: not a member's).
                if r.headers.get("content-type", "").startswith("application/json") and (
                        "instance" not in path):
                    assert keys_named(r.json(), "email") == [], (viewer, path)
            # An address finds nobody.
            for q in (ADDRESSES["maria"], "@" + ADDRESSES["maria"]):
                r = await api.get("/api/v2/search", params={"q": q, "resolve": "false"},
                                  headers=headers)
                if r.status_code == 200:
                    assert r.json()["accounts"] == [], (viewer, q)
                r = await api.get("/api/v1/accounts/lookup", params={"acct": q},
                                  headers=headers)
                assert r.status_code == 404, (viewer, q)

        # -- ActivityPub and discovery -------------------------------------------------------
        ap = {"Accept": "application/activity+json"}
        for path in ["/users/maria", "/users/maria/outbox", "/users/maria/followers",
                     "/users/sam", "/groups/elm", "/groups/elm/outbox",
                     "/.well-known/webfinger?resource=acct:maria@a.test",
                     "/.well-known/nodeinfo", "/nodeinfo/2.1", "/actor"]:
            r = await api.get(path, headers=ap)
            check(None, path, r.text)
        r = await api.get("/.well-known/webfinger",
                          params={"resource": "acct:" + ADDRESSES["maria"]})
        assert r.status_code == 404
        r = await api.get("/.well-known/webfinger",
                          params={"resource": "mailto:" + ADDRESSES["maria"]})
        assert r.status_code in (400, 404)

    # -- what is stored for others: activities, deliveries, objects, statuses, the log ------
    async with rt.db.read() as conn:
        for table in (tables.activities, tables.deliveries, tables.objects, tables.statuses,
                      tables.audit_log, tables.notifications, tables.actors):
            dump = json.dumps([[str(v) for v in r] for r in
                               await conn.execute(select(table))]).lower()
            for address in everyone:
                assert address.lower() not in dump, (table.name, address)
        # The queue keeps no address once a message is sent.
        leftover = (await conn.execute(text(
            "SELECT count(*) FROM email_outbox WHERE to_address IS NOT NULL"))).scalar_one()
        assert leftover == 0

    # -- exports ------------------------------------------------------------------------------
    for name in ("sam", "coord"):
        doc = json.dumps(await rt.member_data.export(users[name]))
        check(name, f"export of {name}", doc)
        assert ADDRESSES[name] in doc  # one's own is in one's own export
    maria_doc = await rt.member_data.export(users["maria"])
    assert maria_doc["email"]["address"] == ADDRESSES["maria"]
    assert maria_doc["email"]["waiting_for_confirmation"] == PENDING
    archive = await rt.member_data.archive(users["sam"])
    assert ADDRESSES["maria"].encode() not in archive

    # -- deleting the account deletes the address -----------------------------------------------
    await rt.member_data.delete_account(users["maria"])
    async with rt.db.read() as conn:
        for table in (tables.email_addresses, tables.email_confirmations,
                      tables.email_outbox):
            dump = json.dumps([[str(v) for v in r] for r in
                               await conn.execute(select(table))]).lower()
            assert ADDRESSES["maria"] not in dump and PENDING not in dump, table.name
