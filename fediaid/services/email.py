"""A member's e-mail: adding an address (confirmed by a link), choosing what to get
(answers to my posts, messages in my exchanges, a daily or weekly digest filtered by
categories and neighborhoods), one-click unsubscribe (RFC 8058), asking for a login link
by e-mail, and queuing messages when something happens.

Queuing is durable: ``notify`` inserts an ``email_outbox`` row in the caller's transaction
(the answer or message and its e-mail commit together), and the worker
(``fediaid/jobs/email.py`` through ``services/email_outbox.py``) sends it. A row names what
happened, not the words: the message is written when it is sent.

Privacy (docs/privacy.md): the address is read only here, by the member's own page and
export, and by the sender. No page, API, ActivityPub document or other member's export has
it; coordinators do not see it either.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fediaid.domain.email import (
    CHOSEN,
    Choices,
    Kind,
    digest_window,
    normal_address,
    unsubscribe_ok,
    unsubscribe_token,
)
from fediaid.domain.rate_limits import EMAIL_CONFIRM_ACCOUNT, EMAIL_LOGIN_ADDRESS, EMAIL_PAUSED
from fediaid.domain.users import User
from fediaid.errors import Conflict, Forbidden, Invalid, RateLimited, Unauthenticated
from fediaid.i18n import N_, languages
from fediaid.services.core import Core, Service
from fediaid.storage import email as repo
from fediaid.storage import users as users_repo
from fediaid.storage.email import Address
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fediaid.services.email_settings import EmailSettingsService
    from fediaid.services.rate_limits import RateLimiter

__all__ = ["Address", "EmailService"]

LOGIN_SENT = N_("If that name or address belongs to a member with a confirmed e-mail "
                "address, a login link is on its way. It works once, for an hour. Nothing "
                "arrived? Ask a coordinator for a link.")


class EmailService(Service):
    def __init__(self, core: Core, *, email_settings: EmailSettingsService,
                 limits: RateLimiter) -> None:
        super().__init__(core)
        self.email_settings = email_settings
        self.limits = limits

    # -- signing ------------------------------------------------------------------------------
    def _key(self) -> bytes:
        return hashlib.sha256(b"fediaid unsubscribe\0" + self.settings.secret_key.encode()
                              ).digest()

    def unsubscribe_url(self, user_id: int, kind: Kind) -> str:
        token = unsubscribe_token(self._key(), user_id, kind)
        return f"{self.settings.base_url}/email/unsubscribe/{user_id}/{kind.value}/{token}"

    def settings_url(self) -> str:
        return f"{self.settings.base_url}/settings/email"

    # -- the member's own page -------------------------------------------------------------------
    async def mine(self, user: User) -> Address | None:
        async with self.db.read() as conn:
            return await repo.find(conn, user.id)

    def language(self, value: str | None) -> str:
        """A language e-mails can be written in (one with a catalog; English when
        unknown)."""
        return value if value and value in languages() else "en"

    async def add_address(self, user: User, address: str, *, language: str | None = None
                          ) -> None:
        """Keep ``address`` as waiting and queue its confirmation link (the address the
        member had stays in use until the new one is confirmed)."""
        if not await self.email_settings.configured():
            raise Conflict(N_("This group has not set up e-mail yet. Ask a coordinator."))
        address = normal_address(address)
        usage = await self.limits.hit(EMAIL_CONFIRM_ACCOUNT, str(user.id))
        if not usage.allowed:
            raise RateLimited(N_("You asked for several confirmation links in the last hour. "
                                 "Please wait, then try again."),
                              retry_after=usage.retry_after)
        async with self.db.write() as conn:
            found = await repo.find(conn, user.id)
            lang = self.language(language or (found.language if found else None))
            await repo.set_pending(conn, user.id, address, lang)
            await repo.enqueue(conn, kind=Kind.CONFIRM, user_id=user.id)
        self.signals.email_wakeup.set()

    async def confirm(self, secret: str) -> int:
        """Open a confirmation link: the address is in use from now on. Returns the user
        id."""
        async with self.db.write() as conn:
            done = await repo.use_confirmation(conn, secret)
        if done is None:
            raise Unauthenticated(N_("This confirmation link is unknown, used, expired or "
                                     "for an address you changed since. Add the address "
                                     "again to get a new one."))
        return done[0]

    async def save_choices(self, user: User, choices: Choices, *,
                           language: str | None = None) -> None:
        async with self.db.write() as conn:
            found = await repo.find(conn, user.id)
            if found is None:
                raise Conflict(N_("Add an e-mail address first."))
            await repo.set_choices(conn, user.id, choices,
                                   self.language(language or found.language))

    async def remove(self, user: User) -> None:
        """The address, choices, links and unsent messages go."""
        async with self.db.write() as conn:
            await repo.remove(conn, user.id)

    async def unsubscribe(self, user_id: int, kind_value: str, token: str) -> bool:
        """The one-click unsubscribe (no login: the signed link is the proof). True if it
        was on."""
        kind = self.check_unsubscribe(user_id, kind_value, token)
        async with self.db.write() as conn:
            return await repo.turn_off(conn, user_id, kind)

    def check_unsubscribe(self, user_id: int, kind_value: str, token: str) -> Kind:
        try:
            kind = Kind(kind_value)
        except ValueError:
            raise Forbidden(N_("This unsubscribe link is not right.")) from None
        if not unsubscribe_ok(self._key(), user_id, kind, token):
            raise Forbidden(N_("This unsubscribe link is not right."))
        return kind

    # -- login links by e-mail ------------------------------------------------------------------
    async def request_login_link(self, name_or_address: str, *, client: str | None) -> str:
        """Queue a login link for whoever ``name_or_address`` names. The request does the
        same work whether or not it names anyone (one queued row, resolved by the worker),
        so neither the answer nor its timing tells whether an account exists. Returns the
        words to show."""
        typed = (name_or_address or "").strip()
        if not typed or len(typed) > 254:
            raise Invalid(N_("Write your name or your e-mail address."), field="who")
        await self.limits.enforce(EMAIL_LOGIN_ADDRESS, client or "unknown", EMAIL_PAUSED)
        async with self.db.write() as conn:
            await repo.enqueue(conn, kind=Kind.LOGIN, user_id=None, ref={"who": typed})
        self.signals.email_wakeup.set()
        return LOGIN_SENT

    async def login_recipients(self, conn: AsyncConnection, typed: str) -> list[int]:
        """Accounts a login-link request names, with a confirmed address and not
        suspended."""
        if "@" in typed:
            try:
                ids = await repo.users_by_address(conn, normal_address(typed))
            except Invalid:
                return []
        else:
            found = await users_repo.find_by_username(conn, typed.lower().lstrip("@"))
            ids = [found.id] if found else []
        out = []
        for uid in ids:
            user = await users_repo.get(conn, uid)
            address = await repo.find(conn, uid)
            if not user.disabled and address is not None and address.address:
                out.append(uid)
        return out

    # -- queuing, in the caller's transaction ------------------------------------------------------
    async def notify(self, conn: AsyncConnection, user_id: int, kind: Kind,
                     ref: dict[str, Any]) -> bool:
        """Queue an e-mail of a chosen ``kind`` for ``user_id`` if they have a confirmed
        address and want it. In the caller's transaction (nothing is lost, nothing is
        queued for something that rolled back)."""
        assert kind in CHOSEN
        found = await repo.find(conn, user_id)
        if found is None or not found.address or not found.choices.wants(kind):
            return False
        await repo.enqueue(conn, kind=kind, user_id=user_id, ref=ref)
        self.signals.email_wakeup.set()
        return True

    async def queue_digests(self, now: datetime | None = None) -> int:
        """Queue the digests that are due (run by the workers' lifecycle loop): one row per
        member, covering the time since their last digest; the window's end is recorded in
        the same transaction, so a digest is queued once per period."""
        now = now or utcnow()
        queued = 0
        async with self.db.read() as conn:
            candidates = await repo.digest_due(conn)
        for member in candidates:
            window = digest_window(member.choices.digest, member.digest_until, now)
            if window is None:
                continue
            async with self.db.write() as conn:
                if not await repo.advance_digest(conn, member.user_id, member.digest_until,
                                                 window[1]):
                    continue  # another process queued it meanwhile
                await repo.enqueue(conn, kind=Kind.DIGEST, user_id=member.user_id, ref={
                    "since": window[0].isoformat(), "until": window[1].isoformat()})
            queued += 1
        if queued:
            self.signals.email_wakeup.set()
        return queued

    async def queue_counts(self) -> dict[str, int]:
        async with self.db.read() as conn:
            return await repo.counts(conn)

    async def last_error(self) -> str | None:
        async with self.db.read() as conn:
            return await repo.last_error(conn)

    async def forget(self, conn: AsyncConnection, user_id: int) -> None:
        """Account deletion (services/member_data.py), in its transaction."""
        await repo.remove(conn, user_id)

    async def export(self, conn: AsyncConnection, user_id: int) -> dict[str, Any] | None:
        """For the member's own export (services/member_data.py)."""
        return await repo.export_of(conn, user_id)
