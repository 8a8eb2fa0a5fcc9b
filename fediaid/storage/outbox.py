"""Published activities and their deliveries: the durable outgoing queue.

An activity and all its delivery rows are inserted by the caller inside the same transaction
as the change that caused them, so a crash can never lose one (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.queue import ItemState
from fediaid.storage.dialect import is_postgres
from fediaid.storage.domains import covered_by
from fediaid.storage.tables import activities, deliveries
from fediaid.storage.types import utcnow


@dataclass(frozen=True)
class DeliveryJob:
    id: int
    activity_id: int
    inbox_url: str
    domain: str
    attempts: int


@dataclass(frozen=True)
class DeliveryResult:
    id: int
    state: ItemState
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None


def inbox_domain(url: str) -> str:
    return (urlsplit(url).netloc or "").lower()


async def add_activity(
    conn: AsyncConnection,
    *,
    uri: str,
    actor_id: int,
    type_: str,
    object_uri: str | None,
    public: bool,
    payload: dict[str, Any],
) -> int:
    return int(
        (
            await conn.execute(
                activities.insert()
                .values(
                    uri=uri,
                    actor_id=actor_id,
                    type=type_,
                    object_uri=object_uri,
                    public=public,
                    payload=orjson.dumps(payload).decode(),
                    created_at=utcnow(),
                )
                .returning(activities.c.id)
            )
        ).scalar_one()
    )


async def add_deliveries(
    conn: AsyncConnection,
    activity_id: int,
    inboxes: Iterable[str],
    *,
    held_domains: frozenset[str] = frozenset(),
) -> int:
    """Queue one delivery per distinct inbox. Inboxes on domains currently marked unavailable
    are queued as held: they go out when the domain answers again."""
    now = utcnow()
    rows = []
    for inbox in dict.fromkeys(inboxes):
        domain = inbox_domain(inbox)
        rows.append(
            {
                "activity_id": activity_id,
                "inbox_url": inbox,
                "domain": domain,
                "state": (ItemState.HELD if domain in held_domains else ItemState.PENDING).value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    if rows:
        await conn.execute(deliveries.insert(), rows)
    return len(rows)


async def claim_due(
    conn: AsyncConnection, *, worker: str, limit: int, lease_seconds: float
) -> list[DeliveryJob]:
    """Lease up to ``limit`` due deliveries to ``worker``. A lease that ends (the worker was
    killed) makes the row claimable again. On PostgreSQL concurrent workers skip each other's
    rows (``FOR UPDATE SKIP LOCKED``); SQLite has one writer at a time anyway."""
    now = utcnow()
    sub = (
        select(deliveries.c.id)
        .where(
            deliveries.c.state == ItemState.PENDING.value,
            deliveries.c.next_attempt_at <= now,
            or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
        )
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
        .limit(limit)
    )
    if is_postgres(conn):
        sub = sub.with_for_update(skip_locked=True)
    result = await conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(sub.scalar_subquery()))
        .values(
            lease_until=now + timedelta(seconds=lease_seconds),
            leased_by=worker,
            attempts=deliveries.c.attempts + 1,
        )
        .returning(
            deliveries.c.id,
            deliveries.c.activity_id,
            deliveries.c.inbox_url,
            deliveries.c.domain,
            deliveries.c.attempts,
        )
    )
    jobs = [DeliveryJob(r.id, r.activity_id, r.inbox_url, r.domain, r.attempts) for r in result]
    jobs.sort(key=lambda j: j.id)
    return jobs


async def next_claimable(conn: AsyncConnection) -> datetime | None:
    """When ``claim_due`` will next find work: the earliest ``next_attempt_at`` of pending rows
    that no running lease holds (None: no such row). Unlike ``next_due`` it ignores rows a
    worker holds, so a worker that holds the rest of a fan-out is not told to claim again
    and again; a lease that ends makes its row count again (indexed by state and time; it
    steps over at most the leased rows)."""
    now = utcnow()
    earliest: datetime | None = (
        await conn.execute(
            select(func.min(deliveries.c.next_attempt_at)).where(
                deliveries.c.state == ItemState.PENDING.value,
                or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
            )
        )
    ).scalar_one()
    return earliest


async def extend_leases(
    conn: AsyncConnection, *, worker: str, ids: Iterable[int], lease_seconds: float
) -> set[int]:
    """Push back the lease of rows ``worker`` still holds (claimed, not yet finished), so a
    delivery that waits in the worker's memory longer than a lease is not claimed again and
    sent twice. Returns the ids that are still this worker's; a row missing from the answer
    was taken over (its lease had run out) or finished, and must not be sent."""
    wanted = list(ids)
    if not wanted:
        return set()
    result = await conn.execute(
        update(deliveries)
        .where(
            deliveries.c.id.in_(wanted),
            deliveries.c.leased_by == worker,
            deliveries.c.state == ItemState.PENDING.value,
        )
        .values(lease_until=utcnow() + timedelta(seconds=lease_seconds))
        .returning(deliveries.c.id)
    )
    return {int(r[0]) for r in result}


async def activity_payloads(
    conn: AsyncConnection, activity_ids: Iterable[int]
) -> dict[int, tuple[int, bytes]]:
    """activity id -> (actor id, JSON body bytes)."""
    ids = list(set(activity_ids))
    if not ids:
        return {}
    rows = await conn.execute(
        select(activities.c.id, activities.c.actor_id, activities.c.payload).where(
            activities.c.id.in_(ids)
        )
    )
    return {r.id: (r.actor_id, r.payload.encode()) for r in rows}


async def finish(conn: AsyncConnection, *, worker: str, results: list[DeliveryResult]) -> None:
    """Record attempt results; rows whose lease another worker took over in the meantime are
    left alone. Results that set the same values (typically: delivered, with the same status)
    share one ``UPDATE ... WHERE id IN (...)``; the rest go in one executemany. A batch of 100
    successes costs one statement and ~40 % less CPU than 100 parameter sets."""
    if not results:
        return
    now = utcnow()
    groups: dict[tuple[str, datetime, int | None, str | None, datetime | None], list[int]] = {}
    for r in results:
        key = (
            r.state.value,
            r.next_attempt_at or now,
            r.last_status,
            (r.last_error or None) and r.last_error[:1000],
            now if r.state in (ItemState.DONE, ItemState.FAILED) else None,
        )
        groups.setdefault(key, []).append(r.id)
    singles = []
    for (state, nxt, status, error, finished), ids in groups.items():
        if len(ids) == 1:
            singles.append({"b_id": ids[0], "b_state": state, "b_next": nxt,
                            "b_status": status, "b_error": error, "b_finished": finished})
            continue
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(ids), deliveries.c.leased_by == worker)
            .values(state=state, next_attempt_at=nxt, last_status=status, last_error=error,
                    finished_at=finished, lease_until=None, leased_by=None)
        )
    if singles:
        stmt = (
            update(deliveries)
            .where(deliveries.c.id == bindparam("b_id"), deliveries.c.leased_by == worker)
            .values(
                state=bindparam("b_state"),
                next_attempt_at=bindparam("b_next"),
                last_status=bindparam("b_status"),
                last_error=bindparam("b_error"),
                finished_at=bindparam("b_finished"),
                lease_until=None,
                leased_by=None,
            )
        )
        await conn.execute(stmt, singles)


async def hold_domain(conn: AsyncConnection, domain: str) -> int:
    result = await conn.execute(
        update(deliveries)
        .where(deliveries.c.domain == domain, deliveries.c.state == ItemState.PENDING.value)
        .values(state=ItemState.HELD.value)
    )
    return int(result.rowcount or 0)


async def release_domain(conn: AsyncConnection, domain: str) -> int:
    result = await conn.execute(
        update(deliveries)
        .where(deliveries.c.domain == domain, deliveries.c.state == ItemState.HELD.value)
        .values(state=ItemState.PENDING.value, next_attempt_at=utcnow())
    )
    return int(result.rowcount or 0)


async def cancel_for_object(conn: AsyncConnection, object_uri: str) -> int:
    """Cancel undelivered copies of activities about ``object_uri`` (it was deleted)."""
    ids = select(activities.c.id).where(activities.c.object_uri == object_uri)
    result = await conn.execute(
        update(deliveries)
        .where(
            deliveries.c.activity_id.in_(ids.scalar_subquery()),
            deliveries.c.state.in_([ItemState.PENDING.value, ItemState.HELD.value]),
        )
        .values(state=ItemState.CANCELLED.value, finished_at=utcnow())
    )
    return int(result.rowcount or 0)


async def cancel_for_domains(conn: AsyncConnection, rules: frozenset[str] | set[str]) -> int:
    """Cancel undelivered deliveries to inboxes covered by ``rules`` (blocked domains),
    leased ones included: the worker drops them (their lease can no longer be renewed)."""
    if not rules:
        return 0
    result = await conn.execute(
        update(deliveries)
        .where(
            deliveries.c.state.in_([ItemState.PENDING.value, ItemState.HELD.value]),
            covered_by(deliveries.c.domain, rules),
        )
        .values(state=ItemState.CANCELLED.value, finished_at=utcnow(), lease_until=None,
                leased_by=None, last_error="domain blocked")
    )
    return int(result.rowcount or 0)


async def undelivered_inboxes(conn: AsyncConnection) -> list[tuple[int, str]]:
    """(delivery id, inbox) of every pending or held delivery."""
    rows = await conn.execute(
        select(deliveries.c.id, deliveries.c.inbox_url).where(
            deliveries.c.state.in_([ItemState.PENDING.value, ItemState.HELD.value])))
    return [(int(r.id), str(r.inbox_url)) for r in rows]


async def cancel_deliveries(conn: AsyncConnection, ids: Iterable[int], reason: str) -> int:
    """Cancel the given undelivered deliveries (the federation policy refused them)."""
    wanted = list(ids)
    if not wanted:
        return 0
    result = await conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(wanted),
               deliveries.c.state.in_([ItemState.PENDING.value, ItemState.HELD.value]))
        .values(state=ItemState.CANCELLED.value, finished_at=utcnow(), lease_until=None,
                leased_by=None, last_error=reason[:1000])
    )
    return int(result.rowcount or 0)


async def counts_by_state(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(
        select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
    )
    return {r[0]: int(r[1]) for r in rows}


async def next_due(conn: AsyncConnection) -> datetime | None:
    return (
        await conn.execute(
            select(func.min(deliveries.c.next_attempt_at)).where(
                deliveries.c.state == ItemState.PENDING.value
            )
        )
    ).scalar_one()


@dataclass(frozen=True)
class StoredActivity:
    """A published activity as stored: whether it may be shown is decided by the services
    with ``visibility.can_view_activity`` on its object's current state."""

    id: int
    uri: str
    actor_id: int
    type: str
    object_uri: str | None
    public: bool  # addressed to everyone when sent (cleared when its object is narrowed)
    payload: dict[str, Any]


def _stored(row: Any) -> StoredActivity:
    return StoredActivity(id=row.id, uri=row.uri, actor_id=row.actor_id, type=row.type,
                          object_uri=row.object_uri, public=bool(row.public),
                          payload=dict(orjson.loads(row.payload)))


_STORED = (activities.c.id, activities.c.uri, activities.c.actor_id, activities.c.type,
           activities.c.object_uri, activities.c.public, activities.c.payload)


async def outbox_page(
    conn: AsyncConnection, *, actor_id: int, limit: int, offset: int,
    types: tuple[str, ...] | None = None,
) -> list[StoredActivity]:
    """Activities of a local actor that were addressed publicly, newest first (candidates:
    the caller still checks each one's object)."""
    q = select(*_STORED).where(activities.c.actor_id == actor_id,
                               activities.c.public.is_(True))
    if types:
        q = q.where(activities.c.type.in_(types))
    rows = await conn.execute(q.order_by(activities.c.id.desc()).limit(limit).offset(offset))
    return [_stored(r) for r in rows]


async def outbox_count(conn: AsyncConnection, *, actor_id: int) -> int:
    return int(
        (
            await conn.execute(
                select(func.count())
                .select_from(activities)
                .where(activities.c.actor_id == actor_id, activities.c.public.is_(True))
            )
        ).scalar_one()
    )


async def find_activity(conn: AsyncConnection, uri: str) -> StoredActivity | None:
    row = (await conn.execute(select(*_STORED).where(activities.c.uri == uri))).first()
    return None if row is None else _stored(row)


async def inboxes_for_object(conn: AsyncConnection, object_uri: str) -> list[str]:
    """Every inbox we queued any activity about ``object_uri`` for (to take it back)."""
    rows = await conn.execute(
        select(deliveries.c.inbox_url).join(activities,
                                            activities.c.id == deliveries.c.activity_id)
        .where(activities.c.object_uri == object_uri).distinct())
    return [r[0] for r in rows]


async def inboxes_for_activity(conn: AsyncConnection, activity_uri: str) -> list[str]:
    rows = await conn.execute(
        select(deliveries.c.inbox_url).join(activities,
                                            activities.c.id == deliveries.c.activity_id)
        .where(activities.c.uri == activity_uri).distinct())
    return [r[0] for r in rows]


# -- an object's stored activities follow the object ------------------------------------------

async def restrict_object(conn: AsyncConnection, object_uri: str) -> int:
    """The object was narrowed (no longer public): its stored activities are no longer
    public either. Called in the transaction that narrows it."""
    result = await conn.execute(
        update(activities)
        .where(activities.c.object_uri == object_uri, activities.c.public.is_(True))
        .values(public=False)
    )
    return int(result.rowcount or 0)


async def forget_object(conn: AsyncConnection, object_uri: str) -> int:
    """Remove every stored activity about ``object_uri`` (its Create, Updates, Announces,
    Offers) with their deliveries, sent or not: the object was deleted or taken back, and
    nothing derived from it is kept. A Delete about it names no object (``object_uri`` is
    None), so it stays until delivered. Returns the activities removed."""
    ids = select(activities.c.id).where(activities.c.object_uri == object_uri)
    await conn.execute(delete(deliveries).where(
        deliveries.c.activity_id.in_(ids.scalar_subquery())))
    result = await conn.execute(delete(activities).where(activities.c.object_uri == object_uri))
    return int(result.rowcount or 0)


async def forget_activity(conn: AsyncConnection, uri: str) -> int:
    """Remove one stored activity and its deliveries (an undone boost)."""
    ids = select(activities.c.id).where(activities.c.uri == uri)
    await conn.execute(delete(deliveries).where(
        deliveries.c.activity_id.in_(ids.scalar_subquery())))
    result = await conn.execute(delete(activities).where(activities.c.uri == uri))
    return int(result.rowcount or 0)
