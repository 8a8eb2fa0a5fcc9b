"""E-mail: members' addresses and choices, confirmation links, the SMTP settings (keys in
``group_settings``) and the durable e-mail queue (``email_outbox``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.email import Choices, Kind, Period
from fediaid.domain.queue import ItemState
from fediaid.storage.dialect import is_postgres
from fediaid.storage.tables import (
    email_addresses,
    email_confirmations,
    email_outbox,
    group_settings,
    users,
)
from fediaid.storage.types import utcnow

SMTP_KEYS = ("smtp_host", "smtp_port", "smtp_tls", "smtp_username", "smtp_sender")
SMTP_PASSWORD_KEY = "smtp_password"  # noqa: S105  (a key name; the value is sealed)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# -- the SMTP settings -----------------------------------------------------------------------
async def smtp_values(conn: AsyncConnection) -> dict[str, str]:
    rows = await conn.execute(select(group_settings.c.key, group_settings.c.value).where(
        group_settings.c.key.in_([*SMTP_KEYS, SMTP_PASSWORD_KEY])))
    return {r.key: r.value for r in rows}


async def put_setting(conn: AsyncConnection, key: str, value: str | None) -> None:
    await conn.execute(delete(group_settings).where(group_settings.c.key == key))
    if value is not None:
        await conn.execute(group_settings.insert().values(key=key, value=value))


# -- addresses and choices ----------------------------------------------------------------------
@dataclass(frozen=True)
class Address:
    user_id: int
    address: str | None
    confirmed_at: datetime | None
    pending: str | None
    language: str
    choices: Choices
    digest_until: datetime | None


def _split(value: str) -> tuple[str, ...]:
    return tuple(v for v in value.split(",") if v)


def _address(r: Any) -> Address:
    return Address(
        user_id=r.user_id, address=r.address, confirmed_at=r.confirmed_at, pending=r.pending,
        language=r.language,
        choices=Choices(answers=r.answers, messages=r.messages, digest=Period(r.digest),
                        categories=_split(r.digest_categories), areas=_split(r.digest_areas)),
        digest_until=r.digest_until)


async def find(conn: AsyncConnection, user_id: int) -> Address | None:
    row = (await conn.execute(select(email_addresses)
                              .where(email_addresses.c.user_id == user_id))).first()
    return _address(row) if row else None


async def set_pending(conn: AsyncConnection, user_id: int, address: str, language: str
                      ) -> None:
    now = utcnow()
    if await find(conn, user_id) is None:
        await conn.execute(email_addresses.insert().values(
            user_id=user_id, pending=address, language=language, answers=True,
            messages=True, digest=Period.OFF.value, digest_categories="", digest_areas="",
            created_at=now, updated_at=now))
    else:
        await conn.execute(update(email_addresses).where(email_addresses.c.user_id == user_id)
                           .values(pending=address, language=language, updated_at=now))
    # Links sent for an address typed before stop working.
    await conn.execute(delete(email_confirmations)
                       .where(email_confirmations.c.user_id == user_id))


async def set_choices(conn: AsyncConnection, user_id: int, choices: Choices, language: str
                      ) -> None:
    await conn.execute(update(email_addresses).where(email_addresses.c.user_id == user_id)
                       .values(answers=choices.answers, messages=choices.messages,
                               digest=choices.digest.value,
                               digest_categories=",".join(choices.categories),
                               digest_areas=",".join(choices.areas), language=language,
                               updated_at=utcnow()))


async def turn_off(conn: AsyncConnection, user_id: int, kind: Kind) -> bool:
    """One-click unsubscribe: True if it was on."""
    column = {Kind.ANSWERS: "answers", Kind.MESSAGES: "messages", Kind.DIGEST: "digest"}[kind]
    off: object = Period.OFF.value if kind is Kind.DIGEST else False
    on = (email_addresses.c.digest != Period.OFF.value if kind is Kind.DIGEST
          else email_addresses.c[column].is_(True))
    result = await conn.execute(update(email_addresses).where(
        email_addresses.c.user_id == user_id, on).values({column: off,
                                                          "updated_at": utcnow()}))
    return bool(result.rowcount)


async def remove(conn: AsyncConnection, user_id: int) -> None:
    """The address, its choices, its links and its unsent messages go."""
    await conn.execute(delete(email_confirmations)
                       .where(email_confirmations.c.user_id == user_id))
    await conn.execute(delete(email_outbox).where(email_outbox.c.user_id == user_id))
    await conn.execute(delete(email_addresses).where(email_addresses.c.user_id == user_id))


async def add_confirmation(conn: AsyncConnection, *, user_id: int, address: str, secret: str,
                           ttl: timedelta) -> None:
    await conn.execute(email_confirmations.insert().values(
        token_hash=digest(secret), user_id=user_id, address=address,
        expires_at=utcnow() + ttl))


async def use_confirmation(conn: AsyncConnection, secret: str) -> tuple[int, str] | None:
    """Confirm the address a link was sent to (once; only while it is still the address
    the member typed last): (user id, address), else None."""
    now = utcnow()
    row = (await conn.execute(delete(email_confirmations).where(
        email_confirmations.c.token_hash == digest(secret)).returning(
        email_confirmations.c.user_id, email_confirmations.c.address,
        email_confirmations.c.expires_at))).first()
    if row is None or row.expires_at <= now:
        return None
    done = await conn.execute(update(email_addresses).where(
        email_addresses.c.user_id == row.user_id, email_addresses.c.pending == row.address,
    ).values(address=row.address, pending=None, confirmed_at=now, updated_at=now))
    if not done.rowcount:
        return None
    await conn.execute(delete(email_confirmations)
                       .where(email_confirmations.c.user_id == row.user_id))
    return int(row.user_id), str(row.address)


async def users_by_address(conn: AsyncConnection, address: str) -> list[int]:
    """Accounts whose confirmed address this is (a household may share one). The domain
    part is compared without case (it is stored lower-cased)."""
    local, _, domain = address.rpartition("@")
    rows = await conn.execute(select(email_addresses.c.user_id).where(
        email_addresses.c.address == f"{local}@{domain.lower()}"))
    return [int(r[0]) for r in rows]


async def digest_due(conn: AsyncConnection) -> list[Address]:
    """Members with a confirmed address and a digest chosen (the caller decides whether
    each is due)."""
    rows = await conn.execute(select(email_addresses).join(
        users, users.c.id == email_addresses.c.user_id).where(
        email_addresses.c.address.is_not(None),
        email_addresses.c.digest != Period.OFF.value, users.c.disabled.is_(False)))
    return [_address(r) for r in rows]


async def advance_digest(conn: AsyncConnection, user_id: int, last: datetime | None,
                         until: datetime) -> bool:
    """Move the end of the member's last digest from ``last`` to ``until``, only if it is
    still ``last`` (one conditional UPDATE: of two processes queuing at once, one wins)."""
    same = (email_addresses.c.digest_until.is_(None) if last is None
            else email_addresses.c.digest_until == last)
    result = await conn.execute(update(email_addresses).where(
        email_addresses.c.user_id == user_id, same).values(digest_until=until))
    return bool(result.rowcount)


async def export_of(conn: AsyncConnection, user_id: int) -> dict[str, Any] | None:
    found = await find(conn, user_id)
    if found is None:
        return None
    return {
        "address": found.address, "confirmed_at": found.confirmed_at,
        "waiting_for_confirmation": found.pending, "language": found.language,
        "answers_to_my_posts": found.choices.answers,
        "messages_in_my_exchanges": found.choices.messages,
        "digest": found.choices.digest.value,
        "digest_categories": list(found.choices.categories),
        "digest_neighborhoods": list(found.choices.areas),
        "last_digest_until": found.digest_until,
        "messages_queued_or_sent": [
            {"kind": r.kind, "state": r.state, "created_at": r.created_at,
             "sent_at": r.sent_at}
            for r in await conn.execute(select(email_outbox).where(
                email_outbox.c.user_id == user_id).order_by(email_outbox.c.id))],
    }


# -- the queue ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    id: int
    user_id: int | None
    kind: Kind
    ref: dict[str, Any]
    to_address: str | None
    attempts: int
    created_at: datetime


async def enqueue(conn: AsyncConnection, *, kind: Kind, user_id: int | None,
                  ref: dict[str, Any] | None = None, to_address: str | None = None) -> int:
    now = utcnow()
    return int((await conn.execute(email_outbox.insert().values(
        user_id=user_id, kind=kind.value, ref=orjson.dumps(ref or {}).decode(),
        to_address=to_address, state=ItemState.PENDING.value, attempts=0,
        next_attempt_at=now, created_at=now).returning(email_outbox.c.id))).scalar_one())


async def claim_due(conn: AsyncConnection, *, worker: str, limit: int, lease_seconds: float,
                    due_by: datetime | None = None) -> list[Job]:
    """Lease due messages (as ``outbox.claim_due`` does for deliveries): due now, and by
    ``due_by`` when given (a round of sending does not pick up its own retries)."""
    now = utcnow()
    sub = (select(email_outbox.c.id).where(
        email_outbox.c.state == ItemState.PENDING.value,
        email_outbox.c.next_attempt_at <= (min(now, due_by) if due_by else now),
        or_(email_outbox.c.lease_until.is_(None), email_outbox.c.lease_until < now))
        .order_by(email_outbox.c.next_attempt_at, email_outbox.c.id).limit(limit))
    if is_postgres(conn):
        sub = sub.with_for_update(skip_locked=True)
    rows = await conn.execute(update(email_outbox).where(
        email_outbox.c.id.in_(sub.scalar_subquery())).values(
        lease_until=now + timedelta(seconds=lease_seconds), leased_by=worker,
        attempts=email_outbox.c.attempts + 1).returning(
        email_outbox.c.id, email_outbox.c.user_id, email_outbox.c.kind, email_outbox.c.ref,
        email_outbox.c.to_address, email_outbox.c.attempts, email_outbox.c.created_at))
    jobs = [Job(r.id, r.user_id, Kind(r.kind), orjson.loads(r.ref or "{}"), r.to_address,
                r.attempts, r.created_at) for r in rows]
    return sorted(jobs, key=lambda j: j.id)


async def finish(conn: AsyncConnection, job_id: int, worker: str, state: ItemState, *,
                 error: str | None = None, next_attempt_at: datetime | None = None) -> bool:
    """Record a try: sent (DONE), given up (FAILED), nothing to send (CANCELLED), or
    PENDING again at ``next_attempt_at``; only while the row is still ``worker``'s and
    unfinished (one conditional UPDATE; False: another worker took it over after the lease
    ran out). A finished row keeps no address or reference."""
    values: dict[str, Any] = {"state": state.value, "lease_until": None, "leased_by": None,
                              "last_error": (error or None) and error[:1000]}
    if state is ItemState.DONE:
        values["sent_at"] = utcnow()
    if state is ItemState.PENDING:
        values["next_attempt_at"] = next_attempt_at or utcnow()
    else:
        values["to_address"] = None
        values["ref"] = None
    result = await conn.execute(update(email_outbox).where(
        email_outbox.c.id == job_id, email_outbox.c.leased_by == worker,
        email_outbox.c.state == ItemState.PENDING.value).values(values))
    return bool(result.rowcount)


async def next_due(conn: AsyncConnection) -> datetime | None:
    now = utcnow()
    earliest: datetime | None = (await conn.execute(
        select(func.min(email_outbox.c.next_attempt_at)).where(
            email_outbox.c.state == ItemState.PENDING.value,
            or_(email_outbox.c.lease_until.is_(None), email_outbox.c.lease_until < now))
    )).scalar_one()
    return earliest


async def counts(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(select(email_outbox.c.state, func.count())
                              .group_by(email_outbox.c.state))
    return {r[0]: int(r[1]) for r in rows}


async def last_error(conn: AsyncConnection) -> str | None:
    """The newest error of a message still waiting or given up (no addresses in it)."""
    return (await conn.execute(select(email_outbox.c.last_error).where(
        email_outbox.c.last_error.is_not(None),
        email_outbox.c.state.in_([ItemState.PENDING.value, ItemState.FAILED.value]))
        .order_by(email_outbox.c.id.desc()).limit(1))).scalar_one_or_none()


async def retry_now(conn: AsyncConnection) -> None:
    """Messages waiting for a retry go at once (the settings were just changed)."""
    await conn.execute(update(email_outbox).where(
        email_outbox.c.state == ItemState.PENDING.value).values(next_attempt_at=utcnow()))


async def purge_finished(conn: AsyncConnection, before: datetime) -> int:
    """Finished rows queued before ``before``, and confirmation links past their time."""
    result = await conn.execute(delete(email_outbox).where(
        email_outbox.c.state != ItemState.PENDING.value,
        email_outbox.c.created_at < before))
    await conn.execute(delete(email_confirmations).where(
        email_confirmations.c.expires_at < utcnow()))
    return int(result.rowcount or 0)
