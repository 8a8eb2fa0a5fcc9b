"""Races between processes that share one database.

Two `Database` objects (two independent connection pools) stand for two processes, e.g.
`fediaid admin follow @b@...` storing B's actor while the server stores the same actor
because B's Follow just arrived signed by B's key (the mutual follow in
test_federation.py), or several `fediaid worker` processes on one PostgreSQL database.
"""

from __future__ import annotations

import asyncio

import pytest

from fediaid.domain.actors import ActorType, RemoteActorData
from fediaid.storage import actors as actors_repo
from fediaid.storage.engine import Database
from fediaid.storage.migrate import upgrade

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
