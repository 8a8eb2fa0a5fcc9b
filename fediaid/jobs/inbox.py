"""The inbox worker: claims stored activities in batches and applies them in short write
transactions (services/inbox_processing.py), as long as the inbox service allows while
requests are arriving (``InboxService.slice_budget``).

Batches are not pipelined (preparing the next one while this one is written): on SQLite the
parsing would hold the GIL while the database thread waits for it after every row it writes,
and the two together were slower than one after the other (measured: ~900 against ~1,400
activities/s, in process); on PostgreSQL it gained nothing measurable.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from fediaid.jobs.delivery import POLL_SECONDS, worker_name
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

    async def _claim(self, limit: int = BATCH) -> list[inbox_repo.InboxJob]:
        async with self.rt.db.write() as conn:
            return await inbox_repo.claim_due(
                conn, worker=self.name, limit=limit,
                lease_seconds=self.rt.settings.inbox_lease_seconds)

    async def run_once(self, limit: int = BATCH) -> int:
        """Claim, prepare and apply one batch; returns its size."""
        jobs = await self._claim(limit)
        if not jobs:
            return 0
        inbox = self.rt.inbox
        first = True

        async def budget() -> float:
            # Ingestion first: during a burst of inbox POSTs each slice waits for a lull
            # and is short (services/inbox.py); the first follows the claim, which waited.
            nonlocal first
            if first:
                first = False
                return inbox.slice_seconds()
            return await inbox.slice_budget()

        await self.processor.apply(await self.processor.prepare(jobs), worker=self.name,
                                   budget=budget)
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
            wakeup.clear()
            try:
                await asyncio.wait_for(wakeup.wait(), POLL_SECONDS)
            except TimeoutError:
                pass
