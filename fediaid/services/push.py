"""Web Push for Mastodon apps: the subscriptions of the client API
(``/api/v1/push/subscription``) and sending pushes from the durable queue.

**Subscriptions** are Mastodon 4.x's: one per access token (a new one replaces the old),
with an endpoint, the device's keys (``p256dh``, ``auth``), ``standard`` (RFC 8291 with
RFC 8292 VAPID; otherwise the legacy drafts Mastodon used before 4.4, its default), the
alerts wanted and a policy (``all``, ``followed``, ``follower``, ``none``). Revoking the
token (``/oauth/revoke``, a password change, suspension) deletes the subscription in the
same statement's transaction (storage/users.py, storage/oauth.py); a deleted account's go
with it.

**Queueing**: ``storage/notifications.add`` queues one row in ``push_messages`` per
subscription whose alerts want the notification's type, in the transaction that created
the notification. Nothing else needs to remember to push.

**Sending** (``deliver_due``, run by ``fediaid/jobs/push.py``): claim due rows with a lease,
then for each one check again, at send time, what Mastodon checks (the token still valid,
the policy's follow relations) and what our notification list checks (the member may see
it: blocks, mutes, silenced servers, the status's visibility), then build Mastodon's
payload (``access_token``, ``preferred_locale``, ``notification_id``, ``notification_type``,
``icon``, ``title``, ``body``), encrypt it for the subscription (federation/webpush.py)
and POST it through the one outgoing HTTP client (``Core.transport()``: the address policy
refuses private and loopback addresses unless the instance runs with ``--dev``).
Outcomes: 2xx sent (the row goes); 404 or 410 the subscription is gone (deleted, with its
queued pushes); 408, 429, 5xx and network errors retry later with the delivery backoff
(honouring ``Retry-After``) up to ``MAX_ATTEMPTS`` (about 2.5 hours: a push hours late is
noise; the notification itself stays in the app's list); any other answer gives up on that
push. A worker killed mid-way leaves leased rows that are claimed again when the lease
ends: a push may arrive twice after a crash, never not at all while the service answers.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from activitypub.delivery import Outcome, decide
from fediaid.domain.follows import FollowState
from fediaid.domain.push import Policy, alerts_entity, body, policy_allows, title
from fediaid.errors import NotFound, Unprocessable
from fediaid.federation import webpush
from fediaid.federation.sanitize import html_to_text
from fediaid.federation.urls import DEFAULT_AVATAR_PATH
from fediaid.services.core import Core, Service
from fediaid.storage import actors as actors_repo
from fediaid.storage import follows as follows_repo
from fediaid.storage import push as repo
from fediaid.storage import statuses as statuses_repo
from fediaid.storage import users as users_repo
from fediaid.storage.push import PushJob, Subscription

if TYPE_CHECKING:
    from fediaid.domain.users import User
    from fediaid.services.notifications import NotificationService

log = logging.getLogger(__name__)

__all__ = ["MAX_ATTEMPTS", "PushService", "SubscriptionView"]

#: The first try and 9 retries on the delivery backoff (n**4 + 15 s ...): about 2.5 hours.
MAX_ATTEMPTS = 10
BATCH = 50
SENDERS = 8  # pushes in flight at once per worker
LEASE_SECONDS = 60.0
MAX_ENDPOINT = 2048


@dataclass(frozen=True)
class SubscriptionView:
    """Mastodon's WebPushSubscription entity, in values."""

    id: int
    endpoint: str
    standard: bool
    alerts: dict[str, bool]
    policy: str
    server_key: str


@dataclass(frozen=True)
class _Result:
    job: PushJob
    outcome: str  # "done", "gone" (the subscription), "retry", "give_up"
    status: int | None = None
    error: str | None = None
    delay: float = 0.0


class PushService(Service):
    def __init__(self, core: Core, *, notifications: NotificationService) -> None:
        super().__init__(core)
        self.notifications = notifications
        self._vapid_pem: str | None = None

    # -- the instance's VAPID key (made at first need) -------------------------------------
    async def _vapid(self) -> str:
        if self._vapid_pem is None:
            async with self.db.read() as conn:
                pem = await repo.vapid_key(conn)
            if pem is None:
                async with self.db.write() as conn:
                    pem = await repo.keep_vapid_key(conn, webpush.new_vapid_key())
            self._vapid_pem = pem
        return self._vapid_pem

    async def server_key(self) -> str:
        """The VAPID public key apps subscribe with (URL-safe base64, uncompressed point)."""
        return webpush.server_key(await self._vapid())

    # -- the access token, sealed for the payload -------------------------------------------
    def _cipher(self) -> Any:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"fediaid push access tokens").derive(
            self.settings.secret_key.encode())
        return AESGCM(key)

    def _seal(self, token: str, token_hash: str) -> str:
        nonce = secrets.token_bytes(12)
        return base64.b64encode(
            nonce + self._cipher().encrypt(nonce, token.encode(), token_hash.encode())).decode()

    def _open(self, sealed: str | None, token_hash: str) -> str:
        """The token, or "" when it cannot be read (the instance secret changed)."""
        from cryptography.exceptions import InvalidTag

        if not sealed:
            return ""
        raw = base64.b64decode(sealed)
        try:
            return str(self._cipher().decrypt(raw[:12], raw[12:], token_hash.encode()).decode())
        except (InvalidTag, ValueError):
            return ""

    # -- the client API -------------------------------------------------------------------
    async def _view(self, sub: Subscription) -> SubscriptionView:
        return SubscriptionView(id=sub.id, endpoint=sub.endpoint, standard=sub.standard,
                                alerts=alerts_entity(sub.alerts), policy=sub.policy.value,
                                server_key=await self.server_key())

    def _check_endpoint(self, endpoint: str) -> str:
        endpoint = endpoint.strip()
        parts = urlsplit(endpoint)
        schemes = ("https", "http") if self.settings.dev else ("https",)
        try:
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            port_ok = False
        if (parts.scheme not in schemes or not parts.hostname or not port_ok
                or len(endpoint) > MAX_ENDPOINT or parts.username or parts.password
                or any(c in endpoint for c in " \r\n\t\0")):
            raise Unprocessable("Validation failed: Endpoint is invalid")
        if not self.settings.dev:
            from activitypub.addresses import is_public_address

            host = parts.hostname.strip("[]")
            if _is_ip(host) and not is_public_address(host):
                raise Unprocessable("Validation failed: Endpoint is invalid")
        return endpoint

    async def subscribe(self, user: User, token: str, *, endpoint: str, p256dh: str,
                        auth: str, standard: bool, alerts: frozenset[str], policy: Policy
                        ) -> SubscriptionView:
        """Create the token's subscription, replacing the one it had."""
        endpoint = self._check_endpoint(endpoint)
        key = webpush.b64decode_any(p256dh)
        if key is None or not webpush.valid_p256dh(key):
            raise Unprocessable("Validation failed: Key p256dh is invalid")
        secret = webpush.b64decode_any(auth)
        if secret is None or len(secret) != 16:
            raise Unprocessable("Validation failed: Key auth is invalid")
        token_hash = users_repo.digest(token)
        async with self.db.write() as conn:
            sub = await repo.replace(
                conn, token_hash=token_hash, user_id=user.id, endpoint=endpoint,
                key_p256dh=webpush.b64url(key), key_auth=webpush.b64url(secret),
                standard=standard, alerts=alerts, policy=policy,
                access_token_sealed=self._seal(token, token_hash))
        return await self._view(sub)

    async def subscription(self, token: str) -> SubscriptionView:
        async with self.db.read() as conn:
            sub = await repo.for_token(conn, users_repo.digest(token))
        if sub is None:
            raise NotFound("Record not found")
        return await self._view(sub)

    async def change(self, token: str, *, alerts: frozenset[str], policy: Policy
                     ) -> SubscriptionView:
        """Replace the subscription's data (alerts and policy), as Mastodon's PUT does:
        alerts not given are off afterwards."""
        async with self.db.write() as conn:
            sub = await repo.set_data(conn, users_repo.digest(token), alerts=alerts,
                                      policy=policy)
        if sub is None:
            raise NotFound("Record not found")
        return await self._view(sub)

    async def unsubscribe(self, token: str) -> None:
        async with self.db.write() as conn:
            await repo.delete_for_token(conn, users_repo.digest(token))

    # -- sending --------------------------------------------------------------------------
    async def deliver_due(self, *, worker: str, limit: int = BATCH) -> int:
        """Claim due pushes, send them, record what happened; how many were claimed."""
        async with self.db.read() as conn:
            if not await repo.any_due(conn):
                return 0
        async with self.db.write() as conn:
            jobs = await repo.claim_due(conn, worker=worker, limit=limit,
                                        lease_seconds=LEASE_SECONDS)
        if not jobs:
            return 0
        gate = asyncio.Semaphore(SENDERS)

        async def one(job: PushJob) -> _Result:
            async with gate:
                try:
                    return await self._attempt(job)
                except Exception as exc:  # one broken push never stops the others
                    log.exception("push %d failed", job.id)
                    d = self._decide(job, None, None)
                    return _Result(job, "retry" if d.outcome is Outcome.RETRY else "give_up",
                                   error=f"{type(exc).__name__}: {exc}"[:300], delay=d.delay)

        results = await asyncio.gather(*(one(job) for job in jobs))
        async with self.db.write() as conn:
            gone = {r.job.subscription.id for r in results if r.outcome == "gone"}
            for sid in gone:
                await repo.delete_subscription(conn, sid)
            await repo.finished(conn, worker=worker, ids=[
                r.job.id for r in results if r.outcome in ("done", "give_up")])
            await repo.retry_later(conn, worker=worker, results=[
                (r.job.id, r.status, r.error, r.delay) for r in results
                if r.outcome == "retry" and r.job.subscription.id not in gone])
        for r in results:
            if r.outcome == "give_up":
                log.warning("push %d given up: %s", r.job.id, r.error)
            elif r.outcome == "gone":
                log.info("push subscription %d removed: the push service answered %s",
                         r.job.subscription.id, r.status)
        return len(jobs)

    def _decide(self, job: PushJob, status: int | None, retry_after: str | None) -> Any:
        return decide(status=status, attempt=job.attempts, now=time.time(),
                      retry_after=retry_after, knocked=True, max_attempts=MAX_ATTEMPTS,
                      scale=self.settings.delivery.retry_scale)

    async def _attempt(self, job: PushJob) -> _Result:
        sub = job.subscription
        if not job.token_valid:  # revoked meanwhile (the revocation deletes it too)
            return _Result(job, "gone", error="the access token was revoked")
        payload = await self._payload(job)
        if payload is None:
            return _Result(job, "done")  # not to be pushed (hidden, policy): dropped
        message = webpush.encrypt(
            payload, endpoint=sub.endpoint, p256dh=_unb64(sub.key_p256dh),
            auth=_unb64(sub.key_auth), standard=sub.standard, vapid_pem=await self._vapid(),
            subject=self.settings.base_url)
        answer = await self.core.transport().post(sub.endpoint, message.body, message.headers)
        if answer.status in (404, 410):
            return _Result(job, "gone", status=answer.status)
        decision = self._decide(job, answer.status, answer.retry_after)
        if decision.outcome is Outcome.DELIVERED:
            return _Result(job, "done", status=answer.status)
        if decision.outcome is Outcome.RETRY:
            return _Result(job, "retry", status=answer.status,
                           error=answer.error or decision.reason, delay=decision.delay)
        return _Result(job, "give_up", status=answer.status,
                       error=answer.error or decision.reason)

    async def _payload(self, job: PushJob) -> bytes | None:
        """Mastodon's ``Web::NotificationSerializer``, or None when the member may not see
        the notification now or the policy leaves it out."""
        sub = job.subscription
        async with self.db.read() as conn:
            user = await users_repo.get(conn, sub.user_id)
            sender = await actors_repo.find_by_id(conn, job.from_actor_id)
            status = (await statuses_repo.find(conn, job.status_id)
                      if job.status_id is not None else None)
            if sender is None:
                return None
            if sub.policy is not Policy.ALL:
                follows_member = await follows_repo.find(conn, sender.id, user.actor_id)
                followed = await follows_repo.find(conn, user.actor_id, sender.id)
                if not policy_allows(
                        sub.policy,
                        sender_follows_member=follows_member is not None
                        and follows_member.state is FollowState.ACCEPTED,
                        member_follows_sender=followed is not None
                        and followed.state is FollowState.ACCEPTED):
                    return None
        try:  # blocks, mutes, silenced servers, the status's visibility: as the list shows
            await self.notifications.get(user, job.notification_id)
        except NotFound:
            return None
        name = sender.name or sender.username or sender.domain
        if status is not None:
            text = status.spoiler_text or html_to_text(status.content)
        else:
            text = html_to_text(sender.summary or "")
        languages = self.settings.languages
        locale = getattr(user, "language", None) or (languages[0] if languages else "en")
        return orjson.dumps({
            "access_token": self._open(sub.access_token_sealed, sub.token_hash),
            "preferred_locale": locale,
            "notification_id": job.notification_id,
            "notification_type": job.notification_type,
            "icon": sender.icon_url or self.settings.base_url + DEFAULT_AVATAR_PATH,
            "title": title(job.notification_type, name),
            "body": body(text),
        })


def _unb64(text: str) -> bytes:
    raw = webpush.b64decode_any(text)
    assert raw is not None
    return raw


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
