"""Media attachments: local uploads (files under DIR/media) and remote statuses'
attachments (their URLs only, never downloaded); and which files under DIR/media local
actors use as avatar or header."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.storage.tables import actors, media_attachments
from fediaid.storage.types import utcnow


@dataclass(frozen=True)
class Media:
    id: int
    account_id: int
    user_id: int | None
    status_id: int | None
    type: str
    file_name: str | None
    remote_url: str | None
    content_type: str
    description: str | None
    width: int | None
    height: int | None
    size: int | None
    blurhash: str | None
    created_at: datetime
    focus: tuple[float, float] | None = None  # Mastodon's focal point, both in [-1, 1]


def _media(row: Any) -> Media:
    return Media(id=row.id, account_id=row.account_id, user_id=row.user_id,
                 status_id=row.status_id, type=row.type, file_name=row.file_name,
                 remote_url=row.remote_url, content_type=row.content_type,
                 description=row.description, width=row.width, height=row.height,
                 size=row.size, blurhash=row.blurhash, created_at=row.created_at,
                 focus=(None if row.focus_x is None or row.focus_y is None
                        else (float(row.focus_x), float(row.focus_y))))


async def add(conn: AsyncConnection, *, account_id: int, user_id: int | None,
              content_type: str, file_name: str | None = None, remote_url: str | None = None,
              status_id: int | None = None, description: str | None = None,
              width: int | None = None, height: int | None = None, size: int | None = None,
              blurhash: str | None = None, type_: str = "image",
              focus: tuple[float, float] | None = None) -> int:
    fx, fy = focus if focus is not None else (None, None)
    result = await conn.execute(media_attachments.insert().values(
        account_id=account_id, user_id=user_id, status_id=status_id, type=type_,
        file_name=file_name, remote_url=remote_url, content_type=content_type,
        description=description, width=width, height=height, size=size, blurhash=blurhash,
        focus_x=fx, focus_y=fy, created_at=utcnow()).returning(media_attachments.c.id))
    return int(result.scalar_one())


async def find(conn: AsyncConnection, media_id: int) -> Media | None:
    row = (await conn.execute(select(media_attachments)
                              .where(media_attachments.c.id == media_id))).first()
    return None if row is None else _media(row)


async def find_many(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Media]:
    if not ids:
        return {}
    rows = await conn.execute(select(media_attachments)
                              .where(media_attachments.c.id.in_(list(ids))))
    return {row.id: _media(row) for row in rows}


async def for_statuses(conn: AsyncConnection, status_ids: Sequence[int]) -> list[Media]:
    """Attachments of these statuses, in the order they were attached (id order)."""
    if not status_ids:
        return []
    rows = await conn.execute(select(media_attachments)
                              .where(media_attachments.c.status_id.in_(list(status_ids)))
                              .order_by(media_attachments.c.id))
    return [_media(row) for row in rows]


async def set_description(conn: AsyncConnection, media_id: int,
                          description: str | None) -> None:
    await conn.execute(update(media_attachments).where(media_attachments.c.id == media_id)
                       .values(description=description))


async def set_focus(conn: AsyncConnection, media_id: int,
                    focus: tuple[float, float] | None) -> None:
    fx, fy = focus if focus is not None else (None, None)
    await conn.execute(update(media_attachments).where(media_attachments.c.id == media_id)
                       .values(focus_x=fx, focus_y=fy))


async def attach(conn: AsyncConnection, ids: Sequence[int], *, status_id: int) -> int:
    """Attach unattached media to a status; returns how many rows changed."""
    result = await conn.execute(
        update(media_attachments)
        .where(media_attachments.c.id.in_(list(ids)), media_attachments.c.status_id.is_(None))
        .values(status_id=status_id))
    return int(result.rowcount)


async def remove(conn: AsyncConnection, media_id: int) -> None:
    await conn.execute(delete(media_attachments).where(media_attachments.c.id == media_id))


async def unattached_before(conn: AsyncConnection, when: datetime, *,
                            limit: int = 500) -> list[Media]:
    rows = await conn.execute(select(media_attachments)
                              .where(media_attachments.c.status_id.is_(None),
                                     media_attachments.c.file_name.is_not(None),
                                     media_attachments.c.created_at < when)
                              .order_by(media_attachments.c.id).limit(limit))
    return [_media(row) for row in rows]


async def file_names(conn: AsyncConnection) -> set[str]:
    """Every local file name in use (for sweeping files whose row is gone)."""
    rows = await conn.execute(select(media_attachments.c.file_name)
                              .where(media_attachments.c.file_name.is_not(None)))
    return {name for (name,) in rows}


async def profile_image_urls(conn: AsyncConnection) -> set[str]:
    """The avatar and header URLs of local actors (files under DIR/media that belong to no
    attachment row, which the sweep must keep)."""
    rows = await conn.execute(select(actors.c.icon_url, actors.c.header_url)
                              .where(actors.c.local.is_(True),
                                     or_(actors.c.icon_url.is_not(None),
                                         actors.c.header_url.is_not(None))))
    return {url for row in rows for url in row if url}
