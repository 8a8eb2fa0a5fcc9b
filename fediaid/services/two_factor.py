"""Optional two-factor login with TOTP (RFC 6238, ``pyotp``) for coordinators and admins.

- Enrolment: ``begin`` makes a secret (shown as text and as a QR code made by ``segno``, an
  SVG with no script), ``confirm`` checks a first code and hands out 10 recovery codes,
  shown once and stored as SHA-256.
- Login: after the right password (or a one-time login link), an account with two-factor
  gets a short-lived signed challenge instead of a session (``challenge`` /
  ``challenged``); ``verify`` takes a code from the app (the step before and after are
  accepted for clock drift, and a step is good once: a replayed code is refused, across
  processes too) or a recovery code (good once). Wrong codes count against the account with
  the login locks (``fediaid/domain/login_limits.py``: 5 tries, then growing locks).
- ``disable`` needs a code. A group setting can require two-factor of coordinators
  (``required_for``): the pages send them to enrol first.

The secret is kept encrypted (AES-GCM) with a key derived from the instance secret: a copy
of the database alone does not give the codes; changing ``secret_key`` ends every
enrolment (members then log in with a new login link and enrol again).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from fediaid.domain.users import User
from fediaid.errors import Conflict, Forbidden, RateLimited, Unauthenticated
from fediaid.i18n import N_
from fediaid.services import login_limits
from fediaid.services.core import Core, Service
from fediaid.storage import two_factor as repo
from fediaid.storage import users as users_repo
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from fediaid.services.accounts import AccountService

CHALLENGE_TTL = timedelta(minutes=10)
RECOVERY_CODES = 10
WRONG_CODE = N_("That code is not right (or was already used). Try the next one from your "
                "app.")


QR_TITLE = N_("QR code for your app")  # what a screen reader says of the QR code


@dataclass(frozen=True)
class Enrolment:
    secret: str  # base32, for typing into an app
    uri: str  # otpauth://, what the QR code holds
    qr_svg: str  # an <svg> element, no script (titled in English)

    def qr(self, title: str) -> str:
        """The QR code as an <svg> element titled in the reader's words."""
        import segno

        return str(segno.make(self.uri, error="m").svg_inline(scale=4, title=title))


def _normal(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def _hash(code: str) -> str:
    return hashlib.sha256(_normal(code).encode()).hexdigest()


class TwoFactorService(Service):
    def __init__(self, core: Core, *, accounts: AccountService) -> None:
        super().__init__(core)
        self.accounts = accounts
        self.clock: Callable[[], datetime] = utcnow

    # -- the secret at rest -----------------------------------------------------------
    def _cipher(self) -> object:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"fediaid two-factor secrets").derive(
            self.settings.secret_key.encode())
        return AESGCM(key)

    def _seal(self, secret: str, user_id: int) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._cipher().encrypt(nonce, secret.encode(),  # type: ignore[attr-defined]
                                        str(user_id).encode())
        return base64.b64encode(nonce + sealed).decode()

    def _open(self, stored: str, user_id: int) -> str | None:
        from cryptography.exceptions import InvalidTag

        raw = base64.b64decode(stored)
        try:
            return str(self._cipher().decrypt(  # type: ignore[attr-defined]
                raw[:12], raw[12:], str(user_id).encode()).decode())
        except InvalidTag:  # the instance secret changed
            return None

    def _totp(self, secret: str, user: User) -> object:
        import pyotp

        return pyotp.TOTP(secret, name=user.username, issuer=self.settings.domain)

    # -- state ------------------------------------------------------------------------
    async def enabled(self, user: User) -> bool:
        async with self.db.read() as conn:
            found = await repo.find(conn, user.id)
        return found is not None and found[1]

    async def codes_left(self, user: User) -> int:
        async with self.db.read() as conn:
            return await repo.codes_left(conn, user.id)

    async def required_for(self, user: User) -> bool:
        """Whether the group requires two-factor of ``user`` and it is not set up."""
        if not user.is_coordinator:
            return False
        async with self.db.read() as conn:
            if not await repo.required(conn):
                return False
            found = await repo.find(conn, user.id)
        return found is None or not found[1]

    async def is_required(self) -> bool:
        async with self.db.read() as conn:
            return await repo.required(conn)

    async def set_required(self, user: User, value: bool) -> None:
        if not user.is_coordinator:
            raise Forbidden(N_("Only coordinators can change this."))
        if value and not await self.enabled(user):
            raise Conflict(N_("Turn on two-factor login for yourself first."))
        async with self.db.write() as conn:
            await repo.set_required(conn, value)

    # -- enrolment --------------------------------------------------------------------
    async def begin(self, user: User) -> Enrolment:
        """A new secret waiting for its first code (replacing an unconfirmed one)."""
        import pyotp

        if not user.is_coordinator:
            raise Forbidden(N_("Two-factor login is for coordinators and admins."))
        if await self.enabled(user):
            raise Conflict(N_("Two-factor login is already on."))
        secret = pyotp.random_base32()
        async with self.db.write() as conn:
            await repo.start(conn, user.id, self._seal(secret, user.id))
        return self._enrolment(secret, user)

    async def pending(self, user: User) -> Enrolment | None:
        async with self.db.read() as conn:
            found = await repo.find(conn, user.id)
        if found is None or found[1]:
            return None
        secret = self._open(found[0], user.id)
        return self._enrolment(secret, user) if secret else None

    def _enrolment(self, secret: str, user: User) -> Enrolment:
        import segno

        uri = self._totp(secret, user).provisioning_uri()  # type: ignore[attr-defined]
        svg = segno.make(uri, error="m").svg_inline(scale=4, title=QR_TITLE)
        return Enrolment(secret=secret, uri=uri, qr_svg=svg)

    async def confirm(self, user: User, code: str) -> list[str]:
        """Turn two-factor on with a first code; returns the recovery codes (shown once)."""
        pending = await self.pending(user)
        if pending is None:
            raise Conflict(N_("Start again: there is no set-up waiting for a code."))
        await self._guard(user)
        step = self._matching_step(pending.secret, user, code)
        if step is None:
            raise Unauthenticated(WRONG_CODE)
        codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
        async with self.db.write() as conn:
            await repo.confirm(conn, user.id, self.clock(), step, [_hash(c) for c in codes])
        await self._passed(user)
        return codes

    async def new_recovery_codes(self, user: User, code: str) -> list[str]:
        await self.verify(user, code)
        codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
        async with self.db.write() as conn:
            await repo.replace_codes(conn, user.id, [_hash(c) for c in codes])
        return codes

    async def reset(self, user: User) -> bool:
        """The server operator (command line) removes a lost second factor, so the member
        can log in with a password or a login link and enrol again; in the audit log.
        Returns whether there was one."""
        from fediaid.domain.audit import AuditAction
        from fediaid.services.audit import record

        had = await self.enabled(user)
        async with self.db.write() as conn:
            await repo.remove(conn, user.id)
            if had:
                await record(conn, None, AuditAction.TWO_FACTOR_RESET, target_kind="account",
                             target_id=user.id,
                             summary=N_("turned off two-factor login for {name}",
                                        name=user.username))
        return had

    async def disable(self, user: User, code: str) -> None:
        await self.verify(user, code)
        async with self.db.write() as conn:
            await repo.remove(conn, user.id)

    # -- checking codes ---------------------------------------------------------------
    def _matching_step(self, secret: str, user: User, code: str) -> int | None:
        code = _normal(code)
        if not code.isdigit() or len(code) != 6:
            return None
        totp = self._totp(secret, user)
        now = self.clock().timestamp()
        step = int(now // 30)
        for candidate in (step, step - 1, step + 1):
            expected = totp.at(candidate * 30)  # type: ignore[attr-defined]
            if hmac.compare_digest(str(expected), code):
                return candidate
        return None

    async def verify(self, user: User, code: str) -> None:
        """A code from the app (each good once) or a recovery code (good once); wrong codes
        lock the account like wrong passwords."""
        await self._guard(user)
        async with self.db.read() as conn:
            found = await repo.find(conn, user.id)
        secret = self._open(found[0], user.id) if found and found[1] else None
        if secret is None:
            raise Unauthenticated(N_("Two-factor login is not on for this account."))
        step = self._matching_step(secret, user, code)
        async with self.db.write() as conn:
            if step is not None:
                ok = await repo.use_step(conn, user.id, step)
            else:
                ok = await repo.use_recovery_code(conn, user.id, _hash(code), self.clock())
        if not ok:
            raise Unauthenticated(WRONG_CODE)
        await self._passed(user)

    def _keys(self, user: User) -> login_limits.Keys:
        return login_limits.keys_for(self.settings.secret_key, f"two-factor:{user.id}",
                                     None)

    async def _guard(self, user: User) -> None:
        async with self.db.write() as conn:
            wait = await login_limits.begin_attempt(conn, self._keys(user),
                                                    self.accounts.clock())
        if wait is not None:
            minutes = (wait + 59) // 60
            raise RateLimited(N_("Too many wrong codes. Try again in {n} minutes.", n=minutes)
                              if minutes != 1 else
                              N_("Too many wrong codes. Try again in 1 minute."),
                              retry_after=wait, internal=f"two-factor paused for {wait}s")

    async def _passed(self, user: User) -> None:
        async with self.db.write() as conn:
            await login_limits.attempt_succeeded(conn, self._keys(user),
                                                 self.accounts.clock())

    # -- the step between password and session -----------------------------------------
    def challenge(self, user: User) -> str:
        """A signed, short-lived note that ``user`` passed the first step."""
        expires = int(time.time() + CHALLENGE_TTL.total_seconds())
        body = f"{user.id}.{expires}"
        return f"{body}.{self._sign(body)}"

    def _sign(self, body: str) -> str:
        return hmac.new(self.settings.secret_key.encode(),
                        f"two-factor challenge:{body}".encode(), hashlib.sha256).hexdigest()

    async def challenged(self, token: str | None) -> User | None:
        if not token or token.count(".") != 2:
            return None
        user_id, expires, mac = token.split(".")
        if not (user_id.isdigit() and expires.isdigit()) or not hmac.compare_digest(
                mac, self._sign(f"{user_id}.{expires}")) or int(expires) < time.time():
            return None
        async with self.db.read() as conn:
            user = await users_repo.get(conn, int(user_id))
        return None if user.disabled else user
