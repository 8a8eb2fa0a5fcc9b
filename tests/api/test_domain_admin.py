"""The coordinators' page /admin/domains, the CSV download and upload, Mastodon's list of
moderated servers and the published blocklist for linked groups, over HTTP in process
(SQLite and PostgreSQL). Each change made on the page reaches the policy's snapshot at
once: a blocked domain is refused at the inbox right after."""

from __future__ import annotations

import time

import httpx

from activitypub.keys import load_private_key
from activitypub.signatures import sign_cavage
from api.app import create_app
from fediaid.domain.blocklists import digest, parse_csv
from fediaid.domain.links import Share
from fediaid.services.runtime import Runtime
from tests.api.test_network_picture import link_with
from tests.api.test_web_posts import Login, form, forms_to, visitor
from tests.api.test_web_posts import login as login  # the fixture
from tests.support.remote import RemoteActor, remote_actor, store

PAGE = "/admin/domains"


def _rule_form(page: str, **values: str) -> dict[str, str]:
    [f] = [f for f in forms_to(page, PAGE) if f.get("do") == "rule"]
    return f | values


def _form_with(page: str, do: str) -> dict[str, str]:
    return next(f for f in forms_to(page, PAGE) if f.get("do") == do)


async def _inbox_status(rt: Runtime, actor: RemoteActor) -> int:
    url = rt.settings.base_url + "/inbox"
    body, headers = actor.signed_post(url, {
        "id": f"{actor.uri}/follows/{time.time_ns()}", "type": "Follow", "actor": actor.uri,
        "object": rt.identity.group.uri})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(rt)),
                                 base_url=rt.settings.base_url) as c:
        return (await c.post("/inbox", content=body, headers=headers)).status_code


async def test_members_and_visitors_are_refused(runtime: Runtime, login: Login) -> None:
    maria = await login("maria")
    for path in (PAGE, PAGE + "/export.csv"):
        assert (await maria.get(path)).status_code == 403
    r = await maria.post(PAGE, data={"do": "rule", "domain": "spam.example",
                                     "severity": "suspend"})
    assert r.status_code == 403
    anon = await visitor(runtime)
    async with anon:
        assert (await anon.get(PAGE)).status_code == 401
    assert await runtime.blocklists.rules() == []


async def test_every_form_needs_the_csrf_token(runtime: Runtime, login: Login) -> None:
    admin = await login("admin")
    page = (await admin.get(PAGE)).text
    for f in forms_to(page, PAGE):
        assert f.get("csrf"), f
    r = await admin.post(PAGE, data=_rule_form(page, domain="spam.example") | {"csrf": "x"})
    assert r.status_code == 403 and "This form has expired" in r.text
    assert await runtime.blocklists.rules() == []


async def test_block_silence_allow_and_lift_through_the_page(runtime: Runtime,
                                                              login: Login) -> None:
    rt = runtime
    admin = await login("admin")
    page = (await admin.get(PAGE)).text
    for words in ("Block", "Silence", "No rule", "Allow-list", "Nothing from that server"):
        assert words in page
    spammer = remote_actor("s", "spam.example", key=1)
    await store(rt, spammer)
    assert await _inbox_status(rt, spammer) == 202

    r = await admin.post(PAGE, data=_rule_form(page, domain="Spam.Example",
                                               severity="suspend", reason="harassed maria",
                                               comment="Harassment"))
    assert r.status_code == 303
    assert "Blocked" in (await admin.get(r.headers["location"])).text
    assert rt.policy.rules.suspended == frozenset({"spam.example"})
    assert await _inbox_status(rt, spammer) == 403  # at once
    page = (await admin.get(PAGE)).text
    assert "harassed maria" in page and "Harassment" in page

    # Change it to a silence: the inbox takes it again; the reason is kept.
    await admin.post(PAGE, data=_rule_form(page, domain="spam.example", severity="silence",
                                           reason="harassed maria"))
    assert rt.policy.rules.suspended == frozenset()
    assert rt.policy.rules.silenced == frozenset({"spam.example"})
    assert await _inbox_status(rt, spammer) == 202

    # Allow-list mode: only listed servers.
    await admin.post(PAGE, data=_form_with(page, "allow") | {"domain": "friends.example"})
    await admin.post(PAGE, data=_form_with(page, "mode"))
    assert rt.policy.rules.allow_list_mode and rt.policy.rules.allowed == {"friends.example"}
    assert await _inbox_status(rt, spammer) == 403
    page = (await admin.get(PAGE)).text
    assert "only servers on the allow-list" in page
    await admin.post(PAGE, data=_form_with(page, "disallow"))
    await admin.post(PAGE, data=_form_with(page, "mode"))
    assert not rt.policy.rules.allow_list_mode and not rt.policy.rules.allowed

    # Lift the silence.
    await admin.post(PAGE, data=_rule_form(page, domain="spam.example", severity="noop"))
    assert rt.policy.rules.silenced == frozenset()
    assert await rt.blocklists.rules() == []

    # A wrong name is explained and nothing changes.
    r = await admin.post(PAGE, data=_rule_form(page, domain="https://x.example/"))
    assert r.status_code == 400 and 'id="err-domain"' in r.text
    r = await admin.post(PAGE, data=_rule_form(page, domain=rt.settings.domain))
    assert r.status_code == 400 and "own domain" in r.text
    assert await rt.blocklists.rules() == []


async def test_csv_download_upload_preview_apply(runtime: Runtime, login: Login) -> None:
    rt = runtime
    admin = await login("admin")
    page = (await admin.get(PAGE)).text
    await admin.post(PAGE, data=_rule_form(page, domain="old.example", severity="suspend",
                                           comment="old"))
    r = await admin.get(PAGE + "/export.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert [e.domain for e in parse_csv(r.text)] == ["old.example"]

    upload = (r.text.splitlines()[0] + "\nnew.example,silence,false,false,Ads,false\n"
              "old.example,noop,false,false,,false\n").encode()
    preview = _form_with(page, "preview")
    r = await admin.post(PAGE, data=preview, files={"file": ("list.csv", upload, "text/csv")})
    assert r.status_code == 200, r.text
    assert "would make 2 changes" in r.text and "Silence new.example" in r.text
    assert {x.domain for x in await rt.blocklists.rules()} == {"old.example"}  # not yet
    apply = form(r.text.split('id="preview"', 1)[1], PAGE)
    assert apply["do"] == "apply"
    r = await admin.post(PAGE, data=apply)
    assert r.status_code == 303
    assert rt.policy.rules.silenced == {"new.example"} and not rt.policy.rules.suspended

    # A bad file: the line is named and nothing changes.
    r = await admin.post(PAGE, data=preview, files={
        "file": ("bad.csv", b"#domain,#severity\nx.example,delete\n", "text/csv")})
    assert r.status_code == 400 and "Line 2" in r.text and 'id="err-file"' in r.text
    r = await admin.post(PAGE, data=_form_with(page, "preview") | {
        "do": "apply", "csv": "#domain,#severity\nx.example,delete\n"})
    assert r.status_code == 400
    assert {x.domain for x in await rt.blocklists.rules()} == {"new.example"}


async def test_moderated_servers_api(runtime: Runtime) -> None:
    rt = runtime
    await rt.accounts.create_user("maria")
    token = await rt.accounts.create_token("maria", scopes=["read"])
    await rt.blocklists.set_rule(None, "spam.example", "suspend", comment="Spam",
                                 reason="secret")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(rt)),
                                 base_url=rt.settings.base_url) as c:
        assert (await c.get("/api/v1/instance/domain_blocks")).status_code == 404
        r = await c.get("/api/v1/instance/domain_blocks",
                        headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert r.json() == [{"domain": "spam.example", "digest": digest("spam.example"),
                             "severity": "suspend", "comment": "Spam"}]
        await rt.blocklists.set_sharing(None, audience="everyone", linked=True)
        assert (await c.get("/api/v1/instance/domain_blocks")).status_code == 200


def _signed_get(actor: RemoteActor, url: str) -> dict[str, str]:
    return {"Accept": "application/activity+json"} | sign_cavage(
        method="GET", url=url, headers={}, body=None, key_id=actor.key_id,
        private_key=load_private_key(actor.keys.private_pem), now=time.time())


async def test_the_published_list_only_for_linked_groups(runtime: Runtime) -> None:
    rt = runtime
    await rt.blocklists.set_rule(None, "spam.example", "suspend", comment="Spam",
                                 reason="secret")
    group = rt.identity.group
    url = group.uri + "/blocklist"
    path = url.removeprefix(rt.settings.base_url)
    friend = remote_actor("g", "friends.example", key=1, type_="Group")
    stranger = remote_actor("s", "stranger.example", key=2)
    for a in (friend, stranger):
        await store(rt, a)
    # An active link on which this group shares its blocklist (the rule itself, with
    # other actors on the linked group's server: tests/api/test_blocklist_readers.py).
    await link_with(rt, friend.uri, friend.host, ours=frozenset({Share.BLOCKLISTS}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(rt)),
                                 base_url=rt.settings.base_url) as c:
        actor_doc = (await c.get(group.uri.removeprefix(rt.settings.base_url),
                                 headers={"Accept": "application/activity+json"})).json()
        assert actor_doc["blocklist"] == url
        r = await c.get(path, headers={"Accept": "application/activity+json"})
        assert r.status_code == 401  # unsigned
        r = await c.get(path, headers=_signed_get(stranger, url))
        assert r.status_code == 403  # not linked
        r = await c.get(path, headers=_signed_get(friend, url))
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["id"] == url and doc["type"] == "DomainBlocklist"
        assert doc["items"] == [{"domain": "spam.example", "severity": "suspend",
                                 "comment": "Spam"}]
        assert "secret" not in r.text
        await rt.blocklists.set_sharing(None, audience="members", linked=False)
        assert (await c.get(path, headers=_signed_get(friend, url))).status_code == 403
        await rt.blocklists.set_sharing(None, audience="members", linked=True)
        await rt.blocklists.set_rule(None, "friends.example", "suspend")
        assert (await c.get(path, headers=_signed_get(friend, url))).status_code == 403
