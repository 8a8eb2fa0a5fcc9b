"""The delivery worker: signs and POSTs queued activities to remote inboxes.

A pipeline with three kinds of task sharing one in-memory queue:
- the claimer leases due deliveries in batches whenever fewer than ``2 x concurrency`` are
  waiting in memory (so a lease never ages long before its POST starts);
- ``concurrency`` senders sign and POST one delivery at a time each;
- the finisher writes results back in batches, one transaction per batch, together with the
  per-domain failure tracking.
A killed worker leaves leased rows behind; they are claimed again when the lease ends, so a
delivery may be sent twice but never lost (receivers deduplicate by activity id).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from activitypub.delivery import Decision, Outcome, decide
from activitypub.keys import PrivateKey, load_private_key
from activitypub.signatures import sign_cavage, sign_rfc9421
from activitypub.vocab import ACTIVITY_JSON
from fediaid.domain.queue import ItemState
from fediaid.storage import actors as actors_repo
from fediaid.storage import domains as domains_repo
from fediaid.storage import outbox as outbox_repo
from fediaid.storage.outbox import DeliveryJob, DeliveryResult
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from fediaid.services.runtime import Runtime

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
FLUSH_SECONDS = 0.05


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


def worker_name(kind: str) -> str:
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{id(object()) % 10000}"


class DeliveryWorker:
    def __init__(self, rt: Runtime, *, name: str | None = None) -> None:
        self.rt = rt
        self.name = name or worker_name("delivery")
        cfg = rt.settings.delivery
        self.concurrency = cfg.concurrency
        self.batch_size = cfg.batch_size
        self._queue: asyncio.Queue[tuple[DeliveryJob, bytes, Signer]] = asyncio.Queue()
        self._results: list[_Attempt] = []
        self._results_ready = asyncio.Event()
        self._signers: dict[int, Signer] = {}
        self._in_flight = 0
        self.sent = 0

    async def run(self, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(self._claimer(stop), name=f"{self.name}-claim"),
                 asyncio.create_task(self._finisher(stop), name=f"{self.name}-finish")]
        tasks += [asyncio.create_task(self._sender(), name=f"{self.name}-send-{i}")
                  for i in range(self.concurrency)]
        try:
            await stop.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._flush()  # record what finished; the rest is released by lease expiry

    async def _signer(self, actor_id: int) -> Signer:
        signer = self._signers.get(actor_id)
        if signer is None:
            async with self.rt.db.read() as conn:
                actor = await actors_repo.get_by_id(conn, actor_id)
                pem = await actors_repo.private_key_pem(conn, actor_id)
            assert actor.key_id is not None
            signer = Signer(actor.key_id, load_private_key(pem))
            self._signers[actor_id] = signer
        return signer

    async def _claimer(self, stop: asyncio.Event) -> None:
        wakeup = self.rt.delivery_wakeup
        while not stop.is_set():
            backlog = self._queue.qsize() + self._in_flight
            if backlog >= 2 * self.concurrency:
                await asyncio.sleep(0.01)
                continue
            try:
                async with self.rt.db.write() as conn:
                    jobs = await outbox_repo.claim_due(
                        conn, worker=self.name,
                        limit=min(self.batch_size, 3 * self.concurrency - backlog),
                        lease_seconds=self.rt.settings.delivery.lease_seconds)
                if jobs:
                    async with self.rt.db.read() as conn:
                        payloads = await outbox_repo.activity_payloads(
                            conn, (j.activity_id for j in jobs))
                    for job in jobs:
                        actor_id, body = payloads[job.activity_id]
                        self._queue.put_nowait((job, body, await self._signer(actor_id)))
                    continue
            except Exception:
                log.exception("claiming deliveries failed")
                await asyncio.sleep(POLL_SECONDS)
                continue
            wakeup.clear()
            try:
                await asyncio.wait_for(wakeup.wait(), POLL_SECONDS)
            except TimeoutError:
                pass

    async def _sender(self) -> None:
        transport = self.rt.transport()
        settings = self.rt.settings.delivery
        while True:
            job, body, signer = await self._queue.get()
            self._in_flight += 1
            try:
                attempt = await self._deliver(transport, job, body, signer, settings.double_knock)
            except Exception as exc:
                log.exception("delivery %s crashed", job.id)
                attempt = _Attempt(job, Decision(Outcome.RETRY, 60.0, "internal error"), None,
                                   f"internal error: {type(exc).__name__}")
            finally:
                self._in_flight -= 1
            self._results.append(attempt)
            if len(self._results) >= 100:
                self._results_ready.set()

    async def _deliver(self, transport: object, job: DeliveryJob, body: bytes, signer: Signer,
                       double_knock: bool) -> _Attempt:
        cfg = self.rt.settings.delivery
        headers = {"Content-Type": ACTIVITY_JSON, "Accept": ACTIVITY_JSON}
        signed = sign_cavage(method="POST", url=job.inbox_url, headers=headers, body=body,
                             key_id=signer.key_id, private_key=signer.key, now=time.time())
        result = await self.rt.transport().post(job.inbox_url, body, {**headers, **signed})
        decision = decide(status=result.status, attempt=job.attempts, now=time.time(),
                          retry_after=result.retry_after, knocked=not double_knock,
                          max_attempts=cfg.max_attempts, scale=cfg.retry_scale)
        if decision.outcome is Outcome.DOUBLE_KNOCK:
            signed = sign_rfc9421(method="POST", url=job.inbox_url, headers=headers, body=body,
                                  key_id=signer.key_id, private_key=signer.key, now=time.time())
            result = await self.rt.transport().post(job.inbox_url, body, {**headers, **signed})
            decision = decide(status=result.status, attempt=job.attempts, now=time.time(),
                              retry_after=result.retry_after, knocked=True,
                              max_attempts=cfg.max_attempts, scale=cfg.retry_scale)
        self.sent += 1
        return _Attempt(job, decision, result.status, result.error)

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
