"""The inbox worker: claims stored activities in batches and applies them in short write
transactions (services/inbox_processing.py), as long as the inbox service allows while
requests are arriving (``InboxService.slice_budget``).

While a backlog drains (a full batch, no burst of inbox requests), the worker claims the next
batch before it applies this one and hands its notes to the parsing helper process
(federation/parse_pool.py), which parses them on the other core meanwhile: parsing is the
costliest step, and parsing in this process while the database thread writes was slower
than one after the other (the parser holds the GIL, which the database thread needs after
every row it writes: ~900 against ~1,400 activities/s, in process). The batch claimed ahead
keeps its lease if the worker stops (another worker, or this one after a restart, takes it
when the lease runs out).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from fediaid.federation import parse_pool
from fediaid.jobs.delivery import POLL_SECONDS, worker_name
from fediaid.services.inbox_processing import Parsing
from fediaid.storage import inbox as inbox_repo

if TYPE_CHECKING:
    from fediaid.services.runtime import Runtime

log = logging.getLogger(__name__)

# Items claimed at once: prepared together (one actor query, parsing), applied in slices.
BATCH = 200


class InboxWorker:
    def __init__(self, rt: Runtime, *, name: str | None = None) -> None:
        self.rt = rt
        self.name = name or worker_name("inbox")
        self.processor = rt.inbox_processing
        self.processed = 0
        # The next batch, claimed while the one before was prepared: its jobs, when they were
        # claimed, and its notes being parsed in the helper process.
        self._ahead: tuple[list[inbox_repo.InboxJob], float, Parsing] | None = None

    async def _claim(self, limit: int = BATCH) -> list[inbox_repo.InboxJob]:
        async with self.rt.db.write() as conn:
            return await inbox_repo.claim_due(
                conn, worker=self.name, limit=limit,
                lease_seconds=self.rt.settings.inbox_lease_seconds)

    async def run_once(self, limit: int = BATCH) -> int:
        """Claim, prepare and apply one batch; returns its size."""
        inbox = self.rt.inbox
        if self._ahead is not None:
            (jobs, claimed, parsing), self._ahead = self._ahead, None
        else:
            claimed, jobs = time.monotonic(), await self._claim(limit)
            parsing = None
        if not jobs:
            return 0
        first = True

        async def budget() -> float:
            # Ingestion first: during a burst of inbox POSTs each slice waits for a lull
            # and is short (services/inbox.py); the first follows the claim, which waited.
            nonlocal first
            if first:
                first = False
                return inbox.slice_seconds()
            return await inbox.slice_budget()

        batch = await self.processor.prepare(jobs, parsing, claimed)
        if len(jobs) >= limit >= parse_pool.MIN_NOTES and not inbox.busy():
            # A backlog (not the few activities a worker takes during a burst): the next
            # batch is parsed in the helper process while this one is written.
            claimed, ahead = time.monotonic(), await self._claim(limit)
            if ahead:
                self._ahead = (ahead, claimed, self.processor.parse_ahead(ahead))
        await self.processor.apply(batch, worker=self.name, budget=budget)
        self.processed += len(jobs)
        return len(jobs)

    async def run(self, stop: asyncio.Event) -> None:
        wakeup = self.rt.inbox_wakeup
        while not stop.is_set():
            try:
                if await self.run_once(await self.rt.inbox.claim_limit(BATCH)):
                    continue
            except Exception:
                log.exception("inbox processing failed")
                await asyncio.sleep(POLL_SECONDS)
                continue
            parse_pool.release_if_idle()
            wakeup.clear()
            try:
                await asyncio.wait_for(wakeup.wait(), POLL_SECONDS)
            except TimeoutError:
                pass
