"""Joining the group without a terminal: invitation links a coordinator makes (single or
multi-use, with an expiry and a note), requests to join from the group's page that
coordinators approve or decline, and the members page's removals.

Every coordinator action, and every join by invitation, is in the audit log in its own
transaction. Invitation secrets are stored only as SHA-256 digests and shown once; a
request's message and contact are for coordinators only and are forgotten once decided.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from fediaid.domain.actors import Role
from fediaid.domain.audit import AuditAction
from fediaid.domain.rate_limits import JOIN_ADDRESS, JOINING_PAUSED
from fediaid.domain.roles import Permission
from fediaid.domain.users import User
from fediaid.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from fediaid.i18n import N_, Message
from fediaid.services.accounts import LOGIN_LINK_TTL, AccountService
from fediaid.services.audit import record
from fediaid.services.core import Core, Service
from fediaid.services.rate_limits import RateLimiter
from fediaid.storage import joining as repo
from fediaid.storage import users as users_repo
from fediaid.storage.joining import Invitation, JoinRequest
from fediaid.storage.types import utcnow

__all__ = ["Invitation", "JoinRequest", "Joined", "JoiningService"]

MAX_USES = 500
MAX_DAYS = 90
NOTE_MAX = 200
NAME_MAX = 64
MESSAGE_MAX = 2000
CONTACT_MAX = 255
UNUSABLE = N_("This invitation link is unknown, used up, expired or taken back. Ask a "
              "coordinator for a new one.")


@dataclass(frozen=True)
class Joined:
    user: User
    login_link: str | None  # for someone who chose no password


def _whole(value: object, *, field: str, low: int, high: int, words: str) -> int:
    """A whole number in a range; ``words`` (marked) say what it counts."""
    what = Message(words, {})
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError) as exc:
        raise Invalid(N_("Please give {what} as a whole number from {low} to {high}.",
                         what=what, low=low, high=high), field=field) from exc
    if not low <= n <= high:
        raise Invalid(N_("Please give {what} from {low} to {high}.", what=what, low=low,
                         high=high), field=field)
    return n


class JoiningService(Service):
    def __init__(self, core: Core, *, accounts: AccountService, limits: RateLimiter) -> None:
        super().__init__(core)
        self.accounts = accounts
        self.limits = limits

    @staticmethod
    def _require(user: User | None) -> User:
        if user is None:
            raise Unauthenticated(N_("Please log in first."))
        if not user.may(Permission.ACCOUNTS):
            raise Forbidden(N_("Only coordinators can do that."))
        return user

    def _link(self, path: str, secret: str) -> str:
        return f"{self.settings.base_url}/{path}/{secret}"

    # -- invitations --------------------------------------------------------------------
    async def invite(self, by: User, *, uses: object = 1, days: object = 7,
                     note: str = "") -> tuple[Invitation, str]:
        """A new invitation link (shown once: only its digest is kept)."""
        self._require(by)
        n_uses = _whole(uses, field="uses", low=1, high=MAX_USES, words=N_("how many people"))
        n_days = _whole(days, field="days", low=1, high=MAX_DAYS, words=N_("the days"))
        note = " ".join(note.split())
        if len(note) > NOTE_MAX:
            raise Invalid(N_("Please keep the note under {n} characters.", n=NOTE_MAX),
                          field="note")
        secret = secrets.token_urlsafe(24)
        now = utcnow()
        async with self.db.write() as conn:
            inv_id = await repo.add_invitation(
                conn, secret=secret, note=note or None, uses=n_uses, created_by=by.id, now=now,
                expires_at=now + timedelta(days=n_days))
            people = (Message(N_("one person"), {}) if n_uses == 1 else
                      N_("up to {n} people", n=n_uses))
            days = Message(N_("1 day"), {}) if n_days == 1 else N_("{n} days", n=n_days)
            await record(conn, by, AuditAction.INVITED, target_kind="invitation",
                         target_id=inv_id,
                         summary=N_("made invitation #{id} for {people}, for {days}",
                                    id=inv_id, people=people, days=days),
                         detail=note or None)
            found = await repo.find_invitation(conn, secret)
        assert found is not None
        return found, self._link("join", secret)

    async def invitations(self, by: User) -> list[Invitation]:
        self._require(by)
        async with self.db.read() as conn:
            return await repo.invitation_list(conn)

    async def revoke(self, by: User, invitation_id: int) -> None:
        self._require(by)
        async with self.db.write() as conn:
            if not await repo.revoke_invitation(conn, invitation_id, utcnow()):
                raise NotFound(N_("No such invitation (or it was taken back already)."))
            await record(conn, by, AuditAction.INVITATION_REVOKED, target_kind="invitation",
                         target_id=invitation_id,
                         summary=N_("took back invitation #{id}", id=invitation_id))

    async def invitation(self, secret: str) -> Invitation:
        """A usable invitation for its link's secret, else Unauthenticated in plain words."""
        async with self.db.read() as conn:
            found = await repo.find_invitation(conn, secret)
        if found is None or not found.usable(utcnow()):
            raise Unauthenticated(UNUSABLE)
        return found

    async def join(self, secret: str, username: str, *, password: str | None,
                   client: str | None = None) -> Joined:
        """A new member account by invitation: with a password (the usual rules), or, with
        ``password`` None, a one-time login link to keep. One use of the invitation is taken
        in the same transaction as the account and its audit entry."""
        await self.limits.enforce(JOIN_ADDRESS, client or "unknown", JOINING_PAUSED)
        username = username.strip().lower()
        hashed = await self.accounts.hash_password(password) if password is not None else None
        keys = await self.accounts.new_keys(username)
        link_secret = secrets.token_urlsafe(24) if password is None else None
        async with self.db.write() as conn:
            inv_id = await repo.use_invitation(conn, secret, utcnow())
            if inv_id is None:
                raise Unauthenticated(UNUSABLE)
            user = await self.accounts.insert_user(conn, username, keys=keys)
            if hashed is not None:
                await users_repo.set_password_hash(conn, user.id, hashed)
            if link_secret is not None:
                await users_repo.add_login_link(conn, user_id=user.id, secret=link_secret,
                                                ttl=LOGIN_LINK_TTL)
            await record(conn, user, AuditAction.JOINED, target_kind="account",
                         target_id=user.id,
                         summary=N_("joined the group with invitation #{id}", id=inv_id)
                         if hashed else N_("joined the group with invitation #{id} (logs in "
                                           "with a link, no password)", id=inv_id))
        return Joined(user, self._link("login", link_secret) if link_secret else None)

    # -- requests to join ---------------------------------------------------------------
    async def ask(self, *, name: str, message: str = "", contact: str = "",
                  client: str | None = None) -> int:
        """A neighbor asks to join from the group's page (no account needed)."""
        name = " ".join(name.split())
        message = message.strip()
        contact = " ".join(contact.split())
        if not name:
            raise Invalid(N_("Please give a name we can call you by."), field="name")
        if len(name) > NAME_MAX:
            raise Invalid(N_("Please keep the name under {n} characters.", n=NAME_MAX),
                          field="name")
        if len(message) > MESSAGE_MAX:
            raise Invalid(N_("Please keep the message under {n} characters.", n=MESSAGE_MAX),
                          field="message")
        if len(contact) > CONTACT_MAX:
            raise Invalid(N_("Please keep this under {n} characters.", n=CONTACT_MAX),
                          field="contact")
        await self.limits.enforce(JOIN_ADDRESS, client or "unknown", JOINING_PAUSED)
        async with self.db.write() as conn:
            return await repo.add_request(conn, name=name, message=message or None,
                                          contact=contact or None, now=utcnow())

    async def requests(self, by: User) -> list[JoinRequest]:
        self._require(by)
        async with self.db.read() as conn:
            return await repo.pending_requests(conn)

    async def approve(self, by: User, request_id: int, username: str) -> tuple[User, str]:
        """Make the account asked for, under ``username``; a login link to hand over."""
        self._require(by)
        username = username.strip().lower()
        keys = await self.accounts.new_keys(username)
        link_secret = secrets.token_urlsafe(24)
        async with self.db.write() as conn:
            user = await self.accounts.insert_user(conn, username, keys=keys)
            asked = await repo.decide_request(conn, request_id, state="approved", by=by.id,
                                              now=utcnow(), user_id=user.id)
            if asked is None:
                raise Conflict(N_("This request was decided already (or does not exist)."))
            await users_repo.add_login_link(conn, user_id=user.id, secret=link_secret,
                                            ttl=LOGIN_LINK_TTL)
            await record(conn, by, AuditAction.JOIN_APPROVED, target_kind="account",
                         target_id=user.id,
                         summary=N_("approved request #{id} to join: made the account {name} "
                                    "and a login link", id=request_id, name=username))
        return user, self._link("login", link_secret)

    async def decline(self, by: User, request_id: int) -> None:
        self._require(by)
        async with self.db.write() as conn:
            asked = await repo.decide_request(conn, request_id, state="declined", by=by.id,
                                              now=utcnow(), user_id=None)
            if asked is None:
                raise Conflict(N_("This request was decided already (or does not exist)."))
            await record(conn, by, AuditAction.JOIN_DECLINED, target_kind="join_request",
                         target_id=request_id,
                         summary=N_("declined request #{id} to join", id=request_id))

    # -- the members page ---------------------------------------------------------------
    async def member_details(self, by: User, ids: list[int]
                             ) -> dict[int, tuple[bool, int | None]]:
        """Per account id of ``ids``: whether it has a password, and the weekly cap the
        member set."""
        self._require(by)
        async with self.db.read() as conn:
            return await repo.member_details(conn, ids)

    async def pending_count(self, by: User) -> int:
        self._require(by)
        async with self.db.read() as conn:
            return await repo.count_pending(conn)

    def check_removal(self, by: User, target: User) -> None:
        """Whether ``by`` may remove ``target`` from the members page (the deletion itself,
        and the last-admin rule, are ``MemberDataService.delete_account``'s)."""
        self._require(by)
        if target.id == by.id:
            raise Invalid(N_("You cannot remove your own account here: use “My data” to "
                             "delete it."), field="name")
        if target.role is Role.ADMIN and not by.may(Permission.GRANT_ADMIN):
            raise Forbidden(N_("Only an admin can remove an admin."))
