"""Reports (fediaid/services/reports.py), through the web pages, the Mastodon client API and
the inbox, in process, on SQLite and PostgreSQL: a member reports, coordinators act, the
reporter hears the outcome; other servers' Flags land in the queue; reports about remote
accounts are forwarded as a Flag from the instance actor, without the reporter."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest
from sqlalchemy import select

from activitypub.keys import load_public_key
from activitypub.verify import parse_request_signature
from fediaid.domain.actors import Role
from fediaid.errors import Unauthenticated
from fediaid.services.runtime import Runtime
from fediaid.storage import actors as actors_repo
from fediaid.storage.tables import activities, posts, reports
from tests.api.test_mastodon_statuses import member
from tests.api.test_web_posts import Login, form, post_need, visitor
from tests.api.test_web_posts import login as login  # the fixture
from tests.fediaid.test_delivery import Recorder, all_finished, run_worker_until
from tests.fediaid.test_inbox_processing import receive
from tests.support.remote import remote_actor, store

AP = "application/activity+json"


async def actor_id(rt: Runtime, name: str) -> int:
    async with rt.db.read() as conn:
        found = await actors_repo.find_local(conn, name)
    assert found is not None
    return found.id


async def test_a_member_reports_a_post_and_hears_the_outcome(runtime: Runtime,
                                                             login: Login) -> None:
    maria, tom, admin = await login("maria"), await login("tom"), await login("admin")
    pid = await post_need(maria, "Groceries please, I live at the corner house.")
    page = (await tom.get(f"/posts/{pid}")).text
    assert f'href="/report?post={pid}"' in page and "Hide or remove" not in page
    page = (await tom.get(f"/report?post={pid}")).text
    assert "Report the post" in page and "not told who reported" in page
    values = form(page, "/report") | {"category": "other",
                                      "comment": "It gives away where she lives."}
    r = await tom.post("/report", data=values)
    assert r.status_code == 303 and r.headers["location"].startswith("/reports")
    mine = (await tom.get("/reports")).text
    assert "Waiting for a coordinator" in mine and "It gives away where she lives." in mine

    # Members do not see the queue and cannot act.
    assert (await tom.get("/admin/reports")).status_code == 403
    token = form((await tom.get("/reports")).text, "/logout")["csrf"]
    r = await tom.post("/admin/reports/1", data={"csrf": token, "action": "dismiss"})
    assert r.status_code == 403
    r = await tom.post(f"/posts/{pid}/takedown", data={"csrf": token, "action": "remove",
                                                       "reason": "x"})
    assert r.status_code == 403
    async with runtime.db.read() as conn:
        assert (await conn.execute(select(reports.c.state))).scalar_one() == "open"

    queue = (await admin.get("/admin/reports")).text
    assert "From tom" in queue and "It gives away where she lives." in queue
    assert "Groceries please" in queue
    async with runtime.db.read() as conn:
        report_id = (await conn.execute(select(reports.c.id))).scalar_one()
        uri = (await conn.execute(select(posts.c.uri).where(posts.c.id == pid))).scalar_one()
    values = form(queue, f"/admin/reports/{report_id}") | {
        "action": "remove_post", "reason": "It had a street address in it."}
    r = await admin.post(f"/admin/reports/{report_id}", data=values)
    assert r.status_code == 303, r.text

    # Gone on the page, the client API and an ActivityPub fetch.
    assert (await maria.get(f"/posts/{pid}")).status_code == 404
    anon = await visitor(runtime)
    async with anon:
        assert (await anon.get(uri.removeprefix(runtime.settings.base_url),
                               headers={"Accept": AP})).status_code == 404
    async with runtime.db.read() as conn:
        assert (await conn.execute(select(posts.c.id))).first() is None
    # The reporter hears the outcome, the author why.
    assert "A coordinator removed the post you reported." in (await tom.get("/reports")).text
    notice = (await maria.get("/reports")).text
    assert "A coordinator removed your post: It had a street address in it." in notice
    assert "corner house" not in notice  # nothing of the removed post is kept
    done = (await admin.get("/admin/reports?state=resolved")).text
    assert "Post removed" in done


async def test_a_report_from_an_app_with_mastodons_parameters(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    maria = await member(runtime, client, "maria")
    tom = await member(runtime, client, "tom")
    status = await maria.toot("Buy cheap watches at my site")
    account = str(await actor_id(runtime, "maria"))
    # Mastodon.py sends a form: account_id, status_ids[], comment, forward, category.
    r = await tom.post("/api/v1/reports", data={
        "account_id": account, "status_ids[]": [status["id"]], "comment": "Spam",
        "forward": "false", "category": "spam"})
    assert r.status_code == 200, r.text
    entity = r.json()
    assert entity["id"] and entity["action_taken"] is False and entity["category"] == "spam"
    assert entity["comment"] == "Spam" and entity["forwarded"] is False
    assert entity["status_ids"] == [status["id"]]
    assert entity["target_account"]["id"] == account
    assert entity["target_account"]["username"] == "maria"
    # Apps that send JSON, with rule ids (a rules violation).
    r = await tom.post("/api/v1/reports", json={"account_id": account, "rule_ids": ["1"]})
    assert r.status_code == 200 and r.json()["category"] == "violation"
    # Errors change nothing: unknown account, a status by someone else, a bad category.
    assert (await tom.post("/api/v1/reports", data={"account_id": "999999"})
            ).status_code == 404
    own = await tom.toot("hello")
    r = await tom.post("/api/v1/reports", data={"account_id": account,
                                                "status_ids[]": [own["id"]]})
    assert r.status_code == 422
    r = await tom.post("/api/v1/reports", data={"account_id": account, "category": "rude"})
    assert r.status_code == 422
    assert (await client.post("/api/v1/reports", data={"account_id": account})
            ).status_code == 401
    reader = await member(runtime, client, "ann", scopes=("read",))
    assert (await reader.post("/api/v1/reports", data={"account_id": account})
            ).status_code == 403
    async with runtime.db.read() as conn:
        assert len((await conn.execute(select(reports.c.id))).all()) == 2


async def test_suspending_a_local_account_ends_logins_and_tokens(
        runtime: Runtime, login: Login, client: httpx.AsyncClient) -> None:
    maria_web, tom, admin = await login("maria"), await login("tom"), await login("admin")
    maria_user = await runtime.accounts.get_user("maria")
    await runtime.accounts.set_password(maria_user, "a long enough password")
    token = await runtime.accounts.create_token("maria", scopes=["read", "write"])
    account = await actor_id(runtime, "maria")
    page = (await tom.get("/@maria")).text
    assert f'href="/report?account={account}"' in page
    page = (await tom.get(f"/report?account={account}")).text
    r = await tom.post("/report", data=form(page, "/report") | {"comment": "Harassing me"})
    assert r.status_code == 303
    queue = (await admin.get("/admin/reports")).text
    assert "Suspend the account" in queue and "Block the server" not in queue
    async with runtime.db.read() as conn:
        report_id = (await conn.execute(select(reports.c.id))).scalar_one()
    r = await admin.post(f"/admin/reports/{report_id}",
                         data=form(queue, f"/admin/reports/{report_id}") | {
                             "action": "suspend"})
    assert r.status_code == 303
    # Her open session, her app token and her password no longer get in.
    assert (await maria_web.get("/reports")).status_code == 401
    r = await client.get("/api/v1/accounts/verify_credentials",
                         headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    r = await client.post("/api/v1/statuses", data={"status": "still here"},
                          headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    with pytest.raises(Unauthenticated):
        await runtime.accounts.login("maria", "a long enough password")
    # A login link made before (or after) the suspension opens nothing either.
    link = await runtime.accounts.login_link("maria")
    r = await client.get(link.removeprefix(runtime.settings.base_url))
    assert r.status_code in (401, 403) and "fediaid_session" not in r.cookies
    assert "suspended the account you reported" in (await tom.get("/reports")).text


async def test_limiting_makes_new_posts_members_only(runtime: Runtime,
                                                     client: httpx.AsyncClient) -> None:
    maria = await member(runtime, client, "maria")
    tom = await member(runtime, client, "tom")
    admin = await runtime.accounts.get_user("admin")
    tom_user = await runtime.accounts.get_user("tom")
    report = await runtime.reports.create(tom_user, account_id=await actor_id(runtime, "maria"))
    from fediaid.domain.reports import Action

    await runtime.reports.act(admin, report.id, Action.LIMIT)
    note = await maria.toot("Public words", visibility="public")
    assert note["visibility"] != "public"
    anon = await client.get(f"/api/v1/statuses/{note['id']}")
    assert anon.status_code == 404
    assert (await tom.get(f"/api/v1/statuses/{note['id']}")).status_code == 200


async def test_a_flag_from_another_server_lands_in_the_queue(runtime: Runtime,
                                                             login: Login) -> None:
    rt = runtime
    await rt.accounts.create_user("maria", role=Role.MEMBER)
    admin = await login("admin")
    account_uri = f"{rt.settings.base_url}/users/maria"
    reporter = remote_actor("actor", "other.example", key=1, type_="Application")
    await store(rt, reporter)
    flag = {"@context": "https://www.w3.org/ns/activitystreams",
            "id": "https://other.example/flags/1", "type": "Flag", "actor": reporter.uri,
            "content": "<p>Scam &amp; spam</p>", "object": [account_uri]}
    await receive(rt, reporter, flag)
    await receive(rt, reporter, flag)  # redelivered: still one report
    queue = (await admin.get("/admin/reports")).text
    assert "From someone on other.example" in queue and "Scam &amp; spam" in queue
    assert reporter.uri not in queue
    async with rt.db.read() as conn:
        assert len((await conn.execute(select(reports.c.id))).all()) == 1
    # A Flag that names nothing of ours stores nothing.
    await receive(rt, reporter, {**flag, "id": "https://other.example/flags/2",
                                 "object": ["https://elsewhere.example/users/x"]})
    async with rt.db.read() as conn:
        assert len((await conn.execute(select(reports.c.id))).all()) == 1


async def test_a_report_about_a_remote_account_is_forwarded_without_the_reporter(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    bob = remote_actor("bob", "other.example", key=1)
    await store(rt, bob)
    async with rt.db.read() as conn:
        bob_id = (await actors_repo.get_by_uri(conn, bob.uri)).id
    tom = await member(rt, client, "tom")
    recorder = Recorder()
    rt.set_transport(recorder)
    r = await tom.post("/api/v1/reports", data={"account_id": str(bob_id), "forward": "true",
                                                "comment": "Threatening messages"})
    assert r.status_code == 200 and r.json()["forwarded"] is True
    await run_worker_until(rt, lambda: all_finished(rt))
    assert len(recorder.requests) == 1
    url, body, headers = recorder.requests[0]
    assert url == bob.shared_inbox
    flag = orjson.loads(body)
    instance = rt.identity.instance
    assert flag["type"] == "Flag" and flag["actor"] == instance.uri
    assert flag["object"] == [bob.uri] and flag["content"] == "Threatening messages"
    assert b"tom" not in body
    signed = parse_request_signature(method="POST", url=url, headers=headers, body=body,
                                     now=time.time())
    assert signed.key_id == instance.key_id
    signed.verify(load_public_key(instance.public_key_pem or ""))

    # The coordinator blocks bob: what he sends is ignored from now on.
    admin = await rt.accounts.get_user("admin")
    async with rt.db.read() as conn:
        report_id = (await conn.execute(select(reports.c.id))).scalar_one()
    from fediaid.domain.reports import Action

    with pytest.raises(Exception, match="on another server"):
        await rt.reports.act(admin, report_id, Action.SUSPEND)
    await rt.reports.act(admin, report_id, Action.SUSPEND_REMOTE)
    note = {"id": f"{bob.uri}/notes/1", "type": "Note", "attributedTo": bob.uri,
            "content": "hi", "to": ["https://www.w3.org/ns/activitystreams#Public"]}
    await receive(rt, bob, {"id": f"{bob.uri}/create/1", "type": "Create", "actor": bob.uri,
                            "object": note, "to": note["to"]})
    r = await tom.get("/api/v1/timelines/public")
    assert all(s["account"]["acct"] != "bob@other.example" for s in r.json())

    # Another report: the whole server is blocked through the domain policy.
    report = await rt.reports.create(await rt.accounts.get_user("tom"), account_id=bob_id)
    await rt.reports.act(admin, report.id, Action.BLOCK_DOMAIN)
    assert not rt.policy.may_exchange(bob.uri)
    async with rt.db.read() as conn:
        flags = (await conn.execute(select(activities.c.type).where(
            activities.c.type == "Flag"))).all()
    assert len(flags) == 1
