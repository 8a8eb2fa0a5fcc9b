"""Web Push subscriptions (one per access token), the queue of pushes to send, and the
instance's VAPID key (fediaid/services/push.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.push import Policy, alerts_parse, alerts_text, wanted
from fediaid.storage.dialect import insert_ignore, is_postgres
from fediaid.storage.tables import (
    access_tokens,
    instance_keys,
    notifications,
    oauth_apps,
    push_messages,
    push_subscriptions,
    users,
)
from fediaid.storage.types import utcnow

VAPID = "vapid"


@dataclass(frozen=True)
class Subscription:
    id: int
    user_id: int
    endpoint: str
    key_p256dh: str
    key_auth: str
    standard: bool
    alerts: frozenset[str]
    policy: Policy
    access_token_sealed: str | None
    token_hash: str


def _sub(r: Any) -> Subscription:
    return Subscription(id=r.id, user_id=r.user_id, endpoint=r.endpoint,
                        key_p256dh=r.key_p256dh, key_auth=r.key_auth, standard=bool(r.standard),
                        alerts=alerts_parse(r.alerts), policy=Policy.parse(r.policy) or Policy.ALL,
                        access_token_sealed=r.access_token_sealed, token_hash=r.token_hash)


# -- subscriptions (the client API) -------------------------------------------------------

async def for_token(conn: AsyncConnection, token_hash: str) -> Subscription | None:
    row = (await conn.execute(select(push_subscriptions).where(
        push_subscriptions.c.token_hash == token_hash))).first()
    return _sub(row) if row else None


async def replace(conn: AsyncConnection, *, token_hash: str, user_id: int, endpoint: str,
                  key_p256dh: str, key_auth: str, standard: bool, alerts: frozenset[str],
                  policy: Policy, access_token_sealed: str | None) -> Subscription:
    """The token's subscription, replacing the one it had (its queued pushes go with it).
    On PostgreSQL the token's row is locked first, so two requests of one token at once
    replace in turn instead of one failing on the unique token (SQLite has one writer)."""
    if is_postgres(conn):
        await conn.execute(select(access_tokens.c.token_hash)
                           .where(access_tokens.c.token_hash == token_hash).with_for_update())
    await delete_for_token(conn, token_hash)
    now = utcnow()
    await conn.execute(push_subscriptions.insert().values(
        token_hash=token_hash, user_id=user_id, endpoint=endpoint, key_p256dh=key_p256dh,
        key_auth=key_auth, standard=standard, alerts=alerts_text(alerts), policy=policy.value,
        access_token_sealed=access_token_sealed, created_at=now, updated_at=now))
    found = await for_token(conn, token_hash)
    assert found is not None
    return found


async def set_data(conn: AsyncConnection, token_hash: str, *, alerts: frozenset[str],
                   policy: Policy) -> Subscription | None:
    await conn.execute(update(push_subscriptions).where(
        push_subscriptions.c.token_hash == token_hash).values(
        alerts=alerts_text(alerts), policy=policy.value, updated_at=utcnow()))
    return await for_token(conn, token_hash)


async def delete_for_token(conn: AsyncConnection, token_hash: str) -> int:
    """Queued pushes go too (foreign key ``ON DELETE CASCADE``)."""
    result = await conn.execute(delete(push_subscriptions).where(
        push_subscriptions.c.token_hash == token_hash))
    return int(result.rowcount or 0)


async def delete_for_user(conn: AsyncConnection, user_id: int) -> int:
    """Every subscription of the account (its tokens were all revoked, or it is deleted)."""
    result = await conn.execute(delete(push_subscriptions).where(
        push_subscriptions.c.user_id == user_id))
    return int(result.rowcount or 0)


async def delete_subscription(conn: AsyncConnection, subscription_id: int) -> None:
    await conn.execute(delete(push_subscriptions).where(
        push_subscriptions.c.id == subscription_id))


async def export_of(conn: AsyncConnection, user_id: int) -> list[dict[str, Any]]:
    """A member's subscriptions for their own export: the app, the push service's address
    (not the endpoint's path, a capability of the device), alerts, policy, dates. Never the
    keys or the token."""
    rows = await conn.execute(
        select(push_subscriptions, func.coalesce(oauth_apps.c.name, access_tokens.c.name)
               .label("app"))
        .select_from(push_subscriptions
                     .join(access_tokens,
                           access_tokens.c.token_hash == push_subscriptions.c.token_hash)
                     .outerjoin(oauth_apps, oauth_apps.c.id == access_tokens.c.app_id))
        .where(push_subscriptions.c.user_id == user_id).order_by(push_subscriptions.c.id))
    out = []
    for r in rows:
        scheme, _, rest = r.endpoint.partition("://")
        out.append({"app": r.app, "push_service": f"{scheme}://{rest.split('/', 1)[0]}",
                    "alerts": sorted(alerts_parse(r.alerts)), "policy": r.policy,
                    "standard": bool(r.standard), "created_at": r.created_at,
                    "updated_at": r.updated_at})
    return out


# -- the queue ----------------------------------------------------------------------------

async def queue_for(conn: AsyncConnection, *, user_id: int, notification_id: int,
                    type_: str) -> int:
    """Queue a push of a new notification to each of the member's subscriptions that wants
    its type, in the transaction that created it (nothing is lost on a crash)."""
    subs = (await conn.execute(select(push_subscriptions.c.id, push_subscriptions.c.alerts,
                                      push_subscriptions.c.policy)
                               .where(push_subscriptions.c.user_id == user_id))).all()
    chosen = [s.id for s in subs
              if wanted(alerts_parse(s.alerts), Policy.parse(s.policy) or Policy.ALL, type_)]
    if not chosen:
        return 0
    now = utcnow()
    await conn.execute(push_messages.insert(), [
        {"subscription_id": sid, "notification_id": notification_id, "attempts": 0,
         "next_attempt_at": now, "created_at": now} for sid in chosen])
    return len(chosen)


@dataclass(frozen=True)
class PushJob:
    """A claimed push with what sending it needs."""

    id: int
    attempts: int  # including this one
    notification_id: int
    notification_type: str
    from_actor_id: int
    status_id: int | None
    subscription: Subscription
    token_valid: bool  # not revoked, and its account not suspended


async def any_due(conn: AsyncConnection) -> bool:
    """Whether a push is due now (an indexed read: an idle worker looks with this instead
    of a write transaction)."""
    now = utcnow()
    return (await conn.execute(select(push_messages.c.id).where(
        push_messages.c.next_attempt_at <= now,
        or_(push_messages.c.lease_until.is_(None), push_messages.c.lease_until < now))
        .limit(1))).first() is not None


async def claim_due(conn: AsyncConnection, *, worker: str, limit: int, lease_seconds: float
                    ) -> list[PushJob]:
    now = utcnow()
    sub = (select(push_messages.c.id)
           .where(push_messages.c.next_attempt_at <= now,
                  or_(push_messages.c.lease_until.is_(None), push_messages.c.lease_until < now))
           .order_by(push_messages.c.id).limit(limit))
    if is_postgres(conn):
        sub = sub.with_for_update(skip_locked=True)
    claimed = (await conn.execute(
        update(push_messages).where(push_messages.c.id.in_(sub.scalar_subquery()))
        .values(lease_until=now + timedelta(seconds=lease_seconds), leased_by=worker,
                attempts=push_messages.c.attempts + 1)
        .returning(push_messages.c.id))).scalars().all()
    if not claimed:
        return []
    rows = await conn.execute(
        select(push_messages.c.id.label("job_id"), push_messages.c.attempts,
               notifications.c.id.label("n_id"), notifications.c.type.label("n_type"),
               notifications.c.from_actor_id, notifications.c.status_id,
               access_tokens.c.revoked_at, users.c.disabled, push_subscriptions)
        .select_from(push_messages
                     .join(push_subscriptions,
                           push_subscriptions.c.id == push_messages.c.subscription_id)
                     .join(notifications, notifications.c.id == push_messages.c.notification_id)
                     .join(access_tokens,
                           access_tokens.c.token_hash == push_subscriptions.c.token_hash)
                     .join(users, users.c.id == push_subscriptions.c.user_id))
        .where(push_messages.c.id.in_(list(claimed))).order_by(push_messages.c.id))
    return [PushJob(id=r.job_id, attempts=r.attempts, notification_id=r.n_id,
                    notification_type=r.n_type, from_actor_id=r.from_actor_id,
                    status_id=r.status_id, subscription=_sub(r),
                    token_valid=r.revoked_at is None and not r.disabled) for r in rows]


async def finished(conn: AsyncConnection, *, worker: str, ids: Sequence[int]) -> None:
    """Sent, dropped or given up: the rows go."""
    if ids:
        await conn.execute(delete(push_messages).where(push_messages.c.id.in_(list(ids)),
                                                       push_messages.c.leased_by == worker))


async def retry_later(conn: AsyncConnection, *, worker: str,
                      results: Sequence[tuple[int, int | None, str | None, float]]) -> None:
    """results: (id, HTTP status or None, error, seconds until the next attempt)."""
    if not results:
        return
    now = utcnow()
    await conn.execute(
        update(push_messages)
        .where(push_messages.c.id == bindparam("b_id"), push_messages.c.leased_by == worker)
        .values(last_status=bindparam("b_status"), last_error=bindparam("b_error"),
                next_attempt_at=bindparam("b_next"), lease_until=None, leased_by=None),
        [{"b_id": i, "b_status": s, "b_error": e[:1000] if e else None,
          "b_next": now + timedelta(seconds=d)} for i, s, e, d in results])


async def pending(conn: AsyncConnection, subscription_id: int | None = None
                  ) -> list[dict[str, Any]]:
    """Queued pushes (for the operator and tests): id, notification, attempts, last error."""
    q = select(push_messages.c.id, push_messages.c.subscription_id,
               push_messages.c.notification_id, push_messages.c.attempts,
               push_messages.c.last_status, push_messages.c.last_error,
               push_messages.c.next_attempt_at).order_by(push_messages.c.id)
    if subscription_id is not None:
        q = q.where(push_messages.c.subscription_id == subscription_id)
    return [dict(r._mapping) for r in await conn.execute(q)]


# -- the instance's VAPID key -------------------------------------------------------------

async def vapid_key(conn: AsyncConnection) -> str | None:
    return (await conn.execute(select(instance_keys.c.private_key_pem).where(
        instance_keys.c.name == VAPID))).scalar_one_or_none()


async def keep_vapid_key(conn: AsyncConnection, private_key_pem: str) -> str:
    """Store a new VAPID key unless another process stored one first; the stored one."""
    await conn.execute(insert_ignore(conn, instance_keys, ["name"]).values(
        name=VAPID, private_key_pem=private_key_pem, created_at=utcnow()))
    stored = await vapid_key(conn)
    assert stored is not None
    return stored
