"""The needs picture is kept while nothing it counts changes, on SQLite and PostgreSQL.

``picture_changes`` (migration 0029) is moved by triggers in every transaction that writes
posts, answers, kept counts, categories or places, and by nothing else; a kept picture costs
one statement (that row) and no scan of the posts; every kind of change shows at once; the
open needs' waits are counted again after ``KEEP_SECONDS`` without the other counts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import delete, event, update

from fediaid.domain.actors import Role
from fediaid.domain.picture import month_key
from fediaid.services import needs_picture as service
from fediaid.services.runtime import Runtime
from fediaid.storage import picture as picture_repo
from fediaid.storage import picture_kept
from fediaid.storage.dialect import is_postgres
from fediaid.storage.tables import picture_changes, posts
from fediaid.storage.types import utcnow


async def _changes(rt: Runtime) -> int:
    async with rt.db.read() as conn:
        value = await picture_repo.changes(conn)
    assert value is not None
    return value


async def _postgres(rt: Runtime) -> bool:
    async with rt.db.read() as conn:
        return is_postgres(conn)


async def _statements(rt: Runtime, fn: Callable[[], Awaitable[Any]]
                      ) -> tuple[Any, list[str]]:
    seen: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
        if statement.split()[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
            seen.append(statement)

    engines = {rt.db.reader.sync_engine, rt.db.writer.sync_engine}
    for e in engines:
        event.listen(e, "before_cursor_execute", capture)
    try:
        result = await fn()
    finally:
        for e in engines:
            event.remove(e, "before_cursor_execute", capture)
    return result, seen


async def test_the_stamp_moves_with_what_the_picture_counts_and_nothing_else(
        runtime: Runtime) -> None:
    rt = runtime
    postgres = await _postgres(rt)
    coord = await rt.accounts.create_user("coordstamp", role=Role.COORDINATOR)
    members = [await rt.accounts.create_user(f"stamp{i}") for i in range(3)]
    before = await _changes(rt)
    await rt.accounts.create_user("stampother")  # not something the picture counts
    assert await _changes(rt) == before

    ids = []
    for m in members:
        last = await _changes(rt)
        post = await rt.posts.create(m, {"kind": "need", "title": "Soup for the week",
                                         "category": "food", "area": "",
                                         "visibility": "public"}, confirm=True)
        ids.append(post.id)
        assert await _changes(rt) > last
    for change in (
        lambda: rt.responses.respond(members[1], ids[0], "I can bring some"),
        lambda: rt.group_settings.set_category(coord, "food", "Food and more"),
        lambda: rt.group_settings.set_areas(coord, [("north", "North End")]),
    ):
        last = await _changes(rt)
        await change()
        assert await _changes(rt) > last
    # Three rows in one transaction: PostgreSQL adds 1 at commit, SQLite 1 per row.
    last = await _changes(rt)
    async with rt.db.write() as conn:
        await conn.execute(update(posts).where(posts.c.id.in_(ids)).values(hidden=True))
    assert await _changes(rt) - last == (1 if postgres else 3)
    # A transaction that rolls back changes nothing.
    last = await _changes(rt)
    with pytest.raises(RuntimeError):
        async with rt.db.write() as conn:
            await conn.execute(update(posts).where(posts.c.id == ids[0])
                               .values(hidden=False))
            raise RuntimeError("rolled back")
    assert await _changes(rt) == last

    for write in (
        lambda c: picture_kept.add_post(c, month=month_key(utcnow()), kind="need",
                                        category="food", area=None, outcome="fulfilled"),
        lambda c: picture_kept.add_time(c, month=month_key(utcnow()), category="food",
                                        measure=picture_kept.MET, within_seconds=3600),
        lambda c: c.execute(delete(posts).where(posts.c.id == ids[2])),
    ):
        last = await _changes(rt)
        async with rt.db.write() as conn:
            await write(conn)
        assert await _changes(rt) > last


async def test_a_kept_picture_costs_one_statement_and_every_change_shows_at_once(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = runtime
    coord = await rt.accounts.create_user("coordkept", role=Role.COORDINATOR)
    members = [await rt.accounts.create_user(f"kept{i}") for i in range(7)]
    ids = []
    for m in members[:6]:
        post = await rt.posts.create(m, {"kind": "need", "title": "Groceries for the family",
                                         "category": "food", "area": "",
                                         "visibility": "public"}, confirm=True)
        ids.append(post.id)

    first = await rt.needs_picture.group_picture()
    assert first.needs.value == 6 and first.open_needs.value == 6
    again, seen = await _statements(rt, rt.needs_picture.group_picture)
    assert again is first
    assert len(seen) == 1 and "picture_changes" in seen[0], seen  # no scan of the posts

    # Each change is seen by the next request, whoever wrote it and however.
    post = await rt.posts.create(members[6], {"kind": "need", "title": "Diapers please",
                                              "category": "food", "area": "",
                                              "visibility": "public"}, confirm=True)
    p = await rt.needs_picture.group_picture()
    assert p.needs.value == 7 and p.open_needs.value == 7
    async with rt.db.write() as conn:  # hidden by hand, in SQL: the trigger still sees it
        await conn.execute(update(posts).where(posts.c.id == post.id).values(hidden=True))
    p = await rt.needs_picture.group_picture()
    assert p.needs.value == 6
    async with rt.db.write() as conn:
        await picture_kept.add_post(conn, month=month_key(utcnow()), kind="need",
                                    category="food", area=None, outcome="fulfilled")
    p = await rt.needs_picture.group_picture()
    assert p.needs.value == 7 and p.open_needs.value == 6
    await rt.group_settings.set_category(coord, "food", "Food, soup and more")
    p = await rt.needs_picture.group_picture()
    assert [r.label for r in p.categories.rows if r.key == "food"] == ["Food, soup and more"]
    assert [w.word for w in p.words] == ["family", "groceries"]
    async with rt.db.write() as conn:
        await conn.execute(update(posts).where(posts.c.id.in_(ids[:2])).values(title="Rice"))
    p = await rt.needs_picture.group_picture()
    assert p.words == ()  # 4 posts by 4 askers: no more words: the words were counted again

    # Only the clock moved: the open needs' waits are counted again, nothing else.
    kept = p
    clock = service.time.monotonic() + service.KEEP_SECONDS + 1
    monkeypatch.setattr(service.time, "monotonic", lambda: clock)
    p, seen = await _statements(rt, rt.needs_picture.group_picture)
    assert p is not kept and p.needs == kept.needs and p.open_needs == kept.open_needs
    assert len(seen) == 3, seen  # the stamp, the open needs by band, their waits
    assert not any("picture_counts" in s or "categories" in s for s in seen), seen


async def test_without_the_stamp_row_nothing_is_kept(runtime: Runtime) -> None:
    rt = runtime
    async with rt.db.write() as conn:
        await conn.execute(delete(picture_changes))
    a = await rt.needs_picture.group_picture()
    b = await rt.needs_picture.group_picture()
    assert a is not b and a.needs == b.needs
