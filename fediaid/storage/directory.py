"""The directory of groups' cache (``directory_entries``; fediaid/services/directory.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.storage.tables import directory_entries


@dataclass(frozen=True)
class CachedEntry:
    actor_uri: str
    hops: int
    via_uri: str | None
    entry: dict[str, Any]
    fetched_at: datetime


async def entries(conn: AsyncConnection) -> list[CachedEntry]:
    rows = await conn.execute(select(directory_entries).order_by(
        directory_entries.c.hops, directory_entries.c.id))
    return [CachedEntry(actor_uri=r.actor_uri, hops=r.hops, via_uri=r.via_uri,
                        entry=json.loads(r.entry), fetched_at=r.fetched_at) for r in rows]


async def replace(conn: AsyncConnection,
                  found: list[tuple[str, int, str | None, dict[str, Any], datetime]]) -> None:
    """The whole cache becomes ``found`` (actor URI, hops, found via, checked entry, when
    it was fetched)."""
    await conn.execute(delete(directory_entries))
    if found:
        await conn.execute(directory_entries.insert(), [
            {"actor_uri": uri, "hops": hops, "via_uri": via, "fetched_at": fetched,
             "entry": json.dumps(entry, ensure_ascii=False)}
            for uri, hops, via, entry, fetched in found])


async def open_public_needs(conn: AsyncConnection) -> int:
    """This group's open public needs that anyone can see (local, not held or hidden)."""
    from sqlalchemy import func

    from fediaid.storage.tables import posts

    return int((await conn.execute(select(func.count()).select_from(posts).where(
        posts.c.kind == "need", posts.c.state == "open", posts.c.visibility == "public",
        posts.c.local.is_(True), posts.c.held.is_(False), posts.c.hidden.is_(False))
    )).scalar_one())
