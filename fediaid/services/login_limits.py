"""Login attempts limited per account name and per address (policy in
``fediaid/domain/login_limits.py``), counted in the database so every process shares them
and a restart does not reset them.

Device cookies (OWASP's "Slow Down Online Guessing Attacks with Device Cookies"): a browser
that has logged in to an account gets a token for that account (a random nonce and an HMAC
with the instance secret of the nonce, the user's id and their stored password hash, so a
new password voids every token made before it; up to ``DEVICE_TOKENS`` accounts per
browser). A password attempt that brings a valid token for the name it tries is counted
against that token alone (the same growing locks as an account name), not against the name
or the address, so someone who only knows the name and locks it from elsewhere cannot keep
its member out of the browsers they use. A browser without one is limited per name and per
address as before. A cookie, or a part of one, not in the token format is no token, never
an error.

Hand-written rather than a library: ``limits`` (the usual choice) keeps counters in memory,
Redis, Memcached, MongoDB or etcd, none of which a fediaid instance has, and counts fixed or
sliding windows, not locks that grow with each further failure.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.login_limits import (
    ACCOUNT,
    ADDRESS,
    LockPolicy,
    after_attempt,
    after_success,
    retry_seconds,
)
from fediaid.storage import login_attempts as repo

DEVICE_TOKENS = 5
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16}\.[0-9a-f]{32}")


@dataclass(frozen=True)
class Keys:
    """The keys one login attempt counts against: the account name's and the address's,
    or, from a browser with a device token for the name, that token's alone."""

    account: str
    address: str | None
    device: str | None = None

    def policies(self) -> list[tuple[str, LockPolicy]]:
        if self.device:
            return [(self.device, ACCOUNT)]
        out = [(self.account, ACCOUNT)]
        if self.address:
            out.append((self.address, ADDRESS))
        return out


def _mac(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def _name(name: str) -> str:
    return name.strip().casefold()


def keys_for(secret: str, name: str, address: str | None, device: str | None = None
             ) -> Keys:
    """HMACs with the instance secret: the table keeps neither names nor addresses.
    ``device`` is the nonce of a device token checked for the name's user
    (``trusted_device``)."""
    return Keys(_mac(secret, "account:" + _name(name)),
                _mac(secret, "address:" + address) if address else None,
                _mac(secret, f"device:{_name(name)}:{device}") if device else None)


def _token_mac(secret: str, user_id: int, password_hash: str | None, nonce: str) -> str:
    # The password hash last: it is the only part not of a fixed alphabet without ":".
    return _mac(secret, f"device-token:{user_id}:{nonce}:{password_hash or ''}")[:32]


def _tokens(cookie: str | None) -> list[str]:
    """The cookie's tokens (at most ``DEVICE_TOKENS``) that are in the token format;
    anything else in it (non-ASCII, another shape) is skipped."""
    return [t for t in (cookie or "").split(":")[:DEVICE_TOKENS] if _TOKEN.fullmatch(t)]


def trusted_device(secret: str, user_id: int, password_hash: str | None,
                   cookie: str | None) -> str | None:
    """The nonce of the device token in ``cookie`` that is valid for the user ``user_id``
    with the stored ``password_hash`` (a token made before the password changed is not),
    or None."""
    for token in _tokens(cookie):
        nonce, _, mac = token.partition(".")
        if hmac.compare_digest(mac, _token_mac(secret, user_id, password_hash, nonce)):
            return nonce
    return None


def remember_device(secret: str, user_id: int, password_hash: str | None,
                    cookie: str | None) -> str:
    """The device cookie after a login as the user ``user_id`` (whose stored password hash
    is ``password_hash``): a new token for them first, then the browser's tokens for other
    accounts (the oldest dropped past ``DEVICE_TOKENS``)."""
    nonce = secrets.token_urlsafe(12)
    others = [t for t in _tokens(cookie)
              if trusted_device(secret, user_id, password_hash, t) is None]
    return ":".join([f"{nonce}.{_token_mac(secret, user_id, password_hash, nonce)}",
                     *others][:DEVICE_TOKENS])


async def begin_attempt(conn: AsyncConnection, keys: Keys, now: datetime) -> int | None:
    """Count an attempt against every key, or, when one of them is locked, count nothing
    and return the seconds until the last of their locks ends."""
    policies = keys.policies()
    await repo.prune(conn, now)  # forgotten anyway; the index on expires_at keeps it cheap
    found = await repo.lock_rows(conn, [k for k, _ in policies], now)
    waits = [w for w in (found[k].wait(now) for k, _ in policies) if w is not None]
    if waits:
        return retry_seconds(max(waits))
    for key, policy in policies:
        attempts = found[key]
        after = after_attempt(attempts if attempts.failures else None, policy, now)
        await repo.save(conn, key, after, after.expires_at(policy))
    return None


async def attempt_succeeded(conn: AsyncConnection, keys: Keys, now: datetime) -> None:
    """The password was right: the account's failures are forgotten; the address gets back
    the attempt counted for it (its other failures stay). From a trusted browser only its
    own failures are forgotten (the name's lock, if someone elsewhere holds it, stays)."""
    if keys.device:
        await repo.forget(conn, keys.device)
        return
    await repo.forget(conn, keys.account)
    if keys.address:
        found = (await repo.lock_rows(conn, [keys.address], now)).get(keys.address)
        if found is not None:
            after = after_success(found, ADDRESS)
            await repo.save(conn, keys.address, after, after.expires_at(ADDRESS))

