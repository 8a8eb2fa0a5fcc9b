"""The needs picture keeps counting posts that are deleted (fediaid/services/retention.py
``keep_counts``), on SQLite and PostgreSQL: retention deletes closed posts and the numbers
stay the same; an author's deletion, a remote author's Delete and a member's erasure keep
what the rules say (``picture.kept_outcome``); small merged numbers stay hidden; the kept
rows name no post and no person.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from fediaid.domain.actors import ActorType, RemoteActorData, Role
from fediaid.domain.picture import month_starts
from fediaid.domain.users import User
from fediaid.services.runtime import Runtime
from fediaid.storage import actors as actors_repo
from fediaid.storage import picture as picture_repo
from fediaid.storage import posts as posts_repo
from fediaid.storage.tables import picture_counts, picture_times, posts, responses
from fediaid.storage.types import utcnow
from tests.api.test_needs_picture import (
    PRIVATE,
    csv_rows,
    csv_values,
    seed,
    tables_of,
)
from tests.api.test_web_posts import Login
from tests.api.test_web_posts import login as login  # the fixture


async def _set(rt: Runtime, post_id: int, **values: object) -> None:
    async with rt.core.db.write() as conn:
        await conn.execute(update(posts).where(posts.c.id == post_id).values(**values))


async def _kept(rt: Runtime) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    async with rt.core.db.read() as conn:
        counts = [tuple(r) for r in await conn.execute(select(picture_counts))]
        times = [tuple(r) for r in await conn.execute(select(picture_times))]
    return counts, times


async def _steps(rt: Runtime) -> tuple[object, ...]:
    starts = month_starts(utcnow())
    async with rt.core.db.read() as conn:
        return (sorted(await picture_repo.cube(conn, starts), key=repr),
                sorted(await picture_repo.speed_steps(conn, starts=starts)))


async def _stored(rt: Runtime) -> int:
    async with rt.core.db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(posts)) or 0)


async def test_retention_deletes_posts_and_the_picture_stays_the_same(
        runtime: Runtime, login: Login) -> None:
    rt = runtime
    now = utcnow()
    seeded = await seed(rt, now)
    helper = await rt.accounts.get_user("helperpic")
    # Close most posts in every way a post closes, then let retention take them: the 5
    # food needs met (answered), one old food need expired after an answer 30 hours in,
    # the tools offers withdrawn, the household offers expired, the transport offers
    # fulfilled; the two hidden/held offers closed too (never counted, never kept).
    old_food = next(s for s in seeded if s.category == "food" and s.state == "open")
    answer = await rt.responses.respond(helper, old_food.id, "Still need it?")
    async with rt.core.db.write() as conn:
        await conn.execute(update(responses).where(responses.c.id == answer.id)
                           .values(created_at=old_food.created + timedelta(hours=30)))
    # A need met 3 days and 0.9999 seconds after it was posted: counted in the 3-day step
    # (whole seconds at both ends), by SQL while stored and by Python when kept.
    tools = await rt.posts.create(helper, {"kind": "need", "title": "A ladder", "category":
                                           "tools", "visibility": "public"}, confirm=True)
    posted = (now - timedelta(days=10)).replace(microsecond=0)
    await _set(rt, tools.id, created_at=posted, state="fulfilled",
               closed_at=posted + timedelta(days=3, microseconds=999_900),
               delete_after=now - timedelta(minutes=1))
    closing = {"tools": "withdrawn", "household": "expired"}
    gone = []
    for s in seeded:
        state = ("fulfilled" if s.state == "fulfilled" or (s.category == "transport"
                                                          and s.kind == "offer")
                 else closing.get(s.category))
        if s is old_food:
            state = "expired"
        if state is None:
            continue
        closed = s.closed or s.created + timedelta(days=2, seconds=7)
        await _set(rt, s.id, state=state, closed_at=closed,
                   delete_after=now - timedelta(minutes=1))
        gone.append(s.id)
    async with rt.core.db.write() as conn:
        await conn.execute(update(posts).where(posts.c.title.like("Not counted%"))
                           .values(state="withdrawn", closed_at=now,
                                   delete_after=now - timedelta(minutes=1)))
    member = await login("readerkept")
    before_steps = await _steps(rt)
    before_csv = csv_rows((await member.get("/picture.csv")).text)
    before_page = tables_of((await member.get("/picture")).text)
    stored = await _stored(rt)

    assert await rt.posts.delete_due() == len(gone) + 3
    assert await _stored(rt) == stored - len(gone) - 3
    # The counts and steps underneath, not only the percentiles read from them.
    assert await _steps(rt) == before_steps
    after_csv = csv_rows((await member.get("/picture.csv")).text)
    after_page = tables_of((await member.get("/picture")).text)

    # Every number is the same, the speed of the met needs too, except the words of need
    # titles: titles are not kept.
    def numbers(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        return [r for r in rows if r["table"] != "words"]

    assert numbers(after_csv) == numbers(before_csv)
    words = "Words used most in the titles of needs"
    assert words in before_page and words not in after_page
    assert after_page == {k: v for k, v in before_page.items() if k != words}
    assert dict(csv_values(before_csv, "categories", "need"))["food"] == "7"
    speed = {(r["row"], r["column"]): r["value"] for r in after_csv if r["table"] == "speed"}
    assert speed[("food", "met")] == "5"
    assert speed[("food", "days_to_met_p50")] == "3.0"
    assert speed[("food", "days_to_met_p75")] == "4.0"
    # First answers after 2, 4, 6, 8, 10 and 30 hours: the 3rd of 6 is 6 hours, the 5th
    # (75 %) 10 hours, shown as its step, 12 hours.
    assert speed[("food", "days_to_first_answer_p50")] == "0.2"
    assert speed[("food", "days_to_first_answer_p75")] == "0.5"
    assert csv_values(before_csv, "words", "posts") == [("family", "6"), ("groceries", "6")]
    assert csv_values(after_csv, "words", "posts") == []

    # What is kept: counts by month, kind, category, place and outcome; steps for needs.
    counts, times = await _kept(rt)
    assert {c.name for c in picture_counts.columns} == {
        "month", "kind", "category", "area", "outcome", "posts"}
    assert {c.name for c in picture_times.columns} == {
        "month", "category", "measure", "within_seconds", "needs"}
    assert sum(int(str(r[5])) for r in counts) == len(gone) + 1
    by_outcome: dict[str, int] = {}
    for r in counts:
        by_outcome[str(r[4])] = by_outcome.get(str(r[4]), 0) + int(str(r[5]))
    assert by_outcome == {"fulfilled": 12, "withdrawn": 5, "expired": 8}
    # Food met after 1..5 days, one each; the ladder in the 3-day step.
    assert sorted((r[1], r[3], r[4]) for r in times if r[2] == "met") == [
        *(("food", d * 86400, 1) for d in range(1, 6)), ("tools", 3 * 86400, 1)]
    assert sum(int(str(r[4])) for r in times if r[2] == "first_answer") == 6
    text = repr(counts) + repr(times)
    for secret in (*PRIVATE, "Groceries", "Diapers", "Drill", "Spare dishes", "helperpic",
                   "member1"):
        assert secret not in text, secret


async def _need(rt: Runtime, user: User, title: str) -> int:
    post = await rt.posts.create(user, {"kind": "need", "title": title, "category": "food",
                                        "area": "north", "visibility": "public"},
                                 confirm=True)
    return post.id


async def test_who_deletes_decides_and_small_merged_numbers_stay_hidden(
        runtime: Runtime, login: Login) -> None:
    rt = runtime
    coord = await rt.accounts.create_user("coordkept", role=Role.COORDINATOR)
    await rt.group_settings.set_areas(coord, [("north", "North End")])
    people = [await rt.accounts.create_user(f"neighbor{i}") for i in range(7)]
    ids = [await _need(rt, p, f"Bread for the week {i}") for i, p in enumerate(people)]
    member = await login("readerkept2")

    async def food() -> str:
        rows = csv_rows((await member.get("/picture.csv")).text)
        return dict(csv_values(rows, "categories", "need"))["food"]

    assert await food() == "7"
    await rt.posts.close(people[0], ids[0], "fulfilled")
    await rt.posts.close(people[1], ids[1], "partly_fulfilled")
    await rt.posts.close(people[2], ids[2], "withdrawn")

    # The author deletes a fulfilled need: it still counts (stored 6 + kept 1).
    await rt.posts.delete_now(people[0], ids[0])
    assert await food() == "7"
    # The author deletes an open need (a mistake, or taken back): it stops counting.
    await rt.posts.delete_now(people[3], ids[3])
    assert await food() == "6"
    # ... and a withdrawn one, too: 4 stored + 1 kept = 5.
    await rt.posts.delete_now(people[2], ids[2])
    assert await food() == "5"
    # A member's erasure: their closed need stays counted (3 stored + 2 kept), an open one
    # goes (2 stored + 2 kept = 4): the merged number is the one shown or hidden.
    await rt.member_data.delete_account(people[1])
    assert await food() == "5"
    await rt.member_data.delete_account(people[4])
    assert await food() == "fewer than 5"
    counts, _ = await _kept(rt)
    assert sorted((str(r[4]), int(str(r[5]))) for r in counts) == [
        ("fulfilled", 1), ("partly_fulfilled", 1)]

    # A shared post from another server whose author deletes it: kept only when it expired
    # or was met, like a local one.
    async with rt.core.db.write() as conn:
        base = "https://elsewhere.test/users/remo"
        actor = await actors_repo.upsert_remote(conn, RemoteActorData(
            uri=base, type=ActorType.PERSON, username="remo", domain="elsewhere.test",
            name=None, summary=None, inbox=f"{base}/inbox", shared_inbox=None, outbox=None,
            followers_url=None, following_url=None, url=None, key_id=f"{base}#main-key",
            public_key_pem="-----BEGIN PUBLIC KEY-----", icon_url=None,
            manually_approves_followers=False))
        shared = []
        for i, state in enumerate(("expired", "open")):
            pid, _ = await posts_repo.insert(conn, {
                "uri": f"{base}/needs/{i}", "kind": "need", "title": "Soup", "description": "",
                "category": "food", "area": "north", "urgency": "normal",
                "visibility": "public", "state": state, "local": False,
                "author_actor_id": actor.id, "anonymous": False, "proxy": False,
                "held": False, "via_group": True}, [])
            shared.append(pid)
    assert await food() == "6"
    for i in range(2):
        async with rt.core.db.write() as conn:
            await rt.post_inbox.on_delete(conn, actor, f"{base}/needs/{i}")
    assert await food() == "5"  # the expired one stays, the open one went
    counts, _ = await _kept(rt)
    assert sorted((str(r[4]), int(str(r[5]))) for r in counts) == [
        ("expired", 1), ("fulfilled", 1), ("partly_fulfilled", 1)]
