"""How a group describes itself to the network and to people on other servers: its actor
document carries the hotline, its hours and how to join as Mastodon profile fields, and as
schema.org / fediaid properties with the neighborhoods it serves and its languages; NodeInfo
repeats them; the Update sent when they change carries the same document. In process, on
SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import orjson
from httpx import AsyncClient
from sqlalchemy import select

from fediaid.services.runtime import Runtime
from fediaid.storage.tables import activities
from tests.fediaid.test_inbox_processing import receive
from tests.support.remote import remote_actor, store

AP = "application/activity+json"


async def _group(client: AsyncClient, rt: Runtime) -> dict[str, Any]:
    r = await client.get(rt.identity.group.uri.removeprefix(f"http://{rt.settings.domain}"),
                         headers={"Accept": AP})
    assert r.status_code == 200
    return dict(r.json())


async def test_the_group_describes_itself_and_tells_followers_when_it_changes(
        runtime: Runtime, client: AsyncClient) -> None:
    rt = runtime
    admin = await rt.accounts.get_user("admin")
    before = await _group(client, rt)
    assert "telephone" not in before and "howToJoin" not in before
    assert not any(a.get("type") == "PropertyValue" for a in before["attachment"])

    bob = remote_actor("bob")
    await store(rt, bob)
    await receive(rt, bob, {"id": f"{bob.uri}/follows/1", "type": "Follow", "actor": bob.uri,
                            "object": rt.identity.group.uri})
    await rt.group_settings.set_areas(admin, [("north", "North Elm"), ("south", "South Elm")])
    await rt.group_settings.update_profile(
        admin, hotline_number="(201) 555-0123", hotline_hours="Mon to Fri, 9 to 5",
        how_to_join="Come to a Tuesday meeting <7 pm>.", contact="Church hall")

    doc = await _group(client, rt)
    fields = {a["name"]: a["value"] for a in doc["attachment"] if a["type"] == "PropertyValue"}
    assert fields["Hotline"].startswith("+1 201-555-0123")
    assert fields["Hotline hours"] == "Mon to Fri, 9 to 5"
    assert fields["How to join"] == "Come to a Tuesday meeting &lt;7 pm&gt;."  # escaped HTML
    assert "Church hall" not in orjson.dumps(doc).decode()  # the contact line stays home
    assert doc["telephone"] == "+12015550123"
    assert doc["areaServed"] == ["North Elm", "South Elm"]
    assert doc["knowsLanguage"][0] == "en"
    assert doc["howToJoin"] == "Come to a Tuesday meeting <7 pm>."
    context = doc["@context"][-1]
    assert context["areaServed"] == "schema:areaServed" and "fediaid" in context
    assert doc["blocklist"].endswith("/blocklist")  # still names its shared blocklist

    info = (await client.get("/nodeinfo/2.1")).json()["metadata"]
    assert info["telephone"] == "+12015550123" and info["areaServed"] == doc["areaServed"]

    # The follower's server was sent the same document.
    async with rt.db.read() as conn:
        payloads = [orjson.loads(p) for (p,) in await conn.execute(
            select(activities.c.payload).where(activities.c.type == "Update"))]
    sent = [p["object"] for p in payloads if p["object"].get("id") == rt.identity.group.uri]
    assert sent and sent[-1]["telephone"] == "+12015550123"
    # (the embedded object has no @context of its own: the Update carries it)
    assert {k: v for k, v in sent[-1].items() if k != "@context"} == {
        k: v for k, v in doc.items() if k != "@context"}
