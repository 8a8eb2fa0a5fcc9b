"""Login attempts limited per account name and per address (policy in
``fediaid/domain/login_limits.py``), counted in the database so every process shares them
and a restart does not reset them.

Hand-written rather than a library: ``limits`` (the usual choice) keeps counters in memory,
Redis, Memcached, MongoDB or etcd, none of which a fediaid instance has, and counts fixed or
sliding windows, not locks that grow with each further failure.
"""

from __future__ import annotations

import hashlib
import hmac
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


@dataclass(frozen=True)
class Keys:
    """The keys one login attempt counts against."""

    account: str
    address: str | None

    def policies(self) -> list[tuple[str, LockPolicy]]:
        out = [(self.account, ACCOUNT)]
        if self.address:
            out.append((self.address, ADDRESS))
        return out


def keys_for(secret: str, name: str, address: str | None) -> Keys:
    """HMACs with the instance secret: the table keeps neither names nor addresses."""

    def key(text: str) -> str:
        return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()

    return Keys(key("account:" + name.strip().casefold()),
                key("address:" + address) if address else None)


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
    the attempt counted for it (its other failures stay)."""
    await repo.forget(conn, keys.account)
    if keys.address:
        found = (await repo.lock_rows(conn, [keys.address], now)).get(keys.address)
        if found is not None:
            after = after_success(found, ADDRESS)
            await repo.save(conn, keys.address, after, after.expires_at(ADDRESS))

