"""What the instance is doing: queue sizes and counts for coordinators and operators
(``fediaid admin status``, the coordinators' page, ``/metrics``)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from fediaid import __version__
from fediaid.services.core import Core, Service
from fediaid.storage import email as email_repo
from fediaid.storage import follows as follows_repo
from fediaid.storage import inbox as inbox_repo
from fediaid.storage import outbox as outbox_repo
from fediaid.storage import sms as sms_repo
from fediaid.storage import status as status_repo
from fediaid.storage.status import FailingDomain, Queue
from fediaid.storage.tables import SCHEMA_HEAD
from fediaid.storage.types import utcnow


@dataclass(frozen=True)
class Overview:
    """Everything ``fediaid admin status`` shows, read at one moment."""

    at: datetime
    version: str
    database: str  # "sqlite" or "postgresql"
    database_version: str
    database_bytes: int | None
    schema: str | None
    queues: dict[str, Queue]
    failing: list[FailingDomain]
    failing_domains: int
    unavailable_domains: int
    media_files: int
    media_bytes: int
    followers: int

    @property
    def schema_current(self) -> bool:
        return self.schema == SCHEMA_HEAD

    def age(self, when: datetime | None) -> float | None:
        return None if when is None else max(0.0, (self.at - when).total_seconds())

    def as_dict(self) -> dict[str, Any]:
        """Plain values (JSON): the same figures for scripts and for ``/metrics``."""
        return {
            "at": self.at.isoformat(),
            "version": self.version,
            "database": self.database,
            "database_version": self.database_version,
            "database_bytes": self.database_bytes,
            "schema": self.schema,
            "schema_head": SCHEMA_HEAD,
            "queues": {name: {"states": q.states, "waiting": q.waiting,
                              "oldest_waiting_seconds": self.age(q.oldest_waiting)}
                       for name, q in self.queues.items()},
            "failing": {"domains": self.failing_domains,
                        "unavailable": self.unavailable_domains,
                        "worst": [{"domain": d.domain, "waiting": d.waiting,
                                   "attempts": d.attempts, "last_error": d.last_error,
                                   "unavailable": d.unavailable,
                                   "failure_days": d.failure_days} for d in self.failing]},
            "media": {"files": self.media_files, "bytes": self.media_bytes},
            "followers": self.followers,
        }


def _tree_size(root: Path) -> tuple[int, int]:
    """Files under ``root`` and their bytes (symlinks not followed)."""
    files = size = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue  # removed meanwhile
            files += 1
            size += st.st_size
    return files, size


def _sqlite_bytes(url: str) -> int | None:
    database = make_url(url).database
    if not database or database == ":memory:":
        return None
    total = 0
    for suffix in ("", "-wal", "-shm"):
        try:
            total += os.stat(database + suffix).st_size
        except OSError:
            pass
    return total


class StatusService(Service):
    def __init__(self, core: Core) -> None:
        super().__init__(core)

    async def queues(self) -> dict[str, dict[str, int]]:
        async with self.db.read() as conn:
            return {
                "deliveries": await outbox_repo.counts_by_state(conn),
                "inbox": await inbox_repo.counts_by_state(conn),
                "email": await email_repo.counts(conn),
                "sms": await sms_repo.counts(conn),
            }

    async def follower_count(self) -> int:
        async with self.db.read() as conn:
            return await follows_repo.count(conn, actor_id=self.identity.group.id,
                                            direction="followers")

    async def overview(self, *, media: bool = True, finished: bool = True) -> Overview:
        """The queues, failing domains, database and (with ``media``) the disk used by
        uploaded media, read from the database and the data directory now: right however
        many processes run. Without ``finished``, finished jobs are not counted (what
        /metrics asks every few seconds: that count grows with the instance's history)."""
        sqlite = self.db.is_sqlite
        async with self.db.read() as conn:
            at = utcnow()
            queues = await status_repo.queues(conn, finished=finished)
            failing, failing_domains, unavailable = await status_repo.failing_domains(conn)
            schema = await status_repo.schema_revision(conn)
            version = await status_repo.engine_version(conn, sqlite=sqlite)
            size = None if sqlite else await status_repo.postgres_size(conn)
            followers = await follows_repo.count(conn, actor_id=self.identity.group.id,
                                                 direction="followers")
        if sqlite:
            size = _sqlite_bytes(self.db.url)
        files, media_bytes = (await asyncio.to_thread(_tree_size, self.settings.media_dir)
                              if media else (0, 0))
        return Overview(at=at, version=__version__, database=self.db.dialect,
                        database_version=version, database_bytes=size, schema=schema,
                        queues=queues, failing=failing, failing_domains=failing_domains,
                        unavailable_domains=unavailable, media_files=files,
                        media_bytes=media_bytes, followers=followers)
