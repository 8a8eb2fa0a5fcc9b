"""Group commit: many concurrent requests share one write transaction.

One SQLAlchemy-async transaction on SQLite costs ~2 ms of thread hops, so one transaction per
inbox request caps ingest near 500/s with a 1 s p99 (PERFORMANCE.md section 2e). Instead each
request hands its row to a single writer task and awaits the commit that contains it: the
durability guarantee is the same (we answer 202 only after our row is committed), and one
commit carries up to ``max_batch`` rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.storage.engine import Database

log = logging.getLogger(__name__)

Flush = Callable[[AsyncConnection, list[Any]], Awaitable[None]]


class GroupCommitWriter:
    """Collects items from many coroutines and writes them with ``flush`` in batches."""

    def __init__(self, db: Database, flush: Flush, *, max_batch: int = 256,
                 name: str = "writer") -> None:
        self._db = db
        self._flush = flush
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[Any, asyncio.Future[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._name = name
        self.batches = 0
        self.items = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            # Let queued items commit before we go.
            await self._queue.join()
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def submit(self, item: Any) -> None:
        """Return once ``item`` is committed; raise if its batch failed."""
        if self._task is None:
            self.start()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, fut))
        await fut

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            try:
                async with self._db.write() as conn:
                    await self._flush(conn, [item for item, _ in batch])
            except asyncio.CancelledError:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(RuntimeError("writer stopped"))
                raise
            except Exception as exc:
                log.exception("group commit of %d items failed", len(batch))
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                    self._queue.task_done()
                continue
            self.batches += 1
            self.items += len(batch)
            for _, fut in batch:
                if not fut.done():
                    fut.set_result(None)
                self._queue.task_done()
