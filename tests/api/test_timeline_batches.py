"""A page of statuses costs a bounded number of SQL statements, whatever the table holds and
however many accounts, posts, mentions and boosts are on the page (the batch loaders in
``StatusReading.bundle``, ``AccountService.profile_counts_many``, ``PostFederation.notes``);
timelines read their candidates on indexes (SQLite's plans: no step scans ``statuses``).
Statements are counted with a SQLAlchemy event listener, in process, on both databases.
Speed itself is measured by bench/timelines.py (docs/benchmarks.md, "Timelines")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event, select

from api.mastodon.entities import status_entities
from fediaid.domain.paging import Page
from fediaid.services.runtime import Runtime
from fediaid.storage.tables import (
    actors,
    favourites,
    follows,
    media_attachments,
    status_recipients,
    status_tags,
    statuses,
)
from fediaid.storage.types import utcnow


async def _counted(rt: Runtime, fn: Callable[[], Awaitable[Any]]
                   ) -> tuple[Any, list[tuple[str, Any]]]:
    """What ``fn`` returns, and the SQL statements it ran (with their parameters)."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
        seen.append((statement, parameters))

    engines = {rt.db.reader.sync_engine, rt.db.writer.sync_engine}
    for e in engines:
        event.listen(e, "before_cursor_execute", capture)
    try:
        result = await fn()
    finally:
        for e in engines:
            event.remove(e, "before_cursor_execute", capture)
    return result, seen


async def _fill(rt: Runtime, *, authors: int, n: int, tag: str = "soup") -> list[int]:
    """``authors`` remote accounts and ``n`` public statuses by them in turn, each mentioning
    another account, with a tag, a favourite and an image; every fourth a boost. Returns the
    status ids, oldest first."""
    now = utcnow()
    async with rt.db.write() as conn:
        first = (await conn.execute(select(actors.c.id).order_by(actors.c.id.desc())
                                    .limit(1))).scalar_one() + 1
        await conn.execute(actors.insert(), [
            {"id": first + i, "uri": f"https://r{i % 3}.example/users/a{first + i}",
             "type": "Person", "username": f"a{first + i}", "domain": f"r{i % 3}.example",
             "local": False, "name": f"A {i}", "created_at": now, "updated_at": now}
            for i in range(authors + 1)])
        ids: list[int] = []
        for k in range(n):
            author = first + k % authors
            boost = ids[-1] if k % 4 == 3 and ids else None
            sid = (await conn.execute(statuses.insert().values(
                uri=f"https://bench.example/s/{first}-{k}", account_id=author,
                reblog_of_id=boost, visibility="public", listed=True, local=False,
                content="" if boost else f"<p>status {k}</p>", created_at=now)
                .returning(statuses.c.id))).scalar_one()
            ids.append(sid)
            if boost is None:
                await conn.execute(status_recipients.insert().values(
                    status_id=sid, actor_id=first + (k + 1) % (authors + 1), mention=True))
                await conn.execute(status_tags.insert().values(status_id=sid, tag=tag))
                await conn.execute(favourites.insert().values(
                    actor_id=first + (k + 2) % authors, status_id=sid,
                    uri=f"https://bench.example/like/{sid}", created_at=now))
                await conn.execute(media_attachments.insert().values(
                    account_id=author, status_id=sid, type="image", content_type="image/jpeg",
                    remote_url=f"https://bench.example/m/{sid}.jpg", created_at=now))
    return ids


async def _posts(rt: Runtime, user: Any, n: int) -> None:
    for i in range(n):
        await rt.posts.create(user, {"kind": "need" if i % 2 else "offer",
                                     "title": f"Soup pot {i}", "description": "A big one",
                                     "category": "food", "visibility": "public"})


async def test_a_page_of_statuses_takes_the_same_statements_however_many_accounts(
        runtime: Runtime) -> None:
    rt = runtime
    maria = await rt.accounts.create_user("maria")
    await _posts(rt, maria, 2)
    few = await _fill(rt, authors=2, n=20)
    many = await _fill(rt, authors=20, n=20)
    await _posts(rt, maria, 6)
    viewer = await rt.status_reading.viewer(maria)
    page = Page(None, None, None, 20)
    newest = await rt.status_reading.public_ids(viewer, page, local=None)
    one_post = newest[:1] + many[:19]
    six_posts = newest[:6] + many[:14]

    counts = []
    for ids in (few, many, one_post, six_posts):
        entities, sql = await _counted(rt, lambda ids=ids: status_entities(
            rt, maria, ids, viewer=viewer))
        assert len(entities) == len(ids)
        counts.append(len(sql))
    # 20 statuses by 20 accounts (and 20 more mentioned): no more statements than by 2;
    # with offers and needs among them, a few more (the posts, their authors, categories
    # and areas), no more for six than for one. (Accounts whose statuses count is kept
    # from an earlier page need one statement fewer.)
    assert counts[1] <= counts[0], counts
    assert counts[3] <= counts[2] <= counts[0] + 8, counts
    # Everything is there: accounts with their counts, mentions, tags, media, boosts.
    entities = await status_entities(rt, maria, many, viewer=viewer)
    plain = next(e for e in entities if e["reblog"] is None)
    assert plain["account"]["statuses_count"] >= 1
    assert plain["mentions"] and plain["tags"][0]["name"] == "soup"
    assert plain["media_attachments"] and plain["favourites_count"] == 1
    boost = next(e for e in entities if e["reblog"] is not None)
    assert boost["reblog"]["account"]["id"] != ""
    offers = await status_entities(rt, maria, newest[:6], viewer=viewer)
    assert all("Soup pot" in e["content"] for e in offers)


async def _plans(rt: Runtime, sql: list[tuple[str, Any]]) -> list[str]:
    """SQLite's plan steps of these statements."""
    steps = []
    async with rt.db.read() as conn:
        for statement, params in sql:
            if statement.lstrip().upper().startswith("SELECT"):
                raw = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement,
                                                 tuple(params))
                steps += [str(r[-1]) for r in raw]
    return steps


def _scans_statuses(steps: list[str]) -> list[str]:
    """Steps that read a whole table of statuses (a plain ``SCAN``; walking the partial
    index of local posts newest first under a LIMIT is not one)."""
    return [s for s in steps if s.split(" USING ")[0] in (
        "SCAN statuses", "SCAN original", "SCAN status_tags", "SCAN status_recipients")
        and "ix_statuses_local_posts" not in s]


async def test_timelines_read_on_indexes_and_stop_after_a_page(runtime: Runtime) -> None:
    rt = runtime
    maria = await rt.accounts.create_user("maria")  # follows nobody
    tom = await rt.accounts.create_user("tom")
    await _posts(rt, tom, 3)
    await _fill(rt, authors=5, n=40)
    page = Page(None, None, None, 20)
    small = await _counted(rt, lambda: rt.status_reading.home_ids(maria, page))
    await _fill(rt, authors=5, n=200)
    large = await _counted(rt, lambda: rt.status_reading.home_ids(maria, page))
    # The offers and needs posted here are on a member's home timeline; the same statements
    # however many other statuses the table holds.
    assert len(small[0]) == len(large[0]) == 3
    assert len(small[1]) == len(large[1])

    viewer = await rt.status_reading.viewer(maria)
    tag = await _counted(rt, lambda: rt.status_reading.public_ids(viewer, page, local=None,
                                                                  tag="soup"))
    public = await _counted(rt, lambda: rt.status_reading.public_ids(viewer, page,
                                                                     local=None))
    author = (await rt.status_reading.visible(viewer, tag[0][:1]))[0].account_id
    account = await _counted(rt, lambda: rt.status_reading.account_status_ids(
        viewer, author, page))
    assert len(tag[0]) == len(public[0]) == len(account[0]) == 20
    if rt.db.is_sqlite:
        for _, sql in (large, tag, public, account):
            steps = await _plans(rt, sql)
            assert steps and not _scans_statuses(steps), steps


async def test_statuses_counts_kept_for_lists_follow_new_and_removed_statuses(
        runtime: Runtime, monkeypatch: Any) -> None:
    from fediaid.services import accounts as accounts_module

    rt = runtime
    maria = await rt.accounts.create_user("maria")
    ids = await _fill(rt, authors=2, n=8)
    viewer = await rt.status_reading.viewer(maria)

    async def counts() -> dict[str, int]:
        entities = await status_entities(rt, maria, ids, viewer=viewer)
        return {e["account"]["id"]: e["account"]["statuses_count"] for e in entities}

    first = await counts()
    assert sorted(first.values()) == [4, 4]
    more = await _fill(rt, authors=2, n=2)  # two new accounts: the kept ones stand
    author = (await rt.status_reading.visible(viewer, ids[:1]))[0].account_id
    async with rt.db.write() as conn:
        await conn.execute(statuses.insert().values(
            uri="https://bench.example/s/extra", account_id=author, visibility="public",
            listed=True, local=False, content="<p>one more</p>", created_at=utcnow()))
    assert (await counts())[str(author)] == 5  # a newer status is counted at once
    async with rt.db.write() as conn:
        await conn.execute(statuses.delete().where(statuses.c.id == ids[0]))
    monkeypatch.setattr(accounts_module, "COUNT_KEEP_SECONDS", 0.0)
    ids = ids[1:] + more
    assert (await counts())[str(author)] == 4  # a deletion, once the kept count expires
    single = await rt.accounts.profile_counts(await rt.client_accounts.get(author))
    assert single["posts"] == 4


async def test_a_timeline_request_reads_in_one_transaction(runtime: Runtime,
                                                           client: Any) -> None:
    """The whole request (the token, the viewer, the page's ids, the statuses and their
    accounts) in one read transaction and a bounded number of statements; without
    ``one_read`` each step took a transaction of its own (5 for a home page: 26 statements
    here on SQLite, 18 now; a public page 17 with a token, of which 3 read the viewer)."""
    rt = runtime
    maria = await rt.accounts.create_user("maria")
    token = await rt.accounts.create_token("maria", scopes=["read"])
    await _posts(rt, maria, 2)
    await _fill(rt, authors=4, n=30)
    async with rt.db.write() as conn:  # maria follows the first of the accounts
        await conn.execute(follows.insert().values(
            follower_id=maria.actor_id, uri="https://x.example/f/1", state="accepted",
            followed_id=(await conn.execute(select(actors.c.id).where(
                actors.c.local.is_(False)).order_by(actors.c.id).limit(1))).scalar_one(),
            created_at=utcnow(), accepted_at=utcnow()))
    auth = {"Authorization": f"Bearer {token}"}
    account = (await client.get("/api/v1/timelines/public?limit=5")).json()[0]["account"]["id"]
    for path, most in (("/api/v1/timelines/public?limit=20", 17),
                       ("/api/v1/timelines/home?limit=20", 18),
                       ("/api/v1/timelines/tag/soup?limit=20", 15),
                       (f"/api/v1/accounts/{account}/statuses?limit=20", 16)):
        await client.get(path, headers=auth)  # counts kept for lists are read once
        begins: list[object] = []

        def begin(conn: Any, begins: list[object] = begins) -> None:
            begins.append(conn)

        engines = {rt.db.reader.sync_engine, rt.db.writer.sync_engine}
        for e in engines:
            event.listen(e, "begin", begin)
        try:
            response, sql = await _counted(rt, lambda path=path: client.get(path,
                                                                           headers=auth))
        finally:
            for e in engines:
                event.remove(e, "begin", begin)
        assert response.status_code == 200 and response.json(), path
        assert len(begins) == 1, (path, len(begins))
        assert len(sql) <= most, (path, len(sql), [s[:100] for s, _ in sql])
