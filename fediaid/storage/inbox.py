"""Received activities: stored before we answer 202, processed later by a worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.queue import ItemState
from fediaid.storage.dialect import insert_ignore, is_postgres
from fediaid.storage.tables import inbox_items
from fediaid.storage.types import utcnow


@dataclass(frozen=True)
class InboxJob:
    id: int
    activity_uri: str
    type: str
    actor_uri: str
    signer_key_id: str
    payload: str
    attempts: int


async def insert_many(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Insert received activities; an activity id we already have is skipped (idempotency)."""
    if rows:
        await conn.execute(insert_ignore(conn, inbox_items, ["activity_uri"]), rows)


def new_row(*, activity_uri: str, type_: str, actor_uri: str, signer_key_id: str,
            payload: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "activity_uri": activity_uri,
        "type": type_,
        "actor_uri": actor_uri,
        "signer_key_id": signer_key_id,
        "payload": payload,
        "received_at": now,
        "state": ItemState.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
    }


def due_ids(now: datetime, limit: int) -> Select[tuple[int]]:
    """The ids of the first ``limit`` items due at ``now`` and not leased: due first, then as
    received. That is the order of ``ix_inbox_items_due`` (state, next_attempt_at and, on
    SQLite, the rowid), so a claim reads ``limit`` entries of the index and stops, however
    many wait; ``ORDER BY id`` sorted every pending row on every claim (~20 ms a claim with
    20,000 waiting). A new item is due when it is received."""
    return (
        select(inbox_items.c.id)
        .where(
            inbox_items.c.state == ItemState.PENDING.value,
            inbox_items.c.next_attempt_at <= now,
            or_(inbox_items.c.lease_until.is_(None), inbox_items.c.lease_until < now),
        )
        .order_by(inbox_items.c.next_attempt_at, inbox_items.c.id)
        .limit(limit)
    )


async def claim_due(conn: AsyncConnection, *, worker: str, limit: int, lease_seconds: float
                    ) -> list[InboxJob]:
    now = utcnow()
    sub = due_ids(now, limit)
    if is_postgres(conn):
        sub = sub.with_for_update(skip_locked=True)
    result = await conn.execute(
        update(inbox_items)
        .where(inbox_items.c.id.in_(sub.scalar_subquery()))
        .values(lease_until=now + timedelta(seconds=lease_seconds), leased_by=worker,
                attempts=inbox_items.c.attempts + 1)
        .returning(inbox_items.c.id, inbox_items.c.activity_uri, inbox_items.c.type,
                   inbox_items.c.actor_uri, inbox_items.c.signer_key_id, inbox_items.c.payload,
                   inbox_items.c.attempts)
    )
    jobs = [InboxJob(*r) for r in result]
    jobs.sort(key=lambda j: j.id)
    return jobs


async def keep_leases(conn: AsyncConnection, *, worker: str, ids: list[int],
                      lease_seconds: float) -> set[int]:
    """Renew the lease of the pending items ``worker`` still holds among ``ids``; returns
    their ids (the others' lease ran out and another worker claimed them, or they are
    finished)."""
    now = utcnow()
    result = await conn.execute(
        update(inbox_items)
        .where(inbox_items.c.id.in_(ids), inbox_items.c.leased_by == worker,
               inbox_items.c.state == ItemState.PENDING.value)
        .values(lease_until=now + timedelta(seconds=lease_seconds))
        .returning(inbox_items.c.id))
    return {r[0] for r in result}


async def finish(conn: AsyncConnection, *, worker: str,
                 results: list[tuple[int, ItemState, str | None, float]]) -> None:
    """results: (id, new state, error, retry delay seconds). The items done without an
    error (nearly all of them) share one ``UPDATE ... WHERE id IN``; the others get one
    each."""
    if not results:
        return
    now = utcnow()
    done: list[int] = []
    others: list[tuple[int, ItemState, str | None, float]] = []
    for r in results:
        if r[1] is ItemState.DONE and not r[2] and not r[3]:
            done.append(r[0])
        else:
            others.append(r)
    if done:
        await conn.execute(
            update(inbox_items)
            .where(inbox_items.c.id.in_(done), inbox_items.c.leased_by == worker)
            .values(state=ItemState.DONE.value, last_error=None, next_attempt_at=now,
                    processed_at=now, lease_until=None, leased_by=None))
    if not others:
        return
    stmt = (
        update(inbox_items)
        .where(inbox_items.c.id == bindparam("b_id"), inbox_items.c.leased_by == worker)
        .values(state=bindparam("b_state"), last_error=bindparam("b_error"),
                next_attempt_at=bindparam("b_next"), processed_at=bindparam("b_done"),
                lease_until=None, leased_by=None)
    )
    await conn.execute(
        stmt,
        [
            {
                "b_id": i,
                "b_state": s.value,
                "b_error": e[:1000] if e else None,
                "b_next": now + timedelta(seconds=d),
                "b_done": now if s is not ItemState.PENDING else None,
            }
            for i, s, e, d in others
        ],
    )


async def counts_by_state(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(
        select(inbox_items.c.state, func.count()).group_by(inbox_items.c.state)
    )
    return {r[0]: int(r[1]) for r in rows}


async def exists(conn: AsyncConnection, activity_uri: str) -> bool:
    row = (await conn.execute(
        select(inbox_items.c.id).where(inbox_items.c.activity_uri == activity_uri))).first()
    return row is not None


# Received payloads are kept only while they are work or useful for deduplication: rows in
# these states are finished and may be purged (pending and leased rows never are).
FINISHED = (ItemState.DONE.value, ItemState.FAILED.value, ItemState.CANCELLED.value)


async def purge_finished(conn: AsyncConnection, *, before: datetime) -> int:
    """Delete finished received activities processed (or, failing that, received) before
    ``before``: raw incoming payloads are not kept beyond the retention window."""
    result = await conn.execute(
        delete(inbox_items).where(
            inbox_items.c.state.in_(FINISHED),
            func.coalesce(inbox_items.c.processed_at, inbox_items.c.received_at) < before,
        )
    )
    return int(result.rowcount or 0)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def purge_about(conn: AsyncConnection, uri: str) -> int:
    """Delete finished received activities that name ``uri`` (as an id, or with a fragment
    such as FEP-0837's ``#primary``): copies of a deleted object, and answers to it."""
    quoted = _like_escape(f'"{uri}')
    result = await conn.execute(
        delete(inbox_items).where(
            inbox_items.c.state.in_(FINISHED),
            or_(inbox_items.c.payload.like(f'%{quoted}"%', escape="\\"),
                inbox_items.c.payload.like(f"%{quoted}#%", escape="\\")),
        )
    )
    return int(result.rowcount or 0)
