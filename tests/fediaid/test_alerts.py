"""Account alerts between linked groups (issue 12, "Accountability across the network"): the
rules, and in process on SQLite and PostgreSQL: who is told, what the activity holds, whose
alerts are kept, applying, dismissing and retracting, the audit log. Two real instances on
loopback: tests/integration/test_alerts.py."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import pytest
from sqlalchemy import select

from fediaid.domain.alerts import (
    AlertError,
    AlertState,
    Harm,
    accepts_from,
    clean_reason,
    decide,
    on_retraction,
    parse_harm,
    reason_problem,
    recipients,
)
from fediaid.domain.links import LinkState, Share
from fediaid.errors import Conflict, Forbidden, Invalid
from fediaid.services.runtime import Runtime
from fediaid.storage import actors as actors_repo
from fediaid.storage import audit as audit_repo
from fediaid.storage import links as links_repo
from fediaid.storage.tables import deliveries, suspended_actors, users
from tests.fediaid.test_inbox_processing import outgoing, receive
from tests.support.remote import RemoteActor, remote_actor, store

ALERTS = frozenset({Share.ACCOUNT_ALERTS})


@dataclass(frozen=True)
class L:
    state: LinkState
    our_shares: frozenset[Share]
    their_shares: frozenset[Share]


def test_rules() -> None:
    both = L(LinkState.ACTIVE, ALERTS, ALERTS)
    ours_only = L(LinkState.ACTIVE, ALERTS, frozenset())
    theirs_only = L(LinkState.ACTIVE, frozenset({Share.BLOCKLISTS}), ALERTS)
    paused = L(LinkState.PAUSED, ALERTS, ALERTS)
    proposed = L(LinkState.PROPOSED_BY_US, ALERTS, ALERTS)
    assert recipients([both, ours_only, theirs_only, paused, proposed]) == [both, ours_only]
    assert accepts_from(both) and accepts_from(theirs_only)
    assert not any(accepts_from(x) for x in (ours_only, paused, proposed, None))
    assert decide(AlertState.OPEN, AlertState.APPLIED) is AlertState.APPLIED
    assert decide(AlertState.OPEN, AlertState.DISMISSED) is AlertState.DISMISSED
    assert decide(AlertState.DISMISSED, AlertState.APPLIED) is AlertState.APPLIED
    for before, after in ((AlertState.APPLIED, AlertState.DISMISSED),
                          (AlertState.APPLIED, AlertState.APPLIED),
                          (AlertState.DISMISSED, AlertState.DISMISSED)):
        with pytest.raises(AlertError):
            decide(before, after)
    assert on_retraction(AlertState.OPEN) and on_retraction(AlertState.DISMISSED)
    assert not on_retraction(AlertState.APPLIED)  # the suspension is ours now: kept, marked
    assert parse_harm("doxxing") is Harm.DOXXING
    assert parse_harm("arson-of-the-future") is Harm.OTHER and parse_harm(3) is Harm.OTHER
    assert clean_reason("  took   the\n\n  van keys \n") == "took the\nvan keys"
    assert reason_problem("x" * 500) is None and reason_problem("x" * 501)


# -- in process -------------------------------------------------------------------------------
async def linked(rt: Runtime, actor: RemoteActor, *, state: LinkState = LinkState.ACTIVE,
                 ours: frozenset[Share] = ALERTS, theirs: frozenset[Share] = ALERTS) -> None:
    await store(rt, actor)
    async with rt.db.write() as conn:
        found = await actors_repo.get_by_uri(conn, actor.uri)
        await links_repo.save(conn, found.id, state, our_shares=ours, their_shares=theirs)


async def clear(rt: Runtime) -> None:
    async with rt.db.write() as conn:
        await conn.execute(deliveries.delete())


def alert_from(group: RemoteActor, rt: Runtime, n: int = 1, account: str | None = None,
               **extra: object) -> dict:
    return {"@context": ["https://www.w3.org/ns/activitystreams",
                         {"fediaid": "https://fediaid.org/ns#",
                          "AccountAlert": "fediaid:AccountAlert"}],
            "id": f"{group.uri}/alerts/{n}", "type": "AccountAlert", "actor": group.uri,
            "to": [rt.identity.group.uri],
            "object": account or "https://far.example/users/mallory",
            "handle": "@mallory@far.example", "harm": "harassment",
            "content": "Followed a volunteer home.", **extra}


async def test_sharing_tells_linked_groups_that_get_alerts_and_nothing_more(
        runtime: Runtime) -> None:
    rt = runtime
    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    elm = remote_actor("elm", "elm.example", key=2, type_="Group")
    ash = remote_actor("ash", "ash.example", key=3, type_="Group")
    await linked(rt, oak)  # we share alerts with oak
    await linked(rt, elm, ours=frozenset({Share.BLOCKLISTS}))  # not with elm
    await linked(rt, ash, state=LinkState.PAUSED)  # paused: nothing
    coordinator = await rt.accounts.get_user("admin")
    member = await rt.accounts.create_user("mallory", display_name="Mallory Quince-Private")
    with pytest.raises(Forbidden):
        await rt.alerts.suspend(member, "mallory", "harassment", share=True)
    assert [g.actor_uri for g in await rt.alerts.told_groups()] == [oak.uri]
    with pytest.raises(Invalid):
        await rt.alerts.suspend(coordinator, "mallory", "littering", share=True)
    with pytest.raises(Invalid):
        await rt.alerts.suspend(coordinator, "mallory", "theft", reason="x" * 501, share=True)

    done = await rt.alerts.suspend(coordinator, "@mallory", "harassment",
                                   reason="Followed a volunteer home.", share=True)
    assert done.told == 1
    async with rt.db.read() as conn:
        disabled = (await conn.execute(select(users.c.disabled).where(
            users.c.username == "mallory"))).scalar_one()
    assert disabled
    sent = [(t, inbox, orjson.loads(p)) for t, inbox, p in await outgoing(rt)]
    assert [(t, inbox) for t, inbox, _ in sent] == [("AccountAlert", oak.shared_inbox)]
    activity = sent[0][2]
    mallory_uri = done.account.uri
    # The account, its handle, the category and the shared words: nothing else.
    assert set(activity) == {"@context", "id", "type", "actor", "to", "object", "published",
                             "handle", "harm", "content"}
    assert activity["actor"] == rt.identity.group.uri and activity["to"] == [oak.uri]
    assert activity["object"] == mallory_uri
    assert activity["handle"] == f"@mallory@{rt.settings.domain}"
    assert activity["harm"] == "harassment"
    assert activity["content"] == "Followed a volunteer home."
    assert "Quince-Private" not in orjson.dumps(activity).decode()

    # Twice: the standing alert is not sent again.
    await clear(rt)
    again = await rt.alerts.suspend(coordinator, "mallory", "harassment", share=True)
    assert again.already_shared and again.told == 0 and await outgoing(rt) == []
    # Not shared: the suspension alone.
    await rt.accounts.create_user("quiet")
    quiet = await rt.alerts.suspend(coordinator, "quiet", "theft")
    assert quiet.told == 0 and await outgoing(rt) == []

    # Retracting sends Undo of it to the group that was told.
    [ours] = await rt.alerts.sent(coordinator)
    assert await rt.alerts.retract(coordinator, ours.id) == 1
    sent = [(t, inbox, orjson.loads(p)) for t, inbox, p in await outgoing(rt)]
    assert [(t, inbox) for t, inbox, _ in sent] == [("Undo", oak.shared_inbox)]
    assert sent[0][2]["object"] == {"id": activity["id"], "type": "AccountAlert",
                                    "actor": rt.identity.group.uri, "object": mallory_uri}
    with pytest.raises(Conflict):
        await rt.alerts.retract(coordinator, ours.id)
    async with rt.db.read() as conn:
        entries = await audit_repo.page(conn, before_id=None, limit=20, with_detail=True)
    actions = [e.action for e in entries]
    assert "alert_shared" in actions and "alert_retracted" in actions
    shared = next(e for e in entries if e.action == "alert_shared")
    assert "mallory" in shared.summary and "Followed" not in shared.summary
    assert shared.detail == "Shared reason: Followed a volunteer home."


async def test_only_alerts_from_active_links_that_share_them_are_kept(runtime: Runtime
                                                                      ) -> None:
    rt = runtime
    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    elm = remote_actor("elm", "elm.example", key=2, type_="Group")  # no alerts from them
    ash = remote_actor("ash", "ash.example", key=3, type_="Group")  # paused here
    stranger = remote_actor("fir", "fir.example", key=4, type_="Group")  # not linked
    bad = remote_actor("bad", "bad.example", key=5, type_="Group")  # blocked later
    await linked(rt, oak)
    await linked(rt, elm, theirs=frozenset({Share.BLOCKLISTS}))
    await linked(rt, ash, state=LinkState.PAUSED)
    await store(rt, stranger)
    await linked(rt, bad)
    await rt.blocklists.set_rule(None, "bad.example", "suspend")
    for n, sender in enumerate((elm, ash, stranger, bad)):
        await receive(rt, sender, alert_from(sender, rt, n))
    await receive(rt, oak, alert_from(oak, rt, 9, to=["https://else.example/groups/x"]))
    coordinator = await rt.accounts.get_user("admin")
    assert await rt.alerts.received(coordinator) == []

    await receive(rt, oak, alert_from(oak, rt, 1))
    await receive(rt, oak, alert_from(oak, rt, 1))  # a redelivery is one alert
    [alert] = await rt.alerts.received(coordinator)
    assert (alert.state, alert.account_uri, alert.harm, alert.reason, alert.from_handle) == (
        AlertState.OPEN, "https://far.example/users/mallory", Harm.HARASSMENT,
        "Followed a volunteer home.", "@oak@oak.example")
    assert await rt.alerts.count_open(coordinator) == 1
    member = await rt.accounts.create_user("pat")
    with pytest.raises(Forbidden):
        await rt.alerts.received(member)

    # Applied with one action: the account is suspended here (by its URI, never seen).
    applied = await rt.alerts.apply(coordinator, alert.id)
    assert applied.state is AlertState.APPLIED
    async with rt.db.read() as conn:
        assert (await conn.execute(select(suspended_actors.c.uri))).scalars().all() == [
            "https://far.example/users/mallory"]
    with pytest.raises(Conflict):
        await rt.alerts.dismiss(coordinator, alert.id)
    # Retracted: an applied alert stays (our suspension), marked as retracted.
    await receive(rt, oak, {"id": f"{oak.uri}/undo/1", "type": "Undo", "actor": oak.uri,
                            "object": {"id": alert.activity_uri, "type": "AccountAlert",
                                       "actor": oak.uri, "object": alert.account_uri}})
    [kept] = await rt.alerts.received(coordinator)
    assert kept.state is AlertState.APPLIED and kept.retracted_at is not None
    async with rt.db.read() as conn:
        assert (await conn.execute(select(suspended_actors.c.uri))).scalars().all() != []

    # Another: dismissed, then retracted: gone. An open one retracted: gone too.
    await receive(rt, oak, alert_from(oak, rt, 2, account="https://far.example/users/eve"))
    await receive(rt, oak, alert_from(oak, rt, 3, account="https://far.example/users/sam"))
    eve = next(a for a in await rt.alerts.received(coordinator)
               if a.account_uri.endswith("/eve"))
    await rt.alerts.dismiss(coordinator, eve.id)
    # Someone else cannot retract oak's alert.
    await receive(rt, elm, {"id": f"{elm.uri}/undo/2", "type": "Undo", "actor": elm.uri,
                            "object": {"id": f"{oak.uri}/alerts/3", "type": "AccountAlert",
                                       "actor": elm.uri}})
    assert len(await rt.alerts.received(coordinator)) == 3
    for n in (2, 3):
        await receive(rt, oak, {"id": f"{oak.uri}/undo/{n}", "type": "Undo", "actor": oak.uri,
                                "object": {"id": f"{oak.uri}/alerts/{n}",
                                           "type": "AccountAlert", "actor": oak.uri}})
    assert [a.id for a in await rt.alerts.received(coordinator)] == [alert.id]
    async with rt.db.read() as conn:
        entries = await audit_repo.page(conn, before_id=None, limit=20, with_detail=True)
    actions = [e.action for e in entries]
    assert "alert_applied" in actions and "alert_dismissed" in actions


async def test_retracting_can_lift_the_suspension(runtime: Runtime) -> None:
    rt = runtime
    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    zed = remote_actor("zed", "far.example", key=4)
    await linked(rt, oak)
    await store(rt, zed)
    await rt.accounts.create_user("lee")
    await rt.alerts.suspend(None, "lee", "threats", share=True)
    await rt.alerts.suspend(None, zed.uri, "harassment", share=True)
    assert (await rt.accounts.get_user("lee")).disabled
    async with rt.db.read() as conn:
        assert (await conn.execute(select(suspended_actors.c.uri))).scalars().all() == [
            zed.uri]
    for alert in await rt.alerts.sent(None):
        await rt.alerts.retract(None, alert.id, lift=True)
    assert not (await rt.accounts.get_user("lee")).disabled
    async with rt.db.read() as conn:
        assert (await conn.execute(select(suspended_actors.c.uri))).scalars().all() == []
        entries = await audit_repo.page(conn, before_id=None, limit=20, with_detail=True)
    lifted = [e.summary for e in entries if e.action == "suspension_lifted"]
    assert sorted(lifted) == ["lifted the suspension of the account @lee@" + rt.settings.domain,
                              "lifted the suspension of the account @zed@far.example"]
