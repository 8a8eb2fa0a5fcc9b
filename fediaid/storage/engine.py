"""Database engines and transactions.

SQLite (the embedded default) allows one writer at a time. We give it two engines: a writer
with a single connection whose transactions start with ``BEGIN IMMEDIATE`` (so two writers
never deadlock on a lock upgrade; they queue in our process instead of in SQLite's busy
handler), and a small pool of readers that never block behind it (WAL). PostgreSQL uses one
pooled engine for both.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from fediaid.storage.notify import Listener

log = logging.getLogger(__name__)

# The checkpointer (``Database.checkpoint_apart``) looks this often whether the writer
# committed since, and copies the WAL back into the database if it did.
CHECKPOINT_SECONDS = 0.25


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # aiosqlite's adapter: turn off the driver's own transaction handling so BEGIN is ours.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


class Database:
    """Owns the engines. ``write()`` and ``read()`` yield a connection inside a transaction."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self._writers_waiting = 0
        self._writes = 0
        self._checkpointer: asyncio.Task[None] | None = None
        self._listener: Listener | None = None
        # ``one_read``'s connection and the task it belongs to (``read`` hands it out to
        # that task only: a task started inside, or a ``gather``, opens its own).
        self._shared_read: ContextVar[tuple[AsyncConnection, asyncio.Task[Any]] | None] = \
            ContextVar(f"shared_read_{id(self)}", default=None)
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            _create_private(parsed.database)
            self.writer = create_async_engine(
                url,
                echo=echo,
                poolclass=AsyncAdaptedQueuePool,
                pool_size=1,
                max_overflow=0,
                pool_timeout=60,
                # ``write()`` always ends its transaction (commit, or rollback on error), so
                # the pool's reset-on-return rollback is one wasted thread round trip per
                # write. (Readers keep it: it is what ends their read transactions.)
                pool_reset_on_return=None,
            )
            self.reader = create_async_engine(
                url, echo=echo, poolclass=AsyncAdaptedQueuePool, pool_size=4, max_overflow=4
            )
            for eng, immediate in ((self.writer, True), (self.reader, False)):
                event.listen(eng.sync_engine, "connect", _sqlite_pragmas)
                event.listen(
                    eng.sync_engine,
                    "begin",
                    _begin_immediate if immediate else _begin_deferred,
                )
        elif self.dialect == "postgresql":
            # JIT off: PostgreSQL compiles a plan it estimates as costly (a count over a
            # large account's statuses) for ~1.5 s on this machine before running it for
            # tens of ms; our statements are short (docs/benchmarks.md, "Timelines").
            self.writer = create_async_engine(
                url, echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=False,
                connect_args={"server_settings": {"jit": "off"}},
            )
            self.reader = self.writer
        else:
            raise ValueError(f"unsupported database: {self.dialect}")

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: committed when the block exits normally, else rolled back."""
        self._writers_waiting += 1
        waiting = True
        try:
            async with self.writer.begin() as conn:
                self._writers_waiting -= 1
                waiting = False
                yield conn
        finally:
            if waiting:
                self._writers_waiting -= 1
            else:
                self._writes += 1

    async def checkpoint_apart(self) -> None:
        """SQLite, for a long-running process (``fediaid serve``, ``fediaid worker``): the
        WAL is copied back into the database file by a connection and thread of its own, a
        few times a second after writes, instead of by the writer. SQLite's default is the
        writer's commit that finds 1,000 pages in the WAL: that commit then copies ~4 MB and
        syncs the WAL and the database file, holding the one writer meanwhile (tens of ms
        on a virtual disk, every ~1,500 activities of an inbox burst, with every request
        waiting for its group commit). A passive checkpoint apart never blocks the writer
        or readers. If this task stops, the writer's own checkpoints resume at the next
        connection; PostgreSQL: nothing to do."""
        if not self.is_sqlite or self._checkpointer is not None:
            return
        database = make_url(self.url).database
        if not database or database == ":memory:":
            return
        async with self.write() as conn:
            await conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
        self._checkpointer = asyncio.create_task(self._checkpoint_loop(database),
                                                 name="sqlite-checkpointer")

    async def _checkpoint_loop(self, path: str) -> None:
        import sqlite3

        import aiosqlite

        try:
            conn = await aiosqlite.connect(path)
        except (OSError, sqlite3.Error) as exc:  # the writer checkpoints again (the default)
            log.warning("no checkpointer apart (%s): the writer checkpoints", exc)
            async with self.write() as writer:
                await writer.exec_driver_sql("PRAGMA wal_autocheckpoint=1000")
            return
        seen = self._writes
        try:
            while True:
                await asyncio.sleep(CHECKPOINT_SECONDS)
                if self._writes == seen:
                    continue
                seen = self._writes
                try:
                    async with conn.execute("PRAGMA wal_checkpoint(PASSIVE)") as cur:
                        await cur.fetchone()
                except Exception:  # a busy database: the next round
                    log.debug("checkpoint failed", exc_info=True)
        finally:
            await conn.close()

    @property
    def writers_waiting(self) -> int:
        """How many ``write()`` calls are waiting for a connection now: on SQLite, for the
        one writer (a long transaction, such as the inbox worker's, ends early for them)."""
        return self._writers_waiting

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        shared = self._shared_read.get()
        if shared is not None and shared[1] is asyncio.current_task():
            yield shared[0]
            return
        async with self.reader.connect() as conn:
            yield conn

    @asynccontextmanager
    async def one_read(self) -> AsyncIterator[None]:
        """Every ``read()`` of this task inside the block uses one connection and one read
        transaction: for a request that only reads (a page of a timeline), one transaction
        instead of one per step (token, viewer, ids, statuses, counts; each a pool checkout,
        a ``BEGIN`` and a rollback: docs/benchmarks.md, "Timelines").

        The reads see one snapshot from the first statement on (SQLite's read transaction;
        ``REPEATABLE READ`` on PostgreSQL, whose default would let each statement see what
        committed since): a block, a mute or a visibility change committed mid-request is
        seen by all of the request's reads or by none. A write made in the block through
        ``write()`` is not seen by the reads after it either, so use it only around code
        that does not read what it wrote. Other tasks (``create_task``, ``gather``) inherit
        the context but not the connection."""
        task = asyncio.current_task()
        shared = self._shared_read.get()
        if task is None or (shared is not None and shared[1] is task):
            yield
            return
        async with self.reader.connect() as conn:
            if not self.is_sqlite:  # reset when the connection goes back to the pool
                conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            token = self._shared_read.set((conn, task))
            try:
                yield
            finally:
                self._shared_read.reset(token)

    def change_watcher(self) -> ChangeWatcher | None:
        """A cheap way to notice commits from other processes (SQLite only; None on
        PostgreSQL, where callers poll)."""
        if not self.is_sqlite:
            return None
        database = make_url(self.url).database
        return ChangeWatcher(database) if database else None

    @property
    def listener(self) -> Listener | None:
        """This process's LISTEN connection (PostgreSQL; storage/notify.py), made on first
        use; None on SQLite, whose processes wake their own workers and poll."""
        if self.is_sqlite:
            return None
        if self._listener is None:
            self._listener = Listener(self.url)
        return self._listener

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """Whether this process holds the lock ``name`` for the block (False at once when
        another process holds it). On PostgreSQL a session advisory lock on a connection kept
        for the block (a killed process's session ends, and its lock with it); on SQLite
        always True: each write transaction has the one writer, so a round of periodic work
        reads what another process committed before it."""
        if self.is_sqlite:
            yield True
            return
        async with self.writer.connect() as conn:
            key = (await conn.execute(text("SELECT hashtext(:n)"), {"n": f"fediaid:{name}"})
                   ).scalar()
            got = bool((await conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                           {"k": key})).scalar())
            await conn.commit()
            try:
                yield got
            finally:
                if got:
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    await conn.commit()

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            try:
                await self._checkpointer
            except asyncio.CancelledError:
                pass
            self._checkpointer = None
        if self._listener is not None:
            await self._listener.close()
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


def _create_private(database: str | None) -> None:
    """Create a new SQLite file 0600 before SQLite does (it would use 0644 less the umask).
    SQLite gives its -wal, -shm and -journal files the database file's mode, so they are
    private too. An existing file is left as it is (``fediaid.datadir`` repairs modes)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        fd = os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except (FileExistsError, FileNotFoundError):
        return  # there already, or its directory is missing (SQLite will say so)
    os.close(fd)


def _begin_immediate(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _begin_deferred(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def sync_url(url: str) -> str:
    """The synchronous driver URL for the same database (used by Alembic)."""
    parsed = make_url(url)
    if parsed.drivername == "sqlite+aiosqlite":
        return str(parsed.set(drivername="sqlite"))
    return url


def engine_for_migrations(url: str) -> AsyncEngine:
    eng = create_async_engine(url, poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0)
    if eng.dialect.name == "sqlite":
        event.listen(eng.sync_engine, "connect", _sqlite_pragmas)
        event.listen(eng.sync_engine, "begin", _begin_immediate)
    return eng


class ChangeWatcher:
    """``PRAGMA data_version`` on a dedicated SQLite connection: its value changes when any
    other connection (another process, or this one's writer) commits. One call costs one
    thread hop (~0.1 ms), a tenth of a query through the engine, so an idle worker can look
    often for work another process queued (``fediaid admin``, a separate ``fediaid worker``).
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: Any = None
        self._last: int | None = None

    async def changed(self) -> bool:
        import aiosqlite

        if self._conn is None:
            self._conn = await aiosqlite.connect(self._path)
        async with self._conn.execute("PRAGMA data_version") as cur:
            row = await cur.fetchone()
        value = int(row[0]) if row else 0
        changed = self._last is not None and value != self._last
        self._last = value
        return changed

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
