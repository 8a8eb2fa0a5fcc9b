"""A member's data (safety issue "Privacy"): the export holds everything of one's own and no
secret or other people's private data; deleting an account removes it everywhere (posts,
statuses and the actor taken back from other servers with Deletes signed by the actor), leaves
only the tombstone that reserves the name, and is refused for the last admin. SQLite and
PostgreSQL."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from activitypub.keys import load_public_key
from activitypub.verify import parse_request_signature
from fediaid.cli import _admin, build_parser
from fediaid.domain.actors import Role
from fediaid.errors import Conflict, Unauthenticated
from fediaid.services.posts import Intake
from fediaid.services.runtime import Runtime
from fediaid.storage import actors as actors_repo
from fediaid.storage.tables import audit_log, metadata, posts
from tests.api.test_mastodon_statuses import member
from tests.api.test_web_posts import Login, form
from tests.api.test_web_posts import login as login  # the fixture
from tests.fediaid.test_delivery import Recorder, all_finished, run_worker_until
from tests.fediaid.test_inbox_processing import receive
from tests.support.remote import remote_actor, store

PASSWORD = "correct horse battery q7"
MARIA_NEED = "Ride to the clinic zq1"
MARIA_NOTE = "Garden tools to share zq2"
MARIA_ANSWER = "I can bring soup zq3"
MARIA_MESSAGE = "Call me, my number is zq4"
TOM_MESSAGE = "Thank you so much tq5"
SECRET_DM = "secret plans between tom and annq zz7"
INTAKE_NAME = "Ruth Neighborq"


async def _everything(rt: Runtime) -> dict[str, list[str]]:
    """Every row of every table, as text, by table."""
    out: dict[str, list[str]] = {}
    async with rt.db.read() as conn:
        for table in metadata.sorted_tables:
            rows = await conn.execute(select(table))
            out[table.name] = [" ".join(str(v) for v in r) for r in rows]
    return out


async def _scene(rt: Runtime, client: httpx.AsyncClient, login: Login) -> dict[str, Any]:
    """maria (a coordinator) with a remote follower, a need, a note, an answer to tom's need
    and an exchange with tom; an intake record she typed for a neighbor; tom and annq's own
    direct messages; annq's anonymous need that maria answered."""
    bob = remote_actor("bob")
    await store(rt, bob)
    web = await login("coord_maria")  # coordinators' names start with "coord" there
    maria = await rt.accounts.get_user("coord_maria")
    await rt.accounts.set_password(maria, PASSWORD,
                                   keep_session=web.cookies.get("fediaid_session"))
    token = await rt.accounts.create_token("coord_maria", scopes=["read", "write"])
    await receive(rt, bob, {"id": f"{bob.uri}/follows/9", "type": "Follow", "actor": bob.uri,
                            "object": "http://a.test/users/coord_maria"})
    need = await rt.posts.create(maria, {"kind": "need", "title": MARIA_NEED,
                                         "category": "transport"})
    api = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url),
                            headers={"Authorization": f"Bearer {token}"})
    r = await api.post("/api/v1/statuses", data={"status": MARIA_NOTE})
    assert r.status_code == 200, r.text
    note_uri = r.json()["uri"]
    tom_api = await member(rt, client, "tom")
    annq_api = await member(rt, client, "annq")
    await tom_api.toot(f"@annq {SECRET_DM}", visibility="direct")
    tom, annq = await rt.accounts.get_user("tom"), await rt.accounts.get_user("annq")
    toms_need = await rt.posts.create(tom, {"kind": "need", "title": "Soup for two",
                                           "category": "food"})
    answer = await rt.responses.respond(maria, toms_need.id, MARIA_ANSWER)
    conv = await rt.responses.accept(tom, answer.id)
    await rt.responses.send(maria, conv.id, MARIA_MESSAGE)
    await rt.responses.send(tom, conv.id, TOM_MESSAGE)
    anonymous = await rt.posts.create(annq, {"kind": "need", "title": "Diapers",
                                             "category": "food"}, as_neighbor=True)
    await rt.responses.respond(maria, anonymous.id, "I have some")
    proxy = await rt.posts.create(maria, {"kind": "need", "title": "Groceries by phone",
                                          "category": "food"},
                                  intake=Intake(name=INTAKE_NAME, callback="555-0100",
                                                notes="lives on the corner"))
    assert annq_api
    return {"bob": bob, "web": web, "maria": maria, "token": token, "need": need,
            "note_uri": note_uri, "tom": tom, "conv": conv, "proxy": proxy, "api": api,
            "toms_need": toms_need, "tom_api": tom_api}


async def test_the_export_holds_my_data_and_no_secrets(runtime: Runtime,
                                                       client: httpx.AsyncClient,
                                                       login: Login) -> None:
    rt = runtime
    s = await _scene(rt, client, login)
    web = s["web"]
    page = await web.get("/account/data")
    assert page.status_code == 200 and "Everything (JSON)" in page.text
    values = form(page.text, "/account/data/download")
    r = await web.post("/account/data/download", data=values | {"format": "zip"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert "attachment" in r.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    names = set(archive.namelist())
    assert {"data.json", "posts.csv", "answers.csv", "messages.csv", "README.txt"} <= names
    everything = b"".join(archive.read(n) for n in names).decode()
    doc = json.loads(archive.read("data.json"))
    # Mine: profile, posts, statuses, answers given, the exchange, follows, apps, sessions.
    assert doc["profile"]["username"] == "coord_maria"
    assert [p["title"] for p in doc["posts"]] == [MARIA_NEED]  # not the proxy post
    assert MARIA_NOTE in json.dumps(doc["statuses"])
    assert {a["message"] for a in doc["answers_given"]} == {MARIA_ANSWER, "I have some"}
    [exchange] = doc["exchanges"]
    assert [m["body"] for m in exchange["messages"]] == [MARIA_MESSAGE, TOM_MESSAGE]
    assert exchange["messages"][0]["from"] == "me"
    assert doc["followers"][0]["account_uri"] == s["bob"].uri
    assert doc["settings"]["has_password"] is True
    assert doc["authorized_apps"] and doc["sessions"]
    for text in (MARIA_NEED, MARIA_ANSWER, MARIA_MESSAGE):
        assert text in archive.read("posts.csv").decode() + archive.read(
            "answers.csv").decode() + archive.read("messages.csv").decode()
    # Never: secrets, other people's private messages, intake records, anonymous askers.
    async with rt.db.read() as conn:
        pem = await actors_repo.private_key_pem(conn, s["maria"].actor_id)
    for secret in (PASSWORD, s["token"], SECRET_DM, INTAKE_NAME, "555-0100",
                   "lives on the corner", "annq", "argon2", pem.splitlines()[1]):
        assert secret not in everything, secret
    assert not re.search(r"[0-9a-f]{64}", everything)  # no token or session digest
    # The JSON alone.
    r = await web.post("/account/data/download", data=values | {"format": "json"})
    assert r.status_code == 200 and r.json()["posts"][0]["title"] == MARIA_NEED
    # Without the form's token: refused.
    r = await web.post("/account/data/download", data={"format": "json"})
    assert r.status_code == 403


async def test_deleting_my_account_removes_it_everywhere(runtime: Runtime,
                                                        client: httpx.AsyncClient,
                                                        login: Login) -> None:
    rt = runtime
    s = await _scene(rt, client, login)
    bob, web, maria = s["bob"], s["web"], s["maria"]
    recorder = Recorder()
    rt.set_transport(recorder)
    await run_worker_until(rt, lambda: all_finished(rt))
    created = [orjson.loads(b) for u, b, _ in recorder.requests if u == bob.shared_inbox]
    assert any(a["type"] == "Create" and a["object"]["id"] == s["need"].uri for a in created)
    recorder.requests.clear()
    async with rt.db.read() as conn:
        actor = await actors_repo.get_by_id(conn, maria.actor_id)

    page = (await web.get("/account/delete")).text
    assert "cannot be undone" in page and "[deleted]" in page
    values = form(page, "/account/delete")
    r = await web.post("/account/delete", data=values | {"username": "coord_maria",
                                                          "password": "wrong password!"})
    assert r.status_code == 400 and "do not match" in r.text
    r = await web.post("/account/delete", data=values | {"username": "coord_mari",
                                                          "password": PASSWORD})
    assert r.status_code == 400
    r = await web.post("/account/delete", data={"username": "coord_maria",
                                                "password": PASSWORD})
    assert r.status_code == 403  # no CSRF token
    r = await web.post("/account/delete", data=values | {"username": "coord_maria",
                                                          "password": PASSWORD})
    assert r.status_code == 303, r.text

    # Other servers: a Delete of each post and status, then of the actor, signed by her key.
    await run_worker_until(rt, lambda: all_finished(rt))
    sent = [(orjson.loads(b), b, h, u) for u, b, h in recorder.requests]
    assert {u for *_, u in sent} == {bob.shared_inbox}
    deleted = {a["object"]["id"] if isinstance(a["object"], dict) else a["object"]
               for a, *_ in sent if a["type"] == "Delete"}
    assert {s["need"].uri, s["note_uri"], actor.uri} <= deleted
    actor_delete = next((a, b, h) for a, b, h, _ in sent if a["object"] == actor.uri)
    assert actor_delete[0]["actor"] == actor.uri
    signed = parse_request_signature(method="POST", url=bob.shared_inbox,
                                     headers=actor_delete[2], body=actor_delete[1],
                                     now=time.time())
    assert signed.key_id == actor.key_id
    signed.verify(load_public_key(actor.public_key_pem or ""))

    # The actor answers 410 with a Tombstone; WebFinger and the profile know nobody.
    r = await client.get("/users/coord_maria", headers={"Accept": "application/activity+json"})
    assert r.status_code == 410 and r.json()["type"] == "Tombstone"
    r = await client.get("/.well-known/webfinger",
                         params={"resource": "acct:coord_maria@a.test"})
    assert r.status_code == 404
    # Login, token and the old session are refused; the name cannot be taken again.
    with pytest.raises(Unauthenticated):
        await rt.accounts.check_password("coord_maria", PASSWORD)
    with pytest.raises(Unauthenticated):
        await rt.accounts.authenticate_token(s["token"])
    r = await s["api"].get("/api/v1/accounts/verify_credentials")
    assert r.status_code == 401
    assert (await web.get("/account/data")).status_code in (302, 303, 401)
    with pytest.raises(Conflict):
        await rt.accounts.create_user("coord_maria")
    # Apps find no such account.
    r = await s["tom_api"].get("/api/v1/accounts/lookup", params={"acct": "coord_maria"})
    assert r.status_code == 404
    r = await s["tom_api"].get(f"/api/v1/accounts/{actor.id}")
    assert r.status_code == 404
    assert (await client.get("/@coord_maria")).status_code == 404

    # tom's exchange keeps his words; hers are "[deleted]". The proxy post stays.
    tom = s["tom"]
    _, msgs = await rt.responses.messages(tom, s["conv"].id)
    assert [m.body for m in msgs] == ["[deleted]", TOM_MESSAGE]
    [answer] = await rt.responses.for_post(tom, s["toms_need"].id)
    assert answer.message == "[deleted]" and answer.state.value == "withdrawn"
    async with rt.db.read() as conn:
        proxy = (await conn.execute(select(posts.c.id, posts.c.creator_user_id).where(
            posts.c.id == s["proxy"].id))).one()
    assert proxy.creator_user_id is None
    intake = await rt.posts.intake_record(await rt.accounts.get_user("admin"), s["proxy"].id)
    assert intake is not None and intake["name"] == INTAKE_NAME
    assert intake["created_by_user_id"] is None  # kept for the neighbor, without her

    # Every table: her name only on the tombstone and her outgoing Deletes; her words nowhere.
    def holding(rows: dict[str, list[str]], text: str) -> set[str]:
        return {t for t, lines in rows.items() if any(text in line for line in lines)}

    rows = await _everything(rt)
    for text in (MARIA_NEED, MARIA_NOTE, MARIA_ANSWER, MARIA_MESSAGE):
        assert holding(rows, text) == set(), text
    assert holding(rows, "coord_maria") <= {"actors", "activities", "audit_log"}
    assert not any("coord_maria" in line and "Delete" not in line
                   for line in rows["activities"])
    assert not any("coord_maria" in line for line in rows["audit_log"]  # self-deletion is
                   if "deleted" in line)                                # not logged by name
    # Once the Deletes are delivered, the key goes too: only the tombstone is left.
    assert await rt.member_data.finish_deletions() == 1
    rows = await _everything(rt)
    assert holding(rows, "coord_maria") <= {"actors", "audit_log"}
    [tombstone] = [line for line in rows["actors"] if "coord_maria" in line]
    assert "Tombstone" in tombstone
    with pytest.raises(Exception, match="no signing key"):
        async with rt.db.read() as conn:
            await actors_repo.private_key_pem(conn, actor.id)


async def test_a_coordinator_deletes_and_exports_from_the_command_line(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Any) -> None:
    rt = runtime
    await member(rt, client, "sam")
    sam = await rt.accounts.get_user("sam")
    await rt.posts.create(sam, {"kind": "offer", "title": "Spare bike sq1",
                                "category": "transport"})
    # Before sam had an account, a coordinator recorded sam's need from a phone call.
    admin = await rt.accounts.get_user("admin")
    call = await rt.posts.create(admin, {"kind": "need", "title": "Groceries sq2",
                                         "category": "food"},
                                 intake=Intake(name="Sam Q. Neighbor", callback=None,
                                               notes=None))
    other_call = await rt.posts.create(admin, {"kind": "need", "title": "Rides sq3",
                                               "category": "food"},
                                       intake=Intake(name="Someone Else", callback=None,
                                                     notes=None))
    out = tmp_path / "sam.zip"
    args = build_parser().parse_args(["admin", "export-member", "sam", str(out),
                                      "--intake", str(call.id)])
    assert await _admin(rt, args) == 0
    exported = zipfile.ZipFile(out).read("data.json").decode()
    assert "Spare bike sq1" in exported and "Sam Q. Neighbor" in exported
    assert "Someone Else" not in exported and "admin" not in exported
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    args = build_parser().parse_args(["admin", "delete-member", "sam"])
    assert await _admin(rt, args) == 1  # without --yes nothing happens
    assert (await rt.accounts.get_user("sam")).username == "sam"
    args = build_parser().parse_args(["admin", "delete-member", "sam", "--yes",
                                      "--intake", str(call.id)])
    assert await _admin(rt, args) == 0
    with pytest.raises(Exception, match="no user called sam"):
        await rt.accounts.get_user("sam")
    rows = await _everything(rt)
    # Whole titles: a short marker alone turns up inside base64 keys now and then.
    assert not any(text in line for text in ("Sam Q. Neighbor", "Groceries sq2",
                                             "Spare bike sq1")
                   for lines in rows.values() for line in lines)
    assert await rt.posts.intake_record(admin, other_call.id) is not None
    async with rt.db.read() as conn:
        logged = [r.summary for r in await conn.execute(select(audit_log.c.summary))]
    assert any("exported the data of sam" in line for line in logged)
    assert any(line.startswith("deleted account #") for line in logged)

    # The last admin cannot delete themself.
    assert admin.role is Role.ADMIN
    with pytest.raises(Conflict, match="last admin"):
        await rt.member_data.delete_account(admin)
    assert (await rt.accounts.get_user("admin")).username == "admin"


async def test_without_a_password_a_fresh_login_link_confirms(runtime: Runtime,
                                                            login: Login) -> None:
    rt = runtime
    web = await login("lena")  # logged in through a login link just now, no password
    lena = await rt.accounts.get_user("lena")
    page = (await web.get("/account/delete")).text
    assert "login link" in page
    values = form(page, "/account/delete")
    from fediaid.services import member_data

    saved = member_data.FRESH_SESSION
    member_data.FRESH_SESSION = member_data.timedelta(seconds=-1)  # as if long ago
    try:
        r = await web.post("/account/delete", data=values | {"username": "lena"})
        assert r.status_code == 400 and "fresh login" in r.text
    finally:
        member_data.FRESH_SESSION = saved
    r = await web.post("/account/delete", data=values | {"username": "lena"})
    assert r.status_code == 303
    with pytest.raises(Exception, match="no user called lena"):
        await rt.accounts.get_user(lena.username)
