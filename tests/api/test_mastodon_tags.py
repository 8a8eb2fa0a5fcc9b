"""Hashtags in the Mastodon client API: GET /api/v1/tags/:name (the Tag entity Elk, Phanpy
and Ice Cubes load on every hashtag page), following hashtags (not a feature: an honest 422)
and the followed tags list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import update

from fediaid.services.runtime import Runtime
from fediaid.storage.tables import statuses
from tests.api.test_mastodon_statuses import member


def midnight(days_ago: int) -> str:
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return str(int((day - timedelta(days=days_ago)).timestamp()))


async def test_tag_entity_with_a_weeks_history(runtime: Runtime,
                                               client: httpx.AsyncClient) -> None:
    rt = runtime
    maria = await member(rt, client, "maria")
    tom = await member(rt, client, "tom")
    await maria.toot("Tomatoes to share #Garden")
    await tom.toot("Seedlings #garden")
    await tom.toot("Another one #garden")
    older = await maria.toot("Compost #garden")
    # Not counted: what the hashtag timeline does not show either.
    await maria.toot("Members only #garden", visibility="private")
    await maria.toot("Quiet #garden", visibility="unlisted")
    await maria.toot("Long ago #garden")
    async with rt.db.write() as conn:
        now = datetime.now(UTC)
        await conn.execute(update(statuses).where(statuses.c.id == int(older["id"]))
                           .values(created_at=now - timedelta(days=2)))
        last = (await maria.get("/api/v1/timelines/tag/garden")).json()[0]["id"]
        await conn.execute(update(statuses).where(statuses.c.id == int(last))
                           .values(created_at=now - timedelta(days=30)))

    r = await client.get("/api/v1/tags/garden")  # public, no token needed
    assert r.status_code == 200, r.text
    tag = r.json()
    assert tag["name"] == "garden" and tag["url"] == "http://a.test/tags/garden"
    assert isinstance(tag["id"], str) and "following" not in tag
    history = tag["history"]
    assert len(history) == 7
    assert [h["day"] for h in history] == [midnight(n) for n in range(7)]
    assert all(isinstance(v, str) for h in history for v in h.values())
    assert (history[0]["uses"], history[0]["accounts"]) == ("3", "2")
    assert (history[2]["uses"], history[2]["accounts"]) == ("1", "1")
    assert sum(int(h["uses"]) for h in history) == 4

    # With a token: `following` (false: hashtags cannot be followed here), any case or '#'.
    r = await maria.get("/api/v1/tags/%23Garden")
    assert r.status_code == 200
    assert r.json()["name"] == "Garden" and r.json()["following"] is False
    assert r.json()["history"] == history
    # A tag nobody used yet exists all the same (as on Mastodon), with a week of zeros.
    empty = (await client.get("/api/v1/tags/swap")).json()
    assert empty["name"] == "swap" and {h["uses"] for h in empty["history"]} == {"0"}
    for bad in ("not-a-tag", "123", "x" * 129):
        assert (await client.get(f"/api/v1/tags/{bad}")).status_code == 404, bad
    r = await client.options("/api/v1/tags/garden")
    assert r.headers["access-control-allow-origin"] == "*"


async def test_following_hashtags_is_refused_honestly(runtime: Runtime,
                                                      client: httpx.AsyncClient) -> None:
    rt = runtime
    maria = await member(rt, client, "maria")
    reader = await member(rt, client, "tom", scopes=("read",))
    r = await maria.post("/api/v1/tags/garden/follow")
    assert r.status_code == 422
    assert r.json()["error"] == "Following hashtags is not supported on this server"
    assert (await client.post("/api/v1/tags/garden/follow")).status_code == 401
    assert (await reader.post("/api/v1/tags/garden/follow")).status_code == 403
    # Unfollowing what nobody can follow: done already, the tag as it is.
    r = await maria.post("/api/v1/tags/garden/unfollow")
    assert r.status_code == 200 and r.json()["following"] is False
    assert r.json()["name"] == "garden" and len(r.json()["history"]) == 7
    assert (await maria.post("/api/v1/tags/not-a-tag/follow")).status_code == 404
    # The list of followed tags says what is true.
    r = await maria.get("/api/v1/followed_tags")
    assert r.status_code == 200 and r.json() == []
