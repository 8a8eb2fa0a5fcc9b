"""Objects (Notes and other content) and shares (Announces) received or created here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.storage.dialect import insert_ignore
from fediaid.storage.tables import objects, shares
from fediaid.storage.types import utcnow


@dataclass(frozen=True)
class StoredObject:
    id: int
    uri: str
    type: str
    actor_id: int | None
    attributed_to: str | None
    public: bool
    local: bool
    content: str | None
    payload: dict[str, Any]
    published: datetime | None


def _to_obj(row: Any) -> StoredObject:
    return StoredObject(row.id, row.uri, row.type, row.actor_id, row.attributed_to, row.public,
                        row.local, row.content, orjson.loads(row.payload), row.published)


async def find_by_uri(conn: AsyncConnection, uri: str) -> StoredObject | None:
    row = (await conn.execute(select(objects).where(objects.c.uri == uri))).first()
    return _to_obj(row) if row else None


async def upsert(
    conn: AsyncConnection,
    *,
    uri: str,
    type_: str,
    actor_id: int | None,
    attributed_to: str | None,
    in_reply_to: str | None,
    audience: str | None,
    public: bool,
    local: bool,
    content: str | None,
    payload: dict[str, Any],
    published: datetime | None,
) -> StoredObject:
    now = utcnow()
    values = {
        "type": type_,
        "actor_id": actor_id,
        "attributed_to": attributed_to,
        "in_reply_to": in_reply_to,
        "audience": audience,
        "public": public,
        "local": local,
        "content": content,
        "payload": orjson.dumps(payload).decode(),
        "published": published,
        "updated_at": now,
    }
    from fediaid.storage.dialect import upsert as upsert_stmt

    stmt = upsert_stmt(conn, objects, ["uri"]).values(uri=uri, created_at=now, **values)
    await conn.execute(stmt.on_conflict_do_update(index_elements=["uri"], set_=values))
    found = await find_by_uri(conn, uri)
    assert found is not None
    return found


# The columns an upsert rewrites when the object is stored again (all but uri, created_at).
_UPDATED = ("type", "actor_id", "attributed_to", "in_reply_to", "audience", "public", "local",
            "content", "payload", "published", "updated_at")


async def upsert_many(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Store many objects in one statement, as ``upsert`` does one at a time: a new URI is
    inserted, a known one rewritten. ``rows`` hold every column but ``id``, ``payload`` as
    JSON text, and no URI twice (PostgreSQL refuses to update one row twice in a
    statement)."""
    if not rows:
        return
    from fediaid.storage.dialect import upsert as upsert_stmt

    stmt = upsert_stmt(conn, objects, ["uri"])
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=["uri"], set_={c: stmt.excluded[c] for c in _UPDATED}), rows)


async def delete_by_uri(conn: AsyncConnection, uri: str) -> bool:
    result = await conn.execute(delete(objects).where(objects.c.uri == uri))
    await conn.execute(delete(shares).where(shares.c.object_uri == uri))
    return bool(result.rowcount)


async def add_share(conn: AsyncConnection, *, uri: str, actor_id: int, object_uri: str) -> None:
    await conn.execute(
        insert_ignore(conn, shares, ["uri"]).values(
            uri=uri, actor_id=actor_id, object_uri=object_uri, created_at=utcnow()
        )
    )


async def remove_share(conn: AsyncConnection, uri: str, *, actor_id: int) -> bool:
    """Remove a share (an Announce), only when ``actor_id`` made it."""
    result = await conn.execute(delete(shares).where(shares.c.uri == uri,
                                                     shares.c.actor_id == actor_id))
    return bool(result.rowcount)


async def shares_of(conn: AsyncConnection, object_uri: str) -> list[str]:
    rows = await conn.execute(select(shares.c.uri).where(shares.c.object_uri == object_uri))
    return [r[0] for r in rows]


async def recent_public_by(conn: AsyncConnection, actor_id: int, *, limit: int
                           ) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(objects.c.content, objects.c.published, objects.c.uri)
        .where(objects.c.actor_id == actor_id, objects.c.public.is_(True))
        .order_by(objects.c.id.desc())
        .limit(limit)
    )
    return [{"content": r.content or "", "published": r.published, "uri": r.uri} for r in rows]


async def forget_with_remote_replies(conn: AsyncConnection, uri: str) -> list[str]:
    """Delete the stored copy of ``uri`` and the remote replies to it (they quote and answer
    it); returns the URIs removed. Local replies are their authors' own and stay."""
    rows = await conn.execute(select(objects.c.uri).where(
        or_(objects.c.uri == uri, and_(objects.c.in_reply_to == uri,
                                       objects.c.local.is_(False)))))
    uris = [r[0] for r in rows]
    if uris:
        await conn.execute(delete(objects).where(objects.c.uri.in_(uris)))
        await conn.execute(delete(shares).where(shares.c.object_uri.in_(uris)))
    return uris
