"""The delivery queue and worker, with a recording transport in place of the network:
one delivery per shared inbox, real signatures, the retry policy, held domains, leases."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from activitypub.keys import load_public_key
from activitypub.verify import parse_request_signature
from fediaid.domain.queue import ItemState
from fediaid.federation.transport import PostResult
from fediaid.jobs.delivery import DeliveryWorker
from fediaid.services.runtime import Runtime
from fediaid.storage import domains as domains_repo
from fediaid.storage import outbox as outbox_repo
from fediaid.storage.outbox import DeliveryResult
from fediaid.storage.tables import deliveries
from tests.fediaid.test_inbox_processing import follow_of, receive
from tests.support.remote import remote_actor, store


class Recorder:
    """Answers each POST with the next scripted status for its URL (202 when none left)."""

    def __init__(self, script: dict[str, list[int]] | None = None,
                 retry_after: str | None = None) -> None:
        self.script = script or {}
        self.retry_after = retry_after
        self.requests: list[tuple[str, bytes, dict[str, str]]] = []

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult:
        self.requests.append((url, body, headers))
        statuses = self.script.get(url) or []
        status = statuses.pop(0) if statuses else 202
        return PostResult(status, self.retry_after if status in (429, 503) else None)

    async def aclose(self) -> None:
        pass


async def rows(rt: Runtime) -> list:  # type: ignore[type-arg]
    async with rt.db.read() as conn:
        return list(await conn.execute(select(deliveries).order_by(deliveries.c.id)))


async def run_worker_until(rt: Runtime, done, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    stop = asyncio.Event()
    worker = DeliveryWorker(rt, name="test-delivery")
    task = asyncio.create_task(worker.run(stop))
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await done():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("deliveries did not settle")
    finally:
        stop.set()
        await task


def tune(rt: Runtime, **delivery: object) -> None:
    rt.settings = replace(rt.settings, delivery=replace(rt.settings.delivery, **delivery))


async def followers(rt: Runtime, *actors) -> None:  # type: ignore[no-untyped-def]
    for a in actors:
        await store(rt, a)
        await receive(rt, a, follow_of(a, rt))
    # Forget the Accepts: these tests look at the note's deliveries only.
    async with rt.db.write() as conn:
        await conn.execute(deliveries.delete())


async def all_finished(rt: Runtime) -> bool:
    return all(r.state in ("done", "failed") for r in await rows(rt))


async def test_one_delivery_per_shared_inbox_signed_by_the_group(runtime: Runtime) -> None:
    rt = runtime
    bob, ann = remote_actor("bob"), remote_actor("ann")
    cat = remote_actor("cat", "other.example", key=1)
    await followers(rt, bob, ann, cat)
    recorder = Recorder()
    rt.set_transport(recorder)
    await rt.notes.post_as_group("Soup on Sunday")
    assert sorted(r.inbox_url for r in await rows(rt)) == [
        "https://other.example/inbox", "https://remote.example/inbox"]
    await run_worker_until(rt, lambda: all_finished(rt))
    assert {r.state for r in await rows(rt)} == {"done"}
    assert len(recorder.requests) == 2
    group_key = load_public_key(rt.identity.group.public_key_pem or "")
    for url, body, headers in recorder.requests:
        signed = parse_request_signature(method="POST", url=url, headers=headers, body=body,
                                         now=time.time())
        assert signed.key_id == rt.identity.group.key_id
        assert signed.covered == ("(request-target)", "host", "date", "digest", "content-type")
        signed.verify(group_key)


async def test_transient_failure_is_retried_then_delivered(runtime: Runtime) -> None:
    rt = runtime
    tune(rt, retry_scale=0.001)
    bob = remote_actor("bob")
    await followers(rt, bob)
    rt.set_transport(Recorder({bob.shared_inbox: [500, 502]}))
    await rt.notes.post_as_group("hello")
    await run_worker_until(rt, lambda: all_finished(rt))
    (row,) = await rows(rt)
    assert row.state == "done" and row.attempts == 3


async def test_permanent_failure_gives_up_at_once(runtime: Runtime) -> None:
    rt = runtime
    bob = remote_actor("bob")
    await followers(rt, bob)
    rt.set_transport(Recorder({bob.shared_inbox: [404]}))
    await rt.notes.post_as_group("hello")
    await run_worker_until(rt, lambda: all_finished(rt))
    (row,) = await rows(rt)
    assert (row.state, row.attempts, row.last_status) == ("failed", 1, 404)


async def test_401_is_retried_once_with_rfc9421(runtime: Runtime) -> None:
    rt = runtime
    bob = remote_actor("bob")
    await followers(rt, bob)
    recorder = Recorder({bob.shared_inbox: [401]})
    rt.set_transport(recorder)
    await rt.notes.post_as_group("hello")
    await run_worker_until(rt, lambda: all_finished(rt))
    assert "Signature-Input" not in recorder.requests[0][2]
    url, body, headers = recorder.requests[1]
    assert "Signature-Input" in headers and "Content-Digest" in headers
    signed = parse_request_signature(method="POST", url=url, headers=headers, body=body,
                                     now=time.time())
    signed.verify(load_public_key(rt.identity.group.public_key_pem or ""))
    assert (await rows(rt))[0].state == "done"


async def test_retry_after_is_honoured(runtime: Runtime) -> None:
    rt = runtime
    tune(rt, retry_scale=0.001)
    bob = remote_actor("bob")
    await followers(rt, bob)
    rt.set_transport(Recorder({bob.shared_inbox: [429]}, retry_after="3600"))
    await rt.notes.post_as_group("hello")

    async def retried() -> bool:
        return any(r.attempts == 1 and r.state == "pending" and r.lease_until is None
                   for r in await rows(rt))

    await run_worker_until(rt, retried)
    (row,) = await rows(rt)
    wait = (row.next_attempt_at - datetime.now(UTC)).total_seconds()
    assert 3500 < wait <= 3600


async def test_failing_domain_is_held_until_it_answers(runtime: Runtime) -> None:
    rt = runtime
    tune(rt, retry_scale=0.001, unavailable_after_days=1)
    bob = remote_actor("bob")
    await followers(rt, bob)
    rt.set_transport(Recorder({bob.shared_inbox: [503] * 50}))
    await rt.notes.post_as_group("hello")

    async def held() -> bool:
        return [r.state for r in await rows(rt)] == ["held"]

    await run_worker_until(rt, held)
    async with rt.db.read() as conn:
        assert "remote.example" in await domains_repo.unavailable_domains(conn)
    # New posts to that domain are queued as held too.
    await rt.notes.post_as_group("again")
    assert [r.state for r in await rows(rt)] == ["held", "held"]
    # The domain writes to us: it is up again; its deliveries go out.
    rt.set_transport(Recorder())
    await receive(rt, bob, {"id": f"{bob.uri}/like/1", "type": "Like", "actor": bob.uri,
                            "object": "http://a.test/x"})
    await run_worker_until(rt, lambda: all_finished(rt))
    assert [r.state for r in await rows(rt)] == ["done", "done"]


async def test_a_lease_keeps_others_off_until_it_ends(runtime: Runtime) -> None:
    rt = runtime
    bob = remote_actor("bob")
    await followers(rt, bob)
    await rt.notes.post_as_group("hello")
    async with rt.db.write() as conn:
        first = await outbox_repo.claim_due(conn, worker="a", limit=10, lease_seconds=0.3)
    async with rt.db.write() as conn:
        assert await outbox_repo.claim_due(conn, worker="b", limit=10, lease_seconds=5) == []
    await asyncio.sleep(0.35)
    async with rt.db.write() as conn:
        second = await outbox_repo.claim_due(conn, worker="b", limit=10, lease_seconds=5)
    assert [j.id for j in first] == [j.id for j in second]
    assert second[0].attempts == 2


@pytest.mark.postgres
async def test_concurrent_claims_never_share_rows(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.instances import open_initialised_runtime

    rt = await open_initialised_runtime(tmp_path, db_url)
    try:
        for i in range(60):
            await store(rt, remote_actor(f"u{i}", f"h{i}.example"))
        actors = [remote_actor(f"u{i}", f"h{i}.example") for i in range(60)]
        for a in actors:
            await receive(rt, a, follow_of(a, rt))
        async with rt.db.write() as conn:
            await conn.execute(deliveries.delete())
        await rt.notes.post_as_group("hello")

        async def claim(name: str) -> list[int]:
            got: list[int] = []
            while True:
                async with rt.db.write() as conn:
                    jobs = await outbox_repo.claim_due(conn, worker=name, limit=7,
                                                       lease_seconds=60)
                if not jobs:
                    return got
                got += [j.id for j in jobs]

        results = await asyncio.gather(*(claim(f"w{i}") for i in range(4)))
        claimed = [i for r in results for i in r]
        assert len(claimed) == len(set(claimed)) == 60
    finally:
        await rt.close()


async def test_next_claimable_ignores_rows_under_a_running_lease(runtime: Runtime) -> None:
    """The idle worker's due-work test: rows a worker holds do not count (so a worker holding
    the rest of a fan-out is not sent to claim again and again) until their lease ends."""
    rt = runtime
    bob = remote_actor("bob")
    await followers(rt, bob)
    await rt.notes.post_as_group("hello")
    async with rt.db.read() as conn:
        due = await outbox_repo.next_claimable(conn)
    assert due is not None and due <= datetime.now(UTC)
    async with rt.db.write() as conn:
        assert await outbox_repo.claim_due(conn, worker="a", limit=10, lease_seconds=0.3)
    async with rt.db.read() as conn:
        assert await outbox_repo.next_claimable(conn) is None
    await asyncio.sleep(0.35)
    async with rt.db.read() as conn:
        assert await outbox_repo.next_claimable(conn) is not None  # the lease ran out


async def test_finish_records_mixed_results_and_respects_takeovers(runtime: Runtime) -> None:
    """Results are grouped into shared updates; each row still gets its own values, and a
    row another worker took over is left alone."""
    rt = runtime
    actors = [remote_actor(f"u{i}", f"h{i}.example") for i in range(6)]
    await followers(rt, *actors)
    await rt.notes.post_as_group("hello")
    async with rt.db.write() as conn:
        jobs = await outbox_repo.claim_due(conn, worker="a", limit=10, lease_seconds=60)
        assert len(jobs) == 6
        await conn.execute(deliveries.update().where(deliveries.c.id == jobs[5].id)
                           .values(leased_by="b"))
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    done, failed, retry = ItemState.DONE, ItemState.FAILED, ItemState.PENDING
    results = [DeliveryResult(jobs[0].id, done, None, 202, None),
               DeliveryResult(jobs[1].id, done, None, 202, None),
               DeliveryResult(jobs[2].id, done, None, 200, None),
               DeliveryResult(jobs[3].id, failed, None, 404, "HTTP 404: refused"),
               DeliveryResult(jobs[4].id, retry, later, None, "network error"),
               DeliveryResult(jobs[5].id, done, None, 202, None)]
    async with rt.db.write() as conn:
        await outbox_repo.finish(conn, worker="a", results=results)
    got = {r.id: r for r in await rows(rt)}
    assert [(got[j.id].state, got[j.id].last_status) for j in jobs[:4]] == [
        ("done", 202), ("done", 202), ("done", 200), ("failed", 404)]
    assert all(got[j.id].finished_at is not None and got[j.id].leased_by is None
               for j in jobs[:4])
    assert got[jobs[3].id].last_error == "HTTP 404: refused"
    assert got[jobs[0].id].last_error is None
    row = got[jobs[4].id]
    assert (row.state, row.finished_at, row.leased_by, row.last_error) == (
        "pending", None, None, "network error")
    assert row.next_attempt_at.replace(tzinfo=UTC) == later
    assert (got[jobs[5].id].state, got[jobs[5].id].leased_by) == ("pending", "b")


async def test_idle_worker_notices_work_queued_by_another_process(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work committed by another connection (another process: `fediaid admin post`) wakes an
    idle worker on SQLite through the change hints (file stamp, data_version), without
    waiting for the periodic query (made 10 s here; the hints react within ~10-100 ms)."""
    rt = runtime
    if not rt.db.is_sqlite:
        pytest.skip("the change hints are SQLite's")
    monkeypatch.setattr("fediaid.jobs.delivery.IDLE_POLL_SECONDS", 10.0)
    bob = remote_actor("bob")
    await followers(rt, bob)
    recorder = Recorder()
    rt.set_transport(recorder)
    stop = asyncio.Event()
    worker = DeliveryWorker(rt, name="test-delivery")
    task = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.sleep(0.3)  # idle now
        other = Runtime(rt.settings, type(rt.db)(rt.db.url))  # a second engine: no wakeup
        try:
            await other.load_identity()
            await other.notes.post_as_group("from elsewhere")
        finally:
            await other.db.dispose()
        started = time.monotonic()
        while not recorder.requests and time.monotonic() - started < 5:
            await asyncio.sleep(0.005)
        assert recorder.requests
        assert time.monotonic() - started < 2.0
    finally:
        stop.set()
        await task
