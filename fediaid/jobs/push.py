"""The Web Push worker: sends queued pushes to Mastodon apps (fediaid/services/push.py).

It wakes when this process writes a notification (``Signals.push_wakeup``, set with
``stream_changed``), on PostgreSQL also when any process queues a push (``NOTIFY``,
jobs/runner.py), and otherwise looks for due pushes every ``POLL_SECONDS`` (retries, and
notifications written by another process on SQLite). Any number of workers may run: rows are claimed
with a lease (``SKIP LOCKED`` on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from fediaid.jobs.delivery import worker_name
from fediaid.services.push import BATCH

if TYPE_CHECKING:
    from fediaid.services.runtime import Runtime

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0


class PushWorker:
    def __init__(self, rt: Runtime, *, name: str | None = None) -> None:
        self.rt = rt
        self.name = name or worker_name("push")
        self.sent = 0

    async def run_once(self, limit: int = BATCH) -> int:
        claimed = await self.rt.push.deliver_due(worker=self.name, limit=limit)
        self.sent += claimed
        return claimed

    async def run(self, stop: asyncio.Event) -> None:
        wakeup = self.rt.signals.push_wakeup
        while not stop.is_set():
            wakeup.clear()
            try:
                if await self.run_once():
                    continue
            except Exception:
                log.exception("push sending failed")
            waits = [asyncio.ensure_future(wakeup.wait()), asyncio.ensure_future(stop.wait())]
            _, left = await asyncio.wait(waits, timeout=POLL_SECONDS,
                                         return_when=asyncio.FIRST_COMPLETED)
            for task in left:
                task.cancel()
