"""The network's picture cache (``network_pictures``; fediaid/services/network_picture.py):
each linked group's published needs picture as fetched (JSON), and when."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.storage.tables import network_pictures


@dataclass(frozen=True)
class CachedPicture:
    actor_uri: str
    picture: dict[str, Any]
    fetched_at: datetime


async def pictures(conn: AsyncConnection) -> list[CachedPicture]:
    rows = await conn.execute(select(network_pictures).order_by(network_pictures.c.id))
    return [CachedPicture(actor_uri=r.actor_uri, picture=json.loads(r.picture),
                          fetched_at=r.fetched_at) for r in rows]


async def replace(conn: AsyncConnection,
                  found: list[tuple[str, dict[str, Any], datetime]]) -> None:
    """The whole cache becomes ``found`` (actor URI, the picture, when it was fetched)."""
    await conn.execute(delete(network_pictures))
    if found:
        await conn.execute(network_pictures.insert(), [
            {"actor_uri": uri, "picture": json.dumps(doc, ensure_ascii=False),
             "fetched_at": fetched} for uri, doc, fetched in found])
