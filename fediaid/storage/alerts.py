"""Account alerts between linked groups (``alerts_sent``, ``alerts_received``;
fediaid/domain/alerts.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.alerts import AlertState, Harm, parse_harm
from fediaid.storage.dialect import insert_ignore
from fediaid.storage.tables import actors, alerts_received, alerts_sent
from fediaid.storage.types import utcnow


@dataclass(frozen=True)
class SentAlert:
    id: int
    activity_uri: str
    account_uri: str
    account_handle: str
    harm: Harm
    reason: str
    sent_to: tuple[str, ...]  # the groups told (actor URIs)
    created_at: datetime
    retracted_at: datetime | None


@dataclass(frozen=True)
class ReceivedAlert:
    id: int
    activity_uri: str
    from_actor_id: int
    from_uri: str
    from_handle: str
    from_name: str
    account_uri: str
    account_handle: str
    harm: Harm
    reason: str
    state: AlertState
    received_at: datetime
    decided_at: datetime | None
    retracted_at: datetime | None


def _sent(row: Any) -> SentAlert:
    return SentAlert(id=row.id, activity_uri=row.activity_uri, account_uri=row.account_uri,
                     account_handle=row.account_handle, harm=parse_harm(row.harm),
                     reason=row.reason, sent_to=tuple(u for u in row.sent_to.split("\n") if u),
                     created_at=row.created_at, retracted_at=row.retracted_at)


def _received(row: Any) -> ReceivedAlert:
    return ReceivedAlert(
        id=row.id, activity_uri=row.activity_uri, from_actor_id=row.from_actor_id,
        from_uri=row.uri, from_handle=f"@{row.username}@{row.domain}",
        from_name=row.name or row.username or row.domain, account_uri=row.account_uri,
        account_handle=row.account_handle, harm=parse_harm(row.harm), reason=row.reason,
        state=AlertState(row.state), received_at=row.received_at, decided_at=row.decided_at,
        retracted_at=row.retracted_at)


def _select_received() -> Any:
    return select(alerts_received, actors.c.uri, actors.c.username, actors.c.domain,
                  actors.c.name).select_from(
        alerts_received.join(actors, actors.c.id == alerts_received.c.from_actor_id))


# -- sent ------------------------------------------------------------------------------
async def add_sent(conn: AsyncConnection, *, activity_uri: str, account_uri: str,
                   account_handle: str, harm: Harm, reason: str, sent_to: list[str],
                   by_user_id: int | None) -> int:
    row = await conn.execute(alerts_sent.insert().values(
        activity_uri=activity_uri, account_uri=account_uri, account_handle=account_handle,
        harm=harm.value, reason=reason, sent_to="\n".join(sent_to), by_user_id=by_user_id,
        created_at=utcnow()).returning(alerts_sent.c.id))
    return int(row.scalar_one())


async def sent(conn: AsyncConnection, *, limit: int = 100) -> list[SentAlert]:
    rows = await conn.execute(select(alerts_sent).order_by(alerts_sent.c.id.desc())
                              .limit(limit))
    return [_sent(r) for r in rows]


async def find_sent(conn: AsyncConnection, alert_id: int) -> SentAlert | None:
    row = (await conn.execute(select(alerts_sent).where(alerts_sent.c.id == alert_id))).first()
    return _sent(row) if row else None


async def standing_for(conn: AsyncConnection, account_uri: str) -> SentAlert | None:
    """Our alert about ``account_uri`` that was not retracted, if any."""
    row = (await conn.execute(select(alerts_sent).where(
        alerts_sent.c.account_uri == account_uri, alerts_sent.c.retracted_at.is_(None))
        .order_by(alerts_sent.c.id.desc()).limit(1))).first()
    return _sent(row) if row else None


async def mark_retracted(conn: AsyncConnection, alert_id: int) -> bool:
    done = await conn.execute(update(alerts_sent).where(
        alerts_sent.c.id == alert_id, alerts_sent.c.retracted_at.is_(None))
        .values(retracted_at=utcnow()))
    return done.rowcount > 0


# -- received --------------------------------------------------------------------------
async def add_received(conn: AsyncConnection, *, activity_uri: str, from_actor_id: int,
                       account_uri: str, account_handle: str, harm: Harm, reason: str
                       ) -> bool:
    """Keep an alert (a redelivery of the same activity is one alert). True when new."""
    done = await conn.execute(insert_ignore(conn, alerts_received, ["activity_uri"]).values(
        activity_uri=activity_uri, from_actor_id=from_actor_id, account_uri=account_uri,
        account_handle=account_handle, harm=harm.value, reason=reason,
        state=AlertState.OPEN.value, received_at=utcnow()))
    return bool(done.rowcount)


async def received(conn: AsyncConnection, *, states: tuple[AlertState, ...] | None = None,
                   limit: int = 100) -> list[ReceivedAlert]:
    q = _select_received()
    if states is not None:
        q = q.where(alerts_received.c.state.in_([s.value for s in states]))
    rows = await conn.execute(q.order_by(alerts_received.c.id.desc()).limit(limit))
    return [_received(r) for r in rows]


async def count_open(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(alerts_received).where(
        alerts_received.c.state == AlertState.OPEN.value))).scalar_one())


async def find_received(conn: AsyncConnection, alert_id: int) -> ReceivedAlert | None:
    row = (await conn.execute(_select_received().where(alerts_received.c.id == alert_id))
           ).first()
    return _received(row) if row else None


async def received_by_activity(conn: AsyncConnection, from_actor_id: int, activity_uri: str
                               ) -> ReceivedAlert | None:
    row = (await conn.execute(_select_received().where(
        alerts_received.c.from_actor_id == from_actor_id,
        alerts_received.c.activity_uri == activity_uri))).first()
    return _received(row) if row else None


async def received_about(conn: AsyncConnection, from_actor_id: int, account_uri: str
                         ) -> list[ReceivedAlert]:
    rows = await conn.execute(_select_received().where(
        alerts_received.c.from_actor_id == from_actor_id,
        alerts_received.c.account_uri == account_uri, alerts_received.c.retracted_at.is_(None)))
    return [_received(r) for r in rows]


async def set_state(conn: AsyncConnection, alert_id: int, *, before: AlertState,
                    state: AlertState, by_user_id: int | None) -> bool:
    done = await conn.execute(update(alerts_received).where(
        alerts_received.c.id == alert_id, alerts_received.c.state == before.value)
        .values(state=state.value, decided_by_user_id=by_user_id, decided_at=utcnow()))
    return done.rowcount > 0


async def remove_received(conn: AsyncConnection, alert_id: int) -> None:
    await conn.execute(delete(alerts_received).where(alerts_received.c.id == alert_id))


async def mark_received_retracted(conn: AsyncConnection, alert_id: int) -> None:
    await conn.execute(update(alerts_received).where(alerts_received.c.id == alert_id)
                       .values(retracted_at=utcnow()))
