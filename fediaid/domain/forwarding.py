"""Forwarding unmet needs to linked groups (issue 12, "Forwarding unmet needs"): the rules.

- **The sender.** A group that turned forwarding on (``ForwardingSettings.after_hours`` > 0;
  off by default) offers each of its own needs that nobody's answer was accepted for within
  that many hours to the groups it is linked with (active links on which it shares
  ``forwardedNeeds``). A need is forwarded by the group's default (``by_default``) unless
  the person who asked, or the coordinator who recorded it, opted it in or out
  (``choice``). Never forwarded: offers, members-only and direct needs, held or hidden
  ones, closed or promised ones (an answer was accepted), received ones (a forwarded need
  is never forwarded again), and a need already offered to that group (one row per need
  and group).
- **The receiver.** A group shows at most ``daily_cap`` forwarded needs a day to its
  members ("From linked groups"); more are kept, not shown there. Duplicates (the same need
  forwarded twice) are recognised by the need's id.

Pure: no I/O. The services (fediaid/services/forwarding.py) read the settings, posts and
links; docs/network.md says it in plain words, docs/federation.md gives the wire format.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fediaid.domain.posts import Kind, Post, State, Visibility

# group_settings keys
AFTER_HOURS = "forward_needs_after_hours"
BY_DEFAULT = "forward_needs_by_default"
DAILY_CAP = "forwarded_needs_daily_cap"

MAX_AFTER_HOURS = 24 * 30
MAX_DAILY_CAP = 500
DEFAULT_DAILY_CAP = 10
DAY = timedelta(days=1)


@dataclass(frozen=True)
class ForwardingSettings:
    after_hours: int = 0  # 0: this group forwards nothing (the default)
    by_default: bool = True  # a need nobody opted in or out follows this
    daily_cap: int = DEFAULT_DAILY_CAP  # forwarded needs shown to members per day

    @property
    def on(self) -> bool:
        return self.after_hours > 0


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        n = int(value) if value not in (None, "") else default
    except ValueError:
        return default
    return min(max(n, low), high)


def read_settings(stored: dict[str, str]) -> ForwardingSettings:
    """The settings from the ``group_settings`` rows (missing or unreadable: the defaults)."""
    return ForwardingSettings(
        after_hours=_int(stored.get(AFTER_HOURS), 0, 0, MAX_AFTER_HOURS),
        by_default=stored.get(BY_DEFAULT, "1") != "0",
        daily_cap=_int(stored.get(DAILY_CAP), DEFAULT_DAILY_CAP, 0, MAX_DAILY_CAP))


def forwardable(post: Post) -> bool:
    """Whether this need could ever be offered to linked groups (whatever the clock)."""
    return (post.local and post.kind is Kind.NEED and not post.held and not post.hidden
            and post.visibility in (Visibility.PUBLIC, Visibility.NETWORK))


def wanted(settings: ForwardingSettings, choice: bool | None) -> bool:
    """The group forwards, and this need is in: its own choice, else the group's default."""
    return settings.on and (settings.by_default if choice is None else choice)


def due_at(settings: ForwardingSettings, post: Post) -> datetime:
    return post.created_at + timedelta(hours=settings.after_hours)


def due(settings: ForwardingSettings, post: Post, choice: bool | None, now: datetime) -> bool:
    """Whether the need is to be offered to linked groups now: wanted, forwardable, still
    open with no accepted answer (``State.OPEN``; ``PROMISED`` means one was accepted), not
    past its expiry, and unmet for ``after_hours``."""
    return (wanted(settings, choice) and forwardable(post) and post.state is State.OPEN
            and (post.expires_at is None or post.expires_at > now)
            and now >= due_at(settings, post))


def oldest_due(settings: ForwardingSettings, now: datetime) -> datetime:
    """Needs created at or before this are old enough to be forwarded now."""
    return now - timedelta(hours=settings.after_hours)


def shown(settings: ForwardingSettings, shown_last_day: int) -> bool:
    """Whether one more received forwarded need is shown to members, given how many were
    shown in the last 24 hours."""
    return shown_last_day < settings.daily_cap
