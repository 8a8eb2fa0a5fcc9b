"""Helpers for the multi-process tests: a cluster of instances on one database backend,
direct database access from the test, and signed inbox POSTs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from activitypub.keys import load_private_key
from activitypub.signatures import sign_cavage
from activitypub.vocab import ACTIVITY_JSON
from fediaid.storage.tables import actor_keys, actors
from tests.support.databases import create_pg_database, drop_pg_database, sqlite_url
from tests.support.instances import Instance, free_port


class Db:
    """Synchronous access to an instance's database from the test (its own event loop)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._runner = asyncio.Runner()
        self._engine: AsyncEngine | None = None

    def _get_engine(self) -> AsyncEngine:
        if self._engine is None:
            if self.url.startswith("sqlite"):
                self._engine = create_async_engine(self.url, poolclass=NullPool,
                                                   connect_args={"timeout": 15})
            else:
                # One connection kept for the test's reads: ``wait_for`` polls ten times a
                # second, and a new connection each time cost ~5 ms of CPU here and a
                # server process start in PostgreSQL (closed by ``close``, before the
                # cluster's databases are dropped).
                self._engine = create_async_engine(self.url, pool_size=1, max_overflow=1)
        return self._engine

    def run(self, fn: Callable[[AsyncConnection], Any]) -> Any:
        async def go() -> Any:
            async with self._get_engine().begin() as conn:
                return await fn(conn)

        return self._runner.run(go())

    def rows(self, stmt: Any) -> list[Any]:
        async def q(conn: AsyncConnection) -> list[Any]:
            return list((await conn.execute(stmt)).all())

        return list(self.run(q))

    def scalar(self, stmt: Any) -> Any:
        async def q(conn: AsyncConnection) -> Any:
            return (await conn.execute(stmt)).scalar()

        return self.run(q)

    def close(self) -> None:
        if self._engine is not None:
            self._runner.run(self._engine.dispose())
            self._engine = None
        self._runner.close()


class Cluster:
    def __init__(self, db_url: str, root: Path) -> None:
        self.db_url = db_url
        self.root = root
        self.instances: list[Instance] = []
        self.dbs: dict[str, Db] = {}
        self._own_pg: list[str] = []
        self._primary_used = False

    @property
    def postgres(self) -> bool:
        return self.db_url.startswith("postgresql")

    def new(self, group: str, *, fresh_database: bool = False, **env: str) -> Instance:
        """An instance (not yet initialised); its ``init`` starts from a migrated copy of
        the database unless ``fresh_database`` (see ``Instance.fresh_database``)."""
        data = self.root / group
        data.mkdir(parents=True)
        if not self.postgres:
            url = sqlite_url(data)
        elif not self._primary_used:
            url, self._primary_used = self.db_url, True
        else:
            url = create_pg_database()
            self._own_pg.append(url)
        inst = Instance(data=data, port=free_port(), group=group, database_url=url, env=env,
                        fresh_database=fresh_database)
        self.instances.append(inst)
        return inst

    def db(self, inst: Instance) -> Db:
        if inst.group not in self.dbs:
            self.dbs[inst.group] = Db(inst.database_url)
        return self.dbs[inst.group]

    def close(self, *, failed: bool) -> None:
        for inst in self.instances:
            inst.stop(kill=True)
        if failed:
            for inst in self.instances:
                print(f"\n===== log of {inst.handle} =====\n{inst.log()[-6000:]}")
        for db in self.dbs.values():
            db.close()
        for url in self._own_pg:
            drop_pg_database(url)


# -- helpers -------------------------------------------------------------------------------
def ap_get(url: str) -> dict[str, Any]:
    r = httpx.get(url, headers={"Accept": ACTIVITY_JSON}, timeout=5)
    r.raise_for_status()
    return dict(r.json())


def followers_total(inst: Instance) -> int:
    return int(ap_get(inst.group_uri + "/followers")["totalItems"])


def group_key(db: Db, inst: Instance) -> tuple[str, str]:
    """(key id, private key PEM) of an instance's group actor, read from its database."""
    row = db.rows(select(actors.c.key_id, actor_keys.c.private_key_pem)
                  .select_from(actors.join(actor_keys, actor_keys.c.actor_id == actors.c.id))
                  .where(actors.c.uri == inst.group_uri))[0]
    return row.key_id, row.private_key_pem


def signed_headers(url: str, body: bytes, key_id: str, pem: str, *,
                   content_type: str = ACTIVITY_JSON, now: float | None = None
                   ) -> dict[str, str]:
    headers = {"Content-Type": content_type}
    headers.update(sign_cavage(method="POST", url=url, headers=headers, body=body,
                               key_id=key_id, private_key=load_private_key(pem),
                               now=time.time() if now is None else now))
    return headers


def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, content=body, headers=headers, timeout=10)
