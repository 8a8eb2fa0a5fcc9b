"""Counting requests against the named limits of ``fediaid/domain/rate_limits.py`` in
sliding windows (the current slice and the ``SLICES`` before it), shared by every process
through the database (the table ``login_attempts``, beside the login locks: one limiter, one
table, one prune; a row per subject and slice).

Each process keeps, per limit and subject, the slices' counts as last read from the database
and the hits it has not added yet. It adds them (one atomic upsert that returns the slice's
new total and the earlier slices' counts) once ``batch`` have gathered, or at every hit once
the count is near the limit, so a small limit (batch 1) is exact across processes and a
generous one (the client API, the inbox) costs one database write per ``batch`` requests
rather than one per request, with at most about ``batch`` hits too many per process. Once a
subject is over its limit the process refuses it without asking the database until the
``Retry-After`` it gave has passed (those refusals are not counted, so a client that waits
as told gets in again).

Subjects are stored as an HMAC with the instance secret (the table keeps no addresses,
tokens or account ids), as the login attempts are. Time comes from ``clock`` (tests move
it instead of sleeping).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from fediaid.domain.rate_limits import Limit
from fediaid.errors import RateLimited
from fediaid.services.core import Core, Service
from fediaid.storage import login_attempts as repo
from fediaid.storage.types import utcnow

_PRUNE_EVERY = timedelta(minutes=1)
_LOCAL_MAX = 20000


@dataclass(frozen=True)
class Usage:
    """Where a subject stands after a hit."""

    limit: int
    count: int
    reset: datetime
    retry_after: int | None = None  # set when refused

    @property
    def allowed(self) -> bool:
        return self.retry_after is None

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)


class _Counts:
    __slots__ = ("forget_at", "pending", "refused_until", "shared")

    def __init__(self) -> None:
        self.shared: dict[int, int] = {}  # slice -> the database's count when last read
        self.pending = 0  # hits counted here and not yet added
        self.refused_until: datetime | None = None
        self.forget_at: datetime | None = None


class RateLimiter(Service):
    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self.clock: Callable[[], datetime] = utcnow
        self.scale = core.settings.rate_limit_scale
        self._local: dict[tuple[str, str], _Counts] = {}
        self._scaled: dict[tuple[Limit, float], Limit] = {}
        self._pruned_at: datetime | None = None

    def _limit(self, limit: Limit) -> Limit:
        found = self._scaled.get((limit, self.scale))
        if found is None:
            found = self._scaled[(limit, self.scale)] = limit.scaled(self.scale)
        return found

    def _key(self, limit: Limit, subject: str, index: int) -> str:
        return hmac.new(self.settings.secret_key.encode(),
                        f"rate:{limit.name}:{subject}:{index}".encode(),
                        hashlib.sha256).hexdigest()

    async def hit(self, limit: Limit, subject: str, *, cost: int = 1) -> Usage:
        """Count a hit against ``limit`` for ``subject``; the answer says whether it is
        allowed (a refused hit that reached the database stays counted, as rack-attack
        does)."""
        now = self.clock()
        if self.scale <= 0:
            return Usage(limit.limit, 0, now + limit.period)
        limit = self._limit(limit)
        index = limit.slice_of(now)
        reset = limit.forgotten_at(index)
        local_key = (limit.name, subject)
        counts = self._local.get(local_key)
        if counts is None:
            if len(self._local) >= _LOCAL_MAX:
                self._forget_ended(now)
            counts = self._local[local_key] = _Counts()
        counts.forget_at = reset
        if counts.refused_until is not None:
            if now < counts.refused_until:
                return Usage(limit.limit, limit.limit + 1, reset,
                             max(1, math.ceil((counts.refused_until - now).total_seconds())))
            counts.refused_until = None
        counts.pending += cost
        count = limit.total(counts.shared, index) + counts.pending
        if counts.pending >= limit.batch or limit.near(count):
            hits, counts.pending = counts.pending, 0
            try:
                counts.shared = await self._add(limit, subject, hits, index, now)
            except BaseException:
                counts.pending += hits
                raise
            count = limit.total(counts.shared, index)
        if count > limit.limit:
            retry = limit.retry_seconds(now, counts.shared)
            counts.refused_until = now + timedelta(seconds=retry)
            return Usage(limit.limit, count, reset, retry)
        return Usage(limit.limit, count, reset)

    async def enforce(self, limit: Limit, subject: str, message: str) -> Usage:
        """``hit``, raising ``RateLimited`` (429 with ``Retry-After``) when refused."""
        usage = await self.hit(limit, subject)
        if not usage.allowed:
            raise RateLimited(message, retry_after=usage.retry_after,
                              internal=f"rate limit {limit.name} reached")
        return usage

    async def _add(self, limit: Limit, subject: str, hits: int, index: int,
                   now: datetime) -> dict[int, int]:
        slices = limit.counted(index)
        keys = [self._key(limit, subject, i) for i in slices]
        async with self.db.write() as conn:
            if self._pruned_at is None or now - self._pruned_at >= _PRUNE_EVERY:
                self._pruned_at = now
                await repo.prune(conn, now)
            current, *earlier = await repo.add_hits(
                conn, keys[-1], hits, limit.slice_start(index), limit.forgotten_at(index),
                keys[:-1])
        return {i: n for i, n in zip(slices, [*earlier, current], strict=True) if n}

    def _forget_ended(self, now: datetime) -> None:
        for key in [k for k, c in self._local.items()
                    if c.forget_at is not None and c.forget_at <= now]:
            del self._local[key]
        if len(self._local) >= _LOCAL_MAX:  # still full: forget the oldest half
            for key in list(self._local)[: _LOCAL_MAX // 2]:
                self._local.pop(key, None)
