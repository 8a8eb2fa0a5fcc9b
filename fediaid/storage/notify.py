"""PostgreSQL LISTEN: one connection per process that hears the notifications the triggers
of migration 0024 send when rows are inserted (``fediaid_jobs``: a queue's table name;
``fediaid_stream``: statuses, notifications, stream events), and calls the callbacks
subscribed to each channel.

A notification is a hint, never the only way work is found: it can be missed (the
connection drops, the process starts after it was sent), so everyone who listens also
looks at the database now and then (the slow poll of each worker and of the streaming
poller). When the connection is made (again), every callback is called once, since
anything may have happened meanwhile.

The connection is asyncpg's own (SQLAlchemy's pool would hand it back and lose the
LISTEN); it is opened when the first callback subscribes and closed with the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

JOBS = "fediaid_jobs"
STREAM = "fediaid_stream"
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)

Callback = Callable[[str], None]


def asyncpg_dsn(url: str) -> str:
    """The asyncpg DSN of a SQLAlchemy ``postgresql+asyncpg://`` URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    def __init__(self, url: str) -> None:
        self._dsn = asyncpg_dsn(url)
        self._callbacks: dict[str, list[Callback]] = {}
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None
        self._closed = False
        self._pending: set[asyncio.Task[None]] = set()  # LISTENs of channels added late
        self.connected = asyncio.Event()

    def subscribe(self, channel: str, callback: Callback) -> None:
        """Call ``callback(payload)`` on each notification of ``channel`` (from now on; the
        connection is made in the background)."""
        fresh = channel not in self._callbacks
        self._callbacks.setdefault(channel, []).append(callback)
        if self._closed:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="pg-listener")
        elif fresh and self._conn is not None:
            task = asyncio.get_running_loop().create_task(self._listen(self._conn, channel))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def unsubscribe(self, channel: str, callback: Callback) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._callbacks[channel].remove(callback)

    def _dispatch(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        for callback in list(self._callbacks.get(channel, ())):
            try:
                callback(payload)
            except Exception:  # a listener's fault must not stop the others
                log.exception("notification callback failed")

    async def _listen(self, conn: Any, channel: str) -> None:
        await conn.add_listener(channel, self._dispatch)

    async def _run(self) -> None:
        import asyncpg

        failures = 0
        while not self._closed:
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(self._dsn, timeout=10)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                wait = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("LISTEN connection failed (%s); trying again in %.1f s",
                            type(exc).__name__, wait)
                await asyncio.sleep(wait)
                continue
            failures = 0
            self._conn = conn
            conn.add_termination_listener(lambda _c, lost=lost: lost.set())
            try:
                for channel in list(self._callbacks):
                    await self._listen(conn, channel)
                self.connected.set()
                # Anything may have been written while no connection listened.
                for callbacks in list(self._callbacks.values()):
                    for callback in list(callbacks):
                        callback("")
                await lost.wait()
                log.warning("LISTEN connection lost; connecting again")
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("LISTEN failed (%s); connecting again", type(exc).__name__)
            finally:
                self.connected.clear()
                self._conn = None
                if not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(RETRY_SECONDS[0])

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=2)
            self._conn = None
