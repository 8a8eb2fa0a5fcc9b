"""The inbox worker: claims stored activities in batches and applies them in short write
transactions (services/inbox_processing.py), as long as the inbox service allows while
requests are arriving (``InboxService.slice_budget``)."""

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

    async def run_once(self, limit: int = BATCH) -> int:
        async with self.rt.db.write() as conn:
            jobs = await inbox_repo.claim_due(conn, worker=self.name, limit=limit,
                                              lease_seconds=self.rt.settings.inbox_lease_seconds)
        if jobs:
            await self.processor.process(jobs, worker=self.name,
                                         budget=self.rt.inbox.slice_budget)
            self.processed += len(jobs)
        return len(jobs)

    async def run(self, stop: asyncio.Event) -> None:
        wakeup = self.rt.inbox_wakeup
        while not stop.is_set():
            try:
                # Ingestion first: during a burst of inbox POSTs each slice waits for a lull
                # and is short (services/inbox.py, InboxService.slice_budget).
                if await self.run_once():
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
