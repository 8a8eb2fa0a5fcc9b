"""Every request limit of the instance, by name, in one place (logging in has its growing
locks in ``fediaid/domain/login_limits.py``; everything else is counted here in sliding
windows).

A ``Limit`` allows ``limit`` hits per ``period`` and per subject (an address, an account, a
token, a client, a sending domain), and no interval of ``period`` may hold more: the period
is cut into ``SLICES`` slices aligned to the epoch (so every process agrees on them), and a
hit is counted against the current slice and the ``SLICES`` before it. Those cover every
interval of ``period`` that ends now, so a burst at the edge of a fixed window (a full
window's worth just before it ends and another just after) cannot pass: the second burst
still sees the first. The price is that a hit stays counted for up to one slice longer than
``period`` (up to 11/10 of it), so a client that sends exactly at the limit for a long time
is held to about 10/11 of it. Hand-written, not ``limits`` or ``pyrate-limiter``: neither
counts in the database the processes already share through SQLAlchemy (see
docs/architecture.md).

``batch`` is how many hits a process may count in memory before it adds them to the shared
count in the database (``fediaid/services/rate_limits.py``): 1 for the small limits (every
hit is counted at once), more for the generous ones that are hit often (the client API, the
inbox), where a few hits too many per process is the price of not writing to the database
on every request. No I/O here.

Numbers follow Mastodon's ``config/initializers/rack_attack.rb`` where it has one (300
client API requests per 5 minutes per token or unauthenticated address, 1,500 per
authenticated address; 25 per 5 minutes on protected paths) and its per-account
``RateLimiter`` (300 statuses per 3 hours), tightened for a neighborhood group.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from fediaid.i18n import N_

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Slices per period: the current one and this many before it are counted.
SLICES = 10


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    period: timedelta
    batch: int = 1

    @property
    def slice_seconds(self) -> float:
        return self.period.total_seconds() / SLICES

    def slice_of(self, now: datetime) -> int:
        """The index of the slice ``now`` falls in (slices counted from the epoch)."""
        return math.floor((now - _EPOCH).total_seconds() / self.slice_seconds)

    def slice_start(self, index: int) -> datetime:
        return _EPOCH + timedelta(seconds=index * self.slice_seconds)

    def counted(self, index: int) -> range:
        """The slices counted for a hit in slice ``index``: it and the ``SLICES`` before."""
        return range(index - SLICES, index + 1)

    def forgotten_at(self, index: int) -> datetime:
        """When hits of slice ``index`` stop being counted (for Mastodon's
        ``X-RateLimit-Reset``: by then every hit counted now is forgotten)."""
        return self.slice_start(index + SLICES + 1)

    def total(self, counts: Mapping[int, int], index: int) -> int:
        """The hits counted in slice ``index`` from the counts per slice."""
        return sum(counts.get(i, 0) for i in self.counted(index))

    def retry_seconds(self, now: datetime, counts: Mapping[int, int]) -> int:
        """A ``Retry-After`` value for a refused hit: whole seconds until enough of the
        oldest slices are forgotten that one more hit is within the limit (at least one)."""
        index = self.slice_of(now)
        total = self.total(counts, index)
        at = self.forgotten_at(index)
        for i in self.counted(index):
            if total < self.limit:
                at = self.slice_start(i + SLICES)  # slice i - 1 was forgotten then
                break
            total -= counts.get(i, 0)
        return max(1, math.ceil((at - now).total_seconds()))

    def scaled(self, scale: float) -> Limit:
        """The same limit with ``scale`` times as many hits (instances and benchmarks that
        need more; the batch grows with it)."""
        if scale == 1:
            return self
        return replace(self, limit=max(1, round(self.limit * scale)),
                       batch=max(1, round(self.batch * scale)))

    def near(self, count: int) -> bool:
        """Close enough to the limit that every further hit must be counted at once."""
        return count >= self.limit - 2 * self.batch


_MINUTES_5 = timedelta(minutes=5)

# One-time login links: each guess is a request (a link's secret is 24 random bytes, so
# this only keeps a guesser from flooding the table of links).
LOGIN_LINK_ADDRESS = Limit("login_link/address", 25, _MINUTES_5)
# Login links and confirmation links sent by e-mail (fediaid/services/email.py): asking for
# a login link, per address (the answer is the same whether or not the name exists; over
# the limit it is a 429 for everyone alike), and e-mails sent per account, counted quietly
# (over it, nothing more is sent for an hour, and the page says the same as before).
EMAIL_LOGIN_ADDRESS = Limit("email_login/address", 10, timedelta(hours=1))
EMAIL_LOGIN_ACCOUNT = Limit("email_login/account", 3, timedelta(hours=1))
EMAIL_CONFIRM_ACCOUNT = Limit("email_confirm/account", 5, timedelta(hours=1))
EMAIL_PAUSED = N_("Many login links were asked for from here in the last hour. Please try "
                   "again later, or ask a coordinator.")
# Text messages (fediaid/services/sms.py): texts sent to one number per day (the one answer
# to STOP or START aside), texts sent by the group per day (a gateway is paid per text, and
# a phone's SIM plan has a cap), and texts taken from one number per hour (past it they are
# dropped without an answer: an automatic responder cannot start a loop).
SMS_TO_NUMBER = Limit("sms/to_number", 10, timedelta(days=1))
SMS_GROUP_DAY = Limit("sms/group", 300, timedelta(days=1))
SMS_FROM_NUMBER = Limit("sms/from_number", 30, timedelta(hours=1))
SMS_PAUSED = N_("That number has had many texts from the group today. Please call, or try "
                 "again tomorrow.")
SMS_GROUP_PAUSED = N_("The group has sent many texts today (the daily limit). Please call, or "
                       "try again tomorrow.")
# OAuth: /oauth/authorize, /oauth/token, /oauth/revoke and app registration per address,
# and /oauth/token per client_id (a leaked client secret tried with many codes).
OAUTH_ADDRESS = Limit("oauth/address", 60, _MINUTES_5)
OAUTH_CLIENT = Limit("oauth/client", 30, _MINUTES_5)
# Joining: accounts made with an invitation link, and requests to join from the group's
# page, per address (a leaked multi-use link cannot fill the group with accounts at once).
JOIN_ADDRESS = Limit("join/address", 10, timedelta(hours=1))
JOINING_PAUSED = N_("Many people joined or asked to join from here in the last hour. Please "
                     "try again later, or ask a coordinator.")
# Posting (offers, needs, notes from apps) and answering offers and needs, per account.
# Members' own weekly caps on answers (services/responses.py) still apply underneath.
POSTS_ACCOUNT = Limit("posts/account", 30, timedelta(hours=1))
ANSWERS_ACCOUNT = Limit("answers/account", 120, timedelta(hours=1))
POSTING_PAUSED = N_("You have posted a lot in the last hour. Please wait a little before "
                     "posting again.")
# The client APIs (Mastodon's and /api/fediaid/v1): per token, per address without a token,
# and per address with one (several people behind one address).
API_TOKEN = Limit("api/token", 300, _MINUTES_5, batch=10)
API_ADDRESS = Limit("api/address", 300, _MINUTES_5, batch=10)
API_ADDRESS_AUTHENTICATED = Limit("api/address+token", 1500, _MINUTES_5, batch=50)
# Inbox POSTs per sending domain (the host of the signature's keyId) and per address: about
# 20 a second for 5 minutes, far above what a neighborhood group receives even when one of
# its posts is boosted on a big server.
INBOX_DOMAIN = Limit("inbox/domain", 6000, _MINUTES_5, batch=200)
INBOX_ADDRESS = Limit("inbox/address", 6000, _MINUTES_5, batch=200)

ALL = (LOGIN_LINK_ADDRESS, EMAIL_LOGIN_ADDRESS, EMAIL_LOGIN_ACCOUNT, EMAIL_CONFIRM_ACCOUNT,
       JOIN_ADDRESS, SMS_TO_NUMBER, SMS_GROUP_DAY, SMS_FROM_NUMBER, OAUTH_ADDRESS,
       OAUTH_CLIENT, POSTS_ACCOUNT,
       ANSWERS_ACCOUNT, API_TOKEN, API_ADDRESS, API_ADDRESS_AUTHENTICATED, INBOX_DOMAIN,
       INBOX_ADDRESS)
