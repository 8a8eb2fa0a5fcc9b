"""How many login attempts an account name and an address get before logging in pauses.

Every attempt counts until it proves right (a right password forgets the account's
failures; for an address it only takes back its own count). From ``threshold`` failures on,
each attempt locks the key, for ``first_lock`` doubling per further failure up to
``max_lock``. While a key is locked every attempt is refused without looking at the
password (so the right password does not work either) and is not counted (so refused
attempts do not lengthen the lock). Failures are forgotten after ``quiet`` with no attempt
and no lock. No I/O here: ``fediaid/services/login_limits.py`` keeps the counts in the
database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LockPolicy:
    threshold: int
    first_lock: timedelta
    max_lock: timedelta
    quiet: timedelta

    def lock_for(self, failures: int) -> timedelta | None:
        if failures < self.threshold:
            return None
        doublings: int = min(failures - self.threshold, 30)
        lock: timedelta = self.first_lock * (1 << doublings)
        return min(lock, self.max_lock)


# An account name (known or not, so a lock says nothing about whether it exists): five
# tries, then 1, 2, 4 ... minutes, at most an hour.
ACCOUNT = LockPolicy(threshold=5, first_lock=timedelta(minutes=1), max_lock=timedelta(hours=1),
                     quiet=timedelta(minutes=15))
# One address trying many names: twenty tries, then 15, 30, 60 minutes.
ADDRESS = LockPolicy(threshold=20, first_lock=timedelta(minutes=15),
                     max_lock=timedelta(hours=1), quiet=timedelta(minutes=15))


@dataclass(frozen=True)
class Attempts:
    """What is known about one key: failures counted, the last attempt, a lock."""

    failures: int
    last_at: datetime
    locked_until: datetime | None = None

    def wait(self, now: datetime) -> timedelta | None:
        """How long the key stays locked, or None."""
        if self.locked_until is not None and self.locked_until > now:
            return self.locked_until - now
        return None

    def expires_at(self, policy: LockPolicy) -> datetime:
        """When these attempts are forgotten (the row may be deleted)."""
        last = max(self.last_at, self.locked_until or self.last_at)
        return last + policy.quiet

    def forgotten(self, policy: LockPolicy, now: datetime) -> bool:
        return now >= self.expires_at(policy)


def after_attempt(before: Attempts | None, policy: LockPolicy, now: datetime) -> Attempts:
    """The count once an attempt (not refused by a lock) is made."""
    failures = 1 if before is None or before.forgotten(policy, now) else before.failures + 1
    lock = policy.lock_for(failures)
    return Attempts(failures, now, now + lock if lock else None)


def after_success(before: Attempts, policy: LockPolicy) -> Attempts:
    """An address whose attempt proved right: its own count is taken back."""
    failures = max(before.failures - 1, 0)
    locked = before.locked_until if failures >= policy.threshold else None
    return Attempts(failures, before.last_at, locked)


def retry_seconds(wait: timedelta) -> int:
    """A ``Retry-After`` value: whole seconds, at least one."""
    return max(1, math.ceil(wait.total_seconds()))
