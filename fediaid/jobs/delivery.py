"""The delivery worker: signs and POSTs queued activities to remote inboxes.

A pipeline of tasks sharing one in-memory queue:
- the claimer leases due deliveries in batches and hands them to the signers without waiting
  for them to be signed: it claims again as soon as fewer than ``SIGN_AHEAD`` wait for a
  signing thread (so the threads never run dry while a claim transaction runs) and fewer than
  ``6 x concurrency`` are held in memory in all (so a lease never ages long before its POST);
- signing runs in a small thread pool: an RSA-2048 signature costs ~0.3-0.9 ms and OpenSSL
  releases the GIL while it signs, so the pool puts the second core to work while the event
  loop keeps sending (bench/fanout.py; measured 2 threads = 1.9x one thread). Every delivery
  still gets its own signature: ``(request-target)``, ``host`` and ``date`` differ per inbox;
- ``concurrency`` senders POST one delivery at a time each;
- the finisher writes results back in batches, one transaction per batch, together with the
  per-domain failure tracking, and at once when the worker has nothing else in hand;
- the renewer keeps the leases of everything the worker holds (claimed, not yet finished)
  from running out while it waits in memory behind slow servers, so a running worker never
  has a delivery claimed again and sent twice. A delivery whose lease could not be renewed
  in time is dropped from memory unsent: it will be claimed again.
A killed worker leaves leased rows behind; they are claimed again when the lease ends, so a
delivery may be sent twice after a crash but never lost (receivers deduplicate by activity
id).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Literal, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from activitypub.delivery import Decision, Outcome, decide
from activitypub.keys import PrivateKey, load_private_key
from activitypub.signatures import sign_cavage, sign_rfc9421
from activitypub.vocab import ACTIVITY_JSON
from fediaid import metrics
from fediaid.domain.queue import ItemState
from fediaid.federation.transport import MAX_REDIRECTS, PostResult, redirect_target
from fediaid.storage import actors as actors_repo
from fediaid.storage import domains as domains_repo
from fediaid.storage import outbox as outbox_repo
from fediaid.storage.engine import ChangeWatcher
from fediaid.storage.outbox import DeliveryJob, DeliveryResult
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from fediaid.config import DeliverySettings
    from fediaid.federation.transport import DeliveryTransport
    from fediaid.services.runtime import Runtime

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
# How often an idle claimer looks for work queued by another process (e.g. `fediaid admin
# post`, or a second worker on PostgreSQL); work queued in this process wakes it at once. The
# look is an indexed read, not a write transaction, but a read transaction through
# SQLAlchemy-async + aiosqlite still costs ~2 ms of CPU here (8 thread round trips): this
# rate costs ~0.8 % of a core when idle (0.1 s: 1.9 %, 1 s: 0.1 %) for at most 0.2 s before a
# fan-out queued by another process starts (docs/benchmarks.md).
IDLE_POLL_SECONDS = 0.2
# On SQLite an idle claimer looks much more often for a hint of another process's commit:
# every STAT_SECONDS the size and time of the write-ahead log (one stat() call, a few us, on
# the event loop), and every WATCH_SECONDS ``PRAGMA data_version``
# (fediaid/storage/engine.ChangeWatcher, one thread hop: it also catches a commit the file
# times miss). A hint runs the due-work query at once, but at most every QUERY_GAP_SECONDS, so
# a busy database cannot make an idle worker query it more than 20 times a second.
STAT_SECONDS = 0.01
WATCH_SECONDS = 0.1
QUERY_GAP_SECONDS = 0.05
# On PostgreSQL a delivery queued by any process wakes every worker (NOTIFY from the insert's
# transaction, jobs/runner.py); the query then only finds retries that came due and leases
# that ran out, so it runs once a second while this process's LISTEN connection is up.
LISTENING_POLL_SECONDS = 1.0
FLUSH_SECONDS = 0.05
FLUSH_AT = 200
# Deliveries signed per thread-pool call: big enough to amortise the thread hop (~30 us,
# much more under load), small enough that the first POSTs start early.
SIGN_CHUNK = 16
# Claim more when fewer than this many claimed deliveries still wait for a signing thread.
SIGN_AHEAD = 4 * SIGN_CHUNK
SIGN_THREADS = min(2, os.cpu_count() or 1)
# Renew leases when a third of the lease has passed; stop sending a delivery once 80 % of
# its (last renewed) lease has passed, well before another worker may claim it.
RENEW_FRACTION = 1 / 3
SEND_FRACTION = 0.8

_OUTCOMES = {ItemState.DONE: "delivered", ItemState.PENDING: "retry",
             ItemState.FAILED: "failed"}

_HEADERS = {"Content-Type": ACTIVITY_JSON, "Accept": ACTIVITY_JSON}

T = TypeVar("T")


@dataclass(frozen=True)
class Signer:
    key_id: str
    key: PrivateKey


@dataclass(frozen=True)
class _Attempt:
    job: DeliveryJob
    decision: Decision
    status: int | None
    error: str | None


@dataclass(frozen=True)
class _Ready:
    """A claimed delivery with its body and its draft-cavage signature headers."""

    job: DeliveryJob
    body: bytes
    signer: Signer
    headers: dict[str, str]


def worker_name(kind: str) -> str:
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{id(object()) % 10000}"


def _sign(job: DeliveryJob, body: bytes, signer: Signer) -> dict[str, str]:
    """The request headers of one delivery, signed (draft-cavage, as Mastodon expects)."""
    signed = sign_cavage(method="POST", url=job.inbox_url, headers=_HEADERS, body=body,
                         key_id=signer.key_id, private_key=signer.key, now=time.time())
    return {**_HEADERS, **signed}


def _sign_many(items: list[tuple[DeliveryJob, bytes, Signer]]) -> list[_Ready]:
    return [_Ready(job, body, signer, _sign(job, body, signer)) for job, body, signer in items]


class DeliveryWorker:
    def __init__(self, rt: Runtime, *, name: str | None = None) -> None:
        self.rt = rt
        self.name = name or worker_name("delivery")
        cfg = rt.settings.delivery
        self.concurrency = cfg.concurrency
        self.batch_size = cfg.batch_size
        self._queue: asyncio.Queue[_Ready] = asyncio.Queue()
        self._results: list[_Attempt] = []
        self._results_ready = asyncio.Event()
        self._signers: dict[int, Signer] = {}
        self._pool: ThreadPoolExecutor | None = None
        # Deliveries claimed and not yet finished -> monotonic time after which they must
        # not be sent any more (their lease may be about to run out).
        self._held: dict[int, float] = {}
        self._watcher: ChangeWatcher | Literal[False] | None = None  # None: not made yet
        self._wal = _FileStamp(_wal_path(rt.db.url)) if rt.db.is_sqlite else None
        self._signing = 0  # claimed, being signed
        self._sign_tasks: set[asyncio.Task[None]] = set()
        self._in_flight = 0  # being POSTed
        # Set when the work in hand has shrunk enough for another claim (see _may_claim): the
        # claimer waits on it while it has enough in hand.
        self._room = asyncio.Event()
        self._high = 6 * self.concurrency
        self.sent = 0

    async def run(self, stop: asyncio.Event) -> None:
        self._pool = ThreadPoolExecutor(SIGN_THREADS, thread_name_prefix=f"{self.name}-sign")
        tasks = [asyncio.create_task(self._claimer(stop), name=f"{self.name}-claim"),
                 asyncio.create_task(self._warm_up(), name=f"{self.name}-warm-up"),
                 asyncio.create_task(self._finisher(stop), name=f"{self.name}-finish"),
                 asyncio.create_task(self._renewer(), name=f"{self.name}-renew")]
        tasks += [asyncio.create_task(self._sender(), name=f"{self.name}-send-{i}")
                  for i in range(self.concurrency)]
        try:
            await stop.wait()
        finally:
            tasks += self._sign_tasks
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._flush()  # record what finished; the rest is released by lease expiry
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            if self._watcher:
                await self._watcher.close()
            self._watcher = None

    async def _in_pool(self, fn: Callable[..., T], *args: object) -> T:
        """Run CPU-bound signing off the event loop (inline if the worker is not running)."""
        if self._pool is None:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _signer(self, actor_id: int) -> Signer:
        signer = self._signers.get(actor_id)
        if signer is None:
            async with self.rt.db.read() as conn:
                actor = await actors_repo.get_by_id(conn, actor_id)
                pem = await actors_repo.private_key_pem(conn, actor_id)
            assert actor.key_id is not None
            # Loading checks the RSA key (tens of ms): keep it off the event loop.
            signer = Signer(actor.key_id, await self._in_pool(load_private_key, pem))
            self._signers[actor_id] = signer
        return signer

    async def _warm_up(self) -> None:
        """Load the group's signing key before the first delivery needs it (loading checks
        the RSA key: tens of ms that would otherwise delay the first fan-out)."""
        try:
            await self._signer(self.rt.identity.group.id)
        except Exception:  # no identity loaded (tests), or no key: loaded on first use
            log.debug("signing key not loaded ahead", exc_info=True)

    def _backlog(self) -> int:
        return self._signing + self._queue.qsize() + self._in_flight

    def _may_claim(self) -> bool:
        return self._signing < SIGN_AHEAD and self._backlog() <= self._high - 2 * SIGN_CHUNK

    def _shrunk(self) -> None:
        """The work in hand shrank: wake the claimer if that makes room for a claim."""
        if not self._room.is_set() and self._may_claim():
            self._room.set()

    async def _claimer(self, stop: asyncio.Event) -> None:
        wakeup = self.rt.delivery_wakeup
        while not stop.is_set():
            if not self._may_claim():
                self._room.clear()
                await self._room.wait()
                continue
            try:
                wakeup.clear()
                jobs = await self._claim(min(self.batch_size, self._high - self._backlog()))
                if jobs:
                    self._start_signing(jobs)
                    continue
            except Exception:
                log.exception("claiming deliveries failed")
                await asyncio.sleep(POLL_SECONDS)
                continue
            await self._idle(wakeup, stop)

    def _sendable_until(self) -> float:
        return time.monotonic() + SEND_FRACTION * self.rt.settings.delivery.lease_seconds

    async def _claim(self, limit: int) -> list[tuple[DeliveryJob, bytes, Signer]]:
        """Lease due deliveries and load what signing them needs, in one transaction."""
        until = self._sendable_until()  # taken before the lease starts: errs on the safe side
        async with self.rt.db.write() as conn:
            jobs = await outbox_repo.claim_due(
                conn, worker=self.name, limit=limit,
                lease_seconds=self.rt.settings.delivery.lease_seconds)
            jobs = await self._refuse_blocked(conn, jobs)
            # Read with the claim, in its transaction: an activity id names one payload
            # only while its row lives (a cache across claims could hand out a deleted
            # activity's body for a new row given its id). One fan-out is one payload.
            payloads = (await outbox_repo.activity_payloads(
                conn, {j.activity_id for j in jobs}) if jobs else {})
        jobs = [j for j in jobs if j.id not in self._held]  # already queued here
        out = []
        for job in jobs:
            actor_id, body = payloads[job.activity_id]
            out.append((job, body, await self._signer(actor_id)))
        for job in jobs:
            self._held[job.id] = until
        return out

    async def _refuse_blocked(self, conn: AsyncConnection, jobs: list[DeliveryJob]
                              ) -> list[DeliveryJob]:
        """Cancel claimed deliveries the federation policy now refuses (a block added after
        they were queued, possibly by another process); return the rest."""
        policy = self.rt.policy
        if policy.rules.open:
            return jobs
        refused = [j for j in jobs if not policy.may_exchange(j.inbox_url)]
        if refused:
            await outbox_repo.cancel_deliveries(conn, [j.id for j in refused],
                                                "refused by the federation policy")
            log.info("%d deliveries cancelled: their domains are refused", len(refused))
        return [j for j in jobs if j not in refused]

    def _start_signing(self, jobs: list[tuple[DeliveryJob, bytes, Signer]]) -> None:
        """Sign in chunks on the pool (all chunks at once, so both threads work); each chunk
        is queued for the senders as soon as it is ready, while the claimer goes on."""
        self._signing += len(jobs)
        for i in range(0, len(jobs), SIGN_CHUNK):
            task = asyncio.create_task(self._sign_chunk(jobs[i:i + SIGN_CHUNK]))
            self._sign_tasks.add(task)
            task.add_done_callback(self._sign_tasks.discard)

    async def _sign_chunk(self, chunk: list[tuple[DeliveryJob, bytes, Signer]]) -> None:
        ready: list[_Ready] = []
        try:
            ready = await self._in_pool(_sign_many, chunk)
        except Exception:
            log.exception("signing %d deliveries failed", len(chunk))
        finally:
            self._signing -= len(chunk)
            for item in ready:
                self._queue.put_nowait(item)
            if len(ready) < len(chunk):
                # Whatever could not be signed and queued is let go: its lease runs out and
                # it is claimed again (never held, and so renewed, forever).
                for job, _, _ in chunk:
                    self._held.pop(job.id, None)
            self._shrunk()

    async def _idle(self, wakeup: asyncio.Event, stop: asyncio.Event) -> None:
        """Sleep until woken (work queued in this process), or until the database shows
        claimable work (queued by another process, a retry that came due, or an expired
        lease: the earliest ``next_attempt_at`` of pending rows without a running lease is a
        sound test for all three, and ignores what this worker holds). On SQLite cheap change
        hints (see STAT_SECONDS) notice other processes' commits within ~10 ms; the query
        itself runs after a hint (at most every QUERY_GAP_SECONDS), or every
        ``IDLE_POLL_SECONDS``."""
        if self._watcher is None:
            self._watcher = self.rt.db.change_watcher() or False
        watching = bool(self._watcher)
        if self._wal is not None:
            self._wal.changed()  # the state we have seen: only later commits are news
        polled = time.monotonic()  # the last query, or entering
        queried = 0.0  # the last query
        watched = polled
        hinted = False
        listener = self.rt.db.listener
        interval = (STAT_SECONDS if self._wal is not None else WATCH_SECONDS) \
            if watching else (LISTENING_POLL_SECONDS
                              if listener is not None and listener.connected.is_set()
                              else IDLE_POLL_SECONDS)
        sleeper = _Sleeper(wakeup)
        try:
            while not stop.is_set():
                if await sleeper.sleep(interval):
                    return
                now = time.monotonic()
                if watching and now - polled < IDLE_POLL_SECONDS:
                    if not hinted and self._wal is not None:
                        hinted = self._wal.changed()
                    if not hinted and now - watched >= WATCH_SECONDS - 0.001:
                        watched = now
                        try:
                            hinted = await self._watcher.changed()  # type: ignore[union-attr]
                        except Exception:
                            log.exception("watching the database for changes failed")
                            hinted = True
                    # While this worker still sends what it claimed, the commits it notices
                    # are mostly its own results: look at most at the idle poll's pace.
                    gap = QUERY_GAP_SECONDS if not self._backlog() else IDLE_POLL_SECONDS
                    if not hinted or now - queried < gap:
                        continue
                hinted = False
                polled = queried = time.monotonic()
                try:
                    async with self.rt.db.read() as conn:
                        due = await outbox_repo.next_claimable(conn)
                except Exception:
                    log.exception("looking for due deliveries failed")
                    return
                if due is not None and due <= utcnow():
                    return
        finally:
            sleeper.close()

    async def _renewer(self) -> None:
        lease = self.rt.settings.delivery.lease_seconds
        while True:
            await asyncio.sleep(max(0.05, lease * RENEW_FRACTION))
            if not self._held:
                continue
            until = self._sendable_until()
            try:
                async with self.rt.db.write() as conn:
                    ours = await outbox_repo.extend_leases(
                        conn, worker=self.name, ids=list(self._held), lease_seconds=lease)
            except Exception:
                log.exception("renewing delivery leases failed")
                continue  # deliveries past their time are dropped unsent, then re-claimed
            for job_id in list(self._held):
                if job_id in ours:
                    self._held[job_id] = until
                else:
                    # Finished meanwhile, or taken over by another worker after its lease ran
                    # out: either way it must not be sent from here.
                    del self._held[job_id]

    def _may_send(self, job: DeliveryJob) -> bool:
        until = self._held.get(job.id)
        if until is not None and not self.rt.policy.may_exchange(job.inbox_url):
            # Blocked while it waited here: the block cancelled the row; never send it.
            self._held.pop(job.id, None)
            return False
        if until is None or time.monotonic() > until:
            self._held.pop(job.id, None)
            log.info("delivery %s not sent: its lease ran out in memory; it will be claimed "
                     "again", job.id)
            return False
        return True

    async def _sender(self) -> None:
        transport = self.rt.transport()
        settings = self.rt.settings.delivery
        while True:
            ready = await self._queue.get()
            if not self._may_send(ready.job):
                continue
            self._in_flight += 1
            try:
                attempt = await self._deliver(transport, ready, settings.double_knock)
            except Exception as exc:
                log.exception("delivery %s crashed", ready.job.id)
                attempt = _Attempt(ready.job, Decision(Outcome.RETRY, 60.0, "internal error"),
                                   None, f"internal error: {type(exc).__name__}")
            finally:
                self._in_flight -= 1
                self._shrunk()
            self._results.append(attempt)
            if len(self._results) >= FLUSH_AT or not self._backlog():
                # A full batch, or nothing else in hand: record now (a fan-out's last
                # results need not wait for the timer).
                self._results_ready.set()

    async def _deliver(self, transport: DeliveryTransport, ready: _Ready,
                       double_knock: bool) -> _Attempt:
        cfg = self.rt.settings.delivery
        job, body, signer = ready.job, ready.body, ready.signer
        url, result = await self._post(transport, job.inbox_url, body, ready.headers, signer,
                                       _sign_for)
        decision = decide(status=result.status, attempt=job.attempts, now=time.time(),
                          retry_after=result.retry_after, knocked=not double_knock,
                          max_attempts=cfg.max_attempts, scale=cfg.retry_scale)
        if decision.outcome is Outcome.DOUBLE_KNOCK:
            signed = await self._in_pool(_sign_rfc9421, url, body, signer)
            url, result = await self._post(transport, url, body, signed, signer, _sign_rfc9421)
            decision = decide(status=result.status, attempt=job.attempts, now=time.time(),
                              retry_after=result.retry_after, knocked=True,
                              max_attempts=cfg.max_attempts, scale=cfg.retry_scale)
        self.sent += 1
        error = result.error
        if result.status is not None and 300 <= result.status < 400 and error is None:
            error = (f"HTTP {result.status} to {str(result.location)[:200]}: not followed "
                     "(only 307/308 to the same host are)")
        return _Attempt(job, decision, result.status, error)

    async def _post(self, transport: DeliveryTransport, url: str, body: bytes,
                    headers: dict[str, str], signer: Signer,
                    sign: Callable[[str, bytes, Signer], dict[str, str]]
                    ) -> tuple[str, PostResult]:
        """POST, following a 307/308 to the same host (signed again for its new target) at
        most MAX_REDIRECTS times (``redirect_target`` says which redirects are followed)."""
        result = await transport.post(url, body, headers)
        for _ in range(MAX_REDIRECTS):
            target = redirect_target(url, result)
            if target is None:
                break
            url = target
            headers = await self._in_pool(sign, url, body, signer)
            result = await transport.post(url, body, headers)
        return url, result

    async def _finisher(self, stop: asyncio.Event) -> None:
        while True:
            try:
                await asyncio.wait_for(self._results_ready.wait(), FLUSH_SECONDS)
            except TimeoutError:
                pass
            self._results_ready.clear()
            try:
                await self._flush()
            except Exception:
                log.exception("recording delivery results failed")
                await asyncio.sleep(POLL_SECONDS)

    async def _flush(self) -> None:
        if not self._results:
            return
        batch, self._results = self._results, []
        now = utcnow()
        day = domains_repo.utc_day(now)
        results: list[DeliveryResult] = []
        ok_domains: set[str] = set()
        failed_domains: set[str] = set()
        for a in batch:
            if a.decision.outcome is Outcome.DELIVERED:
                state, nxt = ItemState.DONE, None
                ok_domains.add(a.job.domain)
            elif a.decision.outcome is Outcome.RETRY:
                state, nxt = ItemState.PENDING, now + timedelta(seconds=a.decision.delay)
                failed_domains.add(a.job.domain)
            else:
                state, nxt = ItemState.FAILED, None
            error = None if state is ItemState.DONE else (a.error or a.decision.reason)
            results.append(DeliveryResult(a.job.id, state, nxt, a.status, error))
        cfg = self.rt.settings.delivery
        try:
            await self._record(results, ok_domains, failed_domains, day, cfg)
            for r in results:  # recorded: counted for /metrics (fediaid/metrics.py)
                metrics.DELIVERIES.labels(_OUTCOMES[r.state]).inc()
        finally:
            for a in batch:
                self._held.pop(a.job.id, None)

    async def _record(self, results: list[DeliveryResult], ok_domains: set[str],
                      failed_domains: set[str], day: str, cfg: DeliverySettings) -> None:
        async with self.rt.db.write() as conn:
            await outbox_repo.finish(conn, worker=self.name, results=results)
            back = await domains_repo.clear_failures(conn, sorted(ok_domains))
            for domain in back:
                await outbox_repo.release_domain(conn, domain)
            for domain in sorted(failed_domains - ok_domains):
                if await domains_repo.record_failure(
                    conn, domain, day=day, unavailable_after_days=cfg.unavailable_after_days
                ):
                    held = await outbox_repo.hold_domain(conn, domain)
                    log.warning("domain %s failed on %d separate days: holding %d deliveries "
                                "until it answers again", domain, cfg.unavailable_after_days,
                                held)
        if back:
            self.rt.delivery_wakeup.set()  # the released rows are due now


class _Sleeper:
    """Sleeps of an idle loop that end early when ``event`` is set: one waiter task for the
    whole idle spell instead of one per sleep (``wait_for`` makes a task each time, which
    doubled the idle CPU of a 10 ms loop)."""

    def __init__(self, event: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._tick: asyncio.Future[None] | None = None
        self._waiter = asyncio.ensure_future(event.wait())
        self._waiter.add_done_callback(self._woken)

    def _woken(self, _: object) -> None:
        _resolve(self._tick)

    async def sleep(self, seconds: float) -> bool:
        """Sleep ``seconds``; True if the event was set (at once when it is)."""
        if self._waiter.done():
            return True
        self._tick = self._loop.create_future()
        handle = self._loop.call_later(seconds, _resolve, self._tick)
        try:
            await self._tick
        finally:
            handle.cancel()
            self._tick = None
        return self._waiter.done()

    def close(self) -> None:
        self._waiter.cancel()


def _resolve(fut: asyncio.Future[None] | None) -> None:
    if fut is not None and not fut.done():
        fut.set_result(None)


def _wal_path(url: str) -> str | None:
    database = make_url(url).database
    return f"{database}-wal" if database and database != ":memory:" else None


class _FileStamp:
    """Size and modification time of a file (SQLite's write-ahead log): a commit by any
    connection appends to the log, so a new stamp hints at a commit. A hint only: two commits
    within one tick of the file system's clock, after a checkpoint restarted the log, can
    leave the same stamp (the data_version check and the periodic query cover that)."""

    def __init__(self, path: str | None) -> None:
        self._path = path
        self._last: tuple[int, int] | None = None

    def changed(self) -> bool:
        if self._path is None:
            return False
        try:
            st = os.stat(self._path)
            stamp = (st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = (-1, 0)  # no log (yet): its creation will be news
        changed = self._last is not None and stamp != self._last
        self._last = stamp
        return changed


def _sign_rfc9421(url: str, body: bytes, signer: Signer) -> dict[str, str]:
    """The second knock: the same delivery signed with RFC 9421 (after a 401)."""
    signed = sign_rfc9421(method="POST", url=url, headers=_HEADERS, body=body,
                          key_id=signer.key_id, private_key=signer.key, now=time.time())
    return {**_HEADERS, **signed}


def _sign_for(url: str, body: bytes, signer: Signer) -> dict[str, str]:
    """A delivery's draft-cavage headers for ``url`` (after a redirect)."""
    signed = sign_cavage(method="POST", url=url, headers=_HEADERS, body=body,
                         key_id=signer.key_id, private_key=signer.key, now=time.time())
    return {**_HEADERS, **signed}
