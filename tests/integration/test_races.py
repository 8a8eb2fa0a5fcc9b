"""Races between processes that share one database.

Two `Database` objects (two independent connection pools) stand for two processes, e.g.
`fediaid admin follow @b@...` storing B's actor while the server stores the same actor
because B's Follow just arrived signed by B's key (the mutual follow in
test_federation.py), or several `fediaid worker` processes on one PostgreSQL database.

The interleaved tests do not wait for luck: both stores look for the actor before either
writes (a barrier after the look-up), the first then writes and keeps its transaction open
until the second is blocked on the first's uncommitted row (PostgreSQL: seen in
pg_stat_activity), and only then commits. Each unique key of ``actors`` (uri, key_id,
(domain, username)) gets its own case. SQLite serialises writers (every write transaction
starts with BEGIN IMMEDIATE), so two stores can never interleave there: its variant runs the
first store to completion and makes the second one's look-up miss, the same outcome the
race would have.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest
from sqlalchemy import select, text

from fediaid.domain.actors import ActorType, RemoteActorData
from fediaid.storage import actors as actors_repo
from fediaid.storage.engine import Database
from fediaid.storage.migrate import upgrade
from fediaid.storage.tables import actors

pytestmark = pytest.mark.slow

ROUNDS = 20


def remote_actor(i: int) -> RemoteActorData:
    base = f"https://r.example/users/u{i}"
    return RemoteActorData(
        uri=base, type=ActorType.GROUP, username=f"u{i}", domain="r.example", name=None,
        summary=None, inbox=f"{base}/inbox", shared_inbox="https://r.example/inbox",
        outbox=None, followers_url=None, following_url=None, url=None,
        key_id=f"{base}#main-key", public_key_pem="-----BEGIN PUBLIC KEY-----", icon_url=None,
        manually_approves_followers=False)


async def test_concurrent_upserts_of_a_new_remote_actor(db_url: str,
                                                         request: pytest.FixtureRequest) -> None:
    """Two processes storing the same newly seen remote actor at the same moment both
    succeed and leave one row."""
    first, second = Database(db_url), Database(db_url)
    try:
        await upgrade(first)

        async def store(db: Database, i: int) -> None:
            async with db.write() as conn:
                await actors_repo.upsert_remote(conn, remote_actor(i))

        failures: list[BaseException] = []
        for i in range(ROUNDS):
            results = await asyncio.gather(store(first, i), store(second, i),
                                           return_exceptions=True)
            failures += [r for r in results if isinstance(r, BaseException)]
        async with first.read() as conn:
            for i in range(ROUNDS):
                assert await actors_repo.find_by_uri(conn, remote_actor(i).uri) is not None
        assert not failures, f"{len(failures)} of {2 * ROUNDS} upserts failed: {failures[0]!r}"
    finally:
        await first.dispose()
        await second.dispose()


# -- deliberate interleavings ------------------------------------------------------------------
async def _wait_for_lock_waiter(db: Database, timeout: float = 20.0) -> None:
    """Until another session of this database waits on a lock (the second store, blocked
    on the first store's uncommitted row)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with db.read() as conn:
            waiting = (await conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"))).scalar_one()
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second store never waited for the first one's row")


async def _interleaved(db_url: str, monkeypatch: pytest.MonkeyPatch,
                       first_data: RemoteActorData, second_data: RemoteActorData,
                       *, known: tuple[RemoteActorData, ...] = ()
                       ) -> tuple[list[Any], Database]:
    """Store ``first_data`` and ``second_data`` from two "processes" so that both make the
    look-up before either writes (``known`` actors are stored beforehand). Returns both
    results (an Actor or the exception)."""
    first, second = Database(db_url), Database(db_url)
    await upgrade(first)
    for data in known:
        async with first.write() as conn:
            await actors_repo.upsert_remote(conn, data)
    real_find = actors_repo.find_by_uri
    looked: dict[asyncio.Task[Any] | None, int] = {}

    if first.is_sqlite:
        # One writer at a time: the second store starts after the first committed, and its
        # first look-up is made to miss, as if it had been made before that commit.
        async def stale_find(conn: Any, uri: str) -> Any:
            task = asyncio.current_task()
            looked[task] = looked.get(task, 0) + 1
            return None if looked[task] == 1 else await real_find(conn, uri)

        async def store_first() -> Any:
            async with first.write() as conn:
                return await actors_repo.upsert_remote(conn, first_data)

        async def store_second() -> Any:
            monkeypatch.setattr(actors_repo, "find_by_uri", stale_find)
            try:
                async with second.write() as conn:
                    return await actors_repo.upsert_remote(conn, second_data)
            finally:
                monkeypatch.setattr(actors_repo, "find_by_uri", real_find)

        results: list[Any] = []
        for step in (store_first, store_second):
            try:
                results.append(await step())
            except Exception as exc:  # reported by the caller
                results.append(exc)
        await second.dispose()
        return results, first

    barrier = asyncio.Barrier(2)
    first_wrote = asyncio.Event()
    release_first = asyncio.Event()
    roles: dict[asyncio.Task[Any] | None, str] = {}

    async def find_then_meet(conn: Any, uri: str) -> Any:
        task = asyncio.current_task()
        looked[task] = looked.get(task, 0) + 1
        found = await real_find(conn, uri)
        if looked[task] == 1:  # the look-up before writing: both make it, then go on
            await barrier.wait()
            if roles.get(task) == "second":
                await first_wrote.wait()
        return found

    monkeypatch.setattr(actors_repo, "find_by_uri", find_then_meet)

    async def store(db: Database, data: RemoteActorData, role: str) -> Any:
        roles[asyncio.current_task()] = role
        async with db.write() as conn:
            actor = await actors_repo.upsert_remote(conn, data)
            if role == "first":
                first_wrote.set()
                await release_first.wait()  # the row stays uncommitted meanwhile
            return actor

    async def conductor() -> None:
        await first_wrote.wait()
        try:
            await _wait_for_lock_waiter(first)
        finally:
            release_first.set()

    try:
        results = await asyncio.wait_for(asyncio.gather(
            store(first, first_data, "first"), store(second, second_data, "second"),
            conductor(), return_exceptions=True), timeout=60)
    finally:
        monkeypatch.setattr(actors_repo, "find_by_uri", real_find)
        await second.dispose()
    return list(results), first


async def _rows(db: Database) -> list[Any]:
    async with db.read() as conn:
        return list(await conn.execute(
            select(actors.c.uri, actors.c.username, actors.c.key_id)
            .where(actors.c.local.is_(False)).order_by(actors.c.id)))


def _ok(results: list[Any]) -> None:
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, repr(failures[0])


async def test_same_actor_stored_twice_at_once(db_url: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The CI failure: two processes store the same new actor; both succeed, one row."""
    data = remote_actor(1)
    results, db = await _interleaved(db_url, monkeypatch, data, data)
    try:
        _ok(results)
        assert results[0].id == results[1].id
        assert [r.uri for r in await _rows(db)] == [data.uri]
    finally:
        await db.dispose()


async def test_same_handle_under_a_new_uri_at_once(db_url: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An actor re-created (or moved) on its server: the same handle arrives under two uris
    at once. Both stores succeed; the uris stay separate actors (nothing of the old one is
    handed to the new one), and the handle goes to the one stored last (as when they arrive
    one after the other)."""
    old = remote_actor(2)
    new = dataclasses.replace(old, uri="https://r.example/users/u2-new",
                              key_id="https://r.example/users/u2-new#main-key")
    results, db = await _interleaved(db_url, monkeypatch, old, new)
    try:
        _ok(results)
        rows = {r.uri: r for r in await _rows(db)}
        assert set(rows) == {old.uri, new.uri}
        assert rows[new.uri].username == "u2" and rows[old.uri].username is None
    finally:
        await db.dispose()


async def test_same_key_id_under_a_new_uri_at_once(db_url: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    old = remote_actor(3)
    new = dataclasses.replace(old, uri="https://r.example/users/u3-new", username="u3new")
    results, db = await _interleaved(db_url, monkeypatch, old, new)
    try:
        _ok(results)
        rows = {r.uri: r for r in await _rows(db)}
        assert set(rows) == {old.uri, new.uri}
        assert rows[new.uri].key_id == old.key_id and rows[old.uri].key_id is None
    finally:
        await db.dispose()


async def test_a_refresh_takes_a_handle_being_inserted_at_once(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A known actor's refreshed document names a handle that a new actor is being stored
    with at the same moment: the refresh waits for that insert, then frees the handle and
    takes it (on PostgreSQL through the savepoint retry)."""
    known = remote_actor(4)
    newcomer = dataclasses.replace(remote_actor(5), username="shared")
    refreshed = dataclasses.replace(known, username="shared")
    results, db = await _interleaved(db_url, monkeypatch, newcomer, refreshed, known=(known,))
    try:
        _ok(results)
        rows = {r.uri: r for r in await _rows(db)}
        assert rows[known.uri].username == "shared" and rows[newcomer.uri].username is None
    finally:
        await db.dispose()
