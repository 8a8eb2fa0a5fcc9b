"""The needs picture's counts of deleted posts: ``picture_counts`` and ``picture_times``
(fediaid/storage/tables.py), written in the deleting transaction by
``services.retention.keep_counts`` and read, added to the stored posts' counts, by
fediaid/storage/picture.py. Each deleted post adds 1 to a few counters (an upsert, atomic
on both databases); nothing names the post or a person.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.storage.dialect import upsert
from fediaid.storage.tables import picture_counts, picture_times, responses

#: ``picture_times.measure``: posting to fulfilled (or partly), and to the first answer.
MET = "met"
FIRST_ANSWER = "first_answer"


async def first_answer_at(conn: AsyncConnection, post_id: int) -> datetime | None:
    """When the post got its first answer (any answer), if it got one."""
    first: datetime | None = await conn.scalar(
        select(func.min(responses.c.created_at)).where(responses.c.post_id == post_id))
    return first


async def add_post(conn: AsyncConnection, *, month: str, kind: str, category: str,
                   area: str | None, outcome: str) -> None:
    """Count one more post in its cell (``area`` None or "": none)."""
    stmt = upsert(conn, picture_counts, ["month", "kind", "category", "area", "outcome"])
    await conn.execute(stmt.values(
        month=month, kind=kind, category=category, area=area or "", outcome=outcome, posts=1,
    ).on_conflict_do_update(
        index_elements=["month", "kind", "category", "area", "outcome"],
        set_={"posts": picture_counts.c.posts + 1}))


async def add_time(conn: AsyncConnection, *, month: str, category: str, measure: str,
                   within_seconds: int) -> None:
    """Count one more need whose ``measure`` took up to the step ``within_seconds``."""
    stmt = upsert(conn, picture_times, ["month", "category", "measure", "within_seconds"])
    await conn.execute(stmt.values(
        month=month, category=category, measure=measure, within_seconds=within_seconds,
        needs=1,
    ).on_conflict_do_update(
        index_elements=["month", "category", "measure", "within_seconds"],
        set_={"needs": picture_times.c.needs + 1}))
