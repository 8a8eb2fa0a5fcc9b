"""The group's audit log: every coordinator action leaves exactly one entry, written in the
action's transaction (none when it fails, none when it rolls back); members read it on
/audit and at /api/fediaid/v1/audit and never see private details; others cannot read it;
the database refuses to change or delete entries (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from fediaid.domain.actors import Role
from fediaid.domain.audit import AuditAction
from fediaid.domain.follows import FollowState
from fediaid.domain.reports import Action, TakedownAction
from fediaid.errors import FediaidError
from fediaid.services import audit as audit_service
from fediaid.services.posts import Intake
from fediaid.services.runtime import Runtime
from fediaid.storage import follows as follows_repo
from fediaid.storage import posts as posts_repo
from fediaid.storage.tables import audit_log
from tests.api.test_web_posts import Login, form, visitor
from tests.api.test_web_posts import login as login  # the fixture
from tests.support.remote import remote_actor, store


async def rows(rt: Runtime) -> list[Any]:
    async with rt.db.read() as conn:
        return list(await conn.execute(select(audit_log).order_by(audit_log.c.id)))


async def one_entry(rt: Runtime, action: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``action``; exactly one entry must have been appended. Returns it."""
    before = len(await rows(rt))
    await action()
    new = (await rows(rt))[before:]
    assert len(new) == 1, [r.summary for r in new]
    return new[0]


async def no_entry(rt: Runtime, action: Callable[[], Awaitable[Any]]) -> None:
    before = len(await rows(rt))
    with pytest.raises(FediaidError):
        await action()
    assert len(await rows(rt)) == before


async def _need(rt: Runtime, who: str, text: str, **extra: Any) -> int:
    user = await rt.accounts.get_user(who)
    return (await rt.posts.create(user, {"kind": "need", "description": text}, **extra)).id


async def test_each_coordinator_action_leaves_one_entry(runtime: Runtime) -> None:
    rt = runtime
    admin = await rt.accounts.get_user("admin")
    await rt.accounts.create_user("maria")
    await rt.accounts.create_user("tom")
    maria = await rt.accounts.get_user("maria")
    tom = await rt.accounts.get_user("tom")

    # Accounts and login links (the link itself is never written).
    e = await one_entry(rt, lambda: rt.accounts.create_user("sam", by=admin))
    assert (e.action, e.summary, e.actor_label) == (
        "account_created", "made the account sam (member)", "admin admin")
    links: list[str] = []

    async def link() -> None:
        links.append(await rt.accounts.login_link("sam", by=admin))

    e = await one_entry(rt, link)
    assert e.summary == "made a new login link for sam"
    assert links[0].rsplit("/", 1)[1] not in str(tuple(e))

    # Held posts.
    for approve in (True, False):
        pid = await _need(rt, "maria", f"Help {approve}")
        async with rt.db.write() as conn:
            await posts_repo.update_fields(conn, pid, {"held": True})
        e = await one_entry(rt, lambda pid=pid, approve=approve: rt.group_settings.decide_held(
            admin, pid, approve=approve))
        assert e.summary == (f"approved need #{pid} from outside the group" if approve
                             else f"turned away need #{pid} from outside the group")
    await no_entry(rt, lambda: rt.group_settings.decide_held(admin, pid, approve=True))

    # A follow request of the group.
    remote = remote_actor("ro")
    await store(rt, remote)
    group = rt.identity.group
    async with rt.db.write() as conn:
        from fediaid.storage import actors as actors_repo

        ro = await actors_repo.get_by_uri(conn, remote.uri)
        await follows_repo.create(conn, follower_id=ro.id, followed_id=group.id,
                                  uri=remote.uri + "#follow", state=FollowState.PENDING)
    e = await one_entry(rt, lambda: rt.follows.decide_follower(group, remote.uri, accept=True,
                                                                by=admin))
    assert e.summary == "accepted the follow request of @ro@remote.example"
    await no_entry(rt, lambda: rt.follows.decide_follower(group, remote.uri, accept=True,
                                                           by=admin))

    # Group settings, categories, neighborhoods; a refused value writes nothing.
    e = await one_entry(rt, lambda: rt.group_settings.update(admin, {"expiry_days": "30"}))
    assert e.summary == "changed the group's settings: posts close after 30 days"
    await no_entry(rt, lambda: rt.group_settings.update(admin, {"expiry_days": "0"}))
    e = await one_entry(rt, lambda: rt.group_settings.set_category(admin, "rides", "Rides"))
    assert e.summary == 'added the category "Rides" (rides)'
    e = await one_entry(rt, lambda: rt.group_settings.set_areas(admin, [("north", "North")]))
    assert e.summary == "changed the neighborhoods people choose from: North"
    e = await one_entry(rt, lambda: rt.moderation.set_follow_approval(True, by=admin))
    assert e.action == "follow_approval"

    # Servers.
    e = await one_entry(rt, lambda: rt.moderation.block_domain("bad.example",
                                                               reason="harassed Ana", by=admin))
    assert (e.summary, e.detail) == ("blocked the server bad.example", "harassed Ana")
    for call, words in (
            (lambda: rt.moderation.unblock_domain("bad.example", by=admin),
             "lifted the block of the server bad.example"),
            (lambda: rt.policy.silence("loud.example", by=admin),
             "silenced the server loud.example"),
            (lambda: rt.policy.allow("friend.example", by=admin),
             "added the server friend.example to the allow-list"),
            (lambda: rt.policy.set_allow_list_mode(False, by=admin),
             "let every server that is not blocked talk with the group")):
        assert (await one_entry(rt, call)).summary == words
    await no_entry(rt, lambda: rt.policy.block("not a domain!", by=admin))
    # The coordinators' page and blocklist imports go through set_domain: audited as the
    # coordinator who acted (they were recorded as nobody before).
    e = await one_entry(rt, lambda: rt.blocklists.set_rule(admin, "spam.example", "suspend",
                                                           reason="sends spam"))
    assert (e.summary, e.detail) == ("blocked the server spam.example", "sends spam")
    assert e.actor_user_id == admin.id
    e = await one_entry(rt, lambda: rt.blocklists.set_rule(admin, "spam.example", "noop"))
    assert e.summary == "lifted the rule for the server spam.example"
    e = await one_entry(rt, lambda: rt.blocklists.import_apply(
        admin, "#domain,#severity\nbad2.example,silence\n"))
    assert e.summary == "silenced the server bad2.example (imported from a file)"

    # Intake: recording one and opening one (a sensitive read); the record never shows.
    intake = Intake(name="Mrs. Okafor", callback="555 0100 222", notes="Speaks Igbo.")
    created: list[int] = []

    async def record_call() -> None:
        created.append(await _need(rt, "admin", "Groceries upstairs", intake=intake))

    e = await one_entry(rt, record_call)
    assert e.action == "intake_recorded"
    e = await one_entry(rt, lambda: rt.posts.intake_record(admin, created[0]))
    assert e.summary == f"opened the intake record of need #{created[0]}"
    await no_entry(rt, lambda: rt.posts.intake_record(maria, created[0]))
    plain = await _need(rt, "maria", "Not a proxy post")
    await no_entry(rt, lambda: rt.posts.intake_record(admin, plain))

    # Reports and takedowns.
    post = await _need(rt, "maria", "Something to report")
    report = await rt.reports.create(tom, post_ids=[post], comment="Tom says: she is mean")
    e = await one_entry(rt, lambda: rt.reports.act(admin, report.id, Action.DISMISS))
    assert e.summary == f"dismissed report #{report.id}"
    await no_entry(rt, lambda: rt.reports.act(admin, report.id, Action.DISMISS))
    report = await rt.reports.create(tom, post_ids=[post])
    e = await one_entry(rt, lambda: rt.reports.act(admin, report.id, Action.HIDE_POST,
                                                   reason="A home address"))
    assert (e.action, e.summary) == ("post_hidden",
                                     f"hid need #{post}, after report #{report.id}")
    assert e.detail == "Reason given: A home address"
    e = await one_entry(rt, lambda: rt.reports.take_down(admin, action=TakedownAction.REMOVE,
                                                         reason="Spam", post_id=post))
    assert e.summary == f"removed need #{post}"
    report = await rt.reports.create(tom, account_id=maria.actor_id)
    e = await one_entry(rt, lambda: rt.reports.act(admin, report.id, Action.LIMIT))
    assert e.action == "account_limited" and "maria" in e.summary
    report = await rt.reports.create(tom, account_id=maria.actor_id)
    e = await one_entry(rt, lambda: rt.reports.act(admin, report.id, Action.SUSPEND))
    assert e.summary == "suspended the account maria"

    # Roles (tests/fediaid/test_roles.py has the two-coordinator flow).
    e = await one_entry(rt, lambda: rt.roles.change(admin, "sam", Role.COORDINATOR))
    assert e.action == "role_changed"

    # Nothing private was ever written, for anyone.
    everything = " ".join(f"{r.summary} {r.detail or ''}" for r in await rows(rt)
                          if r.action != "account_created")  # tom's own account was made
    for secret in ("Okafor", "555 0100 222", "Igbo", "Tom says", "she is mean", "tom"):
        assert secret not in everything
    assert {r.action for r in await rows(rt)} <= {a.value for a in AuditAction}


async def test_the_entry_is_in_the_actions_transaction(runtime: Runtime,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """If writing the entry fails, the action is undone: the same transaction."""
    rt = runtime
    admin = await rt.accounts.get_user("admin")
    await rt.accounts.create_user("maria")
    pid = await _need(rt, "maria", "Held")
    async with rt.db.write() as conn:
        await posts_repo.update_fields(conn, pid, {"held": True})
    real = audit_service.repo.append

    async def failing(conn: Any, **kw: Any) -> int:
        await real(conn, **kw)
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit_service.repo, "append", failing)
    before = len(await rows(rt))
    with pytest.raises(RuntimeError):
        await rt.group_settings.decide_held(admin, pid, approve=True)
    with pytest.raises(RuntimeError):
        await rt.moderation.block_domain("bad.example", by=admin)
    monkeypatch.setattr(audit_service.repo, "append", real)
    assert len(await rows(rt)) == before
    async with rt.db.read() as conn:
        assert (await posts_repo.get(conn, pid)).held
    await rt.policy.refresh()
    assert rt.policy.may_exchange("bad.example")


async def test_entries_cannot_be_changed_or_deleted(runtime: Runtime) -> None:
    rt = runtime
    async with rt.db.write() as conn:
        await audit_service.record(conn, None, AuditAction.SETTING_CHANGED,
                                   target_kind="setting", summary="changed something")
    for statement in (update(audit_log).values(summary="nothing happened"),
                      delete(audit_log)):
        with pytest.raises(DBAPIError, match="append-only"):
            async with rt.db.write() as conn:
                await conn.execute(statement)
    assert [r.summary for r in await rows(rt)][-1] == "changed something"


async def test_members_read_the_log_without_private_details(runtime: Runtime,
                                                            login: Login) -> None:
    rt = runtime
    admin = await rt.accounts.get_user("admin")
    await rt.moderation.block_domain("bad.example", reason="They doxxed Ana", by=admin)
    intake = Intake(name="Mrs. Okafor", callback="555 0100 222", notes="Speaks Igbo.")
    pid = await _need(rt, "admin", "Groceries upstairs", intake=intake)

    coord = await login("admin")
    page = (await coord.get(f"/posts/{pid}")).text
    assert "Open the intake record" in page and "Okafor" not in page
    page = (await coord.get(f"/posts/{pid}?intake=open")).text
    assert "Okafor" in page

    maria = await login("maria")
    page = (await maria.get("/")).text
    assert 'href="/audit"' in page
    log = (await maria.get("/audit")).text
    assert "Admin admin blocked the server bad.example." in log
    assert f"Admin admin opened the intake record of need #{pid}." in log
    assert f"recorded need #{pid} for a neighbor" in log
    for secret in ("doxxed", "Okafor", "555 0100 222", "Igbo"):
        assert secret not in log
    # Coordinators see the private reason.
    assert "They doxxed Ana" in (await coord.get("/audit")).text

    # JSON, for members; detail is null for them.
    api = await maria.get("/api/fediaid/v1/audit", headers={"Accept": "application/json"})
    assert api.status_code == 200
    entries = api.json()
    assert entries[0]["summary"] == "The server operator (command line) made a new login " \
        "link for maria"  # the test's login(), newest first
    assert any(e["summary"].startswith("Admin admin opened the intake record") for e in entries)
    assert all(e["detail"] is None for e in entries)
    blocked = next(e for e in entries if e["target_id"] == "bad.example")
    assert blocked["action"] == "domain_rule" and blocked["actor"] == "admin admin"
    mine = (await coord.get("/api/fediaid/v1/audit")).json()
    assert any(e["detail"] == "They doxxed Ana" for e in mine)
    page2 = await maria.get("/api/fediaid/v1/audit?limit=1")
    assert len(page2.json()) == 1 and 'rel="next"' in page2.headers["link"]
    older = await maria.get(f"/api/fediaid/v1/audit?limit=1&before={page2.json()[0]['id']}")
    assert older.json()[0]["id"] != page2.json()[0]["id"]

    # Visitors cannot read it.
    async with await visitor(rt) as anon:
        r = await anon.get("/audit")
        assert r.status_code == 401 and "bad.example" not in r.text
        r = await anon.get("/api/fediaid/v1/audit")
        assert r.status_code == 401 and "bad.example" not in r.text


async def test_roles_page_two_coordinators(runtime: Runtime, login: Login) -> None:
    rt = runtime
    admin = await login("admin")
    coord_b = await login("coord_b")
    maria = await login("maria")
    assert (await maria.get("/admin/members")).status_code == 403
    page = (await coord_b.get("/admin/members")).text
    assert "waits until <strong>another coordinator</strong>" in page
    values = next(f for f in _forms(page, "/admin/members") if f.get("name") == "maria")
    r = await coord_b.post("/admin/members", data=values | {"role": "coordinator"})
    assert r.status_code == 303 and "Proposed" in (await coord_b.get(r.headers["location"])).text
    assert (await rt.accounts.get_user("maria")).role is Role.MEMBER
    page = (await coord_b.get("/admin/members")).text
    assert "Take it back" in page and 'value="approve"' not in page
    # Self-approval by a crafted form is refused.
    proposal = next(f for f in _forms(page, "/admin/members") if "proposal" in f)
    r = await coord_b.post("/admin/members", data=proposal | {"what": "approve"})
    assert r.status_code == 403
    assert (await rt.accounts.get_user("maria")).role is Role.MEMBER
    # The other coordinator approves.
    page = (await admin.get("/admin/members")).text
    proposal = next(f for f in _forms(page, "/admin/members") if "proposal" in f)
    r = await admin.post("/admin/members", data=proposal | {"what": "approve"})
    assert r.status_code == 303
    assert (await rt.accounts.get_user("maria")).role is Role.COORDINATOR
    log = (await maria.get("/audit")).text
    assert "Coordinator coord_b proposed making maria a coordinator" in log
    assert "Admin admin approved coord_b&#39;s proposal of making maria a coordinator" in log


def _forms(page: str, action: str) -> list[dict[str, str]]:
    from tests.api.test_web_posts import forms_to

    return forms_to(page, action)


async def test_one_coordinator_changes_at_once_on_the_page(runtime: Runtime,
                                                           login: Login) -> None:
    admin = await login("admin")
    await login("maria")
    page = (await admin.get("/admin/members")).text
    assert "applies at once" in page
    values = next(f for f in _forms(page, "/admin/members") if f.get("name") == "maria")
    r = await admin.post("/admin/members", data=values | {"role": "coordinator"})
    assert r.status_code == 303
    assert (await runtime.accounts.get_user("maria")).role is Role.COORDINATOR
    assert form(page, "/admin/members")  # the page has its forms
