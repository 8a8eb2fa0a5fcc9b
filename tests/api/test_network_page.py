"""The coordinators' Network page (/admin/network) over HTTP in process, SQLite and
PostgreSQL: members are refused; a proposal from another group is shown and accepted with
what this group shares; a link is paused and ended; a blocked server cannot be proposed."""

from __future__ import annotations

import orjson

from fediaid.domain.links import LinkState, Share
from fediaid.services.runtime import Runtime
from tests.api.test_web_posts import Login, forms_to
from tests.api.test_web_posts import login as login  # the fixture
from tests.fediaid.test_inbox_processing import follow_of, outgoing, receive
from tests.support.remote import remote_actor, store

PAGE = "/admin/network"


async def test_the_network_page(runtime: Runtime, login: Login) -> None:
    rt = runtime
    maria = await login("maria")
    assert (await maria.get(PAGE)).status_code == 403
    assert (await maria.post(PAGE, data={"do": "propose", "handle": "x"})).status_code == 403

    admin = await login("admin")
    page = (await admin.get(PAGE)).text
    assert "not linked with any other group yet" in page
    assert 'href="/admin/network"' in (await admin.get("/admin")).text

    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    await store(rt, oak)
    await receive(rt, oak, {**follow_of(oak, rt), "linkShares": ["statistics"]})
    page = (await admin.get(PAGE)).text
    assert "They propose a link" in page and "@oak@oak.example" in page
    assert "Counts of needs and offers" in page  # what they share
    [f] = [f for f in forms_to(page, PAGE) if f.get("handle") == "@oak@oak.example"]
    assert f["csrf"]
    r = await admin.post(PAGE, data={**f, "do": "accept",
                                     "share": ["blocklists", "accountAlerts"]})
    assert r.status_code in (302, 303), r.text
    [link] = await rt.links.links()
    assert link.state is LinkState.PROPOSED_BY_US
    assert link.our_shares == {Share.BLOCKLISTS, Share.ACCOUNT_ALERTS}
    follow = next(orjson.loads(p) for t, _, p in await outgoing(rt) if t == "Follow")
    assert follow["linkShares"] == ["accountAlerts", "blocklists"]
    await receive(rt, oak, {"id": f"{oak.uri}/accepts/1", "type": "Accept",
                            "actor": oak.uri, "object": follow})
    page = (await admin.get(PAGE)).text
    assert "Linked" in page and 'value="pause"' in page

    f = next(f for f in forms_to(page, PAGE) if f.get("handle") == "@oak@oak.example")
    await admin.post(PAGE, data={**f, "do": "pause"})
    assert (await rt.links.links())[0].state is LinkState.PAUSED
    await admin.post(PAGE, data={**f, "do": "end"})
    assert (await rt.links.links())[0].state is LinkState.ENDED
    log = (await admin.get("/audit")).text
    assert "paused the link with @oak@oak.example" in log
    assert "ended the link with @oak@oak.example" in log

    bad = remote_actor("bad", "bad.example", key=2, type_="Group")
    await store(rt, bad)
    await rt.blocklists.set_rule(None, "bad.example", "suspend")
    page = (await admin.get(PAGE)).text
    [f] = [f for f in forms_to(page, PAGE) if f.get("do") == "propose"]
    r = await admin.post(PAGE, data={**f, "handle": bad.uri})
    assert r.status_code == 403 and "cannot be linked" in r.text
    assert [x.handle for x in await rt.links.links()] == ["@oak@oak.example"]
    # A linked server blocked later: the page says nothing goes over the link.
    assert "nothing goes over this link" not in r.text
    await rt.links.propose(None, oak.uri)
    await rt.blocklists.set_rule(None, "oak.example", "suspend")
    assert "This server is blocked: nothing goes over this link" in (
        await admin.get(PAGE)).text
