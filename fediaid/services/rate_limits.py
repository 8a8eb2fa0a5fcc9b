"""Counting requests against the named limits of ``fediaid/domain/rate_limits.py``, shared
by every process through the database (the table ``login_attempts``, beside the login
locks: one limiter, one table, one prune).

Each process keeps, per limit and subject, the window's count as last read from the
database and the hits it has not added yet. It adds them (one atomic upsert that returns the
new total) once ``batch`` have gathered, or at every hit once the count is near the limit,
so a small limit (batch 1) is exact across processes and a generous one (the client API, the
inbox) costs one database write per ``batch`` requests rather than one per request, with at
most about ``batch`` hits too many per process. Once a window is over its limit the
process refuses the rest of it without asking the database.

Subjects are stored as an HMAC with the instance secret (the table keeps no addresses,
tokens or account ids), as the login attempts are. Time comes from ``clock`` (tests move
it instead of sleeping).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from fediaid.domain.rate_limits import Limit, retry_seconds
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


class _Window:
    __slots__ = ("end", "over", "pending", "shared", "start")

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start = start
        self.end = end
        self.shared = 0  # the database's count when this process last added to it
        self.pending = 0  # hits counted here and not yet added
        self.over = False


class RateLimiter(Service):
    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self.clock: Callable[[], datetime] = utcnow
        self.scale = core.settings.rate_limit_scale
        self._local: dict[tuple[str, str], _Window] = {}
        self._scaled: dict[tuple[Limit, float], Limit] = {}
        self._pruned_at: datetime | None = None

    def _limit(self, limit: Limit) -> Limit:
        found = self._scaled.get((limit, self.scale))
        if found is None:
            found = self._scaled[(limit, self.scale)] = limit.scaled(self.scale)
        return found

    def _key(self, limit: Limit, subject: str) -> str:
        return hmac.new(self.settings.secret_key.encode(),
                        f"rate:{limit.name}:{subject}".encode(), hashlib.sha256).hexdigest()

    async def hit(self, limit: Limit, subject: str, *, cost: int = 1) -> Usage:
        """Count a hit against ``limit`` for ``subject``; the answer says whether it is
        allowed (refused hits are counted too, as rack-attack does)."""
        now = self.clock()
        if self.scale <= 0:
            return Usage(limit.limit, 0, now + limit.period)
        limit = self._limit(limit)
        start, end = limit.window(now)
        local_key = (limit.name, subject)
        window = self._local.get(local_key)
        if window is None or window.start != start:
            if len(self._local) >= _LOCAL_MAX:
                self._forget_ended(now)
            window = self._local[local_key] = _Window(start, end)
        if window.over:
            return Usage(limit.limit, limit.limit + 1, end, retry_seconds(now, end))
        window.pending += cost
        count = window.shared + window.pending
        if window.pending >= limit.batch or limit.near(count):
            hits, window.pending = window.pending, 0
            try:
                total = await self._add(limit, subject, hits, start, end, now)
            except BaseException:
                window.pending += hits
                raise
            window.shared = max(window.shared, total)
            count = total
        if count > limit.limit:
            window.over = True
            return Usage(limit.limit, count, end, retry_seconds(now, end))
        return Usage(limit.limit, count, end)

    async def enforce(self, limit: Limit, subject: str, message: str) -> Usage:
        """``hit``, raising ``RateLimited`` (429 with ``Retry-After``) when refused."""
        usage = await self.hit(limit, subject)
        if not usage.allowed:
            raise RateLimited(message, retry_after=usage.retry_after,
                              internal=f"rate limit {limit.name} reached")
        return usage

    async def _add(self, limit: Limit, subject: str, hits: int, start: datetime,
                   end: datetime, now: datetime) -> int:
        async with self.db.write() as conn:
            if self._pruned_at is None or now - self._pruned_at >= _PRUNE_EVERY:
                self._pruned_at = now
                await repo.prune(conn, now)
            return await repo.add_hits(conn, self._key(limit, subject), hits, start, end)

    def _forget_ended(self, now: datetime) -> None:
        for key in [k for k, w in self._local.items() if w.end <= now]:
            del self._local[key]
        if len(self._local) >= _LOCAL_MAX:  # still full: forget the oldest half
            for key in list(self._local)[: _LOCAL_MAX // 2]:
                self._local.pop(key, None)
