"""Group commit: many concurrent requests share one write transaction.

One SQLAlchemy-async transaction on SQLite costs ~8 thread round trips to the aiosqlite
thread (BEGIN, the statement, COMMIT, the pool's reset), each one a cross-thread wake-up that
gets slow when the event loop is busy, so one transaction per inbox request caps ingest near
500/s with a 1 s p99 (PERFORMANCE.md section 2e). Instead each request hands its row to a
single writer task and awaits the commit that contains it: the durability guarantee is the
same (we answer 202 only after our row is committed), and one commit carries up to
``max_batch`` rows.

The hand-over is a plain list plus an event rather than an ``asyncio.Queue``: under load the
writer takes everything that arrived during the previous commit in one slice, and a request
costs one future and one list append.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError
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
        self._pending: list[tuple[Any, asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()  # set while nothing is pending or being written
        self._idle.set()
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
            await self._idle.wait()
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def submit(self, item: Any) -> None:
        """Return once ``item`` is committed; raise if its write failed."""
        if self._task is None:
            self.start()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        self._idle.clear()
        self._wakeup.set()
        await fut

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            batch = self._pending[:self._max_batch]
            del self._pending[:self._max_batch]
            if not self._pending:
                self._wakeup.clear()
            if not batch:
                continue
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                for _, fut in batch + self._pending:
                    if not fut.done():
                        fut.set_exception(RuntimeError("writer stopped"))
                self._pending.clear()
                self._idle.set()
                raise
            if not self._pending:
                self._idle.set()

    async def _write(self, batch: list[tuple[Any, asyncio.Future[None]]]) -> None:
        try:
            async with self._db.write() as conn:
                await self._flush(conn, [item for item, _ in batch])
        except (IntegrityError, DataError) as exc:
            if len(batch) == 1:
                self._fail(batch, exc)
                return
            # One bad row must not fail everyone else's request: write them one by one.
            log.warning("group commit of %d items failed (%s); retrying one by one",
                        len(batch), type(exc).__name__)
            for one in batch:
                await self._write([one])
            return
        except Exception as exc:
            log.exception("group commit of %d items failed", len(batch))
            self._fail(batch, exc)
            return
        self.batches += 1
        self.items += len(batch)
        for _, fut in batch:
            if not fut.done():
                fut.set_result(None)

    @staticmethod
    def _fail(batch: list[tuple[Any, asyncio.Future[None]]], exc: Exception) -> None:
        for _, fut in batch:
            if not fut.done():
                fut.set_exception(exc)
