"""Text messages: the gateway settings (keys in ``group_settings``), the SMS queue both ways
(``sms_queue``), texts conversations (``sms_threads``, ``sms_texts``), the opt-out list
(``sms_opt_outs``: digests) and the SMS side of intake records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.queue import ItemState
from fediaid.domain.sms import Kind
from fediaid.storage.dialect import insert_ignore, is_postgres
from fediaid.storage.tables import (
    group_settings,
    intake_records,
    posts,
    sms_opt_outs,
    sms_queue,
    sms_texts,
    sms_threads,
)
from fediaid.storage.types import utcnow

SETTING_KEYS = ("sms_provider", "sms_number", "sms_account", "sms_api_url",
                "sms_private_address", "sms_keywords")
SECRET_KEY = "sms_secret"  # noqa: S105  (key names; the values are sealed)
SIGNING_KEY = "sms_signing_key"
SMS = "sms"  # intake_records.channel


# -- settings ----------------------------------------------------------------------------------
async def values(conn: AsyncConnection) -> dict[str, str]:
    rows = await conn.execute(select(group_settings.c.key, group_settings.c.value).where(
        group_settings.c.key.in_([*SETTING_KEYS, SECRET_KEY, SIGNING_KEY])))
    return {r.key: r.value for r in rows}


async def put_setting(conn: AsyncConnection, key: str, value: str | None) -> None:
    await conn.execute(delete(group_settings).where(group_settings.c.key == key))
    if value is not None:
        await conn.execute(group_settings.insert().values(key=key, value=value))


# -- the queue ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    id: int
    kind: Kind
    number: str | None
    body: str | None
    thread_id: int | None
    text_id: int | None
    post_id: int | None
    attempts: int
    created_at: datetime


async def enqueue_inbound(conn: AsyncConnection, *, ref: str, number: str, body: str
                          ) -> bool:
    """Store a text that arrived; False when the same provider id was stored before (a
    webhook sent again)."""
    now = utcnow()
    result = await conn.execute(insert_ignore(conn, sms_queue, ["ref"]).values(
        kind=Kind.INBOUND.value, ref=ref, number=number, body=body,
        state=ItemState.PENDING.value, attempts=0, next_attempt_at=now, created_at=now))
    return bool(result.rowcount)


async def enqueue(conn: AsyncConnection, *, kind: Kind, number: str, body: str,
                  thread_id: int | None = None, text_id: int | None = None,
                  post_id: int | None = None) -> int:
    now = utcnow()
    return int((await conn.execute(sms_queue.insert().values(
        kind=kind.value, number=number, body=body, thread_id=thread_id, text_id=text_id,
        post_id=post_id, state=ItemState.PENDING.value, attempts=0, next_attempt_at=now,
        created_at=now).returning(sms_queue.c.id))).scalar_one())


async def claim_due(conn: AsyncConnection, *, worker: str, limit: int, lease_seconds: float,
                    due_by: datetime | None = None) -> list[Job]:
    """Lease due rows, oldest first (as ``email.claim_due``)."""
    now = utcnow()
    sub = (select(sms_queue.c.id).where(
        sms_queue.c.state == ItemState.PENDING.value,
        sms_queue.c.next_attempt_at <= (min(now, due_by) if due_by else now),
        or_(sms_queue.c.lease_until.is_(None), sms_queue.c.lease_until < now))
        .order_by(sms_queue.c.next_attempt_at, sms_queue.c.id).limit(limit))
    if is_postgres(conn):
        sub = sub.with_for_update(skip_locked=True)
    rows = await conn.execute(update(sms_queue).where(
        sms_queue.c.id.in_(sub.scalar_subquery())).values(
        lease_until=now + timedelta(seconds=lease_seconds), leased_by=worker,
        attempts=sms_queue.c.attempts + 1).returning(
        sms_queue.c.id, sms_queue.c.kind, sms_queue.c.number, sms_queue.c.body,
        sms_queue.c.thread_id, sms_queue.c.text_id, sms_queue.c.post_id,
        sms_queue.c.attempts, sms_queue.c.created_at))
    jobs = [Job(r.id, Kind(r.kind), r.number, r.body, r.thread_id, r.text_id, r.post_id,
                r.attempts, r.created_at) for r in rows]
    return sorted(jobs, key=lambda j: j.id)


async def finish(conn: AsyncConnection, job_id: int, worker: str, state: ItemState, *,
                 error: str | None = None, next_attempt_at: datetime | None = None) -> bool:
    """Record a try, only while the row is still ``worker``'s and unfinished. A finished row
    keeps no number and no body."""
    values_: dict[str, Any] = {"state": state.value, "lease_until": None, "leased_by": None,
                               "last_error": (error or None) and error[:1000]}
    if state is ItemState.DONE:
        values_["sent_at"] = utcnow()
    if state is ItemState.PENDING:
        values_["next_attempt_at"] = next_attempt_at or utcnow()
    else:
        values_["number"] = None
        values_["body"] = None
    result = await conn.execute(update(sms_queue).where(
        sms_queue.c.id == job_id, sms_queue.c.leased_by == worker,
        sms_queue.c.state == ItemState.PENDING.value).values(values_))
    return bool(result.rowcount)


async def next_due(conn: AsyncConnection) -> datetime | None:
    now = utcnow()
    earliest: datetime | None = (await conn.execute(
        select(func.min(sms_queue.c.next_attempt_at)).where(
            sms_queue.c.state == ItemState.PENDING.value,
            or_(sms_queue.c.lease_until.is_(None), sms_queue.c.lease_until < now)))
    ).scalar_one()
    return earliest


async def counts(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(select(sms_queue.c.state, func.count()).where(
        sms_queue.c.kind != Kind.INBOUND.value).group_by(sms_queue.c.state))
    return {r[0]: int(r[1]) for r in rows}


async def last_error(conn: AsyncConnection) -> str | None:
    return (await conn.execute(select(sms_queue.c.last_error).where(
        sms_queue.c.last_error.is_not(None),
        sms_queue.c.state.in_([ItemState.PENDING.value, ItemState.FAILED.value]))
        .order_by(sms_queue.c.id.desc()).limit(1))).scalar_one_or_none()


async def retry_now(conn: AsyncConnection) -> None:
    await conn.execute(update(sms_queue).where(
        sms_queue.c.state == ItemState.PENDING.value).values(next_attempt_at=utcnow()))


async def purge_finished(conn: AsyncConnection, before: datetime) -> int:
    result = await conn.execute(delete(sms_queue).where(
        sms_queue.c.state != ItemState.PENDING.value, sms_queue.c.created_at < before))
    return int(result.rowcount or 0)


# -- conversations -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Thread:
    id: int
    number: str
    post_id: int | None
    language: str
    unread: bool
    done: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Text:
    id: int
    thread_id: int
    direction: str
    body: str
    by_user_id: int | None
    state: str
    created_at: datetime


def _thread(r: Any) -> Thread:
    return Thread(r.id, r.number, r.post_id, r.language, r.unread, r.done, r.created_at,
                  r.updated_at)


async def create_thread(conn: AsyncConnection, *, number: str, post_id: int | None,
                        language: str) -> int:
    now = utcnow()
    return int((await conn.execute(sms_threads.insert().values(
        number=number, post_id=post_id, language=language, unread=False, done=False,
        created_at=now, updated_at=now).returning(sms_threads.c.id))).scalar_one())


async def find_thread(conn: AsyncConnection, thread_id: int) -> Thread | None:
    row = (await conn.execute(select(sms_threads).where(sms_threads.c.id == thread_id))).first()
    return _thread(row) if row else None


async def thread_for_post(conn: AsyncConnection, post_id: int) -> Thread | None:
    row = (await conn.execute(select(sms_threads).where(sms_threads.c.post_id == post_id)
                              .order_by(sms_threads.c.id).limit(1))).first()
    return _thread(row) if row else None


async def latest_thread(conn: AsyncConnection, number: str) -> Thread | None:
    """Where a text from ``number`` that is not a keyword goes: its most recent open
    conversation (about a need or not)."""
    row = (await conn.execute(select(sms_threads).where(
        sms_threads.c.number == number, sms_threads.c.done.is_(False))
        .order_by(sms_threads.c.updated_at.desc(), sms_threads.c.id.desc()).limit(1))).first()
    return _thread(row) if row else None


async def threads(conn: AsyncConnection, *, done: bool, limit: int = 200) -> list[Thread]:
    rows = await conn.execute(select(sms_threads).where(sms_threads.c.done.is_(done))
                              .order_by(sms_threads.c.updated_at.desc()).limit(limit))
    return [_thread(r) for r in rows]


async def unread_count(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(sms_threads).where(
        sms_threads.c.unread.is_(True), sms_threads.c.done.is_(False)))).scalar_one())


async def touch_thread(conn: AsyncConnection, thread_id: int, *, unread: bool | None = None,
                       done: bool | None = None, language: str | None = None) -> None:
    values_: dict[str, Any] = {"updated_at": utcnow()}
    if unread is not None:
        values_["unread"] = unread
    if done is not None:
        values_["done"] = done
    if language is not None:
        values_["language"] = language
    await conn.execute(update(sms_threads).where(sms_threads.c.id == thread_id)
                       .values(values_))


async def mark_read(conn: AsyncConnection, thread_id: int) -> None:
    await conn.execute(update(sms_threads).where(sms_threads.c.id == thread_id)
                       .values(unread=False))


async def delete_thread(conn: AsyncConnection, thread_id: int) -> None:
    await conn.execute(delete(sms_threads).where(sms_threads.c.id == thread_id))


async def purge_idle_threads(conn: AsyncConnection, before: datetime) -> int:
    """Conversations not about a post, without a text since ``before``, go (with their
    texts and number)."""
    result = await conn.execute(delete(sms_threads).where(
        sms_threads.c.post_id.is_(None), sms_threads.c.updated_at < before))
    return int(result.rowcount or 0)


async def add_text(conn: AsyncConnection, *, thread_id: int, direction: str, body: str,
                   state: str, by_user_id: int | None = None) -> int:
    return int((await conn.execute(sms_texts.insert().values(
        thread_id=thread_id, direction=direction, body=body, by_user_id=by_user_id,
        state=state, created_at=utcnow()).returning(sms_texts.c.id))).scalar_one())


async def set_text_state(conn: AsyncConnection, text_id: int, state: str) -> None:
    await conn.execute(update(sms_texts).where(sms_texts.c.id == text_id).values(state=state))


async def texts_of(conn: AsyncConnection, thread_id: int, limit: int = 500) -> list[Text]:
    rows = await conn.execute(select(sms_texts).where(sms_texts.c.thread_id == thread_id)
                              .order_by(sms_texts.c.id).limit(limit))
    return [Text(r.id, r.thread_id, r.direction, r.body, r.by_user_id, r.state, r.created_at)
            for r in rows]


# -- opt-outs ------------------------------------------------------------------------------------
async def opt_out(conn: AsyncConnection, digest: str) -> None:
    await conn.execute(insert_ignore(conn, sms_opt_outs, ["digest"]).values(
        digest=digest, created_at=utcnow()))


async def opt_in(conn: AsyncConnection, digest: str) -> bool:
    result = await conn.execute(delete(sms_opt_outs).where(sms_opt_outs.c.digest == digest))
    return bool(result.rowcount)


async def opted_out(conn: AsyncConnection, digest: str) -> bool:
    return (await conn.execute(select(sms_opt_outs.c.digest).where(
        sms_opt_outs.c.digest == digest))).first() is not None


# -- the SMS side of intake records ----------------------------------------------------------------
async def add_intake(conn: AsyncConnection, *, post_id: int, number: str, name: str,
                     notes: str) -> None:
    await conn.execute(intake_records.insert().values(
        post_id=post_id, name=name, callback=number, notes=notes, created_by_user_id=None,
        created_at=utcnow(), channel=SMS, consent=False))


async def texted_intake(conn: AsyncConnection, post_id: int) -> dict[str, Any] | None:
    """The intake record of a post that came by text: its number and the neighbor's
    agreement."""
    row = (await conn.execute(select(intake_records.c.callback, intake_records.c.consent)
                              .where(intake_records.c.post_id == post_id,
                                     intake_records.c.channel == SMS))).first()
    return {"number": row.callback, "consent": bool(row.consent)} if row else None


async def ask_consent_pending(conn: AsyncConnection, number: str, since: datetime) -> list[int]:
    """Posts that came by text from ``number`` since ``since`` whose neighbor has not agreed
    yet (the question was in our answer to their NEED)."""
    rows = await conn.execute(select(intake_records.c.post_id).where(
        intake_records.c.channel == SMS, intake_records.c.callback == number,
        intake_records.c.consent.is_(False), intake_records.c.created_at >= since))
    return [int(r[0]) for r in rows]


async def set_consent(conn: AsyncConnection, post_ids: list[int]) -> None:
    if post_ids:
        await conn.execute(update(intake_records).where(
            intake_records.c.post_id.in_(post_ids)).values(consent=True))


async def post_exists(conn: AsyncConnection, post_id: int) -> bool:
    return (await conn.execute(select(posts.c.id).where(posts.c.id == post_id))).first() \
        is not None


async def numbers_in_use(conn: AsyncConnection) -> int:
    """How many distinct numbers the server holds (for the coordinators' page)."""
    in_threads = select(sms_threads.c.number)
    in_intake = select(intake_records.c.callback).where(and_(
        intake_records.c.channel == SMS, intake_records.c.callback.is_not(None)))
    union = in_threads.union(in_intake).subquery()
    return int((await conn.execute(select(func.count()).select_from(union))).scalar_one())
