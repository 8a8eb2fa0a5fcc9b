"""Local accounts: creation (with their Person actor and keys), login links, sessions,
passwords and API tokens."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from activitypub.keys import generate_rsa_keypair
from fediaid.domain.actors import Actor, ActorType, Role, validate_username
from fediaid.domain.audit import AuditAction
from fediaid.domain.roles import ROLE_WORDS, Permission, change_permission
from fediaid.domain.users import User
from fediaid.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited, Unauthenticated
from fediaid.i18n import N_, Message, languages, zone
from fediaid.services import login_limits
from fediaid.services.audit import record
from fediaid.services.core import Core, Service
from fediaid.storage import actors as actors_repo
from fediaid.storage import users as users_repo
from fediaid.storage.types import utcnow

LOGIN_LINK_TTL = timedelta(days=2)
SESSION_TTL = timedelta(days=30)
MIN_PASSWORD = 10
MAX_PASSWORD = 1000
KNOWN_SCOPES = frozenset({"read", "write", "follow", "push", "admin"})
# argon2 runs in threads; at most this many at once, so a flood of logins cannot take every
# thread (and core) from the rest of the server.
HASHING_AT_ONCE = 2
#: How long a statuses count kept for lists stands before it is counted afresh, and how
#: many accounts' counts are kept (``AccountService.profile_counts_many``).
COUNT_KEEP_SECONDS = 60.0
COUNT_KEEP_ACCOUNTS = 5000
NO_MATCH = N_("That name and password do not match.")


@cache
def _hasher() -> Any:
    """argon2 is loaded on the first login or password change, not at start-up."""
    from argon2 import PasswordHasher

    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Checked when the name is unknown (or has no password), so that takes as long as a
    wrong password for a real account: the answer's time does not tell which names exist."""
    return str(_hasher().hash(secrets.token_urlsafe(16)))


def password_problem(password: str) -> str | None:
    """Passphrases with spaces are welcome; spaces alone, or padding a short password up to
    the minimum, are not."""
    if not password.strip():
        return N_("A password cannot be only spaces. Use at least {n} characters (letters, "
                  "numbers or words with spaces between them).", n=MIN_PASSWORD)
    if len(password.strip()) < MIN_PASSWORD:
        return N_("Use at least {n} characters (spaces at the start and end do not count).",
                  n=MIN_PASSWORD)
    if len(password) > MAX_PASSWORD:
        return N_("Use at most {n} characters.", n=MAX_PASSWORD)
    return None


class AccountService(Service):
    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self.clock: Callable[[], datetime] = utcnow
        self._hashing = asyncio.Semaphore(HASHING_AT_ONCE)
        # Statuses counts of accounts shown in lists: actor id -> (newest status id then,
        # when counted (monotonic), count). See ``profile_counts_many``.
        self._written: dict[int, tuple[int | None, float, int]] = {}

    async def _hash(self, fn: Callable[..., Any], *args: str) -> Any:
        async with self._hashing:
            return await asyncio.to_thread(fn, *args)

    async def create_user(self, username: str, *, role: Role = Role.MEMBER,
                          display_name: str | None = None, by: User | None = None) -> User:
        """Make an account (in the audit log: by ``by``, None for the server operator)."""
        if by is not None and not by.may(Permission.ACCOUNTS):
            raise Forbidden(N_("Only coordinators can make accounts."))
        if by is not None and not by.may(change_permission(Role.MEMBER, role)):
            raise Forbidden(N_("Only an admin can make an admin."))
        keys = await self.new_keys(username)
        async with self.db.write() as conn:
            user = await self.insert_user(conn, username, keys=keys, role=role,
                                          display_name=display_name)
            await record(conn, by, AuditAction.ACCOUNT_CREATED, target_kind="account",
                         target_id=user.id,
                         summary=N_("made the account {name} ({role})", name=username,
                                    role=Message(ROLE_WORDS[role], {})))
            return user

    async def new_keys(self, username: str) -> Any:
        """Check the name, then make the key pair of a new account (before its transaction:
        generating a key takes a while)."""
        problem = validate_username(username)
        if problem:
            raise Invalid(problem, field="username")
        return await asyncio.to_thread(generate_rsa_keypair)

    async def insert_user(self, conn: Any, username: str, *, keys: Any,
                          role: Role = Role.MEMBER, display_name: str | None = None) -> User:
        """The account and its Person actor, in the caller's transaction (``conn``); the
        caller writes the audit entry. ``keys`` from ``new_keys``."""
        urls = self.urls.actor_urls(ActorType.PERSON, username)
        if await users_repo.find_by_username(conn, username) or await actors_repo.find_local(
            conn, username
        ):
            raise Conflict(N_("The name {name} is already taken.", name=username))
        actor = await actors_repo.create_local(
            conn, uri=urls["uri"], type_=ActorType.PERSON, username=username,
            domain=self.settings.domain, name=display_name or username, summary=None,
            urls=urls, key_id=urls["key_id"], public_key_pem=keys.public_pem,
            private_key_pem=keys.private_pem,
        )
        return await users_repo.create(conn, actor_id=actor.id, username=username, role=role)

    async def hash_password(self, password: str) -> str:
        """A checked password's hash (``password_problem``; raises Invalid), for a new
        account written in the caller's transaction."""
        problem = password_problem(password)
        if problem:
            raise Invalid(problem, field="password")
        return str(await self._hash(_hasher().hash, password))

    async def get_user(self, username: str) -> User:
        async with self.db.read() as conn:
            user = await users_repo.find_by_username(conn, username)
        if user is None:
            raise NotFound(N_("There is no user called {name}.", name=username))
        return user

    async def first_coordinator_without_password(self) -> str | None:
        """The name of a coordinator who cannot log in yet (no password), if any, while no
        coordinator has a password at all."""
        async with self.db.read() as conn:
            return await users_repo.coordinator_needing_password(conn)

    async def login_link(self, username: str, *, by: User | None = None) -> str:
        """A one-time link that logs the user in (and lets them set a password): resetting
        a login, in the audit log (by ``by``, None for the server operator). The link itself
        is never logged."""
        if by is not None and not by.may(Permission.ACCOUNTS):
            raise Forbidden(N_("Only coordinators can make login links."))
        user = await self.get_user(username)
        secret = secrets.token_urlsafe(24)
        async with self.db.write() as conn:
            await users_repo.add_login_link(conn, user_id=user.id, secret=secret,
                                            ttl=LOGIN_LINK_TTL)
            await record(conn, by, AuditAction.LOGIN_LINK, target_kind="account",
                         target_id=user.id,
                         summary=N_("made a new login link for {name}", name=username))
        return f"{self.settings.base_url}/login/{secret}"

    async def redeem_login_link(self, secret: str) -> tuple[User, str]:
        """Consume a login link; returns the user and a new session secret."""
        user = await self.use_login_link(secret)
        return user, await self.start_session(user)

    async def use_login_link(self, secret: str) -> User:
        """Consume a login link; returns its user (the caller asks for a second factor
        when the account has one, then starts the session)."""
        async with self.db.write() as conn:
            user_id = await users_repo.use_login_link(conn, secret)
            if user_id is None:
                raise Unauthenticated(N_("This login link is unknown, used or expired. "
                                         "Ask a coordinator for a new one."))
            user = await users_repo.get(conn, user_id)
        if user.disabled:
            # Suspended by a coordinator: a link made before the suspension opens nothing.
            raise Unauthenticated(N_("This account is suspended. Ask a coordinator."))
        return user

    async def start_session(self, user: User) -> str:
        """A new web session for ``user``: its secret, for the cookie."""
        session = secrets.token_urlsafe(32)
        async with self.db.write() as conn:
            await users_repo.add_session(conn, user_id=user.id, secret=session, ttl=SESSION_TTL)
        return session

    async def login(self, username: str, password: str, *, client: str | None = None
                    ) -> tuple[User, str]:
        """A new session for the right name and password (``check_password``)."""
        user = await self.check_password(username, password, client=client)
        return user, await self.start_session(user)

    async def check_password(self, username: str, password: str, *,
                             client: str | None = None, device: str | None = None) -> User:
        """The user, for the right name and password. Attempts are limited per name and
        per ``client`` address (``fediaid/domain/login_limits.py``): while either is
        locked, every attempt is refused with ``RateLimited``, the right password too. A
        browser whose device cookie (``device``, from ``remember_device``) holds a token
        for the name is limited by that token alone: a lock on the name does not keep out
        a browser its member has logged in with before. A token is bound to the user's
        id and stored password hash: a new password voids every token made before it."""
        secret = self.settings.secret_key
        async with self.db.read() as conn:
            found = await users_repo.find_with_password_hash(conn, username)
        user, stored = found if found else (None, None)
        # Checked for an unknown name too (against no user: id 0 never has a token), so
        # the answer takes as long either way; no token is trusted for it.
        trusted = login_limits.trusted_device(secret, user.id if user else 0, stored, device)
        if user is None:
            trusted = None
        keys = login_limits.keys_for(secret, username, client, trusted)
        async with self.db.write() as conn:
            wait = await login_limits.begin_attempt(conn, keys, self.clock())
        if wait is not None:
            minutes = (wait + 59) // 60
            if trusted is None:
                message = (
                    N_("Too many wrong passwords. Logging in from a new browser is paused "
                       "for {n} minutes; a browser that has logged in to this account before "
                       "still can. Or ask a coordinator for a new login link.", n=minutes)
                    if minutes != 1 else
                    N_("Too many wrong passwords. Logging in from a new browser is paused "
                       "for 1 minute; a browser that has logged in to this account before "
                       "still can. Or ask a coordinator for a new login link."))
            else:
                message = (
                    N_("Too many wrong passwords. Logging in is paused for {n} minutes; try "
                       "again after that, or ask a coordinator for a new login link.",
                       n=minutes)
                    if minutes != 1 else
                    N_("Too many wrong passwords. Logging in is paused for 1 minute; try "
                       "again after that, or ask a coordinator for a new login link."))
            raise RateLimited(message, retry_after=wait,
                              internal=f"login paused for {wait}s")
        ok = await self._verify(stored or _dummy_hash(), password) and stored is not None
        if not ok or user is None or user.disabled:
            raise Unauthenticated(NO_MATCH)
        async with self.db.write() as conn:
            await login_limits.attempt_succeeded(conn, keys, self.clock())
        return user

    async def remember_device(self, user: User, cookie: str | None) -> str:
        """The device cookie for a browser that has just logged in as ``user`` (or set their
        password), bound to their stored password hash (``fediaid/services/login_limits.py``)."""
        async with self.db.read() as conn:
            stored = await users_repo.password_hash(conn, user.id)
        return login_limits.remember_device(self.settings.secret_key, user.id, stored, cookie)

    async def _verify(self, stored: str, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            return bool(await self._hash(_hasher().verify, stored, password))
        except (VerificationError, InvalidHashError):
            return False

    async def set_reading(self, user: User, *, language: str, time_zone: str) -> None:
        """The member's own language and time zone for pages ("" for either: chosen for them,
        by the browser and the group)."""
        language = (language or "").strip()
        time_zone = (time_zone or "").strip()
        if language and language not in languages():
            raise Invalid(N_("Choose one of the languages in the list."), field="language")
        if time_zone and zone(time_zone) is None:
            raise Invalid(N_("“{zone}” is not a time zone. Choose one from the list, like "
                             "America/Mexico_City.", zone=time_zone[:64]), field="time_zone")
        async with self.db.write() as conn:
            await users_repo.set_reading(conn, user.id, language=language or None,
                                         time_zone=time_zone or None)

    async def set_password(self, user: User, password: str, *,
                           keep_session: str | None = None) -> None:
        """Set a new password and end every other way into the account: web sessions but
        ``keep_session`` (the one that made the change), API and OAuth tokens, unused
        authorization codes."""
        problem = password_problem(password)
        if problem:
            raise Invalid(problem, field="password")
        hashed = await self._hash(_hasher().hash, password)
        async with self.db.write() as conn:
            await users_repo.set_password_hash(conn, user.id, hashed)
            await users_repo.end_other_sessions(conn, user.id, keep=keep_session)
            await users_repo.revoke_all_tokens(conn, user.id)

    async def session_user(self, session: str) -> User | None:
        async with self.db.read() as conn:
            return await users_repo.session_user(conn, session)

    async def logout(self, session: str) -> None:
        async with self.db.write() as conn:
            await users_repo.end_session(conn, session)

    async def create_token(self, username: str, *, scopes: list[str],
                           name: str | None = None) -> str:
        unknown = set(scopes) - KNOWN_SCOPES - {s for s in scopes if ":" in s}
        if unknown or not scopes:
            raise Invalid(f"Unknown scopes: {', '.join(sorted(unknown)) or '(none given)'}",
                          field="scopes")
        user = await self.get_user(username)
        secret = secrets.token_urlsafe(32)
        async with self.db.write() as conn:
            await users_repo.add_token(conn, user_id=user.id, secret=secret,
                                       scopes=" ".join(scopes), name=name)
        return secret

    async def authenticate_token(self, token: str) -> tuple[User | None, frozenset[str]]:
        """The token's user and scopes; the user is None for an app-only token (OAuth
        client_credentials grant), which acts for no account."""
        async with self.db.read() as conn:
            found = await users_repo.token_user(conn, token)
        if found is None:
            raise Unauthenticated(N_("The access token is invalid."))
        user, scopes = found
        return user, frozenset(scopes.split())

    # -- for the client APIs -----------------------------------------------------------
    async def actor_of(self, user: User) -> Actor:
        async with self.db.read() as conn:
            return await actors_repo.get_by_id(conn, user.actor_id)

    async def profile_counts(self, actor: Actor) -> dict[str, int]:
        """Followers, following and the statuses (notes, offers and needs, boosts) the actor
        has on this server."""
        from fediaid.storage import follows as follows_repo
        from fediaid.storage import statuses as posts_repo

        async with self.db.read() as conn:
            return {
                "followers": await follows_repo.count(conn, actor_id=actor.id,
                                                      direction="followers"),
                "following": await follows_repo.count(conn, actor_id=actor.id,
                                                      direction="following"),
                "posts": await posts_repo.count_by_author(conn, actor.id),
            }

    async def profile_counts_many(self, actors: Iterable[Actor]) -> dict[int, dict[str, int]]:
        """``profile_counts`` of several actors (a page of statuses' accounts) in at most
        four statements, whatever their number.

        Counting an account's statuses reads all of its entries in an index: ~100 ms for
        an account with 250,000 statuses (docs/benchmarks.md, "Timelines"). So each count
        is kept in this process with the account's newest status id: while that is the
        same the count stands; when it grew, only the newer statuses are counted and added.
        A kept count is counted afresh after ``COUNT_KEEP_SECONDS``: a deletion, a status
        hidden by a coordinator or an offer held for approval shows in lists within that
        time (at once in the account's own profile, ``profile_counts``)."""
        from fediaid.storage import follows as follows_repo
        from fediaid.storage import statuses as posts_repo

        ids = sorted({a.id for a in actors})
        if not ids:
            return {}
        now = time.monotonic()
        async with self.db.read() as conn:
            followers, following = await follows_repo.counts_both(conn, ids)
            newest = await posts_repo.newest_by_authors(conn, ids)
            fresh, after = [], {}
            for i in ids:
                kept = self._written.get(i)
                if kept is None or now - kept[1] > COUNT_KEEP_SECONDS or (
                        kept[0] is not None and (newest[i] or 0) < kept[0]):
                    fresh.append(i)
                elif kept[0] != newest[i]:
                    fresh.append(i)
                    if kept[0] is not None:
                        after[i] = kept[0]
            counted = await posts_repo.count_by_authors(conn, fresh, after=after)
        for i in fresh:
            base = self._written[i][2] if i in after else 0
            counted_at = self._written[i][1] if i in after else now
            self._written[i] = (newest[i], counted_at, base + counted[i])
        out = {i: {"followers": followers[i], "following": following[i],
                   "posts": self._written[i][2]} for i in ids}
        if len(self._written) > COUNT_KEEP_ACCOUNTS:  # the oldest counts go first
            for i in sorted(self._written, key=lambda k: self._written[k][1])[
                    :len(self._written) - COUNT_KEEP_ACCOUNTS]:
                del self._written[i]
        return out

    async def user_counts(self) -> dict[str, int]:
        """Accounts, those active this month, local offers and needs, and the other servers
        we know of (instance statistics for apps)."""
        from sqlalchemy import distinct, func, select

        from fediaid.storage.tables import actors, posts

        async with self.db.read() as conn:
            local_posts = (await conn.execute(select(func.count()).select_from(posts).where(
                posts.c.local.is_(True)))).scalar_one()
            domains = (await conn.execute(select(func.count(distinct(actors.c.domain))).where(
                actors.c.local.is_(False)))).scalar_one()
            return {"total": await users_repo.count(conn),
                    "active_month": await users_repo.active_since(conn, days=30),
                    "posts": int(local_posts), "domains": int(domains)}

