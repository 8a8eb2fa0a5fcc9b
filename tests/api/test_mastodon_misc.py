"""Markers, preferences and the endpoints that are empty by design (never 404)."""

from __future__ import annotations

import httpx

from fediaid.services.runtime import Runtime
from tests.api.test_mastodon_notifications import get, member, token_for


async def test_markers_round_trip(runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    _maria, as_maria = await member(rt, "maria")
    _sam, as_sam = await member(rt, "sam")
    url = "/api/v1/markers?timeline[]=home&timeline[]=notifications"
    assert await get(client, url, as_maria) == {}

    r = await client.post("/api/v1/markers", headers=as_maria,
                          data={"home[last_read_id]": "103", "notifications[last_read_id]": "7"})
    assert r.status_code == 200, r.text
    saved = r.json()
    assert saved["home"]["last_read_id"] == "103" and saved["home"]["version"] == 1
    assert saved["notifications"]["last_read_id"] == "7"
    assert saved["home"]["updated_at"].endswith("Z")

    r = await client.post("/api/v1/markers", headers=as_maria,
                          json={"home": {"last_read_id": "110"}})
    assert r.status_code == 200 and set(r.json()) == {"home"}
    both = await get(client, url, as_maria)
    assert both["home"]["last_read_id"] == "110" and both["home"]["version"] == 2
    assert both["notifications"] == saved["notifications"]
    only_home = await get(client, "/api/v1/markers?timeline[]=home", as_maria)
    assert set(only_home) == {"home"}
    assert await get(client, url, as_sam) == {}  # per account

    # Bad input changes nothing.
    r = await client.post("/api/v1/markers", headers=as_maria,
                          json={"home": {"last_read_id": "1" * 40}})
    assert r.status_code == 422
    r = await client.post("/api/v1/markers", headers=as_maria, json={"home": "12"})
    assert r.status_code == 400
    assert (await get(client, url, as_maria))["home"]["version"] == 2
    read_only = await token_for(rt, "maria", ["read"])
    r = await client.post("/api/v1/markers", headers=read_only,
                          json={"home": {"last_read_id": "200"}})
    assert r.status_code == 403
    assert (await get(client, url, read_only))["home"]["last_read_id"] == "110"


async def test_preferences_follow_the_group(runtime: Runtime,
                                            client: httpx.AsyncClient) -> None:
    rt = runtime
    _maria, as_maria = await member(rt, "maria")
    prefs = await get(client, "/api/v1/preferences", as_maria)
    assert prefs == {"posting:default:visibility": "public", "posting:default:sensitive": False,
                     "posting:default:language": "en", "reading:expand:media": "default",
                     "reading:expand:spoilers": False}
    admin = await rt.accounts.get_user("admin")
    await rt.group_settings.update(admin, {"default_visibility": "members"})
    prefs = await get(client, "/api/v1/preferences", as_maria)
    assert prefs["posting:default:visibility"] == "private"
    r = await client.get("/api/v1/preferences")
    assert r.status_code == 401


EMPTY_LISTS = [
    "/api/v1/filters", "/api/v2/filters", "/api/v1/lists", "/api/v1/announcements",
    "/api/v1/trends", "/api/v1/trends/tags", "/api/v1/trends/statuses",
    "/api/v1/trends/links", "/api/v1/custom_emojis", "/api/v1/scheduled_statuses",
    "/api/v1/instance/peers", "/api/v1/instance/activity", "/api/v1/instance/rules",
    "/api/v1/directory", "/api/v1/followed_tags",
]


async def test_empty_by_design(runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    _maria, as_maria = await member(rt, "maria")
    for url in EMPTY_LISTS:
        r = await client.get(url, headers=as_maria)
        assert r.status_code == 200, url
        assert r.json() == [], url
        assert r.headers["access-control-allow-origin"] == "*"
    assert await get(client, "/api/v1/instance/translation_languages", {}) == {}
    described = await get(client, "/api/v1/instance/extended_description", {})
    assert described["updated_at"].endswith("Z")
    assert rt.settings.group_name in described["content"]
    # Public ones need no token.
    for url in ("/api/v1/trends/tags", "/api/v1/custom_emojis", "/api/v1/instance/peers",
                "/api/v1/directory"):
        assert (await client.get(url)).status_code == 200, url

    for url, message in (("/api/v1/filters", "Filters are not supported on this server"),
                         ("/api/v2/filters", "Filters are not supported on this server"),
                         ("/api/v1/lists", "Lists are not supported on this server")):
        r = await client.post(url, headers=as_maria, json={"title": "x", "phrase": "x"})
        assert r.status_code == 422 and r.json() == {"error": message}, url
        assert await get(client, url, as_maria) == []  # nothing was created
    # Web Push is real now (tests/api/test_mastodon_push.py): no subscription yet is a 404.
    with_push = await token_for(rt, "maria", ["read", "write", "push"])
    r = await client.get("/api/v1/push/subscription", headers=with_push)
    assert r.status_code == 404 and r.json() == {"error": "Record not found"}
    for url in ("/api/v1/lists/1", "/api/v2/filters/1", "/api/v1/scheduled_statuses/1"):
        assert (await client.get(url, headers=as_maria)).status_code == 404, url

    assert (await client.get("/api/v1/push/subscription", headers=as_maria)).status_code == 403
    read_only = await token_for(rt, "maria", ["read"])
    r = await client.post("/api/v1/lists", headers=read_only, json={"title": "x"})
    assert r.status_code == 403
    statuses_only = await token_for(rt, "maria", ["read:statuses"])
    r = await client.get("/api/v1/followed_tags", headers=statuses_only)
    assert r.status_code == 403
    r = await client.get("/api/v1/filters")
    assert r.status_code == 401
    r = await client.options("/api/v1/filters")
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "*"
