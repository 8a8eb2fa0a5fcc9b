"""Two inbox workers and one lease (services/inbox_processing.py, storage/inbox.keep_leases):
a worker whose claim's lease ran out, and whose items another worker claimed meanwhile,
applies none of them; the other applies each once. A worker still within its lease renews
it and applies its batch. In process, SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select, update

from fediaid.services.runtime import Runtime
from fediaid.storage import inbox as inbox_repo
from fediaid.storage.tables import inbox_items, statuses
from fediaid.storage.types import utcnow
from tests.fediaid.test_inbox_batches import create, enqueue, note, states
from tests.support.remote import remote_actor, store


async def _claim(rt: Runtime, worker: str) -> list[inbox_repo.InboxJob]:
    async with rt.db.write() as conn:
        return await inbox_repo.claim_due(conn, worker=worker, limit=50,
                                          lease_seconds=rt.settings.inbox_lease_seconds)


async def test_a_worker_whose_lease_ran_out_applies_nothing(runtime: Runtime) -> None:
    rt = runtime
    actor = remote_actor("ana")
    await store(rt, actor)
    await enqueue(rt, [(actor, create(actor, note(actor, n))) for n in range(6)])
    slow = await _claim(rt, "slow")
    batch = await rt.inbox_processing.prepare(slow)
    # The slow worker stalls past its lease (its batch was prepared long ago) ...
    batch.started -= rt.settings.inbox_lease_seconds * 2
    async with rt.db.write() as conn:
        await conn.execute(update(inbox_items).values(lease_until=utcnow()))
    # ... and another worker claims and applies the same items.
    fast = await _claim(rt, "fast")
    assert [j.id for j in fast] == [j.id for j in slow]
    await rt.inbox_processing.process(fast, worker="fast")
    results = await rt.inbox_processing.apply(batch, worker="slow")
    assert results == []
    async with rt.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(statuses)
                                   .where(statuses.c.local.is_(False)))).scalar() == 6
    assert {s for s, _, _ in (await states(rt)).values()} == {"done"}


async def test_a_late_slice_renews_the_lease_of_what_is_left(runtime: Runtime) -> None:
    rt = runtime
    actor = remote_actor("ben")
    await store(rt, actor)
    await enqueue(rt, [(actor, create(actor, note(actor, n))) for n in range(3)])
    jobs = await _claim(rt, "w")
    batch = await rt.inbox_processing.prepare(jobs)
    batch.started -= rt.settings.inbox_lease_seconds  # late, but nobody took them over
    before = utcnow()
    async with rt.db.write() as conn:
        renewed = await inbox_repo.keep_leases(conn, worker="w", ids=[j.id for j in jobs],
                                               lease_seconds=60)
    assert renewed == {j.id for j in jobs}
    async with rt.db.read() as conn:
        until = (await conn.execute(select(func.min(inbox_items.c.lease_until)))).scalar()
    assert until > before
    results = await rt.inbox_processing.apply(batch, worker="w")
    assert len(results) == 3
    assert {s for s, _, _ in (await states(rt)).values()} == {"done"}


async def test_one_process_at_a_time_runs_the_periodic_round(runtime: Runtime) -> None:
    """``Database.exclusive``: on PostgreSQL a second holder (another process's connection)
    is refused while the first holds the lock, and gets it after; SQLite always runs."""
    from fediaid.storage.engine import Database

    other = Database(runtime.db.url)
    try:
        async with runtime.db.exclusive("lifecycle") as first:
            assert first
            async with other.exclusive("lifecycle") as second:
                assert second is runtime.db.is_sqlite
        async with other.exclusive("lifecycle") as again:
            assert again
    finally:
        await other.dispose()
